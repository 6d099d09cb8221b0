"""Lantern for Arena: a real-time game with fog of war, and the code
docs/writing-a-realtime-game.md walks through.

Players walk a dark maze collecting gems. Each carries a lantern that lights the floor within a
few cells, where a straight line reaches without crossing a wall; everything else (the other
players, the gems) is dark to it, and the server never sends it what it cannot see. A flare
lights a wider circle for a few seconds; each player has two a round. Rounds last the room's
`round_seconds`, then the gems each player collected are its score, and after a short break the
next round starts. The room ticks 10 times a second.
"""

from __future__ import annotations

import random
import zlib
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena_lantern.maze import Maze
from game_server.games.api import (
    SPECTATOR,
    Changes,
    Field,
    GameError,
    GamePage,
    GameSpec,
    MessageSpec,
    Outcome,
    RoomHandle,
    Seat,
    Ticking,
)

RATE = 10  # steps (and states) a second
SPEED = 4.0  # cells a second
RADIUS, FLARE_RADIUS = 4, 8  # how far a lantern lights, and a flare
FLARES, FLARE_SECONDS = 2, 3.0  # flares a player has each round, and how long one burns
BREAK_SECONDS = 5  # between rounds
TOP = 3  # how many leaders every view names

# What stands on one cell, as views show it: the players ([player, x, y, ...] each), the gem.
Spot = tuple[list[list[int]], list[int] | None]


@dataclass(slots=True)
class Walker:
    """A player in the maze."""

    player: int
    name: str
    x: int
    y: int
    dx: int = 0  # where it is heading: -1, 0 or 1 each
    dy: int = 0
    progress: float = 0.0  # towards its next cell
    gems: int = 0
    flares: int = FLARES
    burning: float = 0.0  # seconds of flare left
    away: bool = False  # dropped: its seat is held, it stands still

    def seen(self) -> list[int]:
        """How others see it: [player, x, y, gems, flares left, flare burning (0 or 1)]."""
        return [self.player, self.x, self.y, self.gems, self.flares, int(self.burning > 0)]


