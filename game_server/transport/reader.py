"""A batched WebSocket frame reader for the server side of Tornado's protocol.

Tornado's stock reader awaits `read_bytes` three times per frame (header, mask, payload): a
Future and an IOLoop round each, about 40 µs of CPU per small message, which is most of what a
player costs the server (docs/tornado-notes.md). This reader takes whatever the socket has in one
`read_bytes(65536, partial=True)`, parses every complete frame in the buffer, unmasks with
Tornado's C-accelerated `_websocket_mask`, and hands each message to Tornado's own
`_handle_message`, so close, ping/pong, UTF-8 and callback handling stay Tornado's.

It leans on private names of `WebSocketProtocol13` (`_handle_message`, `_abort`, `params`,
`_fragmented_message_*`, `_wire_bytes_in`), so Tornado is pinned to the minor versions the
differential tests (tests/test_reader.py) were run against. Deliberate differences from the
stock reader: client frames must be masked (RFC 6455 5.1; the stock reader accepts unmasked
ones), and a frame that breaks the protocol is answered with a close frame before the connection
ends, as RFC 6455 7.1.7 asks (the stock reader just drops the socket): 1002 for a protocol error
(reserved bits, reserved opcodes, an unmasked frame, a control frame that is fragmented or longer
than 125 bytes, a continuation of nothing, a new message inside a fragmented one), 1007 for a
text message that is not UTF-8, 1009 for a message over the size limit.

Once the server has sent its close frame (a protocol error here, or a close from the server's
own code, such as a flooder closed with 1008), nothing more is handed to the handler: frames are
only scanned for the peer's close frame, which ends the connection, and a peer that keeps
sending after being told to close loses its socket after `DRAIN_LIMIT` bytes (otherwise
Tornado's close timeout ends it).

Work is counted across socket reads, not per read, and the reader yields to the IOLoop after
`YIELD_BYTES` of it: a socket that always has data (a flood) would otherwise never give the
loop a turn, because a read that the stream's buffer can satisfy resolves without yielding.

A handler may offer `on_text_message(text)`, set by the time `open()` returns: text messages
then go straight to it (binary ones still to `on_message`), one call instead of two per message.
"""

from __future__ import annotations

import asyncio
import sys

from tornado.iostream import StreamClosedError
from tornado.util import _websocket_mask
from tornado.websocket import WebSocketProtocol13

from game_server.transport.frames import (
    DRAIN_LIMIT,
    FRAME_COST,
    YIELD_BYTES,
    FrameError,
    frame_extent,
    read_header,
)

READ_CHUNK = 65536
# What the stream asks the kernel for in one read. IOStream allocates and zeroes a fresh buffer
# of this size for every read (64 KiB by default: a memset that evicts the L1 and much of the
# L2 cache ten times per player and second); a player's messages are tens of bytes, so 4 KiB
# holds many, and a larger message just takes a few reads.
SOCKET_READ_SIZE = 4096

# The work budget before yielding (counted across reads), a frame's cost and the drain limit
# are the same for both frame readers: transport/frames.py has them.


