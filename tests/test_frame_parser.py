"""The I/O-free frame parser (transport/frames.py) against Tornado's own reader.

Random streams (tests/ws_streams.py), split at random points (hypothesis): the parser's events
must be what Tornado's `WebSocketProtocol13` hands its handler, and where a stream breaks the
protocol, the parser's close code is Tornado's where Tornado sends one at all (1009), else the
one RFC 6455 asks for, where Tornado drops the socket without a word.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.websocket import WebSocketProtocol13

from game_server.transport.frames import (
    BINARY,
    CLOSE,
    DRAIN_LIMIT,
    ERROR,
    PING,
    PONG,
    TEXT,
    FrameParser,
)
from tests.ws_streams import (
    BROKEN,
    MAX,
    binary,
    close,
    close_code,
    fragmented,
    frame,
    ping,
    pong,
    run,
    split,
    text,
)


def parse(chunks: list[bytes], budget: int | None = None, *,
          lone: bool = False) -> list[tuple[Any, ...]]:
    """Feed `chunks` one by one (with `budget`, resuming while `more`); all the events. With
    `lone`, each chunk is first offered to `lone_text`, as the asyncio wire does."""
    parser = FrameParser(MAX)
    events: list[tuple[Any, ...]] = []
    for chunk in chunks:
        if lone:
            text = parser.lone_text(chunk)
            if text is not None:
                events.append((TEXT, text))
                continue
        if budget is None:
            events += parser.feed(chunk)
            continue
        events += parser.feed(chunk, budget)
        while parser.more:
            events += parser.feed(b"", budget)
    return events


def as_tornado(events: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The parser's events in the vocabulary of tests/ws_streams.py's Recorder."""
    out: list[tuple[Any, ...]] = []
    for event in events:
        kind = event[0]
        if kind in (TEXT, BINARY):
            out.append(("message", event[1]))
        elif kind == PING:
            out.append(("ping", event[1]))
        elif kind == PONG:
            out.append(("pong", event[1]))
        elif kind == CLOSE:
            out.append(("closed", event[1], event[2]))
        else:
            assert kind == ERROR
            out.append(("closed", None, None))  # Tornado drops the connection
    return out


tails = st.one_of(
    st.just((b"", "end", None)),
    close.map(lambda c: (c, "close", None)),
    st.sampled_from(BROKEN).map(lambda b: (b[0], "broken", b[1])),
)
streams = st.tuples(st.lists(st.one_of(text, binary, ping, pong, fragmented), max_size=8),
                    tails)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
       st.sampled_from([None, 1, 2000]), st.booleans())
def test_same_events_as_tornados_reader_for_any_split(
        stream: tuple[list[bytes], tuple[bytes, str, int | None]], cuts: list[int],
        budget: int | None, lone: bool) -> None:
    frames, (tail, kind, code) = stream
    data = b"".join(frames) + tail
    expected, written = asyncio.run(run(WebSocketProtocol13, split(data, cuts)))
    # With `lone`, frame boundaries are among the cuts, so whole frames arrive alone.
    chunks = split(data, cuts) if not lone else [
        piece for whole in frames for piece in split(whole, cuts)] + [tail]
    events = parse(chunks, budget, lone=lone)
    if kind == "end":  # Tornado ends with the stream; the parser just waits for more
        assert expected[-1] == ("closed", None, None)
        expected = expected[:-1]
    assert as_tornado(events) == expected
    if kind == "broken":
        assert events[-1][0] == ERROR
        # Where Tornado sends a close frame (1009), the same code; else the RFC's.
        assert events[-1][1] == (code if code is not None else close_code(written))


def test_every_single_byte_split_of_a_mixed_stream() -> None:
    data = (frame(0x1, b'{"type":"ping","id":1}') + frame(0x9, b"hi")
            + frame(0x1, b"a" * 300) + frame(0x1, b"x", fin=False) + frame(0xA, b"")
            + frame(0x0, b"y") + frame(0x8, struct.pack(">H", 1000)))
    expected = [(TEXT, '{"type":"ping","id":1}'), (PING, b"hi"), (TEXT, "a" * 300),
                (PONG, b""), (TEXT, "xy"), (CLOSE, 1000, None)]
    for cut in range(len(data) + 1):
        assert parse([data[:cut], data[cut:]]) == expected, cut
    assert parse([bytes([b]) for b in data]) == expected


