"""Play a game through the public API in a test, without a server: `GameHarness`.

The harness is a room in miniature with a manual clock. It makes the room's decisions with the
room's own code (`RoomRules`, games/contract.py): which messages reach the game and when
(`latest_only` inputs of a ticking game wait for the next step), who gets a seat, what the game
may send and set. It runs timers when the test moves time on, and records what the game sent,
reported and published, and what each player would have received. tests/test_parity.py runs
the same scenarios through it and through a real server and compares the two.

Where the server answers a client with `error`, the harness raises the same `ProtocolError`
code (`Refused`, `JoinRefused`); where the server closes a room because its game misbehaved
(a hook raised, it sent an engine message type, set a list as metadata), the harness raises
the game's exception.

The harness is this module's seats, messages and clock, plus one concept per module:
games/harness_room.py (`HarnessRoom`, the game's handle, and `Sent`), games/harness_wire.py
(`HarnessWire`: what players and the spectator receive, `spectate`, `received`),
games/harness_journal.py (`HarnessRecording`: the recorded `join`, `journal()`, `verify()`).
`GameHarness`, `HarnessRoom` and `Sent` are imported from here as before.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from typing import Any

from game_server.games.api import Changes, Game, GameError, GameSpec, Seat, Ticking
from game_server.games.contract import JoinRefused, Refused, RoomRules, check_options
from game_server.games.harness_journal import HarnessRecording
from game_server.games.harness_room import HarnessRoom, Sent
from game_server.games.harness_wire import HarnessWire
from game_server.games.state import full_state, normalized
from protocol import messages
from protocol.errors import ErrorCode

__all__ = ["GameHarness", "HarnessRoom", "Sent"]

_SAME_MOMENT = 1e-9  # seconds: a timer and a step this close are due together


class GameHarness(HarnessRecording, HarnessWire, RoomRules):
    """Drive one game as its room would: join, send messages, drop, resume, move time on.

    `send` validates like the server: an unknown type, a sender who is not seated and
    connected, or bad fields raise `Refused` (a `ProtocolError` with the server's code), and a
    `GameError` from the game propagates. In a ticking game, `latest_only` messages wait for
    the next step of `advance`, where a refusal is recorded in `received` only. `join` raises
    `JoinRefused` with the server's code (`room_full`, `room_locked`, `join_refused`); `resume`
    raises it (`resume_failed`) when the game will not have the player back. `received(player)`
    is every message the player would have read on its socket.

    With `record=True` the harness keeps the match journal a room would (docs/writing-a-game.md):
    `journal()` gives it, `verify()` re-runs it through a real room and raises
    `AssertionError` at the first tick whose state differs, so a test catches a game that is
    not deterministic. It hashes the state after every tick (`hash_every`) and keeps a full
    snapshot every `snapshot_every` hashes (10), and of the state at the end.
    """

    def __init__(self, spec: GameSpec, *, seed: int = 1, options: Mapping[str, Any] | None = None,
                 room_id: str = "room-1", record: bool = False, hash_every: int = 1,
                 snapshot_every: int | None = None) -> None:
        self.spec = spec
        self.room_id = room_id
        self.room = HarnessRoom(room_id, seed, check_options(spec.options, options),
                                wire=self._wire, on_kick=self._kick, on_close=self._close,
                                replies=spec.replies)
        # A mode may let each room choose its seats and rate (its options), as the room does.
        clock = spec.room_clock(self.room.options)
        self.ticking = isinstance(clock, Ticking)
        self.tick_rate = clock.rate if isinstance(clock, Ticking) else 0
        self.closed = False
        self.max_players = spec.room_seats(self.room.options)
        self._messages = spec.messages
        self._join_fields = spec.join_fields
        self.seats: dict[int, Seat] = {}  # everyone in the game, connected or held
        self._members: dict[int, Seat] = {}
        self._held: dict[int, Seat] = {}
        self._away_changed = False  # the next state says who is away, as the room's does
        self._next_player_id = 1
        self._inboxes: dict[int, list[bytes]] = {}
        self._spectator: list[dict[str, Any]] | None = None  # what a spectator received
        self._refused: GameError | None = None  # the game's refusal of the message in hand
        self.ticks = 0
        self._steps_due = 1  # the grid's next step: step k falls at k / rate seconds
        self.states: list[Changes] = []
        self.game: Game = spec.factory(self.room)
        self._rules_ready()
        self._header: dict[str, Any] | None = None
        if record:
            self._start_journal(seed, hash_every, snapshot_every)

    @property
    def locked(self) -> bool:  # type: ignore[override]
        return self.room.locked

    @property
    def held(self) -> Mapping[int, Seat]:
        """Players whose connection dropped, waiting for a resume (by id)."""
        return self._held

    @property
    def connected(self) -> Mapping[int, Seat]:
        """Players seated with an open connection (by id)."""
        return self._members

    # -- members --------------------------------------------------------------------------------

    def _join(self, name: str, user: int | None, fields: Mapping[str, Any] | None) -> int:
        seat = self._admit(user if user is not None else 1000 + self._next_player_id, name,
                           self.room_id, fields)
        player = seat.player
        self.seats[player] = seat
        self._members[player] = seat
        self._inboxes[player] = []
        self._call("on_join", seat)
        if self.closed:  # the game closed its room on the newcomer
            raise JoinRefused(ErrorCode.ROOM_CLOSED, f"room {self.room_id} is closed")
        if player not in self._members:  # the game kicked the newcomer at once
            raise JoinRefused(ErrorCode.JOIN_REFUSED, "the game took the seat back")
        self._send_joined(player)
        self._after_event()
        return player

    def leave(self, player: int, consented: bool = True) -> None:
        """The player is gone for good: it left (`consented`), or its held seat expired."""
        if self._journal is not None and player in self.seats and not self.closed:
            self._record("l", player, "leave" if consented else "disconnect")
        self._remove(player, "leave" if consented else "disconnect", None)

    def _remove(self, player: int, reason: str, message: str | None) -> None:
        if player not in self.seats:
            raise ValueError(f"player {player} is not in the room")
        del self.seats[player]
        connected = self._members.pop(player, None) is not None
        if self._held.pop(player, None) is not None:
            self._away_changed = True
        self._drop_latest(player)
        self._call("on_leave", player, reason == "leave")
        if connected:
            self._to(player, messages.left(room=self.room_id, reason=reason, message=message))
        self._after_event()

    def terminate(self, grace: float = 10.0) -> None:
        """The server shuts down: the game's `on_terminate(grace)`, then the room closes with
        "server_closing" and no `on_leave` (what the game reported meanwhile is in
        `room.outcomes`)."""
        if self._journal is not None and not self.closed:
            self._record("x", grace)
        self._call("on_terminate", grace)
        self._shut("server_closing", None)

    def _kick(self, player: int, reason: str) -> None:
        if not self.closed and player in self.seats:
            self._remove(player, "kicked", reason)

    def _close(self, reason: str) -> None:
        self._shut("closed", reason)

    def _shut(self, reason: str, message: str | None) -> None:
        if self.closed:
            return
        self.closed = True
        if self._spectator is not None:
            self._spectator.append(messages.left(room=self.room_id, reason=reason,
                                                 message=message))
        for player in list(self.seats):
            if player in self._members:
                self._to(player, messages.left(room=self.room_id, reason=reason,
                                               message=message))
        self.seats.clear()
        self._members.clear()
        self._held.clear()
        for waiting in self._latest.values():
            waiting.clear()
        self.room.timers.clear()
        if self._journal is not None:
            # The room's last snapshot, taken where the room takes it (before on_dispose).
            self._journal.add(["f", self.ticks, normalized(full_state(self.game))])
        self._call("on_dispose")

    def drop(self, player: int) -> None:
        """The player's connection dropped; its seat is held for `resume`."""
        if self._journal is not None and player in self._members:
            self._record("d", player)
        seat = self._members.pop(player, None)
        if seat is None:
            raise ValueError(f"player {player} is not connected")
        self._drop_latest(player)
        self._held[player] = seat
        self._away_changed = True
        self._call("on_drop", player)
        self._after_event()

    def resume(self, player: int) -> None:
        """The dropped player is back; `JoinRefused` (`resume_failed`) if the seat is not held
        or the game will not have the player back (`on_join_attempt(seat, True)`)."""
        seat = self._held.get(player)
        if seat is None:
            raise JoinRefused(ErrorCode.RESUME_FAILED, f"player {player}'s seat is not held")
        record: list[Any] | None = None
        if self._journal is not None:
            record = ["r", self._journal_ms(), player, False]
            self._journal.add(record)
        if not self._may_resume(seat):
            raise JoinRefused(ErrorCode.RESUME_FAILED, f"the game will not have player {player} "
                              "back")
        if record is not None:
            record[3] = True
        del self._held[player]
        self._members[player] = seat
        self._away_changed = True
        self._call("on_resume", player)
        self._send_joined(player)
        self._after_event()

    # -- messages and time ----------------------------------------------------------------------

    def send(self, player: int, kind: str, /, **fields: Any) -> None:
        """One client message from `player`, validated and delivered as the server would."""
        self._refused = None
        try:
            self.message(player, kind, {**fields, "type": kind})
        except Refused as exc:
            self._to(player, messages.error(exc.code.value, exc.message))
            raise
        refused = self._refused
        if refused is not None:  # the game refused it at once (not kept for a step)
            self._refused = None
            raise refused

    def advance(self, seconds: float) -> None:
        """Move time on: fire due timers in order, and step a ticking game on its grid (every
        1/rate seconds from the room's start, as the server's ticker does, however the time is
        cut up: two calls of half a period make one step). A timer due at the same moment as a
        step fires first: it was set before the ticker came round to that step."""
        end = self.room.now + seconds
        rate = self.tick_rate if self.ticking else 0
        while True:
            due = [(when, name) for name, when in self.room.timers.items() if when <= end]
            timer = min(due) if due else None
            # Step k is at k / rate exactly, never a sum of periods (which drifts).
            next_step = self._steps_due / rate if rate else None
            if next_step is not None and next_step <= end + _SAME_MOMENT and (
                    timer is None or next_step < timer[0] - _SAME_MOMENT):
                self.room.now = max(self.room.now, next_step)
                self.step()
                self._steps_due += 1
                continue
            if timer is None:
                break
            when, name = timer
            self.room.now = max(self.room.now, when)
            del self.room.timers[name]
            if self._journal is not None and self._hooks["on_timer"] is not None:
                self._record("t", name)
            self._call("on_timer", name)
            self._after_event()
        self.room.now = end

    def step(self) -> None:
        """One tick of a ticking game, as the room runs it: the kept `latest_only` inputs,
        one step, one state to every connected player. (`advance` calls it at the rate.)"""
        if not self.ticking:
            raise ValueError(f"mode {self.spec.name!r} does not tick")
        if self._journal is not None:
            self._journal.step(self._journal_ms(), 1)  # kept with the messages, as a room does
        if self._latest:
            self._deliver_latest()
        self.game.on_step(1.0 / self.tick_rate)
        self.ticks += 1
        self._state(self.game.changes())
        if self._journal is not None and self.ticks >= self._next_hash:
            self._journal_hash()

    def pending_timers(self) -> list[tuple[float, str]]:
        """(due in seconds from now, name) of every pending timer, soonest first."""
        return heapq.nsmallest(len(self.room.timers),
                               ((when - self.room.now, name)
                                for name, when in self.room.timers.items()))

    # -- RoomRules: how the harness calls its game ------------------------------------------------

    def _guarded(self, hook: Callable[..., Any], *args: Any) -> Any:
        return hook(*args)  # a failing game fails the test

    def _game_failed(self, exc: Exception, doing: str) -> None:
        raise exc

    def _refuse(self, player_id: int, exc: GameError) -> None:
        self._refused = exc
        self._to(player_id, messages.error(exc.code, exc.message))

    def _after_event(self) -> None:
        if not self.ticking and not self.closed:
            self.ticks += 1
            self._state(self.game.changes())
            if self._journal is not None:
                self._journal_hash()

    def _call(self, name: str, *args: Any) -> None:
        hook = self._hooks[name]
        if hook is not None:
            hook(*args)
