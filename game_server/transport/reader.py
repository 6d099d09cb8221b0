"""A batched WebSocket frame reader for the server side of Tornado's protocol.

Tornado's stock reader awaits `read_bytes` three times per frame (header, mask, payload): a
Future and an IOLoop round each, about 40 µs of CPU per small message, which is most of what a
player costs the server (docs/tornado-notes.md). This reader takes whatever the socket has in one
`read_bytes(65536, partial=True)`, parses every complete frame in the buffer, unmasks with
Tornado's C-accelerated `_websocket_mask`, and hands each message to Tornado's own
`_handle_message`, so close, ping/pong, UTF-8 and callback handling stay Tornado's.

It leans on private names of `WebSocketProtocol13` (`_handle_message`, `_abort`, `params`,
`_fragmented_message_*`, `_wire_bytes_in`), so Tornado is pinned to the minor versions the
differential tests (tests/test_reader.py) were run against. Two deliberate differences from the
stock reader: client frames must be masked (RFC 6455 5.1; the stock reader accepts unmasked
ones), and an unmasked or otherwise invalid frame closes with 1002 before aborting.

A handler may offer `on_text_message(text)`, set by the time `open()` returns: text messages
then go straight to it (binary ones still to `on_message`), one call instead of two per message.
"""

from __future__ import annotations

import asyncio
import sys

from tornado.iostream import StreamClosedError
from tornado.util import _websocket_mask
from tornado.websocket import WebSocketProtocol13

READ_CHUNK = 65536
# What the stream asks the kernel for in one read. IOStream allocates and zeroes a fresh buffer
# of this size for every read (64 KiB by default: a memset that evicts the L1 and much of the
# L2 cache ten times per player and second); a player's messages are tens of bytes, so 4 KiB
# holds many, and a larger message just takes a few reads.
SOCKET_READ_SIZE = 4096

# Yield to the IOLoop after this much work in one read loop, like Tornado's own reader, so one
# fast sender cannot starve the other sockets.
_YIELD_BYTES = 256 * 1024
_FRAME_COST = 1024


class BatchedProtocol13(WebSocketProtocol13):
    """`WebSocketProtocol13` with a reader that parses every buffered frame per socket read."""

    async def _receive_frame_loop(self) -> None:
        if self._decompressor is not None:  # permessage-deflate: keep Tornado's reader
            await super()._receive_frame_loop()
            return
        self.stream.read_chunk_size = SOCKET_READ_SIZE
        sink = getattr(self.handler, "on_text_message", None)
        self._on_text = sink if sink is not None else self.handler.on_message
        buf = bytearray()
        try:
            while not self.client_terminated:
                chunk = await self.stream.read_bytes(READ_CHUNK, partial=True)
                self._wire_bytes_in += len(chunk)
                if buf:
                    buf += chunk
                    data: bytes | bytearray = buf
                else:
                    data = chunk
                consumed, work = await self._parse(data)
                if consumed == len(data):
                    buf = bytearray()
                else:
                    buf = bytearray(memoryview(data)[consumed:])
                if work >= _YIELD_BYTES:
                    await asyncio.sleep(0)
        except StreamClosedError:
            self._abort()
        finally:
            self.handler.on_ws_connection_close(self.close_code, self.close_reason)

    async def _parse(self, data: bytes | bytearray) -> tuple[int, int]:
        """Handle every complete frame in `data`; return (bytes consumed, work done)."""
        pos = 0
        end = len(data)
        work = 0
        max_size = self.params.max_message_size
        while end - pos >= 2 and not self.client_terminated:
            header = data[pos]
            second = data[pos + 1]
            opcode = header & 0x0F
            fin = header & 0x80
            if header & 0x70:  # reserved bits: an extension we did not negotiate
                self._abort()
                return end, work
            if not second & 0x80:  # unmasked client frame
                self._fail(1002, "client frames must be masked")
                return end, work
            length = second & 0x7F
            head = 6  # 2 header bytes + 4 mask bytes
            if opcode & 0x8 and length >= 126:  # control frames carry < 126 bytes
                self._abort()
                return end, work
            if length == 126:
                if end - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                head = 8
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 14
            fragments = self._fragmented_message_buffer
            if length + (len(fragments) if fragments is not None else 0) > max_size:
                self.close(1009, "message too big")
                self._abort()
                return end, work
            if end - pos < head + length:
                break
            mask = data[pos + head - 4 : pos + head]
            body = data[pos + head : pos + head + length]
            if type(body) is not bytes:  # the C unmask wants read-only buffers
                mask, body = bytes(mask), bytes(body)
            payload = _websocket_mask(mask, body)
            pos += head + length
            work += _FRAME_COST + head + length
            if opcode & 0x8:
                if not fin:  # control frames must not be fragmented
                    self._abort()
                    return end, work
            elif opcode == 0:
                if fragments is None:  # nothing to continue
                    self._abort()
                    return end, work
                fragments.extend(payload)
                if not fin:
                    continue
                opcode = self._fragmented_message_opcode
                payload = bytes(fragments)
                self._fragmented_message_buffer = None
            elif fragments is not None:  # a new message before the last one finished
                self._abort()
                return end, work
            elif not fin:
                self._fragmented_message_opcode = opcode
                self._fragmented_message_buffer = bytearray(payload)
                continue
            if opcode == 0x1 and not self.client_terminated:
                # The hot case (every player message), without _handle_message's dispatch and
                # _run_callback's wrapper; the same checks and the same failure handling.
                try:
                    text = payload.decode("utf-8")
                except UnicodeDecodeError:
                    self._abort()
                    return end, work
                self._message_bytes_in += len(payload)
                try:
                    result = self._on_text(text)
                except Exception:
                    self.handler.log_exception(*sys.exc_info())
                    self._abort()
                    return end, work
                if result is not None:  # a coroutine on_message: awaited, failures contained
                    try:
                        await result
                    except Exception:
                        self.handler.log_exception(*sys.exc_info())
                        self._abort()
                        return end, work
                continue
            handled = self._handle_message(opcode, payload)
            if handled is not None:
                await handled
        return pos, work

    def _fail(self, code: int, reason: str) -> None:
        self.close(code, reason)
        self._abort()
