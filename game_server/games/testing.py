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
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from game_server.games.api import (
    Changes,
    Game,
    GameError,
    GameSpec,
    Outcome,
    Seat,
    Ticking,
)
from game_server.games.contract import (
    JoinRefused,
    Refused,
    RoomRules,
    apply_metadata,
    check_options,
    farewell,
    outgoing,
    timer_delay,
)
from game_server.games.state import full_state, normalized, state_hash
from protocol import messages
from protocol.errors import ErrorCode, ProtocolError


@dataclass
class Sent:
    """A message the game sent: to one player (`to`), or to everyone (`to` None)."""

    to: int | None
    kind: str
    body: dict[str, Any]


@dataclass
class HarnessRoom:
    """The `RoomHandle` the harness gives the game; what the game did is kept here."""

    room_id: str
    seed: int
    options: Mapping[str, Any]
    sent: list[Sent] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    locked: bool = False
    outcomes: list[list[Outcome]] = field(default_factory=list)
    timers: dict[str, float] = field(default_factory=dict)  # name -> due time
    now: float = 0.0
    # Where a message goes on the wire: (to, the message), `to` None for every member.
    wire: Callable[[int | None, dict[str, Any]], None] | None = field(default=None, repr=False)
    # What the harness does for `kick(player, reason)` and `close(reason)`.
    on_kick: Callable[[int, str], None] | None = field(default=None, repr=False)
    on_close: Callable[[str], None] | None = field(default=None, repr=False)
    kicked: list[tuple[int, str]] = field(default_factory=list)  # (player, reason)
    closed_with: str | None = None  # the reason of the game's `close`, once it closed
    replies: Mapping[str, str] = field(default_factory=dict)  # the spec's declared replies

    def send(self, player: int, kind: str, body: Mapping[str, Any]) -> None:
        msg = outgoing(kind, body, self.replies)
        self.sent.append(Sent(player, kind, dict(body)))
        if self.wire is not None:
            self.wire(player, msg)

    def send_to(self, players: Iterable[int], kind: str, body: Mapping[str, Any]) -> None:
        msg = outgoing(kind, body, self.replies)
        for player in sorted(set(players)):
            self.sent.append(Sent(player, kind, dict(body)))
            if self.wire is not None:
                self.wire(player, msg)

    def broadcast(self, kind: str, body: Mapping[str, Any]) -> None:
        msg = outgoing(kind, body, self.replies)
        self.sent.append(Sent(None, kind, dict(body)))
        if self.wire is not None:
            self.wire(None, msg)

    def schedule(self, name: str, delay: float) -> None:
        self.timers[name] = self.now + timer_delay(delay)

    def cancel(self, name: str) -> None:
        self.timers.pop(name, None)

    def set_metadata(self, **values: str | int | float | bool | None) -> None:
        apply_metadata(self.metadata, values)

    def lock(self) -> None:
        self.locked = True

    def unlock(self) -> None:
        self.locked = False

    def report(self, outcomes: list[Outcome]) -> None:
        self.outcomes.append(list(outcomes))

    def kick(self, player: int, reason: str) -> None:
        reason = farewell(reason)
        self.kicked.append((player, reason))
        if self.on_kick is not None:
            self.on_kick(player, reason)

    def close(self, reason: str) -> None:
        reason = farewell(reason)
        self.closed_with = reason
        if self.on_close is not None:
            self.on_close(reason)


_SAME_MOMENT = 1e-9  # seconds: a timer and a step this close are due together
# Joins refused before the game is asked: a room does not journal them (engine/room.py).
_UNTOLD = frozenset((ErrorCode.ROOM_FULL, ErrorCode.ROOM_LOCKED, ErrorCode.ROOM_CLOSED,
                     ErrorCode.BAD_FIELD, ErrorCode.OUT_OF_RANGE))


class _Journal:
    """What a recording harness keeps: the records (the room's `Recorder` has the same two
    attributes the rules use)."""

    __slots__ = ("records", "dropped")

    def __init__(self) -> None:
        self.records: list[list[Any]] = []
        self.dropped = False


