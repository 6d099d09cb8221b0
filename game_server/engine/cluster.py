"""Matchmaking across processes: one lobby over every process's rooms, through `Presence`.

A room lives in exactly one process. This process registers its rooms in the presence, keeps
them alive by heartbeat (which also rebuilds them after the presence lost them) and reports
their player counts (seats taken, and how many of those players are connected); a room's lock
and metadata are republished as soon as its game changes them. Joining by mode picks the open
room of that mode with the most people connected whose options match those asked for anywhere
(never a locked or private one, nor one of only held seats: engine/matchmaker.py's
`worth_joining`; a room here whose game refuses the player is passed over for the next): a
seat is reserved there atomically; in a room of this process the player is seated at once, in
a room of another the player gets a `redirect` with a signed seat token (`SeatTokens`) and
claims the seat over there. A private room's code is
registered with the room (unique across processes), so joining by code works the same way
from any process. With the presence unreachable, running rooms go on and joins fall back to
this process's own rooms.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from game_server.engine.filters import OptionFilter
from game_server.engine.matchmaker import Matchmaker, normal_code, worth_joining
from game_server.engine.room import Member, Room
from game_server.engine.seats import SeatTokenError, SeatTokens
from game_server.games.contract import check_join_fields
from game_server.presence.base import (
    KIND_CHAT,
    KIND_CONNECTED,
    KIND_KICK_SESSION,
    Presence,
    PresenceUnavailable,
    RoomRecord,
    options_key,
)
from protocol.errors import ErrorCode, ProtocolError

log = logging.getLogger("arena.cluster")

# Rooms this many places apart in quick play's order (the most people first) are tried before
# giving up on the shared registry and creating a room here.
_CANDIDATES = 4
_CREATE_ATTEMPTS = 20  # rounds of "look for a seat, else try to create a room"
_CREATE_LOCK_TTL = 2.0  # seconds: a process that dies holding the lock blocks no one longer
_CODE_ATTEMPTS = 8  # private rooms drawn again when their code is another process's room's


@dataclass(frozen=True, slots=True)
class Seated:
    """Joined here: the room, the player id, and the resume token (None if resuming is off)."""

    room: Room
    player_id: int
    resume_token: str | None


@dataclass(frozen=True, slots=True)
class Watching:
    """Watching a room here as a spectator."""

    room: Room


@dataclass(frozen=True, slots=True)
class Redirect:
    """The seat is on another process: reconnect to `url` and claim it with `token`."""

    url: str
    room: str
    token: str
    expires_in: float


class Cluster:
    """This process's part in a deployment of one or more processes sharing a `Presence`."""

    def __init__(
        self,
        presence: Presence,
        matchmaker: Matchmaker,
        seats: SeatTokens,
        *,
        url: str,
        seat_ttl: float = 5.0,
        heartbeat: float | None = None,
        on_placement: Callable[[str], None] | None = None,
    ) -> None:
        self.presence = presence
        self.matchmaker = matchmaker
        self.seats = seats
        self.url = url  # this process's public WebSocket URL
        self.seat_ttl = seat_ttl
        self.heartbeat_interval = heartbeat or presence.room_ttl / 3.0
        self._claims: dict[str, int] = {}  # room id -> seats claimed but not yet seated
        # user id -> (room id, seat, loop time it lapses) of the last redirect sent from here:
        # oldest first, so lapsed ones are dropped from the front.
        self._offered: dict[int, tuple[str, str, float]] = {}
        # room id -> (players, connected) last written to the presence
        self._reported: dict[str, tuple[int, int]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._beat: asyncio.Task[None] | None = None
        self._outage = False
        self._count = on_placement or (lambda outcome: None)
        self._changed: set[str] = set()  # rooms whose lock or metadata changed, to republish
        self._recount: set[str] = set()  # rooms where a player dropped or came back, to report
        matchmaker.room_closed_hooks.append(self._room_closed)
        matchmaker.room_changed_hooks.append(self._room_changed)
        matchmaker.room_counts_hooks.append(self._counts_changed)

    @property
    def process_id(self) -> str:
        return self.presence.process_id

    @property
    def distributed(self) -> bool:
        """True when other processes share the presence: joins by mode may go elsewhere."""
        return self.presence.shared

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.presence.start()
        self._beat = asyncio.get_running_loop().create_task(self._heartbeats())

    async def stop(self) -> None:
        """Unregister this process's rooms (best effort) and disconnect."""
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None
        # Unregistering closed rooms and publishing kicks: let them finish (each call is
        # bounded by the presence's own timeout).
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for room in self.matchmaker.rooms():
            await self._quietly(self.presence.remove_room(room.id))
        await self.presence.close()

    async def _heartbeats(self) -> None:
        while True:
            await self.sync()
            await asyncio.sleep(self.heartbeat_interval)

    async def sync(self) -> None:
        """Refresh this process's rooms in the presence and report changed player counts."""
        records = [self.record(room) for room in self.matchmaker.rooms() if not room.closed]
        try:
            await self.presence.heartbeat(records)
            for room in self.matchmaker.rooms():
                # Counted right before it is sent: a count taken before an await could be
                # older than claims that completed meanwhile, and would admit too many seats.
                record = self.record(room)
                counts = (record.players, record.connected)
                if not room.closed and self._reported.get(room.id) != counts:
                    self._reported[room.id] = counts
                    await self.presence.set_players(room.id, *counts)
        except PresenceUnavailable as exc:
            if not self._outage:
                self._outage = True
                log.warning("presence unreachable, rooms keep running here: %s", exc)
            return
        if self._outage:
            self._outage = False
            log.info("presence reachable again; %d rooms registered", len(records))

    def record(self, room: Room) -> RoomRecord:
        """`room` as the presence lists it, counting seats claimed but not yet taken (as
        players, connected ones)."""
        claims = self._claims.get(room.id, 0)
        return RoomRecord(
            id=room.id,
            mode=room.mode.name,
            process=self.process_id,
            url=self.url,
            players=room.player_count + claims,
            connected=room.connected_count + claims,
            max_players=room.max_players,
            locked=room.locked,
            private=room.private,
            code=room.code,
            metadata=dict(room.metadata),
            options=options_key(room.options),
            spectators=room.spectator_count,
        )

    def _room_closed(self, room: Room) -> None:
        self._reported.pop(room.id, None)
        self._claims.pop(room.id, None)
        self._changed.discard(room.id)
        self.spawn(self._quietly(self.presence.remove_room(room.id)))

    def _room_changed(self, room: Room) -> None:
        """The game locked, unlocked or relabelled `room` (maybe mid-join): republish it
        once the game is done, all changes of that turn of the event loop together."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop, no presence calls: the next heartbeat carries it
        if not self._changed:
            loop.call_soon(self._publish_changes)
        self._changed.add(room.id)

    def _counts_changed(self, room: Room) -> None:
        """A player of `room` dropped, came back or lost its held seat: report the room's
        counts now (all such changes of a turn of the event loop together), or quick play
        elsewhere would seat newcomers beside the absent until the next heartbeat."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop, no presence calls: the next heartbeat carries it
        if not self._recount:
            loop.call_soon(self._report_counts)
        self._recount.add(room.id)

    def _report_counts(self) -> None:
        room_ids = list(self._recount)
        self._recount.clear()
        self.spawn(self._report(room_ids))

    async def _report(self, room_ids: list[str]) -> None:
        for room_id in room_ids:
            room = self.matchmaker.get(room_id)
            if room is None or room.closed:
                continue
            # Counted right before it is sent, as `sync` does.
            record = self.record(room)
            counts = (record.players, record.connected)
            if self._reported.get(room_id) == counts:
                continue
            self._reported[room_id] = counts
            try:
                await self.presence.set_players(room_id, *counts)
            except PresenceUnavailable:
                self._reported.pop(room_id, None)  # the next heartbeat reports it
                return

    def _publish_changes(self) -> None:
        rooms = [self.matchmaker.get(room_id) for room_id in self._changed]
        self._changed.clear()
        for room in rooms:
            if room is not None and not room.closed:
                self.spawn(self._quietly(self.presence.update_room(self.record(room))))

    # -- the lobby ------------------------------------------------------------------------------

    async def rooms(self) -> tuple[list[dict[str, Any]], bool]:
        """Every room of every process for the lobby, and whether the list is complete (False:
        the presence is unreachable and only this process's rooms are listed)."""
        if not self.distributed:
            return self._local_rooms(), True
        try:
            records = await self.presence.rooms()
        except PresenceUnavailable:
            return self._local_rooms(), False
        records.sort(key=lambda r: (r.mode, -r.players, r.id))
        return [record.to_json() for record in records if not record.private], True

    def _local_rooms(self) -> list[dict[str, Any]]:
        """This process's rooms for the lobby: private ones are found by their code only."""
        return [{**room.describe(), "process": self.process_id, "url": self.url}
                for room in self.matchmaker.rooms() if not room.private]

    # -- joining by mode ------------------------------------------------------------------------

    async def place(self, member: Member, mode: str, session_hash: str,
                    options: Mapping[str, Any] | None = None,
                    fields: Mapping[str, Any] | None = None, *, retry: bool = True
                    ) -> Seated | Redirect:
        """Seat `member` in the open room of `mode` with the most people whose options match
        `options` (validated here) on any process, else in a new room here: seated here, or a
        `Redirect` to the process that holds the room. With `retry`, a redirect's token carries
        `options`, so that a refusal over there leads to one more quick play there."""
        wanted = self.matchmaker.quick_play(mode, options)  # unknown_mode, bad options
        check_join_fields(self.matchmaker.modes[mode].join_fields, fields)  # bad fields
        lock = self._locks.setdefault(mode, asyncio.Lock())
        async with lock:  # this process's joins of one mode fill rooms one after another
            try:
                await self._withdraw_offer(member.identity.id)
                quick = dict(options or {}) if retry else None
                placed = await self._place(member, mode, wanted, session_hash, fields, quick)
            except PresenceUnavailable as exc:
                log.warning("presence unreachable; seating %s in a room here: %s",
                            member.identity.name, exc)
                room, player_id, token = self.matchmaker.quick_seat(member, mode, wanted,
                                                                    fields)
                self._count("local")
                return Seated(room, player_id, token)
        self._count("redirected" if isinstance(placed, Redirect) else "here")
        return placed

    async def _place(self, member: Member, mode: str, wanted: OptionFilter,
                     session_hash: str, fields: Mapping[str, Any] | None,
                     quick: dict[str, Any] | None) -> Seated | Redirect:
        lock_name = f"create:{mode}:{wanted.key()}"
        delay = 0.01
        for _ in range(_CREATE_ATTEMPTS):
            placed = await self._into_open_room(member, mode, wanted, session_hash, fields, quick)
            if placed is not None:
                return placed
            # No open room: create one, under the lock of the mode and options, so two
            # processes never open two such rooms at once (both would stay half empty); with
            # the lock, look again first.
            token = await self.presence.lock(lock_name, _CREATE_LOCK_TTL)
            if token is None:
                await asyncio.sleep(delay)  # another process is creating one: join it
                delay = min(delay * 2, 0.2)
                continue
            try:
                placed = await self._into_open_room(member, mode, wanted, session_hash, fields,
                                                    quick)
                if placed is not None:
                    return placed
                room = self.matchmaker.create_room(mode, wanted.create_options())
                await self.presence.register_room(self.record(room))
                self._reported[room.id] = (0, 0)
            finally:
                await self.presence.unlock(lock_name, token)
            placed = await self._seat_in(self.record(room), member, session_hash, fields)
            if placed is not None:
                return placed
        raise ProtocolError(ErrorCode.UNAVAILABLE, "could not find or open a room; try again")

    async def _into_open_room(self, member: Member, mode: str, wanted: OptionFilter,
                              session_hash: str, fields: Mapping[str, Any] | None,
                              quick: dict[str, Any] | None) -> Seated | Redirect | None:
        records = await self.presence.rooms(mode)
        # A reservation is someone on the way: counted as there.
        open_rooms = [r for r in records if r.matchable and wanted.matches(r.option_values)
                      and worth_joining(r.connected + r.reserved, r.away)]
        open_rooms.sort(key=lambda r: (-(r.connected + r.reserved), r.away,
                                       r.process != self.process_id))
        for record in open_rooms[:_CANDIDATES]:
            try:
                placed = await self._seat_in(record, member, session_hash, fields, quick)
            except ProtocolError:
                if record.process != self.process_id:
                    raise
                continue  # a room here whose game refused the player: the next one
            if placed is not None:
                return placed
        return None

    async def place_in_room(self, member: Member, room_id: str, session_hash: str,
                            fields: Mapping[str, Any] | None = None) -> Seated | Redirect:
        """Seat `member` in the room `room_id`, wherever it runs (the lobby's "join"); a
        private room is not found this way."""
        try:
            records = [r for r in await self.presence.rooms() if r.id == room_id]
        except PresenceUnavailable:
            records = []
        if not records or records[0].private:
            room, player_id, token = self.matchmaker.join(member, room_id=room_id, fields=fields)
            return Seated(room, player_id, token)
        return await self._seat_in_record(member, records[0], session_hash, f"room {room_id!r}",
                                          fields)

    async def place_by_code(self, member: Member, code: str, session_hash: str,
                            fields: Mapping[str, Any] | None = None) -> Seated | Redirect:
        """Seat `member` in the private room whose code is `code` (as typed), wherever it
        runs: seated here, or a `Redirect`; `room_not_found` for a code no room has."""
        wanted = normal_code(code)
        try:
            await self._withdraw_offer(member.identity.id)
            record = await self.presence.room_by_code(wanted) if wanted else None
        except PresenceUnavailable:
            record = None  # this process's own rooms still answer to their codes
        if record is None:
            room, player_id, token = self.matchmaker.join(member, code=wanted, fields=fields)
            return Seated(room, player_id, token)
        return await self._seat_in_record(member, record, session_hash, "that room", fields)

    async def _seat_in_record(self, member: Member, record: RoomRecord, session_hash: str,
                              what: str, fields: Mapping[str, Any] | None
                              ) -> Seated | Redirect:
        """A seat in the room of `record`, asked for by name: why not, when there is none."""
        if record.locked:
            raise ProtocolError(ErrorCode.ROOM_LOCKED, f"{what} is not taking players")
        if record.free > 0:
            placed = await self._seat_in(record, member, session_hash, fields)
            if placed is not None:
                return placed
        raise ProtocolError(ErrorCode.ROOM_FULL, f"{what} is full")

    async def create(self, member: Member, mode: str, options: Mapping[str, Any] | None,
                     *, private: bool = False, fields: Mapping[str, Any] | None = None
                     ) -> Seated:
        """A new room here of `mode` with `options`, registered at once (a private one with a
        code no other process's room has), with `member` seated in it."""
        wanted = self.matchmaker.validate_options(mode, options)
        check_join_fields(self.matchmaker.modes[mode].join_fields, fields)
        for _ in range(_CODE_ATTEMPTS):
            room = self.matchmaker.create_room(mode, wanted, private=private)
            try:
                registered = await self.presence.register_room(self.record(room))
            except PresenceUnavailable as exc:
                log.warning("presence unreachable; room %s is registered by a later heartbeat:"
                            " %s", room.id, exc)
                registered = True
            if registered:
                self._reported[room.id] = (0, 0)
                room, player_id, token = self.matchmaker.seat(member, room, fields)
                return Seated(room, player_id, token)
            room.close("room_closed")  # its code is another process's room's: draw again
        raise ProtocolError(ErrorCode.UNAVAILABLE, "could not open a room; try again")

    async def _seat_in(self, record: RoomRecord, member: Member, session_hash: str,
                       fields: Mapping[str, Any] | None = None,
                       quick: dict[str, Any] | None = None) -> Seated | Redirect | None:
        """Reserve a seat in `record`'s room and take it here or hand out a redirect to it;
        None when the room has no seat after all."""
        here = record.process == self.process_id
        if here:
            room = self.matchmaker.get(record.id)
            if room is None or room.closed or room.is_full or room.locked:
                return None
        seat = secrets.token_urlsafe(12)
        if not await self.presence.reserve(record.id, seat, self.seat_ttl):
            return None
        if here:
            return await self._claim_here(member, record.id, seat, fields)
        token = self.seats.issue(room=record.id, seat=seat, user=member.identity.id,
                                 session=session_hash, ttl=self.seat_ttl, quick=quick)
        self._remember_offer(member.identity.id, record.id, seat)
        return Redirect(record.url, record.id, token, self.seat_ttl)

    def _remember_offer(self, user_id: int, room_id: str, seat: str) -> None:
        now = asyncio.get_running_loop().time()
        for user, (_, _, lapses) in list(self._offered.items()):
            if lapses > now:
                break
            del self._offered[user]
        self._offered.pop(user_id, None)
        self._offered[user_id] = (room_id, seat, now + self.seat_ttl)

    async def _withdraw_offer(self, user_id: int) -> None:
        """The player is back to join by mode: the seat it was sent to elsewhere and did not
        take (a refused or failed connection) is released, or its room would look full for
        `seat_ttl` seconds and this join would open a new room beside it."""
        offered = self._offered.pop(user_id, None)
        if offered is not None and offered[2] > asyncio.get_running_loop().time():
            await self.presence.release(offered[0], offered[1])

    def release_seat(self, room_id: str, seat: str) -> None:
        """A connection that came to claim `seat` was refused: free the seat now."""
        self.spawn(self._quietly(self.presence.release(room_id, seat)))

    # -- spectators -----------------------------------------------------------------------------

    async def spectate(self, member: Member, room_id: str | None, code: str | None,
                       session_hash: str) -> Watching | Redirect:
        """Let `member` watch the room `room_id` (or the private room with `code`) wherever it
        runs: here at once, or a `Redirect` whose token says "spectate" (no seat reserved)."""
        try:
            if code is not None:
                wanted = normal_code(code)
                record = await self.presence.room_by_code(wanted) if wanted else None
            else:
                record = next((r for r in await self.presence.rooms()
                               if r.id == room_id and not r.private), None)
        except PresenceUnavailable:
            record = None  # this process's own rooms can still be watched
        if record is None or record.process == self.process_id:
            return Watching(self.matchmaker.spectate(member, room_id=room_id, code=code))
        token = self.seats.issue(room=record.id, seat="", user=member.identity.id,
                                 session=session_hash, ttl=self.seat_ttl, spectate=True)
        return Redirect(record.url, record.id, token, self.seat_ttl)

    # -- claiming a seat ------------------------------------------------------------------------

    async def claim(self, member: Member, token: str, fields: Mapping[str, Any] | None = None,
                    session_hash: str = "") -> Seated | Redirect | Watching:
        """Seat `member` with the seat token of a `redirect` issued by any process (and its
        join `fields`, sent again with the token). When the room's game refuses a seat that
        quick play found, quick play goes on from here, once (its redirects carry no retry)."""
        try:
            seat = self.seats.verify(token)
        except SeatTokenError as exc:
            raise ProtocolError(ErrorCode.SEAT_INVALID,
                                f"seat token refused ({exc}); join by mode") from None
        if seat.user != member.identity.id:
            raise ProtocolError(ErrorCode.SEAT_INVALID, "that seat is another account's")
        room = self.matchmaker.get(seat.room)
        if room is None or room.closed:
            raise ProtocolError(ErrorCode.SEAT_INVALID,
                                f"room {seat.room!r} is not on this server; join by mode")
        if seat.spectate:
            room.add_spectator(member)
            return Watching(room)
        try:
            seated = await self._claim_here(member, seat.room, seat.seat, fields)
            self._count("claimed")
            return seated
        except ProtocolError as exc:
            if exc.code is not ErrorCode.JOIN_REFUSED or seat.quick is None:
                raise
            return await self.place(member, room.mode.name, session_hash, seat.quick, fields,
                                    retry=False)
        except PresenceUnavailable:
            raise ProtocolError(ErrorCode.UNAVAILABLE,
                                "matchmaking across servers is down; try again soon") from None

    async def _claim_here(self, member: Member, room_id: str, seat: str,
                          fields: Mapping[str, Any] | None = None) -> Seated:
        self._claims[room_id] = self._claims.get(room_id, 0) + 1
        try:
            claimed = await self.presence.claim(room_id, seat)
        finally:
            left = self._claims.get(room_id, 1) - 1
            if left > 0:
                self._claims[room_id] = left
            else:
                self._claims.pop(room_id, None)
        if not claimed:
            raise ProtocolError(ErrorCode.SEAT_INVALID,
                                "that seat expired or was already taken; join by mode")
        room = self.matchmaker.get(room_id)
        try:
            if room is None or room.closed:
                raise ProtocolError(ErrorCode.ROOM_CLOSED, f"room {room_id} is closed")
            # The seat was granted by mode, id or code (a private room's too): seat directly;
            # the room still refuses when it filled, locked or its game says no.
            room, player_id, token = self.matchmaker.seat(member, room, fields)
        except ProtocolError:
            self._reported.pop(room_id, None)  # the claim counted a player: count again
            raise
        players, connected = self._reported.get(room_id, (0, 0))
        self._reported[room_id] = (players + 1, connected + 1)  # the claim counted it
        return Seated(room, player_id, token)

    # -- between processes ----------------------------------------------------------------------

    async def announce(self, name: str, text: str) -> None:
        """Global chat: `text` from `name` to every player of every process."""
        try:
            await self.presence.publish({"kind": KIND_CHAT, "name": name, "text": text})
        except PresenceUnavailable:
            raise ProtocolError(ErrorCode.UNAVAILABLE,
                                "global chat is down for the moment; try again soon") from None

    def kick_session(self, session_hash: str) -> None:
        """Close every game socket of this login session, on every process."""
        self.spawn(self._quietly(self.presence.publish(
            {"kind": KIND_KICK_SESSION, "session": session_hash})))

    def connected(self, user_id: int, socket_id: str, opened_at: float) -> None:
        """An account opened game socket `socket_id` here at wall-clock `opened_at`: older
        ones elsewhere are closed."""
        self.spawn(self._quietly(self.presence.publish(
            {"kind": KIND_CONNECTED, "user": user_id, "socket": socket_id, "at": opened_at})))

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quietly(self, awaitable: Any) -> None:
        try:
            await awaitable
        except PresenceUnavailable as exc:
            log.debug("presence unreachable: %s", exc)


def on_events(
    presence: Presence,
    *,
    chat: Callable[[str, str], None],
    kick_session: Callable[[str], None],
    connected: Callable[[int, str, float], None],
) -> Callable[[], None]:
    """Route published messages to the transport's callbacks; returns the unsubscriber."""

    def deliver(message: dict[str, Any]) -> None:
        try:
            kind = message.get("kind")
            if kind == KIND_CHAT:
                chat(str(message["name"]), str(message["text"]))
            elif kind == KIND_KICK_SESSION:
                kick_session(str(message["session"]))
            elif kind == KIND_CONNECTED:
                connected(int(message["user"]), str(message["socket"]),
                          float(message.get("at", math.inf)))
        except Exception:
            log.exception("could not act on a published message %r", message)

    return presence.subscribe(deliver)
