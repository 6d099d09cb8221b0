"""The server's one frame encoder (transport/frames.py): byte-exact against RFC 6455 and
Tornado's own framing, for every opcode the server sends."""

from __future__ import annotations

import struct

import pytest

from game_server.transport.frames import BINARY, CLOSE, FIN, PONG, FrameCache, server_frame


def parse(frame: bytes) -> tuple[int, bytes]:
    first, second = frame[0], frame[1]
    assert second & 0x80 == 0, "server frames are never masked"
    n = second & 0x7F
    offset = 2
    if n == 126:
        (n,) = struct.unpack("!H", frame[2:4])
        offset = 4
    elif n == 127:
        (n,) = struct.unpack("!Q", frame[2:10])
        offset = 10
    payload = frame[offset:]
    assert len(payload) == n
    return first, payload


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frames_at_every_length_boundary(size: int) -> None:
    payload = b"x" * size
    first, body = parse(server_frame(payload))
    assert first == 0x81  # FIN + text opcode
    assert body == payload


@pytest.mark.parametrize(("size", "opcode"), [
    *((size, opcode) for opcode in (0x1, BINARY) for size in (0, 125, 126, 65535, 65536)),
    *((size, opcode) for opcode in (CLOSE, 0x9, PONG) for size in (0, 125)),  # control: < 126
])
def test_same_bytes_as_tornado_would_write(size: int, opcode: int) -> None:
    from tornado.websocket import WebSocketProtocol13

    written: list[bytes] = []

    class Stream:
        def write(self, data: bytes) -> None:
            written.append(data)

    proto = WebSocketProtocol13.__new__(WebSocketProtocol13)
    proto.mask_outgoing = False
    proto.stream = Stream()  # type: ignore[assignment]
    proto._frame_compressor = None
    proto._wire_bytes_out = 0
    payload = b"y" * size
    proto._write_frame(True, opcode, payload)
    assert b"".join(written) == server_frame(payload, FIN | opcode)
    if opcode == 0x1:
        assert server_frame(payload) == server_frame(payload, FIN | opcode)  # text by default


def test_the_cache_frames_each_payload_once() -> None:
    cache = FrameCache()
    payload = b'{"type":"state"}'
    first = cache.frame(payload)
    assert cache.frame(payload) is first
    other = bytes(payload)  # equal bytes, another object: framed anew, same content
    assert cache.frame(b'{"type":"pong"}') is not first
    assert cache.frame(other) == first
