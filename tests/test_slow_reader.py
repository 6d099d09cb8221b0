"""Raw-socket clients that complete the handshake, join, and never read again."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import ssl
import struct
import time
from pathlib import Path

import orjson
import pytest
from tornado.websocket import WebSocketProtocol13

from bench.sampling import proc_rss
from client.bots import run_bots
from game_server.app import ArenaServer
from game_server.storage.passwords import PasswordHasher
from game_server.transport.handoff import HandoffProtocol13
from tests.conftest import Browserless, make_config, recv_until, running, tls_listener
from tests.flooder import upgrade

# Measures rates, timing or memory: runs alone, after the parallel part of `make test`.
pytestmark = pytest.mark.serial


def masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes((0x81, 0x80 | len(payload))) + mask + body


async def open_raw_socket(port: int, cookie: str) -> socket.socket:
    """Handshake by hand on a socket with a tiny receive buffer, then join; never read again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n")
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    await loop.sock_sendall(sock, masked_text_frame(b'{"type":"join","mode":"arena"}'))
    return sock


async def test_a_slow_reader_is_bounded_and_closed_and_others_keep_their_rate(
    tmp_path: Path, caplog
) -> None:
    caplog.set_level("INFO", logger="arena.room")
    # Lag is time behind: long enough here for the backlog to pass 4 KiB (and states to be
    # skipped) before the sloth is closed, even while the bots are still arriving.
    config = make_config(tmp_path, max_backlog_bytes=4 * 1024, max_lag_seconds=3.0)
    srv = ArenaServer(config, passwords=PasswordHasher(n=2**10))
    await srv.start()
    slow_client, good = Browserless(srv.url), Browserless(srv.url)
    sock = None
    try:
        await slow_client.guest("sloth")
        sock = await open_raw_socket(srv.port, slow_client.cookie_header())
        await good.guest("quick")
        ws = await good.ws()
        ws.write_message(orjson.dumps({"type": "join", "mode": "arena"}).decode())
        await recv_until(ws, "joined")
        slow_handler = next(h for h in srv.sockets if h.current_user.name == "sloth")
        # Shrink the kernel's send buffer too, so the backlog reaches user space quickly.
        proto = slow_handler.ws_connection
        raw = proto.sock if isinstance(proto, HandoffProtocol13) else proto.stream.socket
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        connection = slow_handler.session.connection
        # Bots make the states big enough to fill the sloth's buffers within seconds.
        stop_bots = asyncio.Event()
        bots = asyncio.create_task(
            run_bots(srv.url, bots=10, duration=30.0, seed=5, stop=stop_bots))

        ticks: list[int] = []
        peak = 0
        async with asyncio.timeout(30):
            while slow_handler in set(srv.sockets):
                state = await recv_until(ws, "state")
                ticks.append(state["tick"])
                peak = max(peak, connection.backlog())
        # The server never buffered more than its hard limit (plus one frame) for the sloth,
        # counting its kernel's send queue too.
        assert peak <= config.max_backlog_bytes * 4 + 16 * 1024
        assert srv.matchmaker.rooms()[0].stats.states_skipped > 0
        # The other player got every tick while the sloth was lagging.
        assert len(ticks) > 20
        # Every state, in order: a tick number is missing only where the room itself caught
        # up (several steps in one tick, on a loaded machine), never for the sloth.
        assert ticks == sorted(set(ticks))
        caught_up = srv.matchmaker.rooms()[0].stats.catchup_steps
        assert ticks[-1] - ticks[0] + 1 - len(ticks) <= caught_up
        # The server closed it (4002, then dropped the TCP connection since a client that does
        # not read cannot receive the close frame): reading now drains to end-of-stream.
        assert "not reading" in caplog.text
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(10):
            while await loop.sock_recv(sock, 65536):
                pass
        stop_bots.set()
        bots_report = await bots
        assert bots_report.joined == 10
    finally:
        if sock is not None:
            sock.close()
        await slow_client.aclose()
        await good.aclose()
        await srv.stop()


