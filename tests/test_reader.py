"""Differential tests: the batched reader against Tornado's own, on the same byte streams.

Each stream is split at random points (hypothesis) and fed to both `WebSocketProtocol13` and
`BatchedProtocol13` over an in-memory stream; both must deliver the same messages, pings, pongs,
close codes and written bytes. The one intended difference is unmasked client frames, which the
batched reader refuses (RFC 6455 5.1) and the stock reader accepts.
"""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketProtocol13, _WebSocketParams

from game_server.transport.reader import BatchedProtocol13

MAX = 1024


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


async def run(kind: type[WebSocketProtocol13], chunks: list[bytes]) -> tuple[list, bytes]:
    handler = Recorder()
    params = _WebSocketParams(max_message_size=MAX, compression_options=None)
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
broken = st.sampled_from([
    frame(0x1, b"\xff\xfe"),                       # not UTF-8
    frame(0x1, b"x" * (MAX + 1)),                  # too big
    frame(0x1, b"a" * 600, fin=False) + frame(0x0, b"b" * 600),  # too big when reassembled
    frame(0x3, b"?"),                              # reserved opcode
    frame(0x9, b"p", fin=False),                   # fragmented control frame
    frame(0x9, b"p" * 126),                        # control frame too long
    frame(0x0, b"orphan"),                         # continuation of nothing
    frame(0x1, b"a", fin=False) + frame(0x1, b"b"),  # new message inside a fragmented one
    frame(0x1, b"r", rsv=0x40),                    # reserved bit
])
streams = st.lists(st.one_of(text, binary, ping, pong, fragmented), max_size=8).flatmap(
    lambda frames: st.one_of(st.just(b""), close, broken).map(
        lambda tail: b"".join(frames) + tail))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_same_behaviour_as_tornados_reader_for_any_split(data: bytes, cuts: list[int]) -> None:
    async def both() -> None:
        expected = await run(WebSocketProtocol13, split(data, cuts))
        got = await run(BatchedProtocol13, split(data, cuts))
        assert got == expected

    asyncio.run(both())


def test_every_single_byte_split_of_a_mixed_stream() -> None:
    data = (frame(0x1, b'{"type":"ping","id":1}') + frame(0x9, b"hi")
            + frame(0x1, b"a" * 300) + frame(0x1, b"x", fin=False) + frame(0xA, b"")
            + frame(0x0, b"y") + frame(0x8, struct.pack(">H", 1000)))

    async def check() -> None:
        expected = await run(WebSocketProtocol13, [data])
        for cut in range(len(data) + 1):
            assert await run(BatchedProtocol13, [data[:cut], data[cut:]]) == expected, cut
        assert await run(BatchedProtocol13, [bytes([b]) for b in data]) == expected

    asyncio.run(check())


def test_large_frames_use_the_16_and_64_bit_lengths() -> None:
    async def check() -> None:
        params = _WebSocketParams(max_message_size=100_000, compression_options=None)
        for size in (126, 65535, 65536, 70000):
            data = frame(0x2, b"z" * size)
            events = []
            for kind in (WebSocketProtocol13, BatchedProtocol13):
                handler = Recorder()
                proto = kind(handler, False, params)  # type: ignore[arg-type]
                proto.stream = MemoryStream(split(data, [3, 9, 500]))  # type: ignore[assignment]
                await proto._receive_frame_loop()
                events.append(handler.events)
            assert events[0] == events[1]
            assert events[1][0] == ("message", b"z" * size)

    asyncio.run(check())


def test_unmasked_client_frames_are_refused_with_1002() -> None:
    async def check() -> None:
        events, written = await run(BatchedProtocol13, [frame(0x1, b"hi", masked=False)])
        assert ("message", "hi") not in events
        assert written.startswith(b"\x88") and struct.pack(">H", 1002) in written

    asyncio.run(check())


class TextRecorder(Recorder):
    """A handler with the text fast path: text messages arrive through `on_text_message`."""

    def __init__(self) -> None:
        super().__init__()
        self.on_text_message = lambda text: self.events.append(("text", text))


def test_text_messages_go_to_on_text_message_and_binary_to_on_message() -> None:
    data = (frame(0x1, b'{"type":"input"}') + frame(0x2, b"\x00bin") + frame(0x9, b"hi")
            + frame(0x1, b"x", fin=False) + frame(0x0, b"y") + frame(0x8, struct.pack(">H", 1000)))

    async def check() -> list[tuple[Any, ...]]:
        handler = TextRecorder()
        params = _WebSocketParams(max_message_size=MAX, compression_options=None)
        proto = BatchedProtocol13(handler, False, params)  # type: ignore[arg-type]
        proto.stream = MemoryStream(split(data, [5, 17]))  # type: ignore[assignment]
        await proto._receive_frame_loop()
        if proto._waiting is not None:
            IOLoop.current().remove_timeout(proto._waiting)
        return handler.events

    events = asyncio.run(check())
    assert events == [("text", '{"type":"input"}'), ("message", b"\x00bin"), ("ping", b"hi"),
                      ("text", "xy"), ("closed", 1000, None)]
