"""Floods and broken frames on real sockets: the event loop keeps its turns, the sender is cut off.

The flooder runs in its own process (tests/flooder.py) so that only the server's loop is on this
test's loop; a timer on that loop measures how late its callbacks ran while the flood lasted.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import struct
import sys
import time

import orjson
import pytest

from bench.wsframes import OP_CLOSE, OP_TEXT, client_frame
from tests.conftest import REPO

MAX_GAP = 0.050  # the longest the server's loop may go without a turn during a flood
FLOOD_SECONDS = 6.0


class GapMonitor:
    """Schedules a callback every `interval` on the running loop and keeps the longest gaps.

    `worst` is the wall-clock lateness; `worst_busy` the CPU time this thread spent between two
    turns, which is what a stalled loop burns. On a shared machine the process may also wait
    for a core, which makes the wall-clock gap long without any work being done, so the test
    holds the loop to its busy gap.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.worst = 0.0
        self.worst_busy = 0.0
        self._loop = asyncio.get_running_loop()
        self._due = time.monotonic() + interval
        self._cpu = time.thread_time()
        self._handle = self._loop.call_later(interval, self._tick)

    def _tick(self) -> None:
        now, cpu = time.monotonic(), time.thread_time()
        self.worst = max(self.worst, now - self._due)
        self.worst_busy = max(self.worst_busy, cpu - self._cpu)
        self._due, self._cpu = now + self.interval, cpu
        self._handle = self._loop.call_later(self.interval, self._tick)

    def stop(self) -> None:
        self._handle.cancel()


@pytest.mark.parametrize("kind", ["message", "control"])
async def test_a_flooder_neither_stalls_the_loop_nor_stays_connected(
        server, client_factory, kind: str) -> None:
    flooder = client_factory()
    await flooder.guest("flood")
    # A full garbage collection of everything earlier tests left in this process would be a
    # long turn of its own, and not the reader's: collect now, pause the collector meanwhile.
    gc.collect()
    gc.disable()
    monitor = GapMonitor()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.flooder", str(server.port), flooder.cookie_header(),
        str(FLOOD_SECONDS), kind, cwd=REPO, stdout=asyncio.subprocess.PIPE)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), FLOOD_SECONDS + 30)
    finally:
        monitor.stop()
        gc.enable()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, out
    result = orjson.loads(out.splitlines()[-1])
    assert result["sent"] > 1000, result  # it did flood
    assert monitor.worst_busy < MAX_GAP, (
        f"the server's loop worked {monitor.worst_busy * 1000:.0f} ms without giving a turn "
        f"(late by {monitor.worst * 1000:.0f} ms; {result})")
    assert result["closed_after"] is not None, f"the flooder was never disconnected: {result}"


async def handshake_raw(port: int, cookie: str
                        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket handshake by hand, so that any bytes at all can follow it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def read_close_code(reader: asyncio.StreamReader) -> int | None:
    """Read server frames until a close frame; its code (None if the socket ended first)."""
    while True:
        try:
            head = await reader.readexactly(2)
        except asyncio.IncompleteReadError:
            return None
        n = head[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(n)
        if head[0] & 0x0F == OP_CLOSE:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def bad(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0,
        masked: bool = True) -> bytes:
    mask = b"\x01\x02\x03\x04"
    framed = bytearray(client_frame(payload, mask, opcode))
    framed[0] = (0x80 if fin else 0) | rsv | opcode
    if not masked:
        framed[1] &= 0x7F
        del framed[2:6]
        framed[2:] = payload
    return bytes(framed)


@pytest.mark.parametrize(("frames", "code"), [
    (bad(OP_TEXT, b"r", rsv=0x40), 1002),                         # reserved bit
    (bad(0x9, b"p" * 126), 1002),                                 # control frame too long
    (bad(0x9, b"p", fin=False), 1002),                            # fragmented ping
    (bad(0x0, b"orphan"), 1002),                                  # continuation of nothing
    (bad(0x3, b"?"), 1002),                                       # reserved opcode
    (bad(OP_TEXT, b"a", fin=False) + bad(OP_TEXT, b"b"), 1002),   # message inside a message
    (bad(OP_TEXT, b"hi", masked=False), 1002),                    # unmasked
    (bad(OP_TEXT, b"\xff\xfe"), 1007),                            # not UTF-8
], ids=["rsv", "long-control", "fragmented-ping", "orphan", "opcode-3", "interleaved",
        "unmasked", "utf8"])
async def test_a_broken_frame_gets_the_rfc_close_code_then_the_socket_ends(
        server, client_factory, frames: bytes, code: int) -> None:
    c = client_factory()
    await c.guest("broken")
    reader, writer = await handshake_raw(server.port, c.cookie_header())
    try:
        writer.write(frames + client_frame(b'{"type":"ping","id":9}', b"abcd", OP_TEXT))
        assert await asyncio.wait_for(read_close_code(reader), 5) == code
        # Answering the close completes the handshake: the server ends the socket at once.
        writer.write(client_frame(struct.pack("!H", code), b"wxyz", OP_CLOSE))
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()
