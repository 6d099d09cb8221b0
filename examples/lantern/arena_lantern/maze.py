"""The maze of a lantern room, made from the room's seed, and what can be seen from where.

A maze is a grid of walls and floor with a wall all round. A lantern lights the floor within
its radius that a straight line reaches without crossing a wall (Bresenham's line: the cells it
passes between the two ends must be floor). The maze is public; what stands in it is not.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TypeVar

WALL, FLOOR = "#", "."
T = TypeVar("T")


def line_between(dx: int, dy: int) -> tuple[tuple[int, int], ...]:
    """The cells Bresenham's line from (0, 0) to (dx, dy) passes between its two ends."""
    cells = []
    x = y = 0
    step_x, step_y = (1 if dx > 0 else -1), (1 if dy > 0 else -1)
    ax, ay = abs(dx), abs(dy)
    err = ax - ay
    while (x, y) != (dx, dy):
        twice = 2 * err
        if twice > -ay:
            err -= ay
            x += step_x
        if twice < ax:
            err += ax
            y += step_y
        if (x, y) != (dx, dy):
            cells.append((x, y))
    return tuple(cells)


@cache
def sight_lines(radius: int) -> tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...]:
    """Every (dx, dy, cells between) a lantern of `radius` may light, nearest first; made once
    per radius for every room, so a tick looks rays up instead of tracing them."""
    offsets = [(dx, dy) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
               if dx * dx + dy * dy <= radius * radius]
    offsets.sort(key=lambda o: (o[0] * o[0] + o[1] * o[1], o[1], o[0]))
    return tuple((dx, dy, line_between(dx, dy)) for dx, dy in offsets)


class Maze:
    """Walls and floor; cells are numbered `y * width + x`."""

    def __init__(self, rows: list[str]) -> None:
        width = len(rows[0])
        if any(len(row) != width for row in rows) or set("".join(rows)) - {WALL, FLOOR}:
            raise ValueError("a maze is rows of equal length, of '#' and '.'")
        if (WALL * width != rows[0] or WALL * width != rows[-1]
                or any(row[0] != WALL or row[-1] != WALL for row in rows)):
            raise ValueError("a maze has a wall all round")
        self.rows = tuple(rows)
        self.width = width
        self.height = len(rows)
        self.wall = bytes(c == WALL for row in rows for c in row)  # one flag per cell
        self.floor = [cell for cell, wall in enumerate(self.wall) if not wall]
        self._made: dict[int, tuple[tuple[int, int, tuple[int, ...]], ...]] = {}

    @classmethod
    def generate(cls, size: int, rng: random.Random) -> Maze:
        """A `size` x `size` maze: wall segments dropped at random on open floor."""
        grid = [[WALL if x in (0, size - 1) or y in (0, size - 1) else FLOOR
                 for x in range(size)] for y in range(size)]
        for _ in range(size * size // 28):
            x, y = rng.randrange(2, size - 2), rng.randrange(2, size - 2)
            dx, dy = rng.choice(((1, 0), (0, 1)))
            for i in range(rng.randrange(2, 7)):
                if 0 < x + i * dx < size - 1 and 0 < y + i * dy < size - 1:
                    grid[y + i * dy][x + i * dx] = WALL
        # Wall in every pocket of floor but the largest, so all floor is one place.
        unseen = {(x, y) for y in range(size) for x in range(size) if grid[y][x] == FLOOR}
        pockets = []
        while unseen:
            start = min(unseen)  # the order of a set is not the seed's to decide
            pocket, frontier = {start}, [start]
            while frontier:
                x, y = frontier.pop()
                for near in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                    if near in unseen and near not in pocket:
                        pocket.add(near)
                        frontier.append(near)
            unseen -= pocket
            pockets.append(pocket)
        pockets.sort(key=len)
        for x, y in set().union(*pockets[:-1]):
            grid[y][x] = WALL
        return cls(["".join(row) for row in grid])

    def is_wall(self, x: int, y: int) -> bool:
        return not (0 <= x < self.width and 0 <= y < self.height) or bool(
            self.wall[y * self.width + x])

    def clear(self, x: int, y: int, dx: int, dy: int) -> bool:
        """Whether (x + dx, y + dy) is in sight of (x, y): no wall on the line between."""
        return not any(self.is_wall(x + cx, y + cy) for cx, cy in line_between(dx, dy))

    def lit(self, x: int, y: int, radius: int, things: Mapping[int, T]) -> Iterator[T]:
        """What stands in `things` (by cell) on the floor a lantern of `radius` at (x, y) lights,
        nearest first. It looks up each cell in reach, so it costs the same however many
        things the maze holds, and follows each ray only to what it found."""
        width, wall = self.width, self.wall
        here = y * width + x
        for dx, step, between in self._rays(radius):
            found = things.get(here + step)
            # Past the left or right edge, a cell number is a cell of the row above or below.
            if found is not None and 0 <= x + dx < width and not any(
                    wall[here + cell] for cell in between):
                yield found

    def _rays(self, radius: int) -> tuple[tuple[int, int, tuple[int, ...]], ...]:
        """`sight_lines(radius)` as steps in cell numbers of this maze, made once."""
        rays = self._made.get(radius)
        if rays is None:
            width = self.width
            rays = self._made[radius] = tuple(
                (dx, dy * width + dx, tuple(cy * width + cx for cx, cy in between))
                for dx, dy, between in sight_lines(radius))
        return rays