def open_raw_tls_socket(port: int, cookie: str) -> ssl.SSLSocket:
    """`open_raw_socket` over TLS, blocking (call it in a thread): a socket that reads only
    when told to, so that nothing drains the kernel's buffer behind the test's back."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", port))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
    sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
    upgrade(sock, port, cookie)
    sock.sendall(masked_text_frame(b'{"type":"join","mode":"arena"}'))
    return sock


async def test_frames_queued_for_a_slow_reader_carry_no_write_future_and_arrive_in_order(
    tmp_path: Path,
) -> None:
    # Tornado's data path, which TLS sockets keep: its IOStream makes a Future per write call
    # (the asyncio protocol's transport makes none at all).
    config = make_config(tmp_path, max_lag_seconds=60.0)
    srv = ArenaServer(config, passwords=PasswordHasher(n=2**10))
    await srv.start()
    sloth = Browserless(srv.url)
    sock = None
    try:
        await sloth.guest("sloth")
        async with tls_listener(srv, tmp_path) as url:
            port = int(url.rsplit(":", 1)[1])
            sock = await asyncio.to_thread(open_raw_tls_socket, port, sloth.cookie_header())
            await queue_frames_for_a_slow_reader(srv, sock)
    finally:
        if sock is not None:
            sock.close()
        await sloth.aclose()
        await srv.stop()


async def queue_frames_for_a_slow_reader(srv: ArenaServer, sock: ssl.SSLSocket) -> None:
    """Queue 150 frames for `sock`'s player, which reads nothing meanwhile; then read them."""
    seen = b""
    async with asyncio.timeout(5):
        while b'"joined"' not in seen:  # the join was handled: the session has its room
            seen += await asyncio.to_thread(sock.recv, 65536)
    handler = next(iter(srv.sockets))
    assert type(handler.ws_connection) is WebSocketProtocol13  # Tornado's own, under TLS
    stream = handler.ws_connection.stream
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    connection = handler.session.connection
    srv.matchmaker.rooms()[0].close()  # no states in between: only what the test sends
    sent = [b'{"type":"n","n":%d,"pad":"%s"}' % (i, b"x" * 900) for i in range(150)]
    for payload in sent:
        connection.send(payload)
    # Most of it waits in the stream (the kernels took a few KiB), and only the frame that
    # first found the kernel full went through IOStream.write, which makes a Future (and a
    # callback) per call, bigger than a state frame: the others were queued behind it.
    assert len(stream._write_buffer) > 100_000
    assert len(stream._write_futures) <= 1
    data = b""
    async with asyncio.timeout(10):
        while data.count(b'"type":"n"') < len(sent) or not data.endswith(b'"}'):
            data += await asyncio.to_thread(sock.recv, 65536)
    payloads = []
    pos = data.index(sent[0]) - 4  # frames of 126..65535 bytes: a 4-byte header
    while pos < len(data):
        assert data[pos] == 0x81 and data[pos + 1] == 126
        length = struct.unpack_from("!H", data, pos + 2)[0]
        payloads.append(data[pos + 4 : pos + 4 + length])
        pos += 4 + length
    assert payloads == sent


async def read_close_code(sock: socket.socket, within: float) -> int | None:
    """Read server frames until a close frame (its code) or end of stream / `within` (None)."""
    loop = asyncio.get_running_loop()
    data = b""
    pos = 0
    try:
        async with asyncio.timeout(within):
            while True:
                while len(data) - pos >= 2:  # every complete frame buffered so far
                    opcode, length, head = data[pos] & 0x0F, data[pos + 1] & 0x7F, 2
                    if length == 126:
                        if len(data) - pos < 4:
                            break
                        length, head = struct.unpack_from("!H", data, pos + 2)[0], 4
                    elif length == 127:
                        if len(data) - pos < 10:
                            break
                        length, head = struct.unpack_from("!Q", data, pos + 2)[0], 10
                    if len(data) - pos < head + length:
                        break
                    if opcode == 0x8:
                        return int(struct.unpack_from("!H", data, pos + head)[0])
                    pos += head + length
                chunk = await loop.sock_recv(sock, 65536)
                if not chunk:
                    return None
                data += chunk
    except (TimeoutError, ConnectionError):
        return None


