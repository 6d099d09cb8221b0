"""Rooms by mode: find the open room with the most people or create one; dispose of empty ones.

The matchmaker owns the in-process room registry; each ticking room it creates gets its own
repeating timer from the `Scheduler`, so rooms tick independently and their phases spread.
Quick play joins the open room of a mode with the most people connected whose options match
those asked for (only those named: engine/filters.py), trying the next when a game refuses the
seat, else a new room. Held seats (players who dropped and may resume) still take room, but
are nobody to play with: a room of only held seats is passed over for a new room, or the people
who come now would fill it beside the absent and split from those who come next. A room made
with `create` may be private, joined only by its short code.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from game_server.engine.filters import OptionFilter, option_filter
from game_server.engine.metrics import TickObserver
from game_server.engine.recorder import JournalSink
from game_server.engine.room import Member, ResultSink, Room
from game_server.engine.roomcost import CostBook
from game_server.engine.ticker import Scheduler, Timer
from game_server.games.api import GameSpec, InvalidField, check_fields
from game_server.games.contract import check_join_fields
from protocol.errors import ErrorCode, ProtocolError

log = logging.getLogger("arena.matchmaker")


def _random_room_id() -> str:
    return secrets.token_hex(4)


def _random_seed() -> int:
    return secrets.randbits(32)


# Private room codes: short, read aloud to a friend, no look-alikes (no 0/O, 1/I/L, 5/S).
CODE_ALPHABET = "ABCDEFGHJKMNPQRTUVWXYZ2346789"
CODE_LENGTH = 5


def random_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(code: str) -> str:
    """A code as typed (any case, spaces or dashes) in its canonical form."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def worth_joining(connected: int, away: int) -> bool:
    """Whether quick play offers a room with `connected` people and `away` held seats: not
    when nobody is there but held seats. Such a room is as empty of people as a new one and
    has fewer free seats, so newcomers seated there would fill it early and split from those
    who come after them; a new room keeps them together. (An entirely empty room, waiting to
    be disposed of, is as good as a new one and is reused.)"""
    return connected > 0 or away == 0


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
        modes: Mapping[str, GameSpec],
        *,
        scheduler: Scheduler,
        empty_room_grace: float = 10.0,
        on_result: ResultSink | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        room_ids: Callable[[], str] = _random_room_id,
        seeds: Callable[[], int] = _random_seed,
        codes: Callable[[], str] = random_code,
        observer: TickObserver | None = None,
        max_backlog: int = 64 * 1024,
        max_lag: float = 10.0,
        resume_grace: float = 15.0,
        journal: JournalSink | None = None,
        max_spectators: int = 50,
        spectate_delays: Mapping[str, float] | None = None,
        costs: CostBook | None = None,
    ) -> None:
        """`journal`: where the rooms it creates record their matches (None: not recorded)."""
        self.modes = dict(modes)
        self.journal = journal
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
        self.max_spectators = max_spectators
        self.spectate_delays = dict(spectate_delays or {})  # mode -> seconds (else 0)
        for mode in sorted(set(self.spectate_delays) - set(self.modes)):
            log.warning("--spectate-delay names %r, a mode this server does not run", mode)
        # Each room's cost accounting (engine/roomcost.py); None: rooms are not accounted.
        self.costs = costs
        self._seats: dict[str, _Seat] = {}
        self._seeds = seeds
        self._codes = codes
        self._rooms: dict[str, Room] = {}
        self._by_code: dict[str, Room] = {}
        self._tickers: dict[str, Timer] = {}
        self._disposals: dict[str, Timer] = {}
        # Called with every room this matchmaker closes (the cluster unregisters it).
        self.room_closed_hooks: list[Callable[[Room], None]] = []
        # Called with a room whose lock or metadata changed (the cluster republishes it).
        self.room_changed_hooks: list[Callable[[Room], None]] = []
        # Called with a room where a player dropped, resumed or lost a held seat: who is there
        # changed (the cluster reports its counts now, not at the next heartbeat).
        self.room_counts_hooks: list[Callable[[Room], None]] = []
        # Called with a room and the member just seated in it (the server's bots make way).
        self.room_seated_hooks: list[Callable[[Room, Member], None]] = []
        #: Draining for a deploy (the operator console): no new room here, running ones finish.
        self.draining = False

    # -- queries ------------------------------------------------------------------------------

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

    def get(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    @property
    def player_count(self) -> int:
        """Seats taken in this process's rooms (connected players and held seats)."""
        return sum(room.player_count for room in self._rooms.values())

    @property
    def connected_count(self) -> int:
        """Seated players whose connection is open, in this process's rooms."""
        return sum(room.connected_count for room in self._rooms.values())

    @property
    def away_count(self) -> int:
        """Held seats (dropped players waiting to resume) in this process's rooms."""
        return sum(room.away_count for room in self._rooms.values())

    @property
    def spectator_count(self) -> int:
        """Spectators watching this process's rooms (none of them in a seat)."""
        return sum(room.spectator_count for room in self._rooms.values())

    # -- joining ------------------------------------------------------------------------------

    def join(
        self, member: Member, *, mode: str | None = None, room_id: str | None = None,
        code: str | None = None, options: Mapping[str, Any] | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> tuple[Room, int, str | None]:
        """Seat `member` by mode (the open room with the most people whose options match
        `options`, else a new one), in room `room_id`, or in the private room with `code`,
        with the player's join `fields`.

        Returns the room, the member's player id in it, and the token that resumes the seat
        after a dropped connection (None when resuming is off); raises `ProtocolError` with a
        stable code when no seat can be had.
        """
        if code is not None:
            room = self._by_code.get(normal_code(code))
            if room is None or room.closed:
                raise ProtocolError(ErrorCode.ROOM_NOT_FOUND, "no room has that code")
        elif room_id is not None:
            room = self._rooms.get(room_id)
            if room is None or room.closed or room.private:
                raise ProtocolError(ErrorCode.ROOM_NOT_FOUND, f"no room {room_id!r}")
        else:
            return self.quick_seat(member, mode, self.quick_play(mode, options), fields)
        return self.seat(member, room, fields)

    def spectate(self, member: Member, *, room_id: str | None = None,
                 code: str | None = None) -> Room:
        """Let `member` watch room `room_id`, or the private room with `code` (a private room
        is not found by id, as for `join`); `room_not_found`, `spectators_full`."""
        if code is not None:
            room = self._by_code.get(normal_code(code))
        else:
            room = self._rooms.get(room_id or "")
            if room is not None and room.private:
                room = None
        if room is None or room.closed:
            raise ProtocolError(ErrorCode.ROOM_NOT_FOUND,
                                "no room has that code" if code is not None
                                else f"no room {room_id!r} to watch")
        room.add_spectator(member)
        return room

    def quick_seat(self, member: Member, mode: str | None, wanted: OptionFilter,
                   fields: Mapping[str, Any] | None = None) -> tuple[Room, int, str | None]:
        """Seat `member` in the first of `open_rooms(mode, wanted)` whose game takes it (a
        refusal moves on to the next room), else in a new room."""
        check_join_fields(self._spec(mode).join_fields, fields)  # refused before any room
        for room in self.open_rooms(mode, wanted):
            try:
                return self.seat(member, room, fields)
            except ProtocolError:
                continue  # refused, or the game failed or locked the room: the next one
        return self.seat(member, self.create_room(mode, wanted.create_options()), fields)

    def create(self, member: Member, mode: str, options: Mapping[str, Any] | None = None,
               *, private: bool = False, fields: Mapping[str, Any] | None = None,
               ) -> tuple[Room, int, str | None]:
        """A new room of `mode` with `options` (private: joined only by its code); seat
        `member` in it with its join `fields`."""
        checked = self.validate_options(mode, options)
        check_join_fields(self._spec(mode).join_fields, fields)  # refused before the room
        room = self.create_room(mode, checked, private=private)
        return self.seat(member, room, fields)

    def seat(self, member: Member, room: Room, fields: Mapping[str, Any] | None = None
             ) -> tuple[Room, int, str | None]:
        """Seat `member` in `room` (which checks it is open to it, and the join `fields`)."""
        self._cancel_disposal(room.id)
        token = secrets.token_urlsafe(18) if self.resume_grace > 0 else None
        try:
            player_id = room.join(member, token, fields)
        except ProtocolError:
            if room.player_count == 0 and not room.closed:
                self._room_emptied(room)
            raise
        if token is not None:
            self._seats[token] = _Seat(room, player_id, member.identity.id)
        for hook in self.room_seated_hooks:
            hook(room, member)
        return room, player_id, token

    def validate_options(self, mode: str | None,
                         options: Mapping[str, Any] | None) -> dict[str, Any]:
        """The options of a room of `mode`, checked and completed with defaults."""
        spec = self._spec(mode)
        try:
            return check_fields(spec.options, options or {})
        except InvalidField as exc:
            raise ProtocolError(ErrorCode(exc.code), f"options: {exc}") from None

    def quick_play(self, mode: str | None, options: Mapping[str, Any] | None) -> OptionFilter:
        """Quick play's filter of `mode`'s rooms for `options` (engine/filters.py), checked,
        and checked to make a room when none matches."""
        spec = self._spec(mode)
        try:
            wanted = option_filter(spec.options, options)
            wanted.create_options()
        except InvalidField as exc:
            raise ProtocolError(ErrorCode(exc.code), f"options: {exc}") from None
        return wanted

    def _spec(self, mode: str | None) -> GameSpec:
        spec = self.modes.get(mode) if mode is not None else None
        if spec is None:
            known = ", ".join(sorted(self.modes))
            raise ProtocolError(
                ErrorCode.UNKNOWN_MODE, f"unknown mode {mode!r}; this server runs: {known}")
        return spec

    # -- dropped connections and resuming -------------------------------------------------

    def hold(self, token: str | None, room: Room, player_id: int) -> None:
        """A seated player's connection dropped: keep its seat for `resume_grace` seconds."""
        seat = self._seats.get(token) if token is not None else None
        if seat is None or seat.room is not room or not room.hold(player_id):
            room.remove(player_id, "disconnect")
            self.forget(token)
        else:
            seat.timer = self._scheduler.later(self.resume_grace, lambda: self._expire(token))
        self._counts_changed(room)

    def resume(self, member: Member, token: str) -> tuple[Room, int]:
        """Put `member` back in the seat `token` names, if it is its own and still held."""
        seat = self._seats.get(token)
        if seat is None or seat.user_id != member.identity.id or seat.room.closed:
            raise ProtocolError(ErrorCode.RESUME_FAILED,
                                "that seat is gone (expired or never yours); join again")
        if not seat.room.resume(seat.player_id, member, token):
            # The seat stays held (the game would not have the player back, or it is in use):
            # its expiry still runs, so a seat nobody can take does not stay in the room.
            raise ProtocolError(ErrorCode.RESUME_FAILED, "that seat is in use; join again")
        if seat.timer is not None:
            seat.timer.cancel()
            seat.timer = None
        self._counts_changed(seat.room)
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
            self._counts_changed(seat.room)

    def _counts_changed(self, room: Room) -> None:
        if not room.closed:
            for hook in self.room_counts_hooks:
                hook(room)

    def open_rooms(self, mode: str | None, wanted: OptionFilter | None = None) -> list[Room]:
        """This process's open rooms of `mode` that match `wanted` for quick play: the most
        people connected first, then the fewest held seats (the most room to grow); a room
        of only held seats is left out (see `worth_joining`)."""
        rooms = [room for room in self._rooms.values()
                 if room.mode.name == mode and room.is_open
                 and worth_joining(room.connected_count, room.away_count)
                 and (wanted is None or wanted.matches(room.options))]
        # Stable: the older first among equals.
        rooms.sort(key=lambda room: (-room.connected_count, room.away_count))
        return rooms

    def create_room(self, mode_name: str, options: Mapping[str, Any] | None = None, *,
                    private: bool = False) -> Room:
        """A new, empty room of a mode this server runs (KeyError for another); while
        `draining`, `ProtocolError` unavailable."""
        spec = self.modes[mode_name]
        if self.draining:
            raise ProtocolError(ErrorCode.UNAVAILABLE,
                                "this server is draining for a deploy: no new rooms here; "
                                "try again in a moment")
        room_id = self._room_ids()
        while room_id in self._rooms:
            room_id = self._room_ids()
        code = None
        if private:
            code = self._codes()
            while code in self._by_code:
                code = self._codes()
        room = Room(
            room_id,
            spec,
            seed=self._seeds(),
            options=options,
            scheduler=self._scheduler,
            private=private,
            code=code,
            monotonic=self._monotonic,
            wall=self._wall,
            on_result=self._on_result,
            on_empty=self._room_emptied,
            on_closed=self._room_closed,
            observer=self.observer,
            max_backlog=self.max_backlog,
            max_lag=self.max_lag,
            journal=self.journal,
            max_spectators=self.max_spectators,
            spectate_delay=self.spectate_delays.get(mode_name, 0.0),
            cost=self.costs.open(spec.name) if self.costs is not None else None,
        )
        room.on_change = self._room_changed
        self._rooms[room_id] = room
        if code is not None:
            self._by_code[code] = room
        if room.ticking:
            self._tickers[room_id] = self._scheduler.every(room.dt, room.tick)
        log.info("room %s created (mode %s%s)", room_id, spec.name,
                 ", private" if private else "")
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
        if room.code is not None and self._by_code.get(room.code) is room:
            del self._by_code[room.code]
        ticker = self._tickers.pop(room.id, None)
        if ticker is not None:
            ticker.cancel()
        self._cancel_disposal(room.id)
        for token in [t for t, seat in self._seats.items() if seat.room is room]:
            self.forget(token)
        if self.costs is not None:
            self.costs.retire(room.cost)
        for hook in self.room_closed_hooks:
            hook(room)
        log.info("room %s disposed", room.id)

    def _room_changed(self, room: Room) -> None:
        for hook in self.room_changed_hooks:
            hook(room)

    def _cancel_disposal(self, room_id: str) -> None:
        timer = self._disposals.pop(room_id, None)
        if timer is not None:
            timer.cancel()

    def close_all(self, reason: str = "room_closed") -> None:
        """Close every room: members are removed with `reason`; games hear no departures."""
        for room in list(self._rooms.values()):
            room.close(reason)

    def terminate_all(self, grace: float) -> None:
        """The server is shutting down: every room's game hears it (`on_terminate(grace)`,
        never as its players leaving), then the room closes with "server_closing"."""
        for room in list(self._rooms.values()):
            room.terminate(grace)