def test_a_lone_frame_is_taken_whole_only_when_it_is_a_plain_small_text() -> None:
    parser = FrameParser(MAX)
    assert parser.lone_text(frame(0x1, b'{"type":"input"}')) == '{"type":"input"}'
    assert parser.lone_text(frame(0x1, b"")) == ""
    assert parser.lone_text(frame(0x1, b"x" * 125)) == "x" * 125
    for other in (frame(0x1, b"x" * 126), frame(0x1, b"x", masked=False),
                  frame(0x1, b"x", fin=False), frame(0x2, b"x"), frame(0x9, b"x"),
                  frame(0x1, b"\xff\xfe"), frame(0x1, b"x", rsv=0x40),
                  frame(0x1, b"ab")[:-1], frame(0x1, b"a") + frame(0x1, b"b"), b""):
        assert parser.lone_text(other) is None, other
    # Not while anything is under way: a partial frame, a fragmented message, after a close.
    parser.feed(frame(0x1, b"ab")[:3])
    assert parser.lone_text(frame(0x1, b"x")) is None
    fragments = FrameParser(MAX)
    fragments.feed(frame(0x1, b"a", fin=False))
    assert fragments.lone_text(frame(0x1, b"x")) is None
    assert fragments.feed(frame(0x1, b"x"))[0][:2] == (ERROR, 1002)
    closed = FrameParser(MAX)
    closed.feed(frame(0x8, struct.pack(">H", 1000)))
    assert closed.lone_text(frame(0x1, b"x")) is None
    small = FrameParser(4)
    assert small.lone_text(frame(0x1, b"12345")) is None
    assert small.feed(frame(0x1, b"12345"))[0][:2] == (ERROR, 1009)


def test_broken_lone_frames_get_their_codes_through_feed() -> None:
    for data, code in BROKEN:
        events = parse([data], lone=True)
        assert events[-1][0] == ERROR
        if code is not None:
            assert events[-1][1] == code


def test_large_frames_use_the_16_and_64_bit_lengths() -> None:
    for size in (126, 65535, 65536, 70000):
        parser = FrameParser(100_000)
        events = []
        chunks = split(frame(0x2, b"z" * size), [3, 9, 500])
        for chunk in chunks:
            events += parser.feed(chunk)
        assert events == [(BINARY, b"z" * size)]
        assert parser.buffered == 0
        expected, _ = asyncio.run(run(WebSocketProtocol13, chunks, max_size=100_000))
        assert as_tornado(events) == expected[:-1]  # Tornado's ends with the stream's end


@pytest.mark.parametrize(("data", "code"), [
    *BROKEN,
    (frame(0x1, b"hi", masked=False), 1002),                  # unmasked
    (frame(0x8, b"\x03"), 1002),                              # one-byte close payload
    (frame(0x8, struct.pack(">H", 1005)), 1002),              # a code only for APIs
    (frame(0x8, struct.pack(">H", 999)), 1002),               # below the range
    (frame(0x8, struct.pack(">H", 5000)), 1002),              # above it
    (frame(0x8, struct.pack(">H", 1000) + b"\xff"), 1007),    # reason not UTF-8
], ids=lambda v: v if isinstance(v, int) else "frame")  # no random masks in the ids
def test_broken_frames_give_the_rfc_close_code_and_end_the_parse(data: bytes,
                                                                  code: int | None) -> None:
    parser = FrameParser(MAX)
    events = parser.feed(frame(0x1, b"before") + data + frame(0x1, b"after"))
    assert events[0] == (TEXT, "before")
    assert events[1][0] == ERROR
    assert events[1][1] == (code or 1009)
    assert len(events) == 2 and parser.done
    assert parser.feed(frame(0x1, b"later")) == []


def test_valid_close_frames_carry_their_code_and_reason() -> None:
    for payload, event in [(b"", (CLOSE, None, None)),
                           (struct.pack(">H", 1000), (CLOSE, 1000, None)),
                           (struct.pack(">H", 4001) + "adiós".encode(), (CLOSE, 4001, "adiós"))]:
        assert FrameParser(MAX).feed(frame(0x8, payload)) == [event]


def test_a_budget_stops_the_parse_and_leaves_the_rest_buffered() -> None:
    parser = FrameParser(MAX)
    data = frame(0x1, b"m") * 10
    first = parser.feed(data, 1)
    assert first == [(TEXT, "m")] and parser.more and parser.buffered == len(data) * 9 // 10
    rest = []
    while parser.more:
        rest += parser.feed(b"", 1)
    assert len(rest) == 9 and parser.buffered == 0


def test_drain_skips_anything_until_the_peers_close_frame() -> None:
    parser = FrameParser(MAX)
    data = (frame(0x1, b"\xff\xfe") + frame(0x2, b"x" * 300) + frame(0x1, b"y", rsv=0x40)
            + frame(0x8, struct.pack(">H", 1000) + b"ok") + frame(0x1, b"after"))
    events = parser.feed(data[:20])
    assert events[0][:2] == (ERROR, 1007)
    found: tuple[Any, ...] | None = None
    for chunk in split(data[20:], [1, 2, 100, 101, 330]):
        event, over = parser.drain(chunk)
        assert not over
        if event is not None:
            found = event
            break
    assert found == (CLOSE, 1000, "ok")


def test_drain_gives_up_after_the_drain_limit() -> None:
    parser = FrameParser(MAX)
    flood = frame(0x1, b"y" * 100)
    over = False
    sent = 0
    while not over:
        _, over = parser.drain(flood)
        sent += len(flood)
    assert DRAIN_LIMIT < sent <= DRAIN_LIMIT + 2 * len(flood)