class Lantern:
    """One room's maze, its players and its gems. The room calls the hooks."""

    def __init__(self, room: RoomHandle, maze: Maze | None = None) -> None:
        self.room = room
        self.rng = random.Random(room.seed)  # every choice the game makes, from the room's seed
        self.fog: bool = room.options["fog"]
        self.round_seconds: int = room.options["round_seconds"]
        self.maze = maze or Maze.generate(room.options["size"], self.rng)
        self.gem_count = max(4, len(self.maze.floor) // 60)
        self.walkers: dict[int, Walker] = {}
        self.gems: set[int] = set()  # the cells they lie on
        self.status = "waiting"  # then "playing" and "break" in turn
        self.round = 0
        self.left = 0.0  # seconds left in the round, or in the break
        self.results: list[list[int]] = []  # the last round's [player, gems], best first
        self.roster_changed = False  # a join or leave to tell everyone in the next state
        room.set_metadata(status="waiting")

    # -- who is in the maze ----------------------------------------------------------------------

    def on_join(self, seat: Seat) -> None:
        """A newcomer starts from a free cell with no gems; the first one starts a round."""
        x, y = self._free_cell()
        self.walkers[seat.player] = Walker(seat.player, seat.name, x, y)
        self.roster_changed = True
        if self.status == "waiting":
            self._start_round()

    def on_leave(self, player: int, consented: bool) -> None:
        """Gone: its gems this round go with it."""
        del self.walkers[player]
        self.roster_changed = True

    def on_drop(self, player: int) -> None:
        """Its seat is held: it stands still, in the dark like everyone else."""
        walker = self.walkers[player]
        walker.dx = walker.dy = 0
        walker.away = True

    def on_resume(self, player: int) -> None:
        self.walkers[player].away = False

    # -- steering: one message a tick ----------------------------------------------------------

    def on_message(self, player: int, kind: str, body: Mapping[str, Any]) -> None:
        """A `steer`: the heading until the next one (the room has checked dx and dy are -1, 0
        or 1), and maybe a flare, which is refused when it cannot burn."""
        walker = self.walkers[player]
        if body["flare"]:
            if self.status != "playing":
                raise GameError("not_playing", "flares burn only during a round")
            if walker.flares == 0:
                raise GameError("no_flares", "no flares left this round")
            walker.flares -= 1
            walker.burning = FLARE_SECONDS
        walker.dx, walker.dy = body["dx"], body["dy"]

    # -- time: the step and the round's timers ---------------------------------------------------

    def on_step(self, dt: float) -> None:
        """Walk everyone `dt` seconds further; a walker on a gem picks it up."""
        self.left = round(max(0.0, self.left - dt), 6)
        if self.status != "playing":
            return
        maze, gems = self.maze, self.gems
        for walker in self.walkers.values():
            if walker.burning > 0:
                walker.burning = round(max(0.0, walker.burning - dt), 6)  # no float crumbs
            if not (walker.dx or walker.dy):
                walker.progress = 0.0
                continue
            walker.progress += SPEED * dt
            while walker.progress >= 1.0:
                walker.progress -= 1.0
                x, y = walker.x + walker.dx, walker.y + walker.dy
                # No corner cutting: a diagonal step needs both cells beside it open.
                if maze.is_wall(x, y) or maze.is_wall(x, walker.y) or maze.is_wall(walker.x, y):
                    walker.progress = 0.0
                    break
                walker.x, walker.y = x, y
                cell = y * maze.width + x
                if cell in gems:
                    gems.remove(cell)
                    walker.gems += 1
                    self._place_gem()

    def on_timer(self, name: str) -> None:
        """`round_end`: score the round and take a break; `next_round`: play again."""
        if name == "round_end":
            self._end_round()
        elif name == "next_round":
            if self.walkers:
                self._start_round()
            else:
                self.status = "waiting"
                self.room.set_metadata(status="waiting")

    def _start_round(self) -> None:
        self.round += 1
        self.status = "playing"
        self.left = float(self.round_seconds)
        self.gems.clear()
        for walker in self.walkers.values():
            walker.gems, walker.flares, walker.burning = 0, FLARES, 0.0
        for _ in range(self.gem_count):
            self._place_gem()
        self.room.schedule("round_end", self.round_seconds)
        self.room.set_metadata(status="playing", round=self.round)

    def _end_round(self) -> None:
        """Report each player's gems: its score, and its place (ties share one)."""
        ranked = sorted(self.walkers.values(), key=lambda w: (-w.gems, w.player))
        self.results = [[w.player, w.gems] for w in ranked]
        self.room.report([
            Outcome(player=w.player, score=w.gems,
                    placement=1 + sum(other.gems > w.gems for other in ranked))
            for w in ranked
        ])
        self.status = "break"
        self.left = float(BREAK_SECONDS)
        self.room.schedule("next_round", BREAK_SECONDS)
        self.room.set_metadata(status="break")

    def _free_cell(self) -> tuple[int, int]:
        """A floor cell with no player and no gem, picked by the room's seed."""
        floor, width = self.maze.floor, self.maze.width
        taken = {w.y * width + w.x for w in self.walkers.values()}
        for _ in range(64):  # on a mostly empty floor a few tries find one
            cell = self.rng.choice(floor)
            if cell not in taken and cell not in self.gems:
                break
        else:
            free = [c for c in floor if c not in taken and c not in self.gems] or floor
            cell = self.rng.choice(free)
        return cell % width, cell // width

    def _place_gem(self) -> None:
        x, y = self._free_cell()
        cell = y * self.maze.width + x
        self.gems.add(cell)

    # -- what players see --------------------------------------------------------------------------

    def view(self, player: int) -> dict[str, Any]:
        """What `player` is sent when it joins and after a resync: the maze, who is in the room,
        and what its lantern shows now. A spectator (`SPECTATOR`, or anyone without a lantern)
        sees what the rules make public: the maze, the round, the leaders' gems, but in the
        fog nobody's position and no gem."""
        common = self._common(self._roster())
        walker = self.walkers.get(player)
        if walker is not None and self.fog and self.status == "playing":
            now = self._lit_view(walker.x, walker.y, self._radius(walker), self._spots(), common)
        elif self.fog and self.status == "playing":
            now = self._dark_view(common)
        else:
            now = self._open_view(common)
        return {"maze": list(self.maze.rows), "radius": RADIUS, "flare_radius": FLARE_RADIUS,
                "round_seconds": self.round_seconds, **now}

    def changes(self) -> Changes:
        """After every step: for each lantern, what it lights. Players on one cell with the
        same light see the same thing, so they share one view object, which the engine
        encodes once. Between rounds, and with the lights on, everyone shares one view."""
        common = self._common(self._roster() if self.roster_changed else None)
        self.roster_changed = False
        if not self.fog or self.status != "playing":
            return Changes(shared=self._open_view(common))
        spots = self._spots()
        views: dict[tuple[int, int, int], dict[str, Any]] = {}
        private: dict[int, dict[str, Any]] = {}
        for player, walker in self.walkers.items():
            radius = self._radius(walker)
            key = (walker.x, walker.y, radius)
            view = views.get(key)
            if view is None:
                view = views[key] = self._lit_view(walker.x, walker.y, radius, spots, common)
            private[player] = view
        # Spectators hold no lantern: in the fog they see only what is public.
        private[SPECTATOR] = self._dark_view(common)
        # Everyone has a view of its own: `shared` would go to a player without one (none).
        return Changes(shared={"status": self.status}, private=private)

    def state(self) -> dict[str, Any]:
        """The whole game, for the match journal's hashes and the operator console: everything
        a step or a timer reads, in a stable order. The maze is its rows (it never changes
        after the first step); the random generator is a checksum of its state, which catches a
        draw taken out of turn at a fraction of the cost of its 625 numbers."""
        return {
            "maze": self.maze.rows, "fog": self.fog, "round_seconds": self.round_seconds,
            "status": self.status, "round": self.round, "left": self.left,
            "gems": sorted(self.gems), "results": self.results,
            "roster_changed": self.roster_changed, "rng": _checksum(self.rng),
            "walkers": [[w.player, w.name, w.x, w.y, w.dx, w.dy, w.progress, w.gems,
                         w.flares, w.burning, w.away] for w in self.walkers.values()],
        }

    def _common(self, roster: dict[str, str] | None) -> dict[str, Any]:
        """What every view of this state says: the round, the time left, the leaders (their
        gems, never where they are), and who is in the room when that changed."""
        leaders = sorted(self.walkers.values(), key=lambda w: (-w.gems, w.player))[:TOP]
        common = {"status": self.status, "round": self.round, "left": round(self.left, 1),
                  "top": [[w.player, w.gems] for w in leaders]}
        if roster is not None:
            common["roster"] = roster
        return common

    def _lit_view(self, x: int, y: int, radius: int, spots: Mapping[int, Spot],
                  common: dict[str, Any]) -> dict[str, Any]:
        """What a lantern of `radius` at (x, y) shows: the players and gems it lights."""
        players: list[list[int]] = []
        gems: list[list[int]] = []
        for here, gem in self.maze.lit(x, y, radius, spots):
            players += here
            if gem is not None:
                gems.append(gem)
        return {**common, "players": players, "gems": gems}

    def _dark_view(self, common: dict[str, Any]) -> dict[str, Any]:
        """What no lantern shows: the public part of a state in the fog."""
        return {**common, "players": [], "gems": []}

    def _open_view(self, common: dict[str, Any]) -> dict[str, Any]:
        """Everything, for everyone: between rounds, or with `fog` off."""
        width = self.maze.width
        view = {**common, "players": [w.seen() for w in self.walkers.values()],
                "gems": [[cell % width, cell // width] for cell in self.gems]}
        if self.status == "break":
            view["results"] = self.results
        return view

    def _spots(self) -> dict[int, Spot]:
        """What stands on each cell that holds anything, as views show it: made once a step,
        for all the lanterns to look up."""
        width = self.maze.width
        spots: dict[int, Spot] = {}
        for walker in self.walkers.values():
            cell = walker.y * width + walker.x
            spot = spots.get(cell)
            if spot is None:
                spots[cell] = ([walker.seen()], None)
            else:
                spot[0].append(walker.seen())
        for cell in self.gems:
            here = spots.get(cell)
            spots[cell] = (here[0] if here else [], [cell % width, cell // width])
        return spots

    def _radius(self, walker: Walker) -> int:
        return FLARE_RADIUS if walker.burning > 0 else RADIUS

    def _roster(self) -> dict[str, str]:
        return {str(w.player): w.name for w in self.walkers.values()}


def _keeps_the_flare(new: Mapping[str, Any], kept: Mapping[str, Any]) -> bool:
    """Of two steers waiting for the same tick the newer counts, unless only the kept one
    lights a flare: a flare is never lost to a plain steer sent just after it."""
    return bool(new["flare"]) or not kept["flare"]


STEER = MessageSpec(
    {"dx": Field("int", low=-1, high=1), "dy": Field("int", low=-1, high=1),
     "flare": Field("bool", default=False)},
    latest_only=True,  # a heading matters only as of the next step: one per player per tick
    supersedes=_keeps_the_flare,
)

spec = GameSpec(
    name="lantern",
    title="Lantern",
    description="Collect gems in a dark maze; your lantern shows only what is in sight.",
    factory=Lantern,
    clock=Ticking(RATE),
    messages={"steer": STEER},
    options={
        "round_seconds": Field("int", low=5, high=600, default=60, label="Round length (s)",
                               hint="The gems you hold when time is up are your score."),
        "size": Field("int", low=12, high=128, default=32, label="Maze size",
                      hint="Cells on each side: bigger mazes take longer to explore."),
        "fog": Field("bool", default=True, label="Fog",
                     hint="Only what your lantern lights is shown."),
    },
    min_players=1,
    max_players=16,
    errors={  # every code a steer may be refused with: GET /api/modes lists them
        "not_playing": "a flare between rounds",
        "no_flares": "a flare when this round's flares are spent",
    },
    leaderboard="best_score",
    client={"rate": RATE, "radius": RADIUS, "flare_radius": FLARE_RADIUS},
    # web/page.js on the table page (/play?mode=lantern); web/picture.svg on its lobby card
    page=GamePage(Path(__file__).parent / "web", picture="picture.svg"),
)


def _checksum(rng: random.Random) -> int:
    """A CRC of a random generator's whole state (its 625 words, then the spare Gaussian)."""
    _version, words, gauss = rng.getstate()
    return zlib.crc32(repr(gauss).encode(), zlib.crc32(array("I", words).tobytes()))
