"""In-process presence: the embedded default for one process (no Redis).

The same contract as `RedisPresence`, in dictionaries: rooms expire when not refreshed, seats
are reserved under the same rule, and published messages reach this process's subscribers on
the next turn of the event loop (as they would arrive from Redis). Several `Arena` servers in
one Python process may share one `LocalPresence` (the engine's cluster tests do).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from game_server.presence.base import Presence, RoomRecord


class LocalPresence(Presence):
    """Presence in this process's memory."""

    def __init__(
        self,
        process_id: str = "local",
        *,
        room_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        shared: bool = False,
    ) -> None:
        """`shared=True` makes the servers of this process that share this presence one
        deployment (cross-server matchmaking, redirects), as Redis does for processes."""
        super().__init__(process_id, room_ttl=room_ttl)
        self.shared = shared
        self._clock = clock
        self._rooms: dict[str, RoomRecord] = {}
        self._expires: dict[str, float] = {}
        self._seats: dict[str, dict[str, float]] = {}  # room id -> seat -> expiry
        self._locks: dict[str, tuple[str, float]] = {}  # name -> (token, expiry)
        self._tokens = itertools.count(1)

    def peer(self, process_id: str) -> LocalPresence:
        """Another server's view of this same registry, as another process sees one Redis:
        several servers in one Python process then form one deployment (with `shared`)."""
        other = LocalPresence(process_id, room_ttl=self.room_ttl, clock=self._clock,
                              shared=self.shared)
        other._rooms, other._expires, other._seats = self._rooms, self._expires, self._seats
        other._locks, other._subscribers = self._locks, self._subscribers
        return other

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._subscribers.clear()

    # -- registry ------------------------------------------------------------------------------

    def _live(self, room_id: str) -> RoomRecord | None:
        record = self._rooms.get(room_id)
        if record is None:
            return None
        if self._expires[room_id] <= self._clock():
            self._drop(room_id)
            return None
        return record

    def _drop(self, room_id: str) -> None:
        self._rooms.pop(room_id, None)
        self._expires.pop(room_id, None)
        self._seats.pop(room_id, None)

    def _reservations(self, room_id: str) -> dict[str, float]:
        seats = self._seats.setdefault(room_id, {})
        now = self._clock()
        for seat in [s for s, expiry in seats.items() if expiry <= now]:
            del seats[seat]
        return seats

    async def register_room(self, record: RoomRecord) -> bool:
        if record.code is not None and self._code_holder(record.code, record.id) is not None:
            return False
        self._rooms[record.id] = replace(record, reserved=0)
        self._expires[record.id] = self._clock() + self.room_ttl
        return True

    def _code_holder(self, code: str, but: str | None = None) -> RoomRecord | None:
        """The live room other than `but` whose code is `code`."""
        for room_id in list(self._rooms):
            record = self._live(room_id)
            if record is not None and record.code == code and room_id != but:
                return record
        return None

    async def update_room(self, record: RoomRecord) -> None:
        held = self._live(record.id)
        if held is not None:
            self._rooms[record.id] = replace(record, players=held.players,
                                             connected=held.connected, reserved=0)

    async def set_players(self, room_id: str, players: int, connected: int) -> None:
        record = self._live(room_id)
        if record is not None:
            self._rooms[room_id] = record.with_players(players, connected)

    async def heartbeat(self, records: list[RoomRecord]) -> None:
        expiry = self._clock() + self.room_ttl
        for record in records:
            held = self._live(record.id)
            counted = record if held is None else held
            self._rooms[record.id] = replace(record, players=counted.players,
                                             connected=counted.connected, reserved=0)
            self._expires[record.id] = expiry

    async def remove_room(self, room_id: str) -> None:
        self._drop(room_id)

    async def rooms(self, mode: str | None = None) -> list[RoomRecord]:
        found = []
        for room_id in list(self._rooms):
            record = self._live(room_id)
            if record is None or (mode is not None and record.mode != mode):
                continue
            found.append(replace(record, reserved=len(self._reservations(room_id))))
        return found

    async def room_by_code(self, code: str) -> RoomRecord | None:
        record = self._code_holder(code)
        if record is None:
            return None
        return replace(record, reserved=len(self._reservations(record.id)))

    # -- seats ---------------------------------------------------------------------------------

    async def reserve(self, room_id: str, seat: str, ttl: float) -> bool:
        record = self._live(room_id)
        if record is None:
            return False
        seats = self._reservations(room_id)
        if seat in seats:
            return False
        if record.locked or record.players + len(seats) >= record.max_players:
            return False
        seats[seat] = self._clock() + ttl
        return True

    async def claim(self, room_id: str, seat: str) -> bool:
        record = self._live(room_id)
        if record is None or self._reservations(room_id).pop(seat, None) is None:
            return False
        self._rooms[room_id] = record.with_players(record.players + 1, record.connected + 1)
        return True

    async def release(self, room_id: str, seat: str) -> None:
        self._seats.get(room_id, {}).pop(seat, None)

    # -- locks ---------------------------------------------------------------------------------

    async def lock(self, name: str, ttl: float) -> str | None:
        held = self._locks.get(name)
        now = self._clock()
        if held is not None and held[1] > now:
            return None
        token = f"{self.process_id}:{next(self._tokens)}"
        self._locks[name] = (token, now + ttl)
        return token

    async def unlock(self, name: str, token: str) -> None:
        held = self._locks.get(name)
        if held is not None and held[0] == token:
            del self._locks[name]

    # -- messages ------------------------------------------------------------------------------

    async def publish(self, message: dict[str, Any]) -> None:
        # A round trip through JSON, as through Redis: subscribers get their own copy, and a
        # message that would not survive the wire fails here too.
        copy = orjson.loads(orjson.dumps(message))
        asyncio.get_running_loop().call_soon(self._deliver, copy)
