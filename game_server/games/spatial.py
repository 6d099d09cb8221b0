"""A uniform hash grid for cheap "what is near this point" queries.

Games keep moving things (players, pellets) in a :class:`Grid` so that overlap checks cost
O(neighbours) instead of O(everything).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

Cell = tuple[int, int]


class Grid:
    """Points keyed by integer ids, bucketed into square cells of side ``cell_size``.

    Queries return candidates: every key whose point lies in a cell overlapped by the bounding
    box of the query circle. That is a superset of the keys inside the circle, so callers check
    the exact distance themselves (they usually need a radius of their own anyway).

    Buckets are insertion-ordered dicts, so query results come back in a deterministic order for
    a given sequence of operations.
    """

    __slots__ = ("_cell_size", "_cells", "_entries")

    def __init__(self, cell_size: float) -> None:
        if not math.isfinite(cell_size) or cell_size <= 0:
            raise ValueError(f"cell_size must be a positive finite number, got {cell_size!r}")
        self._cell_size = float(cell_size)
        self._cells: dict[Cell, dict[int, None]] = {}
        # key -> (cell, x, y)
        self._entries: dict[int, tuple[Cell, float, float]] = {}

    @property
    def cell_size(self) -> float:
        """The side of one square cell."""
        return self._cell_size

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[int]:
        return iter(self._entries)

    def insert(self, key: int, x: float, y: float) -> None:
        """Add ``key`` at ``(x, y)``; raises ``ValueError`` if it is already present."""
        if key in self._entries:
            raise ValueError(f"key {key!r} is already in the grid")
        cell = self._cell_of(x, y)
        self._entries[key] = (cell, x, y)
        bucket = self._cells.get(cell)
        if bucket is None:
            self._cells[cell] = {key: None}
        else:
            bucket[key] = None

    def move(self, key: int, x: float, y: float) -> None:
        """Move ``key`` to ``(x, y)``; only touches buckets when the cell changes.

        Raises ``KeyError`` for an unknown key.
        """
        old_cell = self._entries[key][0]
        cell = self._cell_of(x, y)
        self._entries[key] = (cell, x, y)
        if cell == old_cell:
            return
        self._discard_from_bucket(old_cell, key)
        bucket = self._cells.get(cell)
        if bucket is None:
            self._cells[cell] = {key: None}
        else:
            bucket[key] = None

    def remove(self, key: int) -> None:
        """Remove ``key``; raises ``KeyError`` if it is not present."""
        cell = self._entries.pop(key)[0]
        self._discard_from_bucket(cell, key)

    def discard(self, key: int) -> None:
        """Remove ``key`` if it is present."""
        if key in self._entries:
            self.remove(key)

    def position(self, key: int) -> tuple[float, float]:
        """The stored point of ``key``; raises ``KeyError`` for an unknown key."""
        _, x, y = self._entries[key]
        return x, y

    def query(self, x: float, y: float, radius: float) -> list[int]:
        """Keys whose point lies in a cell touched by the circle's bounding box (a superset).

        Each key appears at most once. An infinite radius returns every key.
        """
        if math.isnan(radius) or radius < 0:
            raise ValueError(f"radius must be >= 0, got {radius!r}")
        if math.isinf(radius):
            return list(self._entries)
        size = self._cell_size
        x0 = math.floor((x - radius) / size)
        x1 = math.floor((x + radius) / size)
        y0 = math.floor((y - radius) / size)
        y1 = math.floor((y + radius) / size)
        cells = self._cells
        found: list[int] = []
        # Skip the cells of the box that the circle itself misses (its corners); the slack keeps
        # points that floor() put on the far side of a cell edge by rounding.
        reach_sq = (radius + size * 1e-9) ** 2
        # A huge circle over a sparse grid: walking the occupied cells is cheaper than the range.
        if (x1 - x0 + 1) * (y1 - y0 + 1) > len(cells):
            for (cx, cy), bucket in cells.items():
                if (
                    x0 <= cx <= x1
                    and y0 <= cy <= y1
                    and _gap(x, cx * size, size) + _gap(y, cy * size, size) <= reach_sq
                ):
                    found.extend(bucket)
            return found
        for cx in range(x0, x1 + 1):
            gap_x = _gap(x, cx * size, size)
            for cy in range(y0, y1 + 1):
                bucket = cells.get((cx, cy))
                if bucket and gap_x + _gap(y, cy * size, size) <= reach_sq:
                    found.extend(bucket)
        return found

    def near(self, x: float, y: float, radius: float) -> list[int]:
        """Like `query`, without skipping the box's corner cells: the cheapest candidate list
        for small radii (a few cells), where those checks cost more than they save."""
        size = self._cell_size
        cells = self._cells
        x0 = math.floor((x - radius) / size)
        x1 = math.floor((x + radius) / size)
        y0 = math.floor((y - radius) / size)
        y1 = math.floor((y + radius) / size)
        if x0 == x1 and y0 == y1:
            bucket = cells.get((x0, y0))
            return list(bucket) if bucket else []
        found: list[int] = []
        for cx in range(x0, x1 + 1):
            for cy in range(y0, y1 + 1):
                bucket = cells.get((cx, cy))
                if bucket:
                    found.extend(bucket)
        return found

    def within(self, x: float, y: float, radius: float) -> list[int]:
        """The keys strictly closer than `radius` to (x, y), in ascending order: the exact
        answer, for small radii (a few cells), with no candidate list in between.

        Cells are found by floor division; float cell coordinates hash and compare equal to
        the int ones the buckets are keyed by.
        """
        size = self._cell_size
        cells = self._cells
        entries = self._entries
        radius_sq = radius * radius
        found: list[int] = []
        cx, x1 = (x - radius) // size, (x + radius) // size
        y0, y1 = (y - radius) // size, (y + radius) // size
        while cx <= x1:
            cy = y0
            while cy <= y1:
                bucket = cells.get((cx, cy))
                if bucket:
                    for key in bucket:
                        _, kx, ky = entries[key]
                        if (kx - x) * (kx - x) + (ky - y) * (ky - y) < radius_sq:
                            found.append(key)
                cy += 1.0
            cx += 1.0
        if len(found) > 1:
            found.sort()
        return found

    def clear(self) -> None:
        """Remove every key."""
        self._cells.clear()
        self._entries.clear()

    def _cell_of(self, x: float, y: float) -> Cell:
        size = self._cell_size
        return math.floor(x / size), math.floor(y / size)

    def _discard_from_bucket(self, cell: Cell, key: int) -> None:
        bucket = self._cells[cell]
        del bucket[key]
        if not bucket:
            # Empty buckets would slow down the occupied-cells walk in query().
            del self._cells[cell]


def _gap(value: float, start: float, size: float) -> float:
    """The squared distance from ``value`` to the interval ``[start, start + size]``."""
    if value < start:
        return (start - value) ** 2
    end = start + size
    if value > end:
        return (value - end) ** 2
    return 0.0


def soonest_contact(
    bodies: list[tuple[float, float, int, float]], *, eat_ratio: float, radius_factor: float,
    epsilon: float = 0.0,
) -> float:
    """Seconds before the first two of `bodies` (x, y, mass, full speed) that could eat one
    another (one has at least `eat_ratio` times the other's mass) could touch (closer than
    the sum of their radii, sqrt(mass) x `radius_factor`), closing in at full speed.

    Negative when such a pair touches already (the search stops there); inf when there is no
    such pair. Every such pair has one eater (the larger), so only the bodies with at least
    `eat_ratio` times the smallest mass look, each outward from itself over the bodies sorted
    by x, nearest in x first, and stop on each side as soon as the x gap alone rules out the
    rest. Most bodies of a crowd near the start mass eat nobody and cost nothing; the nearest
    pairs are measured first, so the bound that stops the others tightens at once.
    """
    rows = sorted(bodies)
    count = len(rows)
    if count < 2:
        return math.inf
    sqrt = math.sqrt
    smallest = min(row[2] for row in rows)
    least_eater = eat_ratio * smallest
    eaters = [i for i in range(count) if rows[i][2] >= least_eater]
    if not eaters:
        return math.inf
    xs = [row[0] for row in rows]
    # A prey is smaller than its eater (so its radius too) and at most as fast as the
    # smallest body: the bounds the x gap is measured against.
    speed_most = max(row[3] for row in rows)
    soonest = math.inf
    for i in eaters:
        x, y, mass, speed = rows[i]
        root = sqrt(mass)
        reach = 2.0 * root * radius_factor
        closing = speed + speed_most
        lo = i - 1
        hi = i + 1
        while True:
            # The nearer of the next body on the left and the next on the right, in x.
            gap_lo = x - xs[lo] if lo >= 0 else math.inf
            gap_hi = xs[hi] - x if hi < count else math.inf
            if gap_lo <= gap_hi:
                gap = gap_lo
                j = lo
                lo -= 1
            else:
                gap = gap_hi
                j = hi
                hi += 1
            if gap - reach >= soonest * closing:
                break  # this one and every later one, on both sides, are at least that far
            ox, oy, other, other_speed = rows[j]
            if mass >= eat_ratio * other:
                ex = ox - x
                ey = oy - y
                gap = sqrt(ex * ex + ey * ey) - (root + sqrt(other)) * radius_factor
                seconds = (gap - epsilon) / (speed + other_speed)
                if seconds < soonest:
                    if seconds < 0.0:
                        return seconds  # touching already: no need to look further
                    soonest = seconds
    return soonest
