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
        self._seeds = seeds
        self._rooms: dict[str, Room] = {}
        self._tickers: dict[str, Timer] = {}
        self._disposals: dict[str, Timer] = {}

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
    ) -> tuple[Room, int]:
        """Seat `member` by mode (the fullest open room, else a new one) or in room `room_id`.

        Returns the room and the member's player id in it; raises `ProtocolError` with a stable
        code when no seat can be had.
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
            room = self._fullest_open_room(mode) or self._create_room(self.modes[mode])
        self._cancel_disposal(room.id)
        player_id = room.join(member)
        return room, player_id

    def _fullest_open_room(self, mode: str) -> Room | None:
        best: Room | None = None
        for room in self._rooms.values():
            if room.mode.name != mode or room.closed or room.is_full:
                continue
            if best is None or room.player_count > best.player_count:
                best = room
        return best

    def _create_room(self, mode: GameMode) -> Room:
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
        log.info("room %s disposed", room.id)

    def _cancel_disposal(self, room_id: str) -> None:
        timer = self._disposals.pop(room_id, None)
        if timer is not None:
            timer.cancel()

    def close_all(self, reason: str = "server_closing") -> None:
        """Close every room: members are removed (their results saved) with `reason`."""
        for room in list(self._rooms.values()):
            room.close(reason)