class GameHarness(RoomRules):
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
        self._refused: GameError | None = None  # the game's refusal of the message in hand
        self.ticks = 0
        self._steps_due = 1  # the grid's next step: step k falls at k / rate seconds
        self.states: list[Changes] = []
        self.game: Game = spec.factory(self.room)
        self._rules_ready()
        self._header: dict[str, Any] | None = None
        if record:
            self._hash_every = max(1, hash_every)
            self._snapshot_every = max(1, snapshot_every if snapshot_every is not None
                                       else 10)
            self._next_hash = self._hash_every
            self._hashes = 0
            self._header = {
                "format": 1, "id": "harness", "mode": spec.name, "version": spec.version,
                "room": room_id, "seed": seed, "options": dict(self.room.options),
                "tick_rate": self.tick_rate, "max_players": self.max_players,
                "private": False, "started": 0, "hash_every": self._hash_every,
                "snapshot_every": self._snapshot_every,
            }
            self._journal = _Journal()

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

    def join(self, name: str, user: int | None = None,
             fields: Mapping[str, Any] | None = None) -> int:
        """Seat a player with its join `fields`; its id. `JoinRefused` (code `room_full`,
        `room_locked` or `join_refused`) when the room or the game says no, `Refused`
        (`bad_field`, `out_of_range`) for fields the game does not take; a refused join uses up
        no id."""
        journal = self._journal
        if journal is None:
            return self._join(name, user, fields)
        record: list[Any] = [
            "j", self._journal_ms(), user if user is not None else 1000 + self._next_player_id,
            name, dict(fields) if fields is not None else None, None]
        journal.records.append(record)
        try:
            record[5] = self._join(name, record[2], fields)
        except ProtocolError as exc:
            if exc.code in _UNTOLD and journal.records and journal.records[-1] is record:
                journal.records.pop()
            raise
        return record[5]

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
            self._journal.records.append(["f", self.ticks, normalized(full_state(self.game))])
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
            self._journal.records.append(record)
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
            self._record("s", 1)
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

    # -- what players see -----------------------------------------------------------------------

    def view(self, player: int) -> Mapping[str, Any]:
        return self.game.view(player)

    def last_state_for(self, player: int) -> Mapping[str, Any] | None:
        """The latest state content `player` received, if any."""
        if not self.states:
            return None
        changes = self.states[-1]
        if changes.private and player in changes.private:
            return changes.private[player]
        return changes.shared

    def sent_to(self, player: int) -> list[Sent]:
        """Every message the game sent that `player` received (its own and broadcasts)."""
        return [s for s in self.room.sent if s.to is None or s.to == player]

    def received(self, player: int) -> list[dict[str, Any]]:
        """Every message `player` would have read on its socket, in order, as JSON objects:
        `joined`, `state`, the game's messages, `error` and `left` (the server's `tick` and
        `ts` are counted by the harness's own clock)."""
        return [orjson.loads(data) for data in self._inboxes.get(player, ())]

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

    # -- the match journal ------------------------------------------------------------------------

    def _journal_ms(self) -> int:
        return int(self.room.now * 1000)

    @property
    def _journal_stamp(self) -> int:  # type: ignore[override]
        return int(self.room.now * 1000)

    def _journal_hash(self) -> None:
        # As the room does it (engine/room.py): the same points, so a replay can compare.
        ticks = self.ticks
        every = self._hash_every
        self._next_hash = (ticks // every + 1) * every
        state = full_state(self.game)
        records = self._journal.records
        records.append(["h", ticks, state_hash(state)])
        self._hashes += 1
        if self._hashes % self._snapshot_every == 0:
            records.append(["f", ticks, normalized(state)])

    def journal(self) -> tuple[dict[str, Any], list[list[Any]]]:
        """(header, records) of the match so far, as a room would have journaled it (the
        harness must have been made with `record=True`). A match still going ends with a
        snapshot of the state now, so a difference after the last hash still shows."""
        if self._header is None or self._journal is None:
            raise ValueError("this harness does not record: GameHarness(spec, record=True)")
        records = list(self._journal.records)
        if not self.closed:
            records.append(["f", self.ticks, normalized(full_state(self.game))])
        return dict(self._header), records

    def verify(self) -> Any:
        """Re-run the recorded match through a real room (journal/replay.py) and compare every
        hash and snapshot: the `Verification` when they all match, else `AssertionError`
        naming the first tick whose state differs and where the two states differ."""
        # The replayer drives the engine's Room: imported here, a test tool's dependency at
        # call time, not the game API's.
        from game_server.journal.replay import Replay

        header, records = self.journal()
        verification = Replay(header, records, modes={self.spec.name: self.spec}).verify()
        if not verification.ok:
            raise AssertionError(
                f"the match does not replay the same: first difference after tick "
                f"{verification.first_bad_tick} ({verification.problem}); differing: "
                f"{', '.join(verification.differences) or 'no snapshot to compare'}")
        return verification

    # -- the wire -------------------------------------------------------------------------------

    def _call(self, name: str, *args: Any) -> None:
        hook = self._hooks[name]
        if hook is not None:
            hook(*args)

    def _to(self, player: int, msg: dict[str, Any]) -> None:
        # Encoded at once, as the server does: a body that is not JSON fails here, and a game
        # that mutates what it sent afterwards does not rewrite history.
        inbox = self._inboxes.get(player)
        if inbox is not None:
            inbox.append(orjson.dumps(msg))

    def _wire(self, to: int | None, msg: dict[str, Any]) -> None:
        data = orjson.dumps(msg)
        for player in self._members if to is None else (to,):
            if player in self._members:
                self._inboxes[player].append(data)

    def _send_joined(self, player: int) -> None:
        joined = messages.joined(
            room=self.room_id, mode=self.spec.name, player=player, tick_rate=self.tick_rate,
            client=dict(self.spec.client), options=dict(self.room.options),
            state=self.game.view(player))  # type: ignore[arg-type]
        joined["away"] = list(self._held)  # the held seats' players, as the room sends
        self._to(player, joined)

    def _state(self, changes: Changes) -> None:
        self.states.append(changes)
        ts = int(self.room.now * 1000)
        shared_changes: Mapping[str, Any] = changes.shared
        private = changes.private or {}
        if self._away_changed:  # a seat was held, resumed or let go: say who is away now
            self._away_changed = False
            away = list(self._held)
            shared_changes = {**shared_changes, "away": away}
            private = {player: {**view, "away": away} for player, view in private.items()}
        shared = orjson.dumps(messages.state(tick=self.ticks, ts=ts, changes=shared_changes))
        for player in self._members:
            view = private.get(player)
            self._inboxes[player].append(
                shared if view is None
                else orjson.dumps(messages.state(tick=self.ticks, ts=ts, changes=view)))
