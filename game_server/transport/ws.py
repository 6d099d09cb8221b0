"""The WebSocket endpoint: authenticate before the upgrade, then adapt the socket for the engine.

`GameSocket` refuses the handshake with 401 (no valid session) or 403 (foreign Origin) before
anything is allocated; after the upgrade it hands frames to a `PlayerSession`. `SocketConnection`
is the engine's `Connection`: it writes prebuilt frames straight to the stream, counts what the
client has not received yet (the stream's queue and the kernel's), and `FrameCache` frames each
broadcast payload once for all its recipients. `SocketConnection` serves TLS sockets only, on
Tornado's own reader: a plain TCP socket leaves Tornado after `open()` (transport/handoff.py)
and `WireConnection` is its `Connection`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import tornado.web
import tornado.websocket
from tornado.iostream import IOStream, StreamClosedError
from tornado.websocket import WebSocketProtocol

from game_server.engine.seats import SeatPass, SeatTokenError
from game_server.engine.session import PlayerSession
from game_server.storage.base import StorageError, User
from game_server.transport.backlog import SendClock, unacked_bytes
from game_server.transport.base import Services
from game_server.transport.frames import FrameCache
from game_server.transport.handoff import HandoffProtocol13, WireConnection, can_hand_off
from protocol.closes import CloseCode

log = logging.getLogger("arena.ws")

def queue_behind(stream: IOStream, frame: bytes) -> None:
    """Append `frame` to an open stream that already has bytes waiting, without a Future.

    `IOStream.write` makes a Future and a done-callback per call, several hundred bytes that
    live as long as the frame waits: for a client that stopped reading, more than the frames
    themselves (measured: ~3x). Nothing here awaits them. The stream, holding bytes already, is
    waiting for the socket to be writable and flushes everything in its buffer when it is.
    """
    stream._write_buffer.append(frame)
    stream._total_write_index += len(frame)


class SocketConnection(SendClock):
    """The engine's `Connection` over a WebSocket that stays on Tornado's stream (under TLS).

    Frames go straight to the Tornado stream (`write_message` would frame again and wrap a task
    per call). The backlog is what the client has not received: bytes in the stream's queue
    plus bytes in the kernel's send queue not yet acknowledged. Whatever the engine sends is
    dropped once `hard_backlog` bytes wait; the room skips states above its own, lower limit
    (`send_state`), so the hard limit only bounds the rest (chat, pongs) for a client that
    stopped reading. `SendClock` (transport/backlog.py) tells the lag from the backlog.
    """

    __slots__ = ("_handler", "_ws", "_stream", "_raw", "_frames", "hard_backlog", "dropped")

    def __init__(self, handler: GameSocket, frames: FrameCache, hard_backlog: int) -> None:
        super().__init__()
        self._handler = handler
        self._ws = handler.ws_connection  # fixed once the socket is open
        stream = self._ws.stream  # type: ignore[union-attr]
        self._stream = stream
        self._raw = stream.socket  # the kernel's queue (ciphertext under TLS: near enough)
        self._frames = frames
        self.hard_backlog = hard_backlog
        self.dropped = 0

    def backlog(self) -> int:
        """Bytes the client has not received: in the stream's queue or the kernel's."""
        stream = self._stream
        # IOStream's own counters of bytes written by us and bytes handed to the kernel.
        queued: int = stream._total_write_index - stream._total_write_done_index
        waiting = queued + unacked_bytes(self._raw)
        self._saw(waiting)
        return waiting

    def send(self, data: bytes) -> None:
        self.send_state(data, self.hard_backlog)

    def send_state(self, data: bytes, limit: int) -> bool:
        """Write one frame unless more than `limit` bytes are still waiting; False if skipped."""
        ws = self._ws
        stream = self._stream
        if ws.server_terminated or ws.client_terminated:  # type: ignore[union-attr]
            return True  # closing: nothing to send, and not a lag either
        # A stream closed under us needs no check here: stream.write raises StreamClosedError.
        if self.written - self._received > limit and self.backlog() > limit:
            self.dropped += 1
            return False
        pending = stream._total_write_index - stream._total_write_done_index
        frames = self._frames
        frame = frames._frame if data is frames._payload else frames.frame(data)
        self.written += len(frame)
        if pending and not stream.closed():
            queue_behind(stream, frame)
            return True
        try:
            stream.write(frame)
        except StreamClosedError:
            pass
        return True

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        self._handler.close(code, reason)


class SocketRegistry:
    """The open game sockets, by account and by address, for limits and shutdown."""

    def __init__(self) -> None:
        self._all: set[GameSocket] = set()
        self._by_user: dict[int, GameSocket] = {}
        self._by_ip: dict[str, int] = {}
        # Called with the address whose count changed (the deployment-wide cap reports it).
        self.on_change: Callable[[str], None] = lambda ip: None

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._all))

    def count_ip(self, ip: str) -> int:
        return self._by_ip.get(ip, 0)

    def by_ip(self) -> dict[str, int]:
        return dict(self._by_ip)

    def of_user(self, user_id: int) -> GameSocket | None:
        return self._by_user.get(user_id)

    def add(self, handler: GameSocket) -> GameSocket | None:
        """Register `handler`; return the same account's previous socket, if any."""
        self._all.add(handler)
        ip = handler.request.remote_ip or ""
        self._by_ip[ip] = self._by_ip.get(ip, 0) + 1
        self.on_change(ip)
        previous = self._by_user.get(handler.current_user.id)
        self._by_user[handler.current_user.id] = handler
        return previous

    def discard(self, handler: GameSocket) -> None:
        if handler not in self._all:
            return
        self._all.discard(handler)
        ip = handler.request.remote_ip or ""
        left = self._by_ip.get(ip, 1) - 1
        if left > 0:
            self._by_ip[ip] = left
        else:
            self._by_ip.pop(ip, None)
        self.on_change(ip)
        if self._by_user.get(handler.current_user.id) is handler:
            del self._by_user[handler.current_user.id]


