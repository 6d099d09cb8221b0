"""Client byte streams for the WebSocket tests, and Tornado's own reader to hold them against.

`frame` builds client frames (masked unless told otherwise), `split` cuts a stream at arbitrary
points, and the hypothesis strategies make random streams of messages, pings, pongs, fragmented
messages, a close frame, or a frame that breaks the protocol (`BROKEN`, with the close code RFC
6455 asks for). `run` feeds a stream to Tornado's `WebSocketProtocol13` over an in-memory stream
and records what its handler got and what it wrote: the reference the server's own parser
(transport/frames.py) and protocol (transport/wire.py) are tested against.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Awaitable
from typing import Any, TypeVar

from hypothesis import strategies as st
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketProtocol13, _WebSocketParams

MAX = 1024
T = TypeVar("T")


class MemoryStream:
    """Just enough of IOStream: reads come from fixed chunks; writes are recorded."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = [c for c in chunks if c]
        self.buffer = bytearray()
        self.written = bytearray()
        self._closed = False
        self.io_loop = IOLoop.current()

    async def read_bytes(self, n: int, partial: bool = False) -> bytes:
        if n == 0:
            return b""
        while (not self.buffer or (not partial and len(self.buffer) < n)) and self.chunks:
            self.buffer += self.chunks.pop(0)
            await asyncio.sleep(0)
        if self._closed or not self.buffer or (not partial and len(self.buffer) < n):
            raise StreamClosedError()
        take = min(n, len(self.buffer))
        data = bytes(self.buffer[:take])
        del self.buffer[:take]
        return data

    def write(self, data: bytes) -> asyncio.Future[None]:
        if self._closed:
            raise StreamClosedError()
        self.written += data
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def close(self) -> None:
        self._closed = True

    def closed(self) -> bool:
        return self._closed


class Recorder:
    """The handler side: what the protocol delivered."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_message(self, message: str | bytes) -> None:
        self.events.append(("message", message))

    def on_ping(self, data: bytes) -> None:
        self.events.append(("ping", data))

    def on_pong(self, data: bytes) -> None:
        self.events.append(("pong", data))

    def on_ws_connection_close(self, code: int | None, reason: str | None) -> None:
        self.events.append(("closed", code, reason))

    def log_exception(self, *args: Any) -> None:  # pragma: no cover - nothing raises here
        self.events.append(("exception",))


async def run(kind: type[WebSocketProtocol13], chunks: list[bytes], *, max_size: int = MAX,
              handler: Recorder | None = None) -> tuple[list, bytes]:
    """What `kind` (Tornado's reader) hands its handler for `chunks`, and what it writes."""
    handler = handler if handler is not None else Recorder()
    params = _WebSocketParams(max_message_size=max_size, compression_options=None)
    proto = kind(handler, False, params)  # type: ignore[arg-type]
    stream = MemoryStream(chunks)
    proto.stream = stream  # type: ignore[assignment]
    await proto._receive_frame_loop()
    if proto._waiting is not None:
        IOLoop.current().remove_timeout(proto._waiting)
    return handler.events, bytes(stream.written)


def frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True,
          rsv: int = 0) -> bytes:
    head = bytes(((0x80 if fin else 0) | rsv | opcode,))
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes((bit | n,))
    elif n < 65536:
        head += struct.pack("!BH", bit | 126, n)
    else:
        head += struct.pack("!BQ", bit | 127, n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


text = st.text(max_size=200).map(lambda s: frame(0x1, s.encode()))
binary = st.binary(max_size=300).map(lambda b: frame(0x2, b))
ping = st.binary(max_size=125).map(lambda b: frame(0x9, b))
pong = st.binary(max_size=125).map(lambda b: frame(0xA, b))
fragmented = st.lists(st.text(min_size=1, max_size=40), min_size=2, max_size=4).flatmap(
    lambda parts: st.lists(ping, max_size=2).map(lambda pings: b"".join(
        [frame(0x1, parts[0].encode(), fin=False)]
        + [p for p in pings]
        + [frame(0x0, part.encode(), fin=(i == len(parts) - 2))
           for i, part in enumerate(parts[1:])])))
close = st.sampled_from([frame(0x8, b""), frame(0x8, struct.pack(">H", 1000) + b"bye"),
                         frame(0x8, struct.pack(">H", 4001))])
# Streams that break the protocol, with the close code RFC 6455 asks for where Tornado's reader
# sends none (None: Tornado sends the same code, e.g. 1009).
BROKEN = [
    (frame(0x1, b"\xff\xfe"), 1007),                       # not UTF-8
    (frame(0x1, b"x" * (MAX + 1)), None),                  # too big
    (frame(0x1, b"a" * 600, fin=False) + frame(0x0, b"b" * 600), None),  # too big when whole
    (frame(0x3, b"?"), 1002),                              # reserved opcode
    (frame(0xB, b"?"), 1002),                              # reserved control opcode
    (frame(0x9, b"p", fin=False), 1002),                   # fragmented control frame
    (frame(0x9, b"p" * 126), 1002),                        # control frame too long
    (frame(0x0, b"orphan"), 1002),                         # continuation of nothing
    (frame(0x1, b"a", fin=False) + frame(0x1, b"b"), 1002),  # new message inside a fragmented one
    (frame(0x1, b"r", rsv=0x40), 1002),                    # reserved bit
]
broken = st.sampled_from(BROKEN)
no_tail = st.one_of(st.just(b""), close).map(lambda tail: (tail, None))
streams = st.lists(st.one_of(text, binary, ping, pong, fragmented), max_size=8).flatmap(
    lambda frames: st.one_of(no_tail, broken).map(
        lambda tail: (b"".join(frames) + tail[0], tail[1])))


def assert_like_tornado(expected: tuple[list, bytes], events: list, written: bytes,
                        code: int | None) -> None:
    """The same events and bytes as Tornado's reader, but for the close frame with the RFC's
    `code` that follows them where Tornado drops the socket without one."""
    expected_events, expected_written = expected
    assert events == expected_events
    if code is None:
        assert written == expected_written
    else:
        assert written.startswith(expected_written)
        assert close_code(written[len(expected_written):]) == code


async def loop_turns(work: Awaitable[T]) -> tuple[int, T]:
    """How many turns another task got on the loop while `work` ran, and what it returned."""
    turns = 0
    done = False

    async def other_socket() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_socket())
    await asyncio.sleep(0)
    before = turns
    try:
        result = await work
    finally:
        done = True
        await other
    return turns - before, result


def close_code(written: bytes) -> int | None:
    """The code of the close frame that ends `written`, if it ends with one."""
    at = written.rfind(b"\x88")
    if at < 0 or at + 2 + written[at + 1] != len(written) or written[at + 1] < 2:
        return None
    return struct.unpack(">H", written[at + 2 : at + 4])[0]
