"""One connected player: decodes its frames, acts on them, and answers errors.

The transport hands every text frame to `PlayerSession.handle`. The engine's own messages
(join, create, leave, ping, chat) are validated by `protocol` and become matchmaker or room
calls; any other type goes to the player's room, which validates it against its game's
declared messages. Bad input is answered with an `error` message and the connection stays
usable; nothing a client sends can raise out of here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from orjson import JSONDecodeError, loads

from game_server.engine.cluster import Cluster, Redirect, Seated, Watching
from game_server.engine.connection import Connection, Identity
from game_server.engine.limits import Limits, TokenBucket
from game_server.engine.matchmaker import Matchmaker
from game_server.engine.room import Room
from protocol import messages
from protocol.closes import CloseCode
from protocol.codec import bad_json, decode_object, encode, encode_error
from protocol.errors import ErrorCode, ProtocolError

log = logging.getLogger("arena.session")


class PlayerSession:
    """The engine's side of one player's connection."""

    # One per connected player: slots keep each small (hundreds are touched every tick).
    __slots__ = (
        "identity", "connection", "room", "watching", "player_id", "resume_token", "session_hash",
        "closed_for_abuse", "_matchmaker", "_cluster", "_joining", "_gone", "_counters",
        "_wall", "_monotonic", "_messages", "_chats", "_strikes", "_last_limit_notice",
    )

    def __init__(
        self,
        identity: Identity,
        connection: Connection,
        matchmaker: Matchmaker,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        limits: Limits | None = None,
        cluster: Cluster | None = None,
        session_hash: str = "",
    ) -> None:
        limits = limits or Limits()
        now = monotonic()
        self.identity = identity
        self.connection = connection
        self.room: Room | None = None
        # The room this connection watches as a spectator: never `room`, so that game
        # messages from a spectator take the path of a client in no room (off the hot path).
        self.watching: Room | None = None
        self.player_id = 0
        self.resume_token: str | None = None
        self._matchmaker = matchmaker
        self._cluster = cluster
        self.session_hash = session_hash  # the login session's: seat tokens are bound to it
        self._joining = False  # a join across processes is under way
        self._gone = False  # the connection is closed
        self._counters = matchmaker.observer.counters
        self._wall = wall
        self._monotonic = monotonic
        self._messages = TokenBucket(limits.messages_per_second, limits.message_burst, now)
        self._chats = TokenBucket(limits.chats_per_second, limits.chat_burst, now)
        self._strikes = TokenBucket(limits.strikes_per_second, limits.strike_burst, now)
        self._last_limit_notice = -1e9
        self.closed_for_abuse = False

    # -- from the transport -------------------------------------------------------------------

    def handle(self, data: str | bytes) -> None:
        """Act on one text frame."""
        self._counters.messages_received += 1
        now = self._monotonic()
        if not self._messages.take(now):
            self._refuse(now, "too many messages")
            return
        try:
            try:
                obj = loads(data)  # `parse`, inlined: this runs ten times per player and second
            except JSONDecodeError:
                raise bad_json() from None
            if type(obj) is dict:
                kind = obj.get("type")
                room = self.room
                if room is not None and room.accepts(kind):  # a game message: most of them
                    room.message(self.player_id, kind, obj, data)
                    return
                if type(kind) is str and kind not in _HANDLER_TYPES:
                    if self.watching is not None:
                        raise ProtocolError(ErrorCode.NOT_A_PLAYER,
                                            "spectators watch: they send no game messages")
                    if room is not None:
                        raise ProtocolError(ErrorCode.UNKNOWN_TYPE,
                                            f"this room's game takes no {kind[:32]!r} messages")
                    if any(kind in spec.messages for spec in self._matchmaker.modes.values()):
                        raise ProtocolError(ErrorCode.NOT_IN_ROOM,
                                            f"join a room before sending {kind!r}")
            msg = decode_object(obj)
            if type(msg) is messages.Chat and not self._chats.take(now):
                self._refuse(now, "too many chat messages")
                return
            _HANDLERS[type(msg)](self, msg)
        except ProtocolError as exc:
            self.send_error(exc.code, exc.message)

    def handle_control(self) -> None:
        """A WebSocket ping or pong arrived: it counts against the message rate like a message.

        Control frames never reach the game, but each costs a parse and a pong; without this a
        client could flood pings that no limit sees.
        """
        now = self._monotonic()
        if not self._messages.take(now):
            self._refuse(now, "too many frames")

    def handle_binary(self) -> None:
        """A binary frame arrived: refuse it, keep the connection."""
        self._counters.messages_received += 1
        self.send_error(ErrorCode.BINARY_FRAME, "only text frames carrying JSON are accepted")

    def disconnect(self) -> None:
        """The socket is gone: the seat is held for a resume, or left (its result saved)."""
        self._gone = True
        if self.watching is not None:
            self.watching.remove_spectator(self, "disconnect")
        room = self.room
        if room is not None:
            self.room = None
            self._matchmaker.hold(self.resume_token, room, self.player_id)

    def _refuse(self, now: float, what: str) -> None:
        """Drop a message over the limits; warn at most once a second; close persistent abuse."""
        self._counters.error(ErrorCode.RATE_LIMITED.value)
        if not self._strikes.take(now):
            if not self.closed_for_abuse:
                self.closed_for_abuse = True
                log.info("closing %s (user %s): kept flooding", self.identity.name,
                         self.identity.id)
                self.connection.close(CloseCode.POLICY_VIOLATION, "rate limit exceeded")
            return
        if now - self._last_limit_notice >= 1.0:
            self._last_limit_notice = now
            self.connection.send(encode_error(ErrorCode.RATE_LIMITED, f"{what}; slow down"))

    def send_error(self, code: ErrorCode, message: str) -> None:
        self._counters.error(code.value)
        self.connection.send(encode_error(code, message))

    # -- from the room ------------------------------------------------------------------------

    def on_room_left(self, room: Room, reason: str) -> None:
        if self.watching is room:
            self.watching = None
            return
        if self.room is room:
            self.room = None
            self.player_id = 0
            self._matchmaker.forget(self.resume_token)
            self.resume_token = None

    # -- message handlers ---------------------------------------------------------------------

    def _on_ping(self, msg: messages.Ping) -> None:
        self.connection.send(encode(messages.pong(msg.id, int(self._wall() * 1000))))

    def _not_seated(self) -> None:
        """A join or create needs a player in no room and with no join under way."""
        room = self.room or self.watching
        if room is not None:
            raise ProtocolError(
                ErrorCode.ALREADY_IN_ROOM, f"already in room {room.id}; leave it first"
            )
        if self._joining:
            raise ProtocolError(ErrorCode.ALREADY_IN_ROOM, "a join is already under way")

    def _on_join(self, msg: messages.Join) -> None:
        self._not_seated()
        cluster = self._cluster
        if msg.spectate:
            if cluster is not None and cluster.distributed:
                self._join_later(cluster.spectate(self, msg.room, msg.code, self.session_hash))
            else:
                self.watching = self._matchmaker.spectate(self, room_id=msg.room, code=msg.code)
        elif msg.resume is not None:
            self.room, self.player_id = self._matchmaker.resume(self, msg.resume)
            self.resume_token = msg.resume
        elif msg.seat is not None:
            if cluster is None:
                raise ProtocolError(ErrorCode.SEAT_INVALID, "this server takes no seat tokens")
            self._join_later(cluster.claim(self, msg.seat, msg.fields, self.session_hash))
        elif cluster is not None and cluster.distributed:
            if msg.code is not None:
                self._join_later(cluster.place_by_code(self, msg.code, self.session_hash,
                                                       msg.fields))
            elif msg.mode is not None:
                self._join_later(cluster.place(self, msg.mode, self.session_hash, msg.options,
                                               msg.fields))
            else:
                self._join_later(cluster.place_in_room(self, str(msg.room), self.session_hash,
                                                       msg.fields))
        else:
            self.room, self.player_id, self.resume_token = self._matchmaker.join(
                self, mode=msg.mode, room_id=msg.room, code=msg.code, options=msg.options,
                fields=msg.fields)

    def _on_create(self, msg: messages.Create) -> None:
        self._not_seated()
        cluster = self._cluster
        if cluster is not None and cluster.distributed:  # registered (and its code) at once
            self._join_later(cluster.create(self, msg.mode, msg.options, private=msg.private,
                                            fields=msg.fields))
            return
        self.room, self.player_id, self.resume_token = self._matchmaker.create(
            self, msg.mode, msg.options, private=msg.private, fields=msg.fields)

    def _join_later(self, placing: Awaitable[Seated | Redirect | Watching]) -> None:
        """Run a join that must ask other processes; its answer comes when it is done."""
        self._joining = True
        assert self._cluster is not None
        self._cluster.spawn(self._finish_join(placing))

    async def _finish_join(self, placing: Awaitable[Seated | Redirect | Watching]) -> None:
        try:
            placed = await placing
        except ProtocolError as exc:
            self.send_error(exc.code, exc.message)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("join failed for %s", self.identity.name)
            self.send_error(ErrorCode.UNAVAILABLE, "could not join just now; try again")
            return
        finally:
            self._joining = False
        if isinstance(placed, Watching):
            self.watching = placed.room
            if self._gone:
                self.disconnect()
            return
        if isinstance(placed, Redirect):
            self.connection.send(encode(messages.redirect(
                url=placed.url, room=placed.room, seat=placed.token,
                expires_in=placed.expires_in)))
            return
        self.room, self.player_id, self.resume_token = (
            placed.room, placed.player_id, placed.resume_token)
        if self._gone:  # the socket closed while the seat was being found
            self.disconnect()

    def _on_chat(self, msg: messages.Chat) -> None:
        if msg.scope == "global":
            if self._cluster is None:
                raise ProtocolError(ErrorCode.UNAVAILABLE, "this server has no global chat")
            self._cluster.spawn(self._announce(msg.text))
            return
        if self.watching is not None:
            raise ProtocolError(ErrorCode.NOT_A_PLAYER,
                                "spectators read the room's chat but do not write in it")
        if self.room is None:
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, "join a room before chatting")
        self.room.chat(self.player_id, msg.text)

    async def _announce(self, text: str) -> None:
        try:
            await self._cluster.announce(self.identity.name, text)  # type: ignore[union-attr]
        except ProtocolError as exc:
            self.send_error(exc.code, exc.message)

    def _on_leave(self, msg: messages.Leave) -> None:
        if self.watching is not None:
            self.watching.remove_spectator(self, "leave")
            return
        if self.room is None:
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, "not in a room")
        self.room.remove(self.player_id, "leave")


# What each client message does: one table for every session (not a dict of bound methods each).
_HANDLERS: dict[type, Callable[[PlayerSession, Any], None]] = {
    messages.Ping: PlayerSession._on_ping,
    messages.Join: PlayerSession._on_join,
    messages.Create: PlayerSession._on_create,
    messages.Chat: PlayerSession._on_chat,
    messages.Leave: PlayerSession._on_leave,
}
_HANDLER_TYPES = frozenset({"join", "create", "leave", "ping", "chat"})
