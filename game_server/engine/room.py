"""A room: a game, its members, and the clock that drives the game and sends its states.

A room holds a game written against the public game API (`games/api.py`) and is the game's
`RoomHandle`. A ticking room steps its game a whole number of fixed steps per tick, measured
against a monotonic clock (a late tick catches up, with a cap), builds one `state` message,
hands it to its `StateFanout` (engine/fanout.py), which encodes it once and writes the same bytes
to every member, slow readers aside; an event-driven room sends a state after every accepted
message, join, leave or timer. A failing game closes its room alone.

A room given a `JournalSink` records its match journal (engine/recorder.py): its external entry
points (`join`, `hold`, `resume`, `remove`, `kick`, `terminate`, `close`, `fire`, `signal`,
`tick`, and `message` in games/contract.py) record the call; what the game does through its
handle takes internal paths (`_kick`, `_close`, `_remove`) and is not recorded, since a
replay's game does it again.

`Room` is this module's membership, messages and game calls, plus mixins, one concept each:
- engine/room_journal.py `RoomJournal`: the journaled entry points (`join`, `resume`,
  `remove`, `kick`, `terminate`, `close`) that record the call, then take the internal path
  (`_join`, `_resume`, `_remove`, `_close`, here); it extends `RoomRecording`
  (engine/recorder.py), the room's header, hashes, snapshots and summary;
- engine/spectators.py `RoomSpectating`: `add_spectator`, `remove_spectator`,
  `spectators_changed`, `spectator_count`, a spectator's `joined`;
- engine/room_clock.py `RoomClock`: `tick`, `run_steps` (a tick without its clock, for
  replays), the state after an event, `_deliver` and `_deliver_away`, `_resync`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from game_server.engine import recorder as jr
from game_server.engine.connection import Connection, Identity
from game_server.engine.fanout import RoomStats, StateFanout
from game_server.engine.handle import GameHandle
from game_server.engine.metrics import TickObserver
from game_server.engine.recorder import JournalSink, Recorder
from game_server.engine.room_clock import RoomClock
from game_server.engine.room_journal import RoomJournal
from game_server.engine.roomcost import RoomCost
from game_server.engine.spectators import RoomSpectating, Spectators
from game_server.engine.ticker import Scheduler, Timer
from game_server.games.api import (
    Game,
    GameError,
    GameSpec,
    Outcome,
    Seat,
    Ticking,
)
from game_server.games.contract import RoomRules, check_options
from protocol import messages
from protocol.codec import encode, encode_error
from protocol.errors import ErrorCode, ProtocolError

log = logging.getLogger("arena.room")

_DEPARTED_KEPT = 256  # players who left whose results a game may still report

# What a room reports when a game records results: the room, then (account, outcome) pairs.
ResultSink = Callable[["Room", list[tuple[Identity, Outcome]]], None]


class Member(Protocol):
    """A player seated in a room, as the room sees it (a `PlayerSession` in practice)."""

    identity: Identity
    connection: Connection

    def on_room_left(self, room: Room, reason: str) -> None:
        """Called after the member was removed from `room` (it has already been sent `left`)."""


class Room(RoomJournal, RoomSpectating, RoomClock, RoomRules):
    """One running game and the players in it.

    What reaches the game, and who gets a seat, is decided by `RoomRules` (games/contract.py),
    which the test harness shares.

    The game is made by its spec's factory with the room's `GameHandle` (`handle`), the only
    part of the room a game sees. Members are the
    players whose connection is open; held seats are players whose connection dropped and who
    may still resume. Both count toward the room's size and both are in the game.
    """

    def __init__(
        self,
        room_id: str,
        spec: GameSpec,
        *,
        seed: int = 0,
        options: Mapping[str, Any] | None = None,
        scheduler: Scheduler | None = None,
        max_players: int | None = None,
        private: bool = False,
        code: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        on_result: ResultSink | None = None,
        on_empty: Callable[[Room], None] | None = None,
        on_closed: Callable[[Room], None] | None = None,
        max_catchup_steps: int = 5,
        observer: TickObserver | None = None,
        max_backlog: int = 64 * 1024,
        max_lag: float = 10.0,
        journal: JournalSink | None = None,
        max_spectators: int = 50,
        spectate_delay: float = 0.0,
        cost: RoomCost | None = None,
    ) -> None:
        self.id = room_id
        self.mode = spec
        self.seed = seed
        # Validated here too, so a room made in code cannot skip what `create` checks.
        self.options: Mapping[str, Any] = check_options(spec.options, options)
        # A mode may let each room choose its seats and rate (its options; games/api.py).
        self.max_players = max_players if max_players is not None else spec.room_seats(
            self.options)
        clock = spec.room_clock(self.options)
        self.ticking = isinstance(clock, Ticking)
        self.tick_rate = clock.rate if isinstance(clock, Ticking) else 0
        self.dt = 1.0 / self.tick_rate if self.tick_rate else 0.0
        self.private = private
        self.code = code
        # Occupants the server's bots fill this room up to (game_server/house_bots.py; 0: none).
        self.bot_target = spec.room_bots(self.options)
        self.locked = False
        self.metadata: dict[str, Any] = {}
        #: Called with the room after `lock`, `unlock` or `set_metadata` changed what the
        #: lobby shows (the cluster republishes the room); it must not raise.
        self.on_change: Callable[[Room], None] | None = None
        self.stats = RoomStats()
        self.closed = False
        self.scheduler = scheduler
        self._timers: dict[str, Timer] = {}  # the game's timers, by name (engine/handle.py)
        self._monotonic = monotonic
        self._wall = wall
        self._on_result = on_result
        self._on_empty = on_empty
        self._on_closed = on_closed
        self._max_catchup = max_catchup_steps
        self._messages = spec.messages
        self._join_fields = spec.join_fields
        self._seat_fields: dict[int, Mapping[str, Any]] = {}  # join fields, kept for a resume
        self._members: dict[int, Member] = {}
        # Seats of players whose connection dropped: still in the game, waiting for a resume
        # (the matchmaker owns the timer). They count toward the room's size.
        self._held: dict[int, Identity] = {}
        self._identities: dict[int, Identity] = {}  # everyone in the game, for results
        #: When each player took its seat (the room's monotonic clock), for the console.
        self.joined_at: dict[int, float] = {}
        # Players who left, for a game that reports them when its match ends (a player who quit
        # while losing still loses); the oldest are forgotten past `_DEPARTED_KEPT`.
        self._departed: dict[int, Identity] = {}
        self._next_player_id = 1
        self._observer = observer or TickObserver()
        self._counters = self._observer.counters
        # States to the members; slow readers skipped, then resynced; laggards closed (4002).
        self._fanout = StateFanout(room_id, self._members, max_backlog=max_backlog,
                                   max_lag=max_lag, stats=self.stats, counters=self._counters,
                                   resync=self._resync)
        # When the previous tick ran (None before the first). Steps are counted between ticks,
        # not from the room's creation: a room joins a timer group (engine/ticker.py) that
        # ticks at the group's phase, and the first tick may come late (a busy loop).
        self._last: float | None = None
        self._due = 0.0
        self.ticks = 0  # steps taken (ticking) or states sent (event-driven)
        # Spectators (engine/spectators.py): None while nobody watches, so that costs nothing.
        self.max_spectators = max_spectators
        self.spectate_delay = spectate_delay
        self._spectators: Spectators | None = None
        self.handle = GameHandle(self)
        self.game: Game = spec.factory(self.handle)
        self._rules_ready()
        # The match journal (engine/recorder.py): None when not recording, so that every
        # recorded call costs one attribute test when it is off.
        self._journal: Recorder | None = None
        self._journal_kept: list[Any] | None = None  # a ticking room's: what inputs go to
        #: The id of this match's journal while or after it is recorded (None: not recorded).
        self.journal_id: str | None = None
        if journal is not None:
            self._open_journal(journal)
        #: What the room costs its process (engine/roomcost.py); None when not accounted.
        self.cost = cost
        if cost is not None:
            self._fanout.cost = cost
            cost.watch(self)

    # -- membership -------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether matchmaking may put a newcomer here."""
        return not (self.closed or self.locked or self.private or self.is_full)

    # People and the server's bots: bots are members (their inputs take the normal path) whose
    # accounts' ids are negative (games/api.py `is_bot`); counts of people leave them out, so
    # quick play fills rooms by people and the lobby says who is there.

    @property
    def bot_count(self) -> int:
        """Seats the server's bots play."""
        if not self.bot_target:
            return 0  # a room without bots pays nothing
        return sum(1 for member in self._members.values() if member.identity.id < 0)

    @property
    def player_count(self) -> int:
        """Seats taken by people: connected and away (bots are counted apart)."""
        return len(self._members) + len(self._held) - self.bot_count

    @property
    def connected_count(self) -> int:
        """People seated whose connection is open (bots are counted apart)."""
        return len(self._members) - self.bot_count

    def holds(self, player_id: int) -> bool:
        return player_id in self._held

    def members(self) -> list[Member]:
        return list(self._members.values())

    def _join(self, member: Member, resume_token: str | None,
              fields: Mapping[str, Any] | None) -> int:
        identity = member.identity
        seat = self._admit(identity.id, identity.name, self.id, fields)
        player_id = seat.player
        if seat.fields:
            self._seat_fields[player_id] = seat.fields
        self._members[player_id] = member
        self._identities[player_id] = identity
        self.joined_at[player_id] = self._monotonic()
        self._call("on_join", seat)
        if self.closed:  # the game failed on the newcomer (or closed its room)
            raise ProtocolError(ErrorCode.ROOM_CLOSED, f"room {self.id} is closed")
        if player_id not in self._members:  # the game kicked the newcomer at once
            raise ProtocolError(ErrorCode.JOIN_REFUSED, "the game took the seat back")
        self._send_joined(member, player_id, resume_token)
        self._after_event()
        return player_id

    def hold(self, player_id: int) -> bool:
        """The member's connection dropped: keep its seat in the game for a resume."""
        if self._journal is not None and player_id in self._members:
            self._record(jr.DROP, player_id)
        member = self._members.pop(player_id, None)
        if member is None:
            return False
        self._fanout.forget(player_id)
        self._drop_latest(player_id)
        self._held[player_id] = member.identity
        self._away_changed()
        self._call("on_drop", player_id)
        self._after_event()
        return True

    def _resume(self, player_id: int, member: Member, resume_token: str | None) -> bool:
        identity = self._held.get(player_id)
        if identity is None or identity.id != member.identity.id or not self._may_resume(
                Seat(player=player_id, user=identity.id, name=identity.name,
                     fields=self._seat_fields.get(player_id, {}))):
            return False
        del self._held[player_id]
        self._members[player_id] = member
        self._away_changed()
        self._call("on_resume", player_id)
        if self.closed:
            return False
        self._send_joined(member, player_id, resume_token)
        self._after_event()
        return True

    def _send_joined(self, member: Member, player_id: int, resume_token: str | None) -> None:
        msg = messages.joined(
            room=self.id,
            mode=self.mode.name,
            player=player_id,
            tick_rate=self.tick_rate,
            client=dict(self.mode.client),
            options=dict(self.options),
            state=self.game.view(player_id),
        )
        if self.code is not None:
            msg["code"] = self.code
        msg["away"] = list(self._held)
        if resume_token is not None:
            msg["resume"] = resume_token
        member.connection.send(encode(msg))

    def _remove(self, player_id: int, reason: str = "leave", message: str | None = None,
                *, tell_game: bool = True) -> None:
        member = self._members.pop(player_id, None)
        held = self._held.pop(player_id, None)
        if member is None and held is None:
            return
        self._fanout.forget(player_id)
        self._drop_latest(player_id)
        self._seat_fields.pop(player_id, None)
        self.joined_at.pop(player_id, None)
        if held is not None:
            self._away_changed()
        if tell_game:
            self._call("on_leave", player_id, reason == "leave")
        identity = self._identities.pop(player_id, None)
        if identity is not None:
            departed = self._departed
            departed[player_id] = identity
            if len(departed) > _DEPARTED_KEPT:
                del departed[next(iter(departed))]
        if member is not None:
            member.connection.send(encode(messages.left(room=self.id, reason=reason,
                                                        message=message)))
            member.on_room_left(self, reason)
        if not self.closed:
            self._after_event()
        if self.player_count == 0 and not self.closed and self._on_empty is not None:
            self._on_empty(self)

    def _kick(self, player_id: int, message: str) -> None:
        """The game's own kick (through its handle): the same, not journaled (a replay's game
        kicks again by itself)."""
        if not self.closed:
            self._remove(player_id, "kicked", message)

    def _close(self, reason: str = "room_closed", message: str | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        for player_id in [*self._members, *self._held]:
            self._remove(player_id, reason, message, tell_game=False)
        if self._spectators is not None:
            self._spectators.close(reason, message)
            self._spectators = self._fanout.spectators = None
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._journal is not None:
            self._journal_end(reason)
        dispose = self._hooks["on_dispose"]
        if dispose is not None:
            try:
                dispose()
            except Exception:
                log.exception("room %s: game failed while disposing", self.id)
        if self._on_closed is not None:
            self._on_closed(self)

    # -- messages ---------------------------------------------------------------------------

    def accepts(self, kind: str) -> bool:
        """Whether this room's game takes client messages of type `kind`."""
        return kind in self._messages

    def _refuse(self, player_id: int, exc: GameError) -> None:
        member = self._members.get(player_id)
        if member is not None:
            self._counters.error(exc.code)
            member.connection.send(encode(messages.error(exc.code, exc.message)))

    def chat(self, player_id: int, text: str) -> None:
        member = self._members.get(player_id)
        if member is None:
            return
        data = encode(messages.chat(player=player_id, name=member.identity.name, text=text))
        for other in self._members.values():
            other.connection.send(data)
        if self._spectators is not None:  # they read the room's chat (and never write)
            self._spectators.push(data)

    # -- what the game's handle changes (engine/handle.py) ------------------------------------

    def fire(self, name: str) -> None:
        """A game timer is due: call the game, then send the state an event-driven room owes."""
        self._timers.pop(name, None)
        if self.closed or self._hooks["on_timer"] is None:
            return
        if self._journal is not None:
            self._record(jr.TIMER, name)
        self._call("on_timer", name)
        if not self.closed:
            self._after_event()

    def signal(self, name: str, payload: Any) -> str | None:
        """An operator's signal (the console): the game's `on_signal` answers it, then the
        room sends the state an event-driven room owes. ValueError when the game takes none."""
        hook = getattr(self.game, "on_signal", None)
        if self.closed or hook is None:
            raise ValueError(f"the {self.mode.name} game takes no signals")
        if self._journal is not None:  # it changes the game: a replay must send it too
            self._record(jr.SIGNAL, name, payload)
        reply = self._guarded(hook, name, payload)
        if not self.closed:
            self._after_event()
        return None if reply is None else str(reply)[:500]

    def changed(self) -> None:
        """The room's lock or public metadata changed (the lobby and the cluster follow)."""
        if self.on_change is not None:
            self.on_change(self)

    def report(self, outcomes: list[Outcome]) -> None:
        """The game's results, with the account of each player still known to the room."""
        if self._journal is not None:
            self._journal_outcomes(outcomes)
        if self._on_result is None:
            return
        known = self._identities
        departed = self._departed
        pairs = []
        for outcome in outcomes:
            who = known.get(outcome.player) or departed.pop(outcome.player, None)
            if who is not None:
                pairs.append((who, outcome))
        if pairs:
            self._on_result(self, pairs)

    # -- calling the game -------------------------------------------------------------------

    def _guarded(self, hook: Callable[..., Any], *args: Any) -> Any:
        try:
            return hook(*args)
        except Exception:
            log.exception("room %s: game failed in %s", self.id, hook.__name__)
            self.fail("the room's game failed")
            return None

    def _game_failed(self, exc: Exception, doing: str) -> None:
        log.error("room %s: game failed %s", self.id, doing, exc_info=exc)
        self.fail("the room's game failed")

    def _call(self, name: str, *args: Any) -> None:
        hook = self._hooks[name]
        if hook is not None:
            self._guarded(hook, *args)

    def fail(self, why: str) -> None:
        """Close the room after an error: members get `error` `room_closed`, then `left`."""
        if self.closed:
            return
        data = encode_error(ErrorCode.ROOM_CLOSED, f"{why}; join another room")
        for member in self._members.values():
            member.connection.send(data)
        self._hooks = dict.fromkeys(self._hooks)  # a failed game is called no more
        self._close("room_closed")

    def describe(self) -> dict[str, object]:
        """The room as the lobby lists it: `players` (seats taken by people) are `connected`
        players and `away` ones (held seats, waiting for a resume); `bots`: the server's bots
        seated besides."""
        out: dict[str, object] = {
            "id": self.id,
            "mode": self.mode.name,
            "players": self.player_count,
            "connected": self.connected_count,
            "away": len(self._held),
            "max_players": self.max_players,
            "options": dict(self.options),
        }
        if self._spectators is not None:
            out["spectators"] = len(self._spectators)
        bots = self.bot_count
        if bots:
            out["bots"] = bots
        if self.locked:
            out["locked"] = True
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


