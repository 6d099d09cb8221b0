"""Play a game through the public API in a test, without a server: `GameHarness`.

The harness is a room in miniature with a manual clock: it validates messages against the
game's `GameSpec` as the server does, runs timers when the test moves time on, and records what
the game sent, reported and published. Game authors use it for their own tests; Arena's games
use it for theirs. It is the same contract the real room keeps, minus sockets and processes.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from game_server.games.api import (
    RESERVED_TYPES,
    Changes,
    Game,
    GameError,
    GameSpec,
    InvalidField,
    Outcome,
    Seat,
    Ticking,
    check_fields,
    decode_body,
)


class SeatRefused(GameError):
    """The harness refusing a seat as the server would, with the engine's code ("room_full",
    "room_locked", "join_refused"): the one `GameError` that may carry an engine code."""

    engine = True


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

    def send(self, player: int, kind: str, body: Mapping[str, Any]) -> None:
        self.sent.append(Sent(player, kind, dict(body)))

    def broadcast(self, kind: str, body: Mapping[str, Any]) -> None:
        self.sent.append(Sent(None, kind, dict(body)))

    def schedule(self, name: str, delay: float) -> None:
        if delay < 0:
            raise ValueError("a timer's delay must not be negative")
        self.timers[name] = self.now + delay

    def cancel(self, name: str) -> None:
        self.timers.pop(name, None)

    def set_metadata(self, **values: str | int | float | bool | None) -> None:
        for key, value in values.items():
            if value is None:
                self.metadata.pop(key, None)
            else:
                self.metadata[key] = value

    def lock(self) -> None:
        self.locked = True

    def unlock(self) -> None:
        self.locked = False

    def report(self, outcomes: list[Outcome]) -> None:
        self.outcomes.append(list(outcomes))


class GameHarness:
    """Drive one game as its room would: join, send messages, drop, resume, move time on.

    `send` validates like the server (unknown types and bad fields raise `InvalidField`, and
    a `GameError` from the game propagates); `views` and `states` give what each player would
    receive.
    """

    def __init__(self, spec: GameSpec, *, seed: int = 1, options: Mapping[str, Any] | None = None,
                 room_id: str = "room-1") -> None:
        self.spec = spec
        self.room = HarnessRoom(room_id, seed, check_fields(spec.options, options or {}))
        self.game: Game = spec.factory(self.room)
        self.seats: dict[int, Seat] = {}
        self.held: set[int] = set()
        self._ids = itertools.count(1)
        self.states: list[Changes] = []

    # -- members --------------------------------------------------------------------------------

    def join(self, name: str, user: int | None = None) -> int:
        """Seat a player; its id. `SeatRefused` (a `GameError`) with code "join_refused" if
        the game says no, "room_full" or "room_locked" as the room would."""
        player = next(self._ids)
        seat = Seat(player=player, user=user if user is not None else 1000 + player, name=name)
        if len(self.seats) >= self.spec.max_players:
            raise SeatRefused("room_full", "the room is full")
        if self.room.locked:
            raise SeatRefused("room_locked", "the room is locked")
        refuse = self._hook("on_join_attempt")
        reason = refuse(seat, False) if refuse else None
        if reason:
            raise SeatRefused("join_refused", reason)
        self.seats[player] = seat
        self._call("on_join", seat)
        self._after_event()
        return player

    def leave(self, player: int, consented: bool = True) -> None:
        del self.seats[player]
        self.held.discard(player)
        self._call("on_leave", player, consented)
        self._after_event()

    def drop(self, player: int) -> None:
        self.held.add(player)
        self._call("on_drop", player)
        self._after_event()

    def resume(self, player: int) -> None:
        self.held.remove(player)
        self._call("on_resume", player)
        self._after_event()

    # -- messages and time ----------------------------------------------------------------------

    def send(self, player: int, kind: str, **fields: Any) -> None:
        """One client message from `player`, validated as the server would."""
        spec = self.spec.messages.get(kind)
        if spec is None or kind in RESERVED_TYPES:
            raise InvalidField(f'unknown message type "{kind}"')
        body = decode_body(spec, {"type": kind, **fields})
        self.game.on_message(player, kind, body)
        if not isinstance(self.spec.clock, Ticking):
            self._after_event()

    def advance(self, seconds: float) -> None:
        """Move time on: fire due timers in order (and step a ticking game at its rate)."""
        end = self.room.now + seconds
        dt = 1.0 / self.spec.clock.rate if isinstance(self.spec.clock, Ticking) else None
        next_step = self.room.now + dt if dt else None
        while True:
            due = [(when, name) for name, when in self.room.timers.items() if when <= end]
            timer = min(due) if due else None
            if next_step is not None and next_step <= end and (timer is None
                                                               or next_step <= timer[0]):
                self.room.now = next_step
                self._call("on_step", dt)
                self.states.append(self.game.changes())
                next_step += dt  # type: ignore[operator]
                continue
            if timer is None:
                break
            when, name = timer
            self.room.now = when
            del self.room.timers[name]
            self._call("on_timer", name)
            self._after_event()
        self.room.now = end

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

    # -- helpers --------------------------------------------------------------------------------

    def _hook(self, name: str) -> Any:
        return getattr(self.game, name, None)

    def _call(self, name: str, *args: Any) -> None:
        hook = self._hook(name)
        if hook is not None:
            hook(*args)

    def _after_event(self) -> None:
        if not isinstance(self.spec.clock, Ticking):
            self.states.append(self.game.changes())