class GameSocket(tornado.websocket.WebSocketHandler):
    """`/ws`: one player's game connection."""

    services: Services
    session: PlayerSession | None = None
    session_hash = ""
    socket_id = ""
    opened_at = 0.0  # wall clock: across processes, the newest socket of an account wins
    _by_seat = False
    _seat_session = ""  # the session hash a seat token named
    _seat: SeatPass | None = None  # what a genuine seat token named
    # Where the asyncio path sends text messages: the session's own `handle`, set in open().
    on_text_message: Callable[[str], None] | None = None

    def initialize(self, services: Services, frames: FrameCache) -> None:
        self.services = services
        self._frames = frames

    async def prepare(self) -> None:
        # Runs before the upgrade and before check_origin: no valid session, no socket.
        try:
            seat = self.get_query_argument("seat", None)
            if seat is not None:
                resolved = await self._resolve_seat(seat)
                self._by_seat = resolved is not None
            else:
                resolved = await self.services.auth.resolve(self)
        except StorageError as exc:
            self.services.metrics.refused.labels("unavailable").inc()
            log.warning("refusing a game connection: storage unavailable: %s", exc)
            raise tornado.web.HTTPError(503, "storage unavailable") from None
        if resolved is None:
            self.services.metrics.refused.labels("unauthenticated").inc()
            raise tornado.web.HTTPError(401, "no valid session")
        self.current_user, self.session_id = resolved
        bans = self.services.bans
        if bans is not None and bans.of(resolved[0].id, self.request.remote_ip) is not None:
            self.services.metrics.refused.labels("banned").inc()
            raise tornado.web.HTTPError(403, "banned")
        self.session_hash = (self.services.events.session_hash(self.session_id)
                             if self.session_id else self._seat_session)
        cap = self.services.socket_cap
        if cap is not None and not await cap.admits(self.request.remote_ip or ""):
            self.services.metrics.refused.labels("ip_limit").inc()
            if self._seat is not None and not self._seat.spectate:  # the seat must be free again
                self.services.cluster.release_seat(self._seat.room, self._seat.seat)
            raise tornado.web.HTTPError(429, "too many connections from this address")

    async def _resolve_seat(self, token: str) -> tuple[User, str] | None:
        """The user and session a redirect's seat token names, if genuine and still live.

        A browser redirected to another host of this Arena has no cookie there; the token,
        signed by a process of the same deployment, stands in for it.
        """
        try:
            seat = self.services.cluster.seats.verify(token)
        except SeatTokenError as exc:
            log.info("refusing a seat token from %s: %s", self.request.remote_ip, exc)
            return None
        self._seat_session, self._seat = seat.session, seat
        user = await self.services.storage.session_user_by_hash(seat.session)
        if user is None or user.id != seat.user:
            return None
        return user, ""  # the session's id is never sent around; its hash is

    def _request_summary(self) -> str:
        # Seat tokens travel in the query: keep them out of the access log.
        return f"{self.request.method} {self.request.path} ({self.request.remote_ip})"

    def check_origin(self, origin: str) -> bool:
        if self._by_seat:
            # The page is on another host of this Arena; the seat token (not a cookie the
            # browser sent on its own) proves who this is, so there is nothing to forge.
            return True
        if origin in self.services.config.allowed_origins:
            return True
        parts = urlsplit(origin)
        if parts.netloc and parts.netloc.lower() == self.request.host.lower():
            return True
        self.services.metrics.refused.labels("origin").inc()
        return False

    def get_compression_options(self) -> dict[str, Any] | None:
        return None  # state streams compress poorly for their CPU and memory cost

    def get_websocket_protocol(self) -> WebSocketProtocol | None:
        stock = super().get_websocket_protocol()
        if stock is None:
            return stock
        params = stock.params  # type: ignore[attr-defined]
        if can_hand_off(self, params):
            # Plain TCP: after the handshake the socket leaves Tornado for an asyncio Protocol.
            return HandoffProtocol13(self, False, params)
        return stock  # TLS: Tornado's own reader and stream

    def open(self, *args: str, **kwargs: str) -> None:
        self.opened_at = time.time()
        self.set_nodelay(True)  # without it a pong waits behind a state for a delayed ACK
        self.session = PlayerSession(
            self.current_user,
            self._connection(self.services.config.max_backlog_bytes * 4),
            self.services.matchmaker,
            limits=self.services.limits,
            cluster=self.services.cluster,
            session_hash=self.session_hash,
        )
        self.on_text_message = self.session.handle
        self.socket_id = self.services.events.new_socket_id()
        previous = self.services.sockets.add(self)
        if previous is not None:
            # One live game connection per account: the newest wins (a reload, a second tab).
            previous.close(CloseCode.REPLACED, "replaced by a newer connection")
        if self.services.cluster.distributed:
            self.services.cluster.connected(self.current_user.id, self.socket_id,
                                            self.opened_at)

    def _connection(self, hard_backlog: int) -> SocketConnection | WireConnection:
        ws = self.ws_connection
        if isinstance(ws, HandoffProtocol13):
            return WireConnection(self, ws, self._frames, hard_backlog)
        return SocketConnection(self, self._frames, hard_backlog)

    def on_message(self, message: str | bytes) -> None:
        session = self.session
        if session is None:
            return
        if type(message) is bytes:
            session.handle_binary()
        else:
            session.handle(message)

    def on_ping(self, data: bytes) -> None:
        session = self.session
        if session is not None:
            session.handle_control()

    def on_pong(self, data: bytes) -> None:
        session = self.session
        if session is not None:
            session.handle_control()

    def on_close(self) -> None:
        self.services.sockets.discard(self)
        session = self.session
        if session is not None:
            self.session = None
            session.disconnect()
