"""Differential tests: the batched reader against Tornado's own, on the same byte streams.

Each stream is split at random points (hypothesis) and fed to both `WebSocketProtocol13` and
`BatchedProtocol13` over an in-memory stream; both must deliver the same messages, pings, pongs,
close codes and written bytes. The one intended difference is unmasked client frames, which the
batched reader refuses (RFC 6455 5.1) and the stock reader accepts, and the close frame the
batched reader sends before it drops a connection that broke the protocol (1002, or 1007 for text
that is not UTF-8), where the stock reader drops it without a word.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Awaitable
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketProtocol13, _WebSocketParams

from game_server.transport.reader import BatchedProtocol13

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
# Streams that break the protocol, with the close code the batched reader sends where the stock
# reader sends none (None: both behave the same, e.g. 1009 from both).
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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_same_behaviour_as_tornados_reader_for_any_split(
        stream: tuple[bytes, int | None], cuts: list[int]) -> None:
    data, code = stream

    async def both() -> None:
        expected = await run(WebSocketProtocol13, split(data, cuts))
        events, written = await run(BatchedProtocol13, split(data, cuts))
        assert_like_tornado(expected, events, written, code)

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


class ImmediateStream(MemoryStream):
    """Reads that never yield, as IOStream's when its buffer already holds the bytes (a flood)."""

    async def read_bytes(self, n: int, partial: bool = False) -> bytes:
        if not self.chunks:
            raise StreamClosedError()
        return self.chunks.pop(0)


def test_work_is_counted_across_reads_so_a_socket_that_always_has_data_yields() -> None:
    flood = frame(0x1, b'{"type":"ping","id":1}') * 20_000  # 560 KB of small messages
    chunks = split(flood, list(range(4096, len(flood), 4096)))  # one 4 KiB socket read each

    async def check() -> tuple[int, int]:
        handler = Recorder()
        params = _WebSocketParams(max_message_size=MAX, compression_options=None)
        proto = BatchedProtocol13(handler, False, params)  # type: ignore[arg-type]
        proto.stream = ImmediateStream(chunks)  # type: ignore[assignment]
        turns, _ = await loop_turns(proto._receive_frame_loop())
        return turns, sum(1 for e in handler.events if e[0] == "message")

    turns, delivered = asyncio.run(check())
    assert delivered == 20_000
    # 20,000 frames of about 1 KiB of work each: a turn for the loop every 256 KiB of work.
    assert turns >= 60, turns


class Closer(Recorder):
    """A handler that closes the connection (as a session closes a flooder) on its 3rd message."""

    def __init__(self) -> None:
        super().__init__()
        self.proto: BatchedProtocol13 | None = None

    def on_message(self, message: str | bytes) -> None:
        super().on_message(message)
        if len(self.events) == 3:
            assert self.proto is not None
            self.proto.close(1008, "rate limit exceeded")


async def run_closer(chunks: list[bytes]) -> tuple[list, bytes, MemoryStream]:
    handler = Closer()
    params = _WebSocketParams(max_message_size=MAX, compression_options=None)
    proto = BatchedProtocol13(handler, False, params)  # type: ignore[arg-type]
    handler.proto = proto
    stream = MemoryStream(chunks)
    proto.stream = stream  # type: ignore[assignment]
    await proto._receive_frame_loop()
    if proto._waiting is not None:
        IOLoop.current().remove_timeout(proto._waiting)
    return handler.events, bytes(stream.written), stream


def test_after_the_server_closes_nothing_reaches_the_handler_but_the_close_frame() -> None:
    data = (b"".join(frame(0x1, b"m%d" % i) for i in range(6)) + frame(0x9, b"p")
            + frame(0x2, b"x" * 300) + frame(0x8, struct.pack(">H", 1008)))
    for cuts in ([], [7], [40, 41, 42], list(range(0, len(data), 3))):
        events, written, stream = asyncio.run(run_closer(split(data, cuts)))
        assert events == [("message", "m0"), ("message", "m1"), ("message", "m2"),
                          ("closed", 1008, None)], cuts
        assert written == b"\x88\x15" + struct.pack(">H", 1008) + b"rate limit exceeded"
        assert stream.closed()  # the peer's close frame ended the connection
        assert stream.chunks == []  # read to the close frame


def test_a_peer_that_keeps_sending_after_the_close_is_dropped_after_the_drain_limit() -> None:
    flood = b"".join(frame(0x1, b"m%d" % i) for i in range(3)) + frame(0x1, b"y" * 100) * 2000
    chunks = split(flood, list(range(0, len(flood), 4096)))
    events, _, stream = asyncio.run(run_closer(chunks))
    assert events[-1] == ("closed", None, None)
    assert len(events) == 4  # three messages, then nothing but the end
    assert stream.closed()
    left = sum(len(c) for c in stream.chunks)
    assert left > len(flood) - 3 * 70 * 1024  # dropped after about 64 KiB, not read to the end


class Cancelling(Recorder):
    def on_message(self, message: str | bytes) -> None:
        raise asyncio.CancelledError()

    def log_exception(self, *args: Any) -> None:
        self.events.append(("exception", args[0].__name__))


def test_a_handler_that_raises_cancelled_error_is_logged_and_the_socket_dropped() -> None:
    async def check(kind: type[WebSocketProtocol13]) -> tuple[list, bool]:
        handler = Cancelling()
        params = _WebSocketParams(max_message_size=MAX, compression_options=None)
        proto = kind(handler, False, params)  # type: ignore[arg-type]
        stream = MemoryStream([frame(0x1, b"hi") + frame(0x1, b"again")])
        proto.stream = stream  # type: ignore[assignment]
        await proto._receive_frame_loop()
        return handler.events, stream.closed()

    for kind in (WebSocketProtocol13, BatchedProtocol13):
        events, closed = asyncio.run(check(kind))
        assert events == [("exception", "CancelledError"), ("closed", None, None)], kind
        assert closed, kind
