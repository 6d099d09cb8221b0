"""Rooms by mode: find the fullest open room or create one, and dispose of empty rooms.

The matchmaker owns the in-process room registry; each room it creates gets its own repeating
timer from the `Scheduler`, so rooms tick independently and their phases spread.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping

from game_server.engine.connection import Identity
from game_server.engine.metrics import TickObserver
from game_server.engine.room import Member, Room
from game_server.engine.ticker import Scheduler, Timer
from game_server.games.base import GameMode
from protocol.errors import ErrorCode, ProtocolError

log = logging.getLogger("arena.matchmaker")


def _random_room_id() -> str:
    return secrets.token_hex(4)


def _random_seed() -> int:
    return secrets.randbits(32)


class _Seat:
    """A resumable seat: the room, the player id in it, and the account it belongs to."""

    __slots__ = ("room", "player_id", "user_id", "timer")

    def __init__(self, room: Room, player_id: int, user_id: int) -> None:
        self.room = room
        self.player_id = player_id
        self.user_id = user_id
        self.timer: Timer | None = None


class Matchmaker:
    """Seats players in rooms and keeps the list of live rooms."""

    def __init__(
        self,
        modes: Mapping[str, GameMode],
        *,
        scheduler: Scheduler,
        max_players: int = 20,
        tick_rate: int = 20,
        empty_room_grace: float = 10.0,
        on_result: Callable[[Identity, int], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        room_ids: Callable[[], str] = _random_room_id,
        seeds: Callable[[], int] = _random_seed,
        observer: TickObserver | None = None,
        max_backlog: int = 64 * 1024,
        max_lag: float = 10.0,
        resume_grace: float = 15.0,
    ) -> None:
        self.modes = dict(modes)
        self.max_players = max_players
        self.tick_rate = tick_rate
        self.empty_room_grace = empty_room_grace
        self._scheduler = scheduler
        self._on_result = on_result
        self._monotonic = monotonic
        self._wall = wall
        self._room_ids = room_ids
        self.observer = observer or TickObserver()
        self.max_backlog = max_backlog
        self.max_lag = max_lag
        self.resume_grace = resume_grace
        self._seats: dict[str, _Seat] = {}
        self._seeds = seeds
        self._rooms: dict[str, Room] = {}
        self._tickers: dict[str, Timer] = {}
        self._disposals: dict[str, Timer] = {}
        # Called with every room this matchmaker closes (the cluster unregisters it).
        self.room_closed_hooks: list[Callable[[Room], None]] = []

    # -- queries ------------------------------------------------------------------------------

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

    def get(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    @property
    def player_count(self) -> int:
        return sum(room.player_count for room in self._rooms.values())

    # -- joining ------------------------------------------------------------------------------

    def join(
        self, member: Member, *, mode: str | None = None, room_id: str | None = None
    ) -> tuple[Room, int, str | None]:
        """Seat `member` by mode (the fullest open room, else a new one) or in room `room_id`.

        Returns the room, the member's player id in it, and the token that resumes the seat
        after a dropped connection (None when resuming is off); raises `ProtocolError` with a
        stable code when no seat can be had.
        """
        if room_id is not None:
            room = self._rooms.get(room_id)
            if room is None or room.closed:
                raise ProtocolError(ErrorCode.ROOM_NOT_FOUND, f"no room {room_id!r}")
            if room.is_full:
                raise ProtocolError(ErrorCode.ROOM_FULL, f"room {room_id!r} is full")
        else:
            if mode not in self.modes:
                known = ", ".join(sorted(self.modes))
                raise ProtocolError(
                    ErrorCode.UNKNOWN_MODE, f"unknown mode {mode!r}; this server runs: {known}"
                )
            room = self._fullest_open_room(mode) or self.create_room(mode)
        self._cancel_disposal(room.id)
        token = secrets.token_urlsafe(18) if self.resume_grace > 0 else None
        player_id = room.join(member, token)
        if token is not None:
            self._seats[token] = _Seat(room, player_id, member.identity.id)
        return room, player_id, token

    # -- dropped connections and resuming -------------------------------------------------

    def hold(self, token: str | None, room: Room, player_id: int) -> None:
        """A seated player's connection dropped: keep its seat for `resume_grace` seconds."""
        seat = self._seats.get(token) if token is not None else None
        if seat is None or seat.room is not room or not room.hold(player_id):
            room.remove(player_id, "disconnect")
            self.forget(token)
            return
        seat.timer = self._scheduler.later(self.resume_grace, lambda: self._expire(token))

    def resume(self, member: Member, token: str) -> tuple[Room, int]:
        """Put `member` back in the seat `token` names, if it is its own and still held."""
        seat = self._seats.get(token)
        if seat is None or seat.user_id != member.identity.id or seat.room.closed:
            raise ProtocolError(ErrorCode.RESUME_FAILED,
                                "that seat is gone (expired or never yours); join again")
        if seat.timer is not None:
            seat.timer.cancel()
            seat.timer = None
        if not seat.room.resume(seat.player_id, member, token):
            raise ProtocolError(ErrorCode.RESUME_FAILED, "that seat is in use; join again")
        return seat.room, seat.player_id

    def forget(self, token: str | None) -> None:
        """The seat's player left for good: its token no longer resumes anything."""
        seat = self._seats.pop(token, None) if token is not None else None
        if seat is not None and seat.timer is not None:
            seat.timer.cancel()

    def _expire(self, token: str) -> None:
        seat = self._seats.pop(token, None)
        if seat is not None and seat.room.holds(seat.player_id):
            seat.room.remove(seat.player_id, "disconnect")

    def _fullest_open_room(self, mode: str) -> Room | None:
        best: Room | None = None
        for room in self._rooms.values():
            if room.mode.name != mode or room.closed or room.is_full:
                continue
            if best is None or room.player_count > best.player_count:
                best = room
        return best

    def fullest_open_room(self, mode: str) -> Room | None:
        """This process's fullest room of `mode` with a free seat, if any."""
        return self._fullest_open_room(mode)

    def create_room(self, mode_name: str) -> Room:
        """A new, empty room of a mode this server runs (KeyError for another)."""
        mode = self.modes[mode_name]
        room_id = self._room_ids()
        while room_id in self._rooms:
            room_id = self._room_ids()
        room = Room(
            room_id,
            mode,
            mode.make_game(self._seeds()),
            max_players=self.max_players,
            tick_rate=self.tick_rate,
            monotonic=self._monotonic,
            wall=self._wall,
            on_result=self._on_result,
            on_empty=self._room_emptied,
            on_closed=self._room_closed,
            observer=self.observer,
            max_backlog=self.max_backlog,
            max_lag=self.max_lag,
        )
        self._rooms[room_id] = room
        self._tickers[room_id] = self._scheduler.every(1.0 / self.tick_rate, room.tick)
        log.info("room %s created (mode %s)", room_id, mode.name)
        return room

    # -- disposal -----------------------------------------------------------------------------

    def _room_emptied(self, room: Room) -> None:
        self._cancel_disposal(room.id)
        self._disposals[room.id] = self._scheduler.later(
            self.empty_room_grace, lambda: self._dispose_if_empty(room)
        )

    def _dispose_if_empty(self, room: Room) -> None:
        self._disposals.pop(room.id, None)
        if room.player_count == 0 and self._rooms.get(room.id) is room:
            room.close("room_closed")

    def _room_closed(self, room: Room) -> None:
        if self._rooms.get(room.id) is room:
            del self._rooms[room.id]
        ticker = self._tickers.pop(room.id, None)
        if ticker is not None:
            ticker.cancel()
        self._cancel_disposal(room.id)
        for token in [t for t, seat in self._seats.items() if seat.room is room]:
            self.forget(token)
        for hook in self.room_closed_hooks:
            hook(room)
        log.info("room %s disposed", room.id)

    def _cancel_disposal(self, room_id: str) -> None:
        timer = self._disposals.pop(room_id, None)
        if timer is not None:
            timer.cancel()

    def close_all(self, reason: str = "server_closing") -> None:
        """Close every room: members are removed (their results saved) with `reason`."""
        for room in list(self._rooms.values()):
            room.close(reason)
