"""Presence: which process holds which room, its seats, and messages between processes.

One process keeps it in memory (`LocalPresence`); several processes and hosts share it through
Redis (`RedisPresence`). Both pass the same contract suite (tests/test_presence.py). A room lives
in exactly one process, its owner: the owner registers it, refreshes it by heartbeat and removes
it; any process may list rooms, reserve a seat in one, and publish to every process.

Seat accounting: a room's record carries `players` (set by its owner: members, held seats and
claims in flight) and the live reservations (`reserved`). `reserve` admits a seat only while
`players + reserved < max_players` and the room is not locked, atomically across processes;
`claim` turns a reservation into a player (single use); a reservation not claimed within its
time-to-live lapses. Of the `players`, `connected` are there (members and claims in flight); the
rest are away (held seats, waiting for a resume). Quick play ranks rooms by who is there: the
owner sets both counts together, and a claim adds one to each.

What matchmaking needs besides seats travels in the record too: whether the game `locked` the
room, whether it is `private` (then its `code` finds it, and nothing else offers it), the
game's public `metadata`, and the room's validated options as one canonical string
(`options_key`), so that quick play on any process finds a room with the options asked for.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

# Pub/sub message kinds (the "kind" field of a published dict).
KIND_CHAT = "chat"  # {"kind", "name", "text"}: global chat or an announcement
KIND_KICK_SESSION = "kick_session"  # {"kind", "session"}: a session was revoked (its hash)
KIND_CONNECTED = "connected"  # {"kind", "user", "socket"}: an account opened a game socket
# The operator console (game_server/console_bus.py): an action for one process (or "*"), its
# answer back to the asking process, and "the bans changed: reload them and kick who is banned".
KIND_CONSOLE = "console"  # {"kind", "id", "from", "to", "action", "args"}
KIND_CONSOLE_REPLY = "console_reply"  # {"kind", "id", "from", "to", "ok", "reply" | "error"}
KIND_BANS = "bans"  # {"kind", "user": id | None, "address": text | None, "reason"}


def options_key(options: Mapping[str, Any]) -> str:
    """A room's validated options as one canonical string: equal options, equal keys."""
    return orjson.dumps(dict(options), option=orjson.OPT_SORT_KEYS).decode()


class PresenceUnavailable(Exception):
    """The shared presence (Redis) cannot be reached now; what runs locally keeps running."""


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """A room as every process sees it."""

    id: str
    mode: str
    process: str  # the owner process's id
    url: str  # the owner's public WebSocket URL, like ws://127.0.0.2:8888/ws
    players: int
    max_players: int
    reserved: int = 0  # live seat reservations (filled in by `rooms()`; ignored on writes)
    # Of `players`, those connected (members and claims in flight); the others are away.
    connected: int = 0
    locked: bool = False  # the game locked it: no seat is reserved in it
    private: bool = False  # joined by `code` only: never offered by quick play nor listed
    code: str | None = None  # a private room's code, in `normal_code` form
    metadata: dict[str, Any] = field(default_factory=dict)  # the game's public metadata
    options: str = "{}"  # `options_key` of the room's validated options
    spectators: int = 0  # watching now (as of the owner's last heartbeat or change)

    @property
    def free(self) -> int:
        return self.max_players - self.players - self.reserved

    @property
    def option_values(self) -> dict[str, Any]:
        """The room's options, as quick play's filter reads them."""
        return orjson.loads(self.options)

    @property
    def away(self) -> int:
        """Held seats: players whose connection dropped, who may still resume."""
        return self.players - self.connected

    @property
    def matchable(self) -> bool:
        """Whether quick play may offer a seat here (with the right mode and options)."""
        return self.free > 0 and not (self.locked or self.private)

    def with_players(self, players: int, connected: int) -> RoomRecord:
        return replace(self, players=players, connected=connected)

    def to_json(self) -> dict[str, Any]:
        """The room as `GET /api/rooms` and the lobby list it (never asked of a private one)."""
        out: dict[str, Any] = {
            "id": self.id,
            "mode": self.mode,
            "players": self.players,
            "connected": self.connected,
            "away": self.away,
            "max_players": self.max_players,
            "reserved": self.reserved,
            "process": self.process,
            "url": self.url,
            "options": orjson.loads(self.options),
        }
        if self.spectators:
            out["spectators"] = self.spectators
        if self.locked:
            out["locked"] = True
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


