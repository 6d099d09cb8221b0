"""The game socket's data path: Tornado does the handshake, an asyncio Protocol the rest.

Tornado keeps everything before the 101 (`prepare`'s 401, `check_origin`'s 403, the per-address
cap, seat tokens) and calls the handler's `open()` as always. `HandoffProtocol13` is the
`WebSocketProtocol13` Tornado gets from `get_websocket_protocol()`; where Tornado would start its
frame reader, it instead

1. waits until the 101 (and anything written meanwhile) has left the IOStream for the kernel
   (`stream.write(b"")` resolves when everything before it is flushed);
2. takes any bytes the stream had already read past the request (a client that did not wait for
   the 101) from its read buffer;
3. duplicates the socket's descriptor and closes the IOStream: Tornado removes its handler from
   the IOLoop and closes its own descriptor, while the TCP connection lives on in the duplicate,
   which nothing of Tornado's holds (the IOStream was detached from the HTTP connection by the
   handshake, and its close callback cleared);
4. gives the duplicate to `loop.connect_accepted_socket` with the connection's `WebSocketWire`
   (transport/wire.py), and waits until that socket is gone to tell the handler (`on_close`).

Everything the handler or the engine writes goes through the wire (frames written before step 4
wait in it). `close`, `write_message`, `ping` keep Tornado's contract. Only plain TCP is handed
over: under TLS (`SSLIOStream`), or with permessage-deflate, the handler keeps Tornado's path.

`WireConnection` is the engine's `Connection` on this path: the backlog is the transport's write
buffer plus the kernel's unacknowledged bytes, so the slow-reader rules (skip a state, resync,
close 4002) hold as on the Tornado path.
"""

from __future__ import annotations

import asyncio
import os
import socket

from tornado.concurrent import Future
from tornado.iostream import IOStream, StreamClosedError
from tornado.websocket import WebSocketHandler, WebSocketProtocol13, _WebSocketParams

from game_server.transport.backlog import SendClock, unacked_bytes
from game_server.transport.frames import FrameCache, server_frame
from game_server.transport.wire import PONG_BACKLOG, WebSocketWire
from protocol.closes import CloseCode


def can_hand_off(handler: WebSocketHandler, params: _WebSocketParams) -> bool:
    """Whether this request's socket can leave Tornado: plain TCP, no compression."""
    stream = getattr(handler.request.connection, "stream", None)
    return type(stream) is IOStream and params.compression_options is None


class HandoffProtocol13(WebSocketProtocol13):
    """Tornado's protocol object for a socket that leaves Tornado after the handshake."""

    def __init__(self, handler: WebSocketHandler, mask_outgoing: bool,
                 params: _WebSocketParams) -> None:
        super().__init__(handler, mask_outgoing, params)
        self.wire = WebSocketWire(
            handler,  # type: ignore[arg-type]
            max_message_size=params.max_message_size,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout if self.ping_interval else 0.0,
        )
        self.sock: socket.socket | None = None  # the duplicate, once handed over
        # Pongs through Tornado's own _send_pong: while one is still unsent, only the most
        # recent ping is answered (it writes through _write_frame below, into the wire).
        self.wire.send_pong = self._send_pong

    def start_pinging(self) -> None:
        pass  # the wire pings

    async def _receive_frame_loop(self) -> None:
        wire = self.wire
        stream = self.stream
        assert stream is not None
        try:
            try:
                await stream.write(b"")  # resolves once the 101 is in the kernel
            except StreamClosedError:
                return
            if wire.client_terminated and wire.server_terminated:  # aborted in open()
                stream.close()
                return
            # Read past the handshake already (IOStream keeps only unconsumed bytes there).
            early_input = bytes(getattr(stream, "_read_buffer", b""))
            try:
                sock = socket.socket(fileno=os.dup(stream.socket.fileno()))
            except OSError:
                stream.close()
                return
            stream.close()  # Tornado's descriptor and IOLoop handler; the TCP connection stays
            sock.setblocking(False)
            self.sock = sock
            wire.early_input = early_input
            try:
                await asyncio.get_running_loop().connect_accepted_socket(lambda: wire, sock)
            except OSError:
                sock.close()
                return
            await wire.closed
        finally:
            self.client_terminated = self.server_terminated = True
            self.handler.on_ws_connection_close(wire.close_code, wire.close_reason)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.server_terminated = True
        self.wire.close(code, reason)

    def _abort(self) -> None:
        self.client_terminated = self.server_terminated = True
        self.wire.abort()
        if self.sock is None and self.stream is not None:
            self.stream.close()  # not handed over (open() failed): the socket is still here

    def _send_pong(self, data: bytes) -> None:
        if self.wire.queued() > PONG_BACKLOG:
            return  # a peer that does not read gets no more pongs queued for it
        super()._send_pong(data)

    def is_closing(self) -> bool:
        return self.wire.server_terminated or self.wire.client_terminated

    def set_nodelay(self, x: bool) -> None:
        sock = self.sock
        if sock is None:
            super().set_nodelay(x)  # still Tornado's stream; the option stays with the socket
        elif sock.fileno() >= 0:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if x else 0)

    def _write_frame(self, fin: bool, opcode: int, data: bytes, flags: int = 0
                     ) -> Future[None]:
        # write_message, write_ping and pongs all end here: through the wire instead.
        if self.is_closing():
            raise StreamClosedError()
        self.wire.write(server_frame(data, 0x80 | opcode | flags))  # FIN: never fragmented
        future: Future[None] = Future()
        future.set_result(None)
        return future


class WireConnection(SendClock):
    """The engine's `Connection` over a handed-over socket (see the module's docstring).

    Whatever the engine sends is dropped once `hard_backlog` bytes wait; the room skips states
    above its own, lower limit (`send_state`).
    """

    __slots__ = ("_handler", "_proto", "_wire", "_frames", "hard_backlog", "dropped")

    def __init__(self, handler: WebSocketHandler, proto: HandoffProtocol13,
                 frames: FrameCache, hard_backlog: int) -> None:
        super().__init__()
        self._handler = handler
        self._proto = proto
        self._wire = proto.wire
        self._frames = frames
        self.hard_backlog = hard_backlog
        self.dropped = 0

    @property
    def rtt(self) -> float | None:
        """Seconds the last WebSocket ping took to be answered (None before the first)."""
        return self._wire.rtt

    def backlog(self) -> int:
        """Bytes the client has not received: in the transport's buffer or the kernel's."""
        sock = self._proto.sock
        waiting = self._wire.queued() + (unacked_bytes(sock) if sock is not None else 0)
        self._saw(waiting)
        return waiting

    def send(self, data: bytes) -> None:
        self.send_state(data, self.hard_backlog)

    def send_state(self, data: bytes, limit: int) -> bool:
        """Write one frame unless more than `limit` bytes are still waiting; False if skipped."""
        wire = self._wire
        if wire.server_terminated or wire.client_terminated:
            return True  # closing: nothing to send, and not a lag either
        if self.written - self._received > limit and self.backlog() > limit:
            self.dropped += 1
            return False
        frames = self._frames
        frame = frames._frame if data is frames._payload else frames.frame(data)
        self.written += len(frame)
        transport = wire.transport
        if transport is not None:
            transport.write(frame)  # sent at once when nothing is queued
        else:
            wire.write(frame)  # kept until the transport exists
        return True

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        self._handler.close(code, reason)

