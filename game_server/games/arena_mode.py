"""The arena game on the public game API: its mode, its messages, and the seam to its rules.

`ArenaGame` (games/arena.py) is the simulation; `ArenaPlay` adapts it to the hooks a room calls,
and `arena_spec` describes the mode. The arena's one hot message, `input` (ten a second from
every player), has its own decoder here, so the engine never learns what steering is: a usual
input becomes a `(seq, dx, dy)` tuple without a dict of validated fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from game_server.games.api import (
    RATE_OPTION,
    SEATS_OPTION,
    Changes,
    Field,
    GamePage,
    GameSpec,
    MessageSpec,
    Outcome,
    RoomHandle,
    Seat,
    Ticking,
)
from game_server.games.arena import ArenaGame, ArenaRules
from game_server.games.web import CLIENT_WEB

MAX_SEQ = 2**31 - 1
MAX_DIRECTION = 1e6
_MAX = float(MAX_DIRECTION)
_MIN = -_MAX


def plain_input(obj: dict[str, Any]) -> tuple[int, float, float] | None:
    """`(seq, dx, dy)` of an `input` in its usual form (float directions, all in range),
    without building anything else: ten of these arrive per player and second. None for any
    other form; the generic validation of `INPUT_FIELDS` then gives the exact answer."""
    try:
        seq = obj["seq"]
        dx = obj["dx"]
        dy = obj["dy"]
    except KeyError:
        return None
    if (
        type(seq) is int and type(dx) is float and type(dy) is float
        and 0 <= seq <= MAX_SEQ
        # NaN fails every comparison, infinities fail the range.
        and _MIN <= dx <= _MAX and _MIN <= dy <= _MAX
        and len(obj) == 4
    ):
        return seq, dx, dy
    return None


INPUT_FIELDS = {
    "seq": Field("int", low=0, high=MAX_SEQ),
    "dx": Field("float", low=-MAX_DIRECTION, high=MAX_DIRECTION),
    "dy": Field("float", low=-MAX_DIRECTION, high=MAX_DIRECTION),
}


def _input_tuple(fields: dict[str, Any]) -> tuple[int, float, float]:
    return fields["seq"], float(fields["dx"]), float(fields["dy"])


def _newer(new: tuple[int, float, float], kept: tuple[int, float, float]) -> bool:
    """Of two inputs waiting for the same tick, the higher `seq` counts (the game would
    ignore an older one anyway, after the newer)."""
    return new[0] > kept[0]


class ArenaPlay:
    """The arena game as a room sees it: joins spawn, drops halt, leaves report best mass."""

    def __init__(self, room: RoomHandle, rules: ArenaRules) -> None:
        self.room = room
        # The world grows with the room's seats: the same crowd per screen in every room.
        rules = rules.for_seats(int(room.options.get(SEATS_OPTION, rules.seats)))
        self.world = ArenaGame(rules, room.seed)
        self._size = [rules.world_width, rules.world_height]
        self._set_input = self.world.set_input
        self._seated: dict[int, None] = {}  # players in the room, in join order

    def on_join(self, seat: Seat) -> None:
        self._seated[seat.player] = None
        self.world.add_player(seat.player, seat.name)

    def on_drop(self, player: int) -> None:
        self.world.halt(player)  # its seat waits for a resume, standing still

    def on_leave(self, player: int, consented: bool) -> None:
        # An endless game: each stay is a result of its own, the best mass it reached.
        best = self.world.best_mass(player)
        if best > 0:
            self.room.report([Outcome(player=player, score=best)])
        self._seated.pop(player, None)
        self.world.remove_player(player)

    def on_terminate(self, grace: float) -> None:
        # The server is stopping: nobody left, but each stay still ends with its best mass.
        outcomes = [Outcome(player=p, score=best) for p in self._seated
                    if (best := self.world.best_mass(p)) > 0]
        if outcomes:
            self.room.report(outcomes)

    def on_message(self, player: int, kind: str, body: Any) -> None:
        seq, dx, dy = body  # `input` is the only message: (seq, dx, dy)
        self._set_input(player, seq, dx, dy)

    def on_step(self, dt: float) -> None:
        self.world.step(dt)

    def view(self, player: int) -> Mapping[str, Any]:
        # `size`: this room's world, where the mode's `client` data gives a 20-seat room's.
        return {**self.world.full_state(), "size": self._size}

    def changes(self) -> Changes:
        return Changes(shared=self.world.take_changes())

    def state(self) -> dict[str, Any]:
        # The world's own (games/arena.py): the journal hashes it once a second.
        return self.world.state()


# The arena's seats and rate are options the engine honours (games/api.py): an operator sets
# their defaults (`--mode-option arena.tick_rate=30`), a private table may choose its own,
# within these bounds.
MAX_TICK_RATE = 120
MAX_SEATS = 1000


def arena_spec(rules: ArenaRules | None = None) -> GameSpec:
    """The Agar-like arena: grow by eating pellets and smaller players; bigger is slower."""
    rules = rules or ArenaRules()
    return GameSpec(
        name="arena",
        factory=lambda room: ArenaPlay(room, rules),
        messages={"input": MessageSpec(
            INPUT_FIELDS, fast=plain_input, build=_input_tuple, latest_only=True,
            supersedes=_newer)},
        clock=Ticking(),
        options={
            RATE_OPTION: Field("int", low=1, high=MAX_TICK_RATE, default=20,
                               label="Updates per second",
                               hint="How often the world moves on; more is smoother."),
            SEATS_OPTION: Field("int", low=1, high=MAX_SEATS, default=rules.seats,
                                label="Players", hint="How many can play in this room."),
        },
        leaderboard="best_score",
        title="Arena",
        description="Steer your circle, eat pellets to grow, eat players smaller than you.",
        client={
            "width": rules.world_width,
            "height": rules.world_height,
            "pellet_radius": rules.pellet_radius,
            "radius_factor": rules.radius_factor,
            "speed_factor": rules.speed_factor,  # the page predicts our own moves with it
        },
        # The full-window canvas page (client/web/play.js and its modules), not the table page.
        page=GamePage(CLIENT_WEB, "play.js", template="play.html",
                      picture="pictures/arena.svg"),
    )