Subscriber = Callable[[dict[str, Any]], None]


class Presence(abc.ABC):
    """The shared room registry, seat reservations and pub/sub of an Arena deployment.

    Every method may raise `PresenceUnavailable`; none blocks the event loop. Subscribers are
    called on the event loop with each published dict (the publisher's own process included),
    and must not raise.
    """

    #: True when other processes may see this presence (Redis); False for one process.
    shared: bool = False

    def __init__(self, process_id: str, *, room_ttl: float = 5.0) -> None:
        self.process_id = process_id
        self.room_ttl = room_ttl  # a room not refreshed for this long disappears
        self._subscribers: list[Subscriber] = []

    # -- lifecycle ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect and start listening for published messages."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop listening and disconnect; this process's rooms are left to expire. Idempotent."""

    # -- the room registry (the owner writes, everyone reads) ---------------------------------

    @abc.abstractmethod
    async def register_room(self, record: RoomRecord) -> bool:
        """Create or replace this process's room `record` (its `players` is the truth now).

        False, and nothing written, when the record's `code` is another live room's (codes
        are drawn by each process alone: the owner draws another)."""

    @abc.abstractmethod
    async def update_room(self, record: RoomRecord) -> None:
        """The owner's room changed (locked, metadata): rewrite a live record's fields but
        `players` and `connected`; a no-op for a room the presence does not hold."""

    @abc.abstractmethod
    async def set_players(self, room_id: str, players: int, connected: int) -> None:
        """The owner's room now counts `players` (members, held seats and claims in flight),
        `connected` of them there (members and claims in flight)."""

    @abc.abstractmethod
    async def heartbeat(self, records: list[RoomRecord]) -> None:
        """Refresh this process's rooms for another `room_ttl` and their fields but `players`
        and `connected` (what `update_room` writes); re-create any that vanished (an expired
        key, a restarted Redis) from `records`, the owner's truth."""

    @abc.abstractmethod
    async def remove_room(self, room_id: str) -> None:
        """The room is gone: drop it and its reservations at once."""

    @abc.abstractmethod
    async def rooms(self, mode: str | None = None) -> list[RoomRecord]:
        """Every live room of every process (of `mode`), with `reserved` filled in."""

    @abc.abstractmethod
    async def room_by_code(self, code: str) -> RoomRecord | None:
        """The live room whose `code` is `code` (in `normal_code` form), if any."""

    # -- seats ---------------------------------------------------------------------------------

    @abc.abstractmethod
    async def reserve(self, room_id: str, seat: str, ttl: float) -> bool:
        """Reserve seat `seat` in the room for `ttl` seconds if it has a free seat, atomically
        with every other process; False when the room is full, locked or gone."""

    @abc.abstractmethod
    async def claim(self, room_id: str, seat: str) -> bool:
        """Use the reservation `seat` (once): True if it was live; it now counts as a player,
        a connected one."""

    @abc.abstractmethod
    async def release(self, room_id: str, seat: str) -> None:
        """Give up the reservation `seat` (a no-op if it is gone)."""

    # -- locks ---------------------------------------------------------------------------------

    @abc.abstractmethod
    async def lock(self, name: str, ttl: float) -> str | None:
        """Take the deployment-wide lock `name` for at most `ttl` seconds: a token to unlock
        it with, or None while another holder has it (matchmaking takes one to create a
        room, so two processes never open two rooms of a mode at once)."""

    @abc.abstractmethod
    async def unlock(self, name: str, token: str) -> None:
        """Release the lock if `token` still holds it (a no-op after it lapsed)."""

    # -- between processes ---------------------------------------------------------------------

    @abc.abstractmethod
    async def publish(self, message: dict[str, Any]) -> None:
        """Send `message` (a JSON-able dict with a "kind") to every process, this one too."""

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` with every published message; returns a function that stops it."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def _deliver(self, message: dict[str, Any]) -> None:
        for subscriber in list(self._subscribers):
            subscriber(message)
