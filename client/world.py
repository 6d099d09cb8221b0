"""The client's picture of one room, rebuilt from `joined` and `state` messages (no I/O).

Messages arrive already decoded (dicts, as `orjson.loads` gives them); PROTOCOL.md section 4 is
the contract this module follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]


@dataclass(slots=True)
class PlayerView:
    """One player as the client last saw it.

    `seq` is the last input of that player the server processed; for our own player it is the
    acknowledgement to reconcile predicted movement against.
    """

    id: int
    name: str
    x: float
    y: float
    mass: int
    seq: int = 0
    alive: bool = True


@dataclass(slots=True)
class World:
    """The state of the room we are in, as far as the server told us.

    Feed it every message with `apply`; it ignores the types it does not model. Before the first
    `joined` it is empty: `me` is None and `me_view` is None.
    """

    room: str | None = None
    mode: str | None = None
    me: int | None = None
    tick_rate: int = 0
    tick: int = 0
    ts: int | None = None
    width: float = 0.0
    height: float = 0.0
    pellet_radius: float = 0.0
    radius_factor: float = 4.0
    players: dict[int, PlayerView] = field(default_factory=dict)
    pellets: dict[int, tuple[int, int]] = field(default_factory=dict)
    leaderboard: list[tuple[int, int]] = field(default_factory=list)

    # -- reading -------------------------------------------------------------------------------

    @property
    def joined(self) -> bool:
        """True once a `joined` message has been applied."""
        return self.me is not None

    @property
    def me_view(self) -> PlayerView | None:
        """Our own player, or None before `joined` (or if the server never listed us)."""
        if self.me is None:
            return None
        return self.players.get(self.me)

    def radius(self, mass: float) -> float:
        """A player's radius for `mass`: `sqrt(mass) * radius_factor`."""
        return math.sqrt(max(mass, 0)) * self.radius_factor

    def alive_players(self) -> list[PlayerView]:
        """Every player currently alive, ourselves included."""
        return [p for p in self.players.values() if p.alive]

    # -- applying messages ---------------------------------------------------------------------

    def apply(self, msg: Message) -> bool:
        """Apply `msg` if it is a `joined` or `state`; return whether it was one of those."""
        kind = msg.get("type")
        if kind == "state":
            self.apply_state(msg)
            return True
        if kind == "joined":
            self.apply_joined(msg)
            return True
        return False

    def apply_joined(self, msg: Message) -> None:
        """Start over from a `joined` message: room, our id, world constants and a full state."""
        world = msg.get("client") or {}
        self.room = msg.get("room")
        self.mode = msg.get("mode")
        self.me = msg.get("player")
        self.tick_rate = int(msg.get("tick_rate") or 0)
        self.width = world.get("width", self.width)
        self.height = world.get("height", self.height)
        self.pellet_radius = world.get("pellet_radius", self.pellet_radius)
        self.radius_factor = world.get("radius_factor", self.radius_factor)
        # A room's own world size (the arena's grows with its seats) wins over the mode's.
        size = (msg.get("state") or {}).get("size")
        if isinstance(size, list) and len(size) == 2:
            self.width, self.height = size
        self.ts = None

        self._load_full(msg.get("state") or {})

    def _load_full(self, state: Message) -> None:
        """Replace every player, pellet and the leaderboard with a full state."""
        self.tick = int(state.get("tick", self.tick))
        self.players = {
            row[0]: PlayerView(
                id=row[0],
                name=row[1],
                x=row[2],
                y=row[3],
                mass=row[4],
                seq=row[5],
                alive=bool(row[6]),
            )
            for row in state.get("players", ())
        }
        self.pellets = {row[0]: (row[1], row[2]) for row in state.get("pellets", ())}
        self.leaderboard = [(row[0], row[1]) for row in state.get("leaderboard", ())]

    def apply_state(self, msg: Message) -> None:
        """Apply the deltas of one `state` message.

        Order matters (PROTOCOL.md): `spawned` (absolute) before `moved` (deltas from the last
        position), then `mass` and `acks`, then `eaten` (a player spawned onto a bigger one can
        die in that same tick), then `gone`. Rows about unknown players are ignored.
        """
        self.tick = msg.get("tick", self.tick)
        self.ts = msg.get("ts", self.ts)
        full = msg.get("full")
        if full is not None:  # a resync after we fell behind: everything, not a delta
            self._load_full(full)
            self.tick = msg.get("tick", self.tick)
            return
        players = self.players

        # `spawned` first: its rows are absolute, and `moved` deltas build on them.
        for row in msg.get("spawned", ()):
            pid = row[0]
            previous = players.get(pid)
            players[pid] = PlayerView(
                id=pid,
                name=row[1],
                x=row[2],
                y=row[3],
                mass=row[4],
                seq=row[5] if len(row) > 5 else (previous.seq if previous is not None else 0),
                alive=True,
            )

        moved = msg.get("moved", ())
        for i in range(0, len(moved) - 2, 3):
            player = players.get(moved[i])
            if player is not None:
                player.x += moved[i + 1]
                player.y += moved[i + 2]

        masses = msg.get("mass", ())
        for i in range(0, len(masses) - 1, 2):
            player = players.get(masses[i])
            if player is not None:
                player.mass = masses[i + 1]

        acks = msg.get("acks", ())
        for i in range(0, len(acks) - 1, 2):
            player = players.get(acks[i])
            if player is not None:
                player.seq = acks[i + 1]

        for row in msg.get("eaten", ()):
            victim = players.get(row[0])
            if victim is not None:
                victim.alive = False

        for pid in msg.get("gone", ()):
            players.pop(pid, None)

        pellets = self.pellets
        flat = msg.get("pellets", ())
        for i in range(0, len(flat) - 2, 3):
            pellets[flat[i]] = (flat[i + 1], flat[i + 2])

        leaderboard = msg.get("leaderboard")
        if leaderboard is not None:
            self.leaderboard = [(row[0], row[1]) for row in leaderboard]
