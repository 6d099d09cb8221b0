"""A room: a game, its members, and the tick that steps the game and broadcasts one state.

Per tick the room steps its game a whole number of fixed steps measured against a monotonic
clock (a late tick catches up, with a cap), builds one `state` message, encodes it once, and
writes the same bytes to every member. A failing game closes its room alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from game_server.engine.connection import Connection, Identity
from game_server.engine.metrics import TickObserver
from game_server.games.base import Game, GameMode
from protocol import messages
from protocol.codec import encode, encode_error
from protocol.errors import ErrorCode

log = logging.getLogger("arena.room")

# A tick that comes up to a quarter step early still steps once; without this slack, timer
# jitter would alternate ticks of 0 and 2 steps.
_EARLY_SLACK = 0.25

CLOSE_TOO_SLOW = 4002  # application range: the client stopped reading for too long
# How often each member's lag (seconds behind) is measured: a client that stops reading is
# closed within `max_lag` plus about two of these.
LAG_CHECK_INTERVAL = 0.2


class Member(Protocol):
    """A player seated in a room, as the room sees it (a `PlayerSession` in practice)."""

    identity: Identity
    connection: Connection

    def on_room_left(self, room: Room, reason: str) -> None:
        """Called after the member was removed from `room` (it has already been sent `left`)."""


@dataclass
class RoomStats:
    """What happened to this one room's tick loop (the server-wide totals are in the
    `EngineCounters` of its observer)."""

    catchup_steps: int = 0
    dropped_steps: int = 0
    states_skipped: int = 0
    resyncs: int = 0


class Room:
    """One running game and the players in it."""

    def __init__(
        self,
        room_id: str,
        mode: GameMode,
        game: Game,
        *,
        max_players: int,
        tick_rate: int,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        on_result: Callable[[Identity, int], None] | None = None,
        on_empty: Callable[[Room], None] | None = None,
        on_closed: Callable[[Room], None] | None = None,
        max_catchup_steps: int = 5,
        observer: TickObserver | None = None,
        max_backlog: int = 64 * 1024,
        max_lag: float = 10.0,
    ) -> None:
        self.id = room_id
        self.mode = mode
        self.game = game
        self.max_players = max_players
        self.tick_rate = tick_rate
        self.dt = 1.0 / tick_rate
        self.stats = RoomStats()
        self.closed = False
        self._monotonic = monotonic
        self._wall = wall
        self._on_result = on_result
        self._on_empty = on_empty
        self._on_closed = on_closed
        self._max_catchup = max_catchup_steps
        self._members: dict[int, Member] = {}
        # Seats of players whose connection dropped: still in the game, halted, waiting for a
        # resume (the matchmaker owns the timer). They count toward the room's size.
        self._held: dict[int, Identity] = {}
        # Slow readers: players whose backlog passed `max_backlog`. States are skipped for them
        # (never queued without bound) and a full state is sent when they catch up.
        self._lagging: set[int] = set()
        # Independently, every member's lag is measured a few times a second, and one more
        # than `max_lag` seconds behind is closed (once: it stays a member until its socket
        # has closed).
        self._too_slow: set[int] = set()
        self._next_lag_check = 0.0
        self.max_backlog = max_backlog
        self.max_lag = max_lag
        self._next_player_id = 1
        self._observer = observer or TickObserver()
        self._counters = self._observer.counters
        self._last = monotonic()
        self._due = self._last + self.dt  # the fixed grid a timer started now would follow
        self._behind = 0.0
        self._inputs: dict[int, tuple[int, float, float]] = {}  # player id -> (seq, dx, dy)

    # -- membership -------------------------------------------------------------------------

    @property
    def player_count(self) -> int:
        return len(self._members) + len(self._held)

    @property
    def is_full(self) -> bool:
        return len(self._members) + len(self._held) >= self.max_players

    def holds(self, player_id: int) -> bool:
        return player_id in self._held

    def members(self) -> list[Member]:
        return list(self._members.values())

    def join(self, member: Member, resume_token: str | None = None) -> int:
        """Seat `member`, send it `joined` with a full state, and return its player id."""
        if self.closed:
            raise RuntimeError(f"room {self.id} is closed")
        if self.is_full:
            raise RuntimeError(f"room {self.id} is full")
        player_id = self._next_player_id
        self._next_player_id += 1
        self.game.add_player(player_id, member.identity.name)
        self._members[player_id] = member
        self._send_joined(member, player_id, resume_token)
        return player_id

    def hold(self, player_id: int) -> bool:
        """The member's connection dropped: keep its player in the game, halted, for a resume."""
        member = self._members.pop(player_id, None)
        if member is None:
            return False
        self._lagging.discard(player_id)
        self._too_slow.discard(player_id)
        self._inputs.pop(player_id, None)  # a held player stands still
        self._held[player_id] = member.identity
        self.game.halt(player_id)
        return True

    def resume(self, player_id: int, member: Member, resume_token: str | None = None) -> bool:
        """Give a held seat to `member` (the same account, reconnected); send it `joined`."""
        identity = self._held.get(player_id)
        if identity is None or identity.id != member.identity.id or self.closed:
            return False
        del self._held[player_id]
        self._members[player_id] = member
        self._send_joined(member, player_id, resume_token)
        return True

    def _send_joined(self, member: Member, player_id: int, resume_token: str | None) -> None:
        msg = messages.joined(
            room=self.id,
            mode=self.mode.name,
            player=player_id,
            tick_rate=self.tick_rate,
            world=self.mode.world,
            state=self.game.full_state(),
        )
        if resume_token is not None:
            msg["resume"] = resume_token
        member.connection.send(encode(msg))

    def apply_input(self, player_id: int, seq: int, dx: float, dy: float) -> None:
        """Keep a player's input for the next tick, which hands it to the game before its step.

        Only the input with the highest `seq` since the last tick counts (the game would
        ignore the others, or overwrite them before stepping). Handing them over in the tick,
        next to the step that reads them, keeps the game's players out of the input path:
        ten inputs per player and second touched them while they were cold.
        """
        inputs = self._inputs
        kept = inputs.get(player_id)
        if kept is None or seq > kept[0]:
            inputs[player_id] = (seq, dx, dy)

    def chat(self, player_id: int, text: str) -> None:
        member = self._members.get(player_id)
        if member is None:
            return
        data = encode(messages.chat(player=player_id, name=member.identity.name, text=text))
        for other in self._members.values():
            other.connection.send(data)

    def remove(self, player_id: int, reason: str = "leave") -> None:
        """Take a player (seated or held) out: save its result, tell it `left`, and notify when
        the room empties."""
        member = self._members.pop(player_id, None)
        identity = member.identity if member is not None else self._held.pop(player_id, None)
        if identity is None:
            return
        self._lagging.discard(player_id)
        self._too_slow.discard(player_id)
        self._inputs.pop(player_id, None)
        best = self.game.best_mass(player_id)
        try:
            self.game.remove_player(player_id)
        except Exception:
            log.exception("room %s: game failed removing player %d", self.id, player_id)
        if self._on_result is not None:
            self._on_result(identity, best)
        if member is not None:
            member.connection.send(encode(messages.left(room=self.id, reason=reason)))
            member.on_room_left(self, reason)
        if self.player_count == 0 and not self.closed and self._on_empty is not None:
            self._on_empty(self)

    def close(self, reason: str = "room_closed") -> None:
        """Remove every member with `reason` and mark the room closed (idempotent)."""
        if self.closed:
            return
        self.closed = True
        for player_id in [*self._members, *self._held]:
            self.remove(player_id, reason)
        if self._on_closed is not None:
            self._on_closed(self)

    # -- the tick -----------------------------------------------------------------------------

    def tick(self) -> int:
        """Step the game for the time elapsed and broadcast one state; return the steps taken."""
        if self.closed:
            return 0
        started = time.perf_counter()
        now = self._monotonic()
        self._behind += now - self._last
        self._last = now
        dt = self.dt
        steps = int((self._behind + dt * _EARLY_SLACK) // dt)
        if steps <= 0:
            return 0
        lateness = now - self._due
        # Follow the grid like PeriodicCallback: slots missed while late are skipped.
        self._due += dt if lateness < dt else dt * (1 + int(lateness // dt))
        counters = self._counters
        stats = self.stats
        if steps > self._max_catchup:
            # Too far behind (a stall, a suspended machine): skip ahead rather than spiral.
            stats.dropped_steps += steps - self._max_catchup
            counters.steps_dropped += steps - self._max_catchup
            steps = self._max_catchup
            self._behind = 0.0
        else:
            self._behind -= steps * dt
        try:
            game = self.game
            inputs = self._inputs
            if inputs:
                set_input = game.set_input
                for player_id, (seq, dx, dy) in inputs.items():
                    set_input(player_id, seq, dx, dy)
                inputs.clear()
            for _ in range(steps):
                game.step(dt)
            changes = game.take_changes()
            data = encode(
                messages.state(tick=game.tick, ts=int(self._wall() * 1000), changes=changes)
            )
        except Exception:
            log.exception("room %s: game failed; closing the room", self.id)
            self.fail("the room's game failed")
            return 0
        members = self._members
        recipients = len(members)
        lagging = self._lagging
        limit = self.max_backlog
        resync: bytes | None = None
        for player_id, member in members.items():
            if lagging and player_id in lagging:
                conn = member.connection
                if conn.backlog() > limit:
                    recipients -= 1
                    stats.states_skipped += 1
                    continue
                # Caught up: the deltas it missed are gone, so it gets everything at once.
                lagging.discard(player_id)
                if resync is None:
                    resync = encode(messages.state(
                        tick=game.tick, ts=int(self._wall() * 1000),
                        changes={"full": game.full_state()}))
                conn.send(resync)
                stats.resyncs += 1
            elif not member.connection.send_state(data, limit):
                recipients -= 1
                stats.states_skipped += 1
                lagging.add(player_id)
        if now >= self._next_lag_check:
            self._next_lag_check = now + LAG_CHECK_INTERVAL
            self._close_the_too_slow(now)
        counters.ticks += 1
        counters.state_messages += recipients
        counters.state_bytes += len(data) * recipients
        if steps > 1:
            stats.catchup_steps += steps - 1
            counters.steps_caught_up += steps - 1
        elapsed = time.perf_counter() - started
        overrun = elapsed > dt or lateness > dt
        if overrun:
            counters.ticks_overrun += 1
        self._observer.tick(duration=elapsed, lateness=lateness, overrun=overrun)
        return steps

    def _close_the_too_slow(self, now: float) -> None:
        """Close (4002) every member more than `max_lag` seconds behind.

        Measured as time, not bytes: a client that stops reading is behind from the moment its
        receive window is full, however much the kernels on either side would still buffer.
        """
        max_lag = self.max_lag
        too_slow = self._too_slow
        for player_id, member in list(self._members.items()):
            behind = member.connection.lag(now)
            if behind > max_lag and player_id not in too_slow:
                too_slow.add(player_id)
                log.info("room %s: closing player %d, not reading for %.1f s", self.id,
                         player_id, behind)
                member.connection.close(CLOSE_TOO_SLOW, "too slow: not reading")

    def fail(self, why: str) -> None:
        """Close the room after an error: members get `error` `room_closed`, then `left`."""
        data = encode_error(ErrorCode.ROOM_CLOSED, f"{why}; join another room")
        for member in self._members.values():
            member.connection.send(data)
        self.close("room_closed")

    def describe(self) -> dict[str, object]:
        """The room as the lobby lists it."""
        return {
            "id": self.id,
            "mode": self.mode.name,
            "players": self.player_count,
            "max_players": self.max_players,
        }