async def read_to_the_end(sock: socket.socket) -> None:
    """Read until the peer closes the TCP connection (FIN or reset)."""
    loop = asyncio.get_running_loop()
    try:
        while await loop.sock_recv(sock, 65536):
            pass
    except ConnectionError:
        pass


async def test_sixty_readers_that_never_read_are_closed_with_4002_in_time_and_rss_stays_flat(
    tmp_path: Path,
) -> None:
    """Issue 14: 60 sockets from one address join, send inputs, never read. Each is closed with
    4002 within max-lag + 1 s of joining (its tiny receive buffer is full at once), and the
    server's RSS (a real process, from /proc) stays flat in the second half of the window."""
    max_lag, count = 2.0, 60
    window = 3 * max_lag
    async with running(tmp_path, "--max-connections-per-ip", "100",
                       "--max-lag-seconds", str(max_lag)) as (proc, url):
        assert proc.stderr is not None
        log_lines: list[bytes] = []

        async def keep_log() -> None:  # the pipe must not fill up and block the server
            while line := await proc.stderr.readline():  # type: ignore[union-attr]
                log_lines.append(line)

        logger = asyncio.create_task(keep_log())
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        cookies = []
        for i in range(count):
            guest = Browserless(url)
            await guest.guest(f"sloth{i}")
            cookies.append(guest.cookie_header())
            await guest.aclose()
        socks: list[socket.socket] = []
        joined: list[float] = []
        try:
            for cookie in cookies:
                socks.append(await open_raw_socket(port, cookie))
                joined.append(time.monotonic())
            start = joined[0]
            rss: list[tuple[float, int]] = []
            stop = asyncio.Event()

            async def send_inputs_and_sample() -> None:
                seq = 0
                while not stop.is_set():
                    seq += 1
                    frame = masked_text_frame(
                        b'{"type":"input","seq":%d,"dx":0.6,"dy":-0.8}' % seq)
                    for sock in socks:
                        try:
                            sock.send(frame)
                        except OSError:  # full, or reset after the server closed it
                            pass
                    sample = proc_rss(proc.pid)
                    assert sample is not None
                    rss.append((time.monotonic() - start, sample))
                    await asyncio.sleep(0.1)

            async def close_code_at_deadline(sock: socket.socket, at: float) -> int | None:
                # Not a byte is read before max-lag + 1 s: by then the close frame must be
                # queued behind the states the client never took.
                await asyncio.sleep(at + max_lag + 1.0 - time.monotonic())
                return await read_close_code(sock, within=1.0)

            background = asyncio.create_task(send_inputs_and_sample())
            codes = await asyncio.gather(
                *(close_code_at_deadline(s, t) for s, t in zip(socks, joined, strict=True)))
            await asyncio.sleep(start + window - time.monotonic())
            stop.set()
            await background
            assert codes == [4002] * count, codes
            half = [mib for t, mib in rss if t >= window / 2]
            assert len(half) > 10
            growth = (max(half) - half[0]) / 2**20
            assert growth < 3.0, f"RSS grew {growth:.1f} MiB in the second half: {rss}"
            # The TCP connections are gone too: the server gives a client that never answers
            # the close handshake a few seconds, then aborts.
            async with asyncio.timeout(8):
                await asyncio.gather(*(read_to_the_end(sock) for sock in socks))
        finally:
            for sock in socks:
                sock.close()
            logger.cancel()
        assert any(b"not reading" in line for line in log_lines)
