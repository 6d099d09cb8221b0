"""A raw-socket client that completes the handshake, joins, and never reads again."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from pathlib import Path

import orjson

from client.bots import run_bots
from game_server.app import ArenaServer
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config, recv_until


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
    config = make_config(tmp_path, max_backlog_bytes=4 * 1024, max_lag_seconds=1.0)
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
        slow_handler.ws_connection.stream.socket.setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
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
        # The server never buffered more than its hard limit (plus one frame) for the sloth.
        assert peak <= config.max_backlog_bytes * 4 + 16 * 1024
        assert srv.matchmaker.rooms()[0].stats.states_skipped > 0
        # The other player got every tick while the sloth was lagging.
        assert len(ticks) > 20
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))
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