class BatchedProtocol13(WebSocketProtocol13):
    """`WebSocketProtocol13` with a reader that parses every buffered frame per socket read."""

    _drained = 0  # bytes skipped since the server's close frame
    _skip = 0  # bytes of the frame being skipped that are still to come

    async def _receive_frame_loop(self) -> None:
        if self._decompressor is not None:  # permessage-deflate: keep Tornado's reader
            await super()._receive_frame_loop()
            return
        self.stream.read_chunk_size = SOCKET_READ_SIZE
        sink = getattr(self.handler, "on_text_message", None)
        self._on_text = sink if sink is not None else self.handler.on_message
        buf = bytearray()
        budget = YIELD_BYTES
        try:
            while not self.client_terminated:
                chunk = await self.stream.read_bytes(READ_CHUNK, partial=True)
                self._wire_bytes_in += len(chunk)
                if buf:
                    buf += chunk
                    data: bytes | bytearray = buf
                else:
                    data = chunk
                if self.server_terminated:
                    consumed = work = 0
                else:
                    consumed, work = await self._parse(data)
                if self.server_terminated and not self.client_terminated:
                    # Closing: only the peer's close frame matters now.
                    drained = self._drain(data, consumed)
                    consumed += drained
                    work += drained
                if consumed == len(data):
                    buf = bytearray()
                else:
                    buf = bytearray(memoryview(data)[consumed:])
                budget -= work
                if budget <= 0:
                    budget = YIELD_BYTES
                    await asyncio.sleep(0)
        except StreamClosedError:
            self._abort()
        finally:
            self.handler.on_ws_connection_close(self.close_code, self.close_reason)

    async def _parse(self, data: bytes | bytearray) -> tuple[int, int]:
        """Handle every complete frame in `data`; return (bytes consumed, work done).

        Stops at the first incomplete frame, or as soon as the server has sent its close frame
        (an error here, or the handler closed the connection).
        """
        pos = 0
        end = len(data)
        work = 0
        max_size = self.params.max_message_size
        while end - pos >= 2 and not self.server_terminated:
            try:
                found = read_header(data, pos, self._fragmented_message_buffer, max_size)
            except FrameError as exc:
                if exc.code == 1009:
                    # Not worth reading to the end: close and drop the socket now.
                    self.close(1009, exc.reason)
                    self._abort()
                    return end, work
                self._fail(exc.code, exc.reason)
                break
            if found is None:
                break
            opcode, fin, head, length = found
            fragments = self._fragmented_message_buffer
            if end - pos < head + length:
                break
            mask = data[pos + head - 4 : pos + head]
            body = data[pos + head : pos + head + length]
            if type(body) is not bytes:  # the C unmask wants read-only buffers
                mask, body = bytes(mask), bytes(body)
            payload = _websocket_mask(mask, body)
            pos += head + length
            work += FRAME_COST + head + length
            if opcode == 0:
                fragments.extend(payload)  # type: ignore[union-attr]
                if not fin:
                    continue
                opcode = self._fragmented_message_opcode
                payload = bytes(fragments)  # type: ignore[arg-type]
                self._fragmented_message_buffer = None
            elif not fin:
                self._fragmented_message_opcode = opcode
                self._fragmented_message_buffer = bytearray(payload)
                continue
            if opcode == 0x1:
                # The hot case (every player message), without _handle_message's dispatch and
                # _run_callback's wrapper; the same checks and the same failure handling.
                try:
                    text = payload.decode("utf-8")
                except UnicodeDecodeError:
                    self._fail(1007, "text message is not UTF-8")
                    break
                self._message_bytes_in += len(payload)
                try:
                    result = self._on_text(text)
                    if result is not None:  # a coroutine on_message: awaited
                        await result
                except (Exception, asyncio.CancelledError):
                    # As Tornado's _run_callback: log (a cancellation too) and drop the socket.
                    self.handler.log_exception(*sys.exc_info())
                    self._abort()
                    return end, work
                continue
            handled = self._handle_message(opcode, payload)
            if handled is not None:
                await handled
        return pos, work

    def _drain(self, data: bytes | bytearray, pos: int) -> int:
        """Skip frames after the server's close frame, watching for the peer's close frame.

        Returns the bytes consumed from `pos` (an incomplete header or close frame, at most 139
        bytes, is left for the next read). The peer's close frame completes the closing
        handshake (Tornado then closes the stream); more than `DRAIN_LIMIT` bytes of anything
        else drops the socket at once.
        """
        start = pos
        end = len(data)
        while True:
            if self._skip:  # the rest of a frame being skipped
                take = min(self._skip, end - pos)
                pos += take
                self._skip -= take
                self._drained += take
                if self._skip:
                    break
            if self._drained > DRAIN_LIMIT:
                self._abort()
                return end - start
            if end - pos < 2:
                break
            extent = frame_extent(data, pos)
            if extent is None:
                break
            head, length = extent
            if data[pos] & 0x0F == 0x8 and length < 126:
                if end - pos < head + length:
                    break
                payload = bytes(data[pos + head : pos + head + length])
                if data[pos + 1] & 0x80:
                    payload = _websocket_mask(bytes(data[pos + head - 4 : pos + head]), payload)
                self._handle_message(0x8, payload)
                return pos + head + length - start
            self._skip = head + length
        return pos - start

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection: send a close frame with `code`; read no more messages."""
        self.close(code, reason)
