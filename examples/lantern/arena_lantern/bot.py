"""How a bot plays Lantern: from what its lantern shows to where it heads.

`Brain.heading(view, me)` is pure but for its `rng`: it walks the shortest path to the nearest
gem in sight, and when none is, to a spot picked at random, lighting a flare now and then to
look further. `policy(rng)` is the bot policy `python -m client.bots --mode lantern` plays with
(entry point group `arena.policies`).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from typing import Any

from arena_lantern.maze import Maze
from client.policies import Message, RealtimePolicy, Round, view_of

STEPS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1))


class Brain:
    """One bot's sense of direction in one maze (the path it follows, where it wanders)."""

    def __init__(self, rng: random.Random, flare_chance: float = 0.02) -> None:
        self.rng = rng
        self.flare_chance = flare_chance
        self.maze: Maze | None = None
        self._rows: Any = None
        self._goal: int | None = None
        self._path: list[int] = []

    def heading(self, view: Mapping[str, Any], me: int) -> tuple[int, int, bool]:
        """(dx, dy, flare) for player `me` in `view` (the game's view, merged from its states)."""
        if view.get("status") != "playing" or "maze" not in view:
            return 0, 0, False
        if view["maze"] is not self._rows:
            self._rows = view["maze"]
            self.maze = Maze(list(view["maze"]))
            self._goal, self._path = None, []
        maze = self.maze
        assert maze is not None
        mine = next((p for p in view["players"] if p[0] == me), None)
        if mine is None:
            return 0, 0, False
        _, x, y, _, flares, burning = mine
        here = y * maze.width + x
        gems = {gx + gy * maze.width for gx, gy in view["gems"]}
        if gems and self._goal not in gems:
            self._goal, self._path = None, self._search(here, gems)
            if self._path:
                self._goal = self._path[-1]
        if self._goal is None or here == self._goal or here not in self._path:
            if self._goal is None or here == self._goal:
                self._goal = self.rng.choice(maze.floor)
            self._path = self._search(here, {self._goal})
            if not self._path:
                self._goal = None
                return 0, 0, False
        flare = (not gems and flares > 0 and not burning and view.get("left", 0) > 2
                 and self.rng.random() < self.flare_chance)
        if here == self._path[-1]:
            return 0, 0, flare
        step = self._path[self._path.index(here) + 1]
        return step % maze.width - x, step // maze.width - y, flare

    def _search(self, start: int, goals: set[int]) -> list[int]:
        """The shortest walk (diagonals without cutting corners) from `start` to the nearest
        of `goals`, both ends included; [] if none can be reached."""
        maze = self.maze
        assert maze is not None
        width = maze.width
        came: dict[int, int] = {start: start}
        queue = deque([start])
        while queue:
            cell = queue.popleft()
            if cell in goals:
                path = [cell]
                while cell != start:
                    cell = came[cell]
                    path.append(cell)
                return path[::-1]
            x, y = cell % width, cell // width
            for dx, dy in STEPS:
                nxt = cell + dy * width + dx
                if nxt in came or maze.is_wall(x + dx, y + dy):
                    continue
                if dx and dy and (maze.is_wall(x + dx, y) or maze.is_wall(x, y + dy)):
                    continue
                came[nxt] = cell
                queue.append(nxt)
        return []


class LanternPolicy(RealtimePolicy):
    """A bot's player of Lantern. `RealtimePolicy` keeps its player id and its view, and asks
    `steer` 10 times a second; a `steer` is sent only when the heading changes or a flare is
    lit. Each round's end is counted (won: the most gems, some at least)."""

    interval: float | None = 0.1

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.brain = Brain(rng)
        self._last: tuple[int, int] | None = None

    def update(self, view: Any, msg: Message) -> dict[str, Any] | None:
        """A state carries what changed each tick (the maze and the roster only in full views:
        `joined`, and a resync's `full` after skipped states), so it is merged into the view."""
        changes = view_of(msg)
        if changes is None:
            return view
        if view is None or msg.get("type") == "joined" or "full" in msg:
            self._last = None  # a new room, or back after a lag: say where we head at once
            return changes
        return {**view, **changes}

    def steer(self, view: Mapping[str, Any]) -> list[Message]:
        assert self.me is not None
        dx, dy, flare = self.brain.heading(view, self.me)
        if (dx, dy) == self._last and not flare:
            return []
        self._last = (dx, dy)
        return [{"type": "steer", "dx": dx, "dy": dy, "flare": flare}]

    def round_ended(self, view: Mapping[str, Any]) -> Round | None:
        results = view.get("results")
        if view.get("status") != "break" or not results:
            return None
        best = results[0][1]
        return Round(key=view.get("round"),
                     won=best > 0 and any(p == self.me and g == best for p, g in results))

    @property
    def score(self) -> int | None:
        mine = next((p for p in (self.view or {}).get("players", ()) if p[0] == self.me), None)
        return mine[3] if mine is not None else None


def policy(rng: random.Random) -> LanternPolicy:
    """The bot policy of the `lantern` mode (entry point group `arena.policies`)."""
    return LanternPolicy(rng)
