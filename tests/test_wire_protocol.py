"""The asyncio WebSocket protocol (transport/wire.py) against Tornado's own, over a fake transport.

Random streams (tests/ws_streams.py), split at random points: `WebSocketWire` must hand its
handler what Tornado's `WebSocketProtocol13` hands it, and write the same bytes (pongs, the echo
of a close frame), except for the close frame with the RFC's code before it drops a connection
that broke the protocol, where Tornado drops it without a word, and unmasked client frames, which
it refuses (RFC 6455 5.1) where Tornado accepts them. Then its own rules: text to the handler's
`on_text_message`, a flood parsed a turn's work at a time with reading paused, nothing reaches
the handler after the server's close frame, a peer that keeps sending is dropped, pings and their
timeout, a callback that raises (even `CancelledError`) logged and the socket dropped.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.websocket import WebSocketProtocol13

from game_server.transport.wire import WebSocketWire
from tests.ws_streams import (
    MAX,
    Recorder,
    assert_like_tornado,
    frame,
    loop_turns,
    run,
    split,
    streams,
)


class FakeTransport(asyncio.Transport):
    """Records writes; closing it ends the connection on the loop's next turn."""

    def __init__(self, wire: WebSocketWire) -> None:
        super().__init__()
        self.wire = wire
        self.written = bytearray()
        self.closing = False
        self.aborted = False
        self.paused = False
        self.pauses = 0
        self.changed = asyncio.Event()  # set at every write, close and resume

    async def until(self, condition: Any) -> None:
        while not condition():
            self.changed.clear()
            await self.changed.wait()

    def write(self, data: bytes) -> None:  # type: ignore[override]
        assert not self.closing, "a write after close"
        self.written += data
        self.changed.set()

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self.changed.set()
            asyncio.get_running_loop().call_soon(self.wire.connection_lost, None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False
        self.changed.set()

    def get_write_buffer_size(self) -> int:
        return 0


async def drive(handler: Any, chunks: list[bytes], *, max_size: int = MAX, **wire_args: Any
                ) -> tuple[list[tuple[Any, ...]], bytes, FakeTransport]:
    """Feed `chunks` as the loop would (not while reading is paused); the peer then hangs up."""
    wire = WebSocketWire(handler, max_message_size=max_size, **wire_args)
    transport = FakeTransport(wire)
    wire.connection_made(transport)
    handler.wire = wire
    def readable() -> bool:
        return not transport.paused or transport.closing

    for chunk in [c for c in chunks if c]:
        await transport.until(readable)
        if transport.closing:
            break
        wire.data_received(chunk)
        await asyncio.sleep(0)
    await transport.until(readable)
    transport.close()  # the end of the stream, if nothing ended it before
    await wire.closed
    handler.events.append(("closed", wire.close_code, wire.close_reason))
    return handler.events, bytes(transport.written), transport


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_same_behaviour_as_tornados_protocol_for_any_split(
        stream: tuple[bytes, int | None], cuts: list[int]) -> None:
    data, code = stream

    async def both() -> None:
        expected = await run(WebSocketProtocol13, split(data, cuts))
        events, written, _ = await drive(Recorder(), split(data, cuts))
        assert_like_tornado(expected, events, written, code)

    asyncio.run(both())


def test_a_flood_is_parsed_a_turn_at_a_time_with_reading_paused() -> None:
    flood = frame(0x1, b'{"type":"ping","id":1}') * 20_000  # 560 KB of small messages

    async def check() -> tuple[int, int, int]:
        turns, (events, _, transport) = await loop_turns(drive(Recorder(), [flood]))
        return turns, sum(1 for e in events if e[0] == "message"), transport.pauses

    turns, delivered, pauses = asyncio.run(check())
    assert delivered == 20_000
    assert pauses >= 1
    assert turns >= 60, turns  # a turn for the loop every 256 KiB of work


class Closer(Recorder):
    """Closes the connection (as a session closes a flooder) on its 3rd message."""

    wire: WebSocketWire

    def on_message(self, message: str | bytes) -> None:
        super().on_message(message)
        if len(self.events) == 3:
            self.wire.close(1008, "rate limit exceeded")


def test_after_the_server_closes_nothing_reaches_the_handler_but_the_close_frame() -> None:
    data = (b"".join(frame(0x1, b"m%d" % i) for i in range(6)) + frame(0x9, b"p")
            + frame(0x2, b"x" * 300) + frame(0x8, struct.pack(">H", 1008)))
    for cuts in ([], [7], [40, 41, 42], list(range(0, len(data), 3))):
        events, written, transport = asyncio.run(drive(Closer(), split(data, cuts)))
        assert events == [("message", "m0"), ("message", "m1"), ("message", "m2"),
                          ("closed", 1008, None)], cuts
        assert written == b"\x88\x15" + struct.pack(">H", 1008) + b"rate limit exceeded"
        assert not transport.aborted  # the peer's close frame ended it cleanly


def test_a_peer_that_keeps_sending_after_the_close_is_dropped_after_the_drain_limit() -> None:
    flood = b"".join(frame(0x1, b"m%d" % i) for i in range(3)) + frame(0x1, b"y" * 100) * 2000
    chunks = split(flood, list(range(0, len(flood), 4096)))
    events, _, transport = asyncio.run(drive(Closer(), chunks))
    assert events[-1] == ("closed", None, None)
    assert len(events) == 4
    assert transport.aborted


class PongingTransport(FakeTransport):
    """A peer that answers every ping at once."""

    def write(self, data: bytes) -> None:  # type: ignore[override]
        super().write(data)
        if data == b"\x89\x00":
            asyncio.get_running_loop().call_soon(self.wire.data_received, frame(0xA, b""))


def test_pings_are_sent_and_a_silent_peer_is_closed_after_the_timeout() -> None:
    async def check(kind: type[FakeTransport]) -> bytes:
        wire = WebSocketWire(Recorder(), max_message_size=MAX, ping_interval=0.005,
                             ping_timeout=0.005, close_timeout=0.01)
        transport = kind(wire)
        wire.connection_made(transport)
        async with asyncio.timeout(10):
            await transport.until(
                lambda: transport.written.count(b"\x89\x00") >= 4 or transport.closing)
        transport.close()
        await wire.closed
        return bytes(transport.written)

    assert asyncio.run(check(PongingTransport)) == b"\x89\x00" * 4  # kept alive
    # No pong: the first ping's timeout closes the connection, as Tornado's keep-alive does.
    assert asyncio.run(check(FakeTransport)) == (
        b"\x89\x00" + b"\x88\x10" + struct.pack(">H", 1000) + b"ping timed out")


def test_frames_written_before_the_transport_exists_go_first() -> None:
    async def check() -> bytes:
        wire = WebSocketWire(Recorder(), max_message_size=MAX)
        wire.write(b"\x81\x02hi")
        wire.early_input = frame(0x9, b"x")
        transport = FakeTransport(wire)
        wire.connection_made(transport)
        transport.close()
        await wire.closed
        return bytes(transport.written)

    assert asyncio.run(check()) == b"\x81\x02hi" + b"\x8a\x01x"


class Sleeper(Recorder):
    """A coroutine `on_message` that sleeps: it records whether another one was running."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0

    def on_message(self, message: str | bytes) -> Any:
        async def handle() -> None:
            self.running += 1
            overlapped = self.running > 1
            await asyncio.sleep(0.001)
            self.running -= 1
            self.events.append(("message", message, overlapped))

        return handle()


def test_coroutine_callbacks_run_one_at_a_time_in_order() -> None:
    data = b"".join(frame(0x1, b"m%d" % i) for i in range(5))
    events, _, _ = asyncio.run(drive(Sleeper(), split(data, [9, 30])))
    assert events == [("message", f"m{i}", False) for i in range(5)] + [("closed", None, None)]


def test_unmasked_client_frames_are_refused_with_1002() -> None:
    events, written, transport = asyncio.run(drive(Recorder(), [frame(0x1, b"hi", masked=False)]))
    assert ("message", "hi") not in events
    assert written.startswith(b"\x88") and written[2:4] == struct.pack(">H", 1002)


class TextRecorder(Recorder):
    """A handler with the text fast path: text messages arrive through `on_text_message`."""

    def __init__(self) -> None:
        super().__init__()
        self.on_text_message = lambda text: self.events.append(("text", text))


def test_text_messages_go_to_on_text_message_and_binary_to_on_message() -> None:
    data = (frame(0x1, b'{"type":"input"}') + frame(0x2, b"\x00bin") + frame(0x9, b"hi")
            + frame(0x1, b"x", fin=False) + frame(0x0, b"y") + frame(0x8, struct.pack(">H", 1000)))
    for chunks in ([data], split(data, [5, 17]), split(data, [22, 29])):  # the last: lone frames
        events, _, _ = asyncio.run(drive(TextRecorder(), chunks))
        assert events == [("text", '{"type":"input"}'), ("message", b"\x00bin"), ("ping", b"hi"),
                          ("text", "xy"), ("closed", 1000, None)], chunks


class Cancelling(Recorder):
    def on_message(self, message: str | bytes) -> None:
        raise asyncio.CancelledError()

    def log_exception(self, *args: Any) -> None:
        self.events.append(("exception", args[0].__name__))


def test_a_handler_that_raises_cancelled_error_is_logged_and_the_socket_dropped() -> None:
    data = frame(0x1, b"hi") + frame(0x1, b"again")
    expected, _ = asyncio.run(run(WebSocketProtocol13, [data], handler=Cancelling()))
    assert expected == [("exception", "CancelledError"), ("closed", None, None)]  # Tornado's
    for chunks in ([data], split(data, [8])):  # parsed together, or each frame alone
        events, written, transport = asyncio.run(drive(Cancelling(), chunks))
        assert events == expected
        assert transport.aborted and written == b""
