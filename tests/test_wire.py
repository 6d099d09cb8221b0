"""Broken and dead peers at the WebSocket wire level, with raw sockets against a real server."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import orjson

from game_server.app import ArenaServer
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config, recv_until
from tests.test_slow_reader import open_raw_socket


def masked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes(((0x80 if fin else 0) | opcode, 0x80 | len(payload))) + mask + body


async def drain_until_closed(sock: socket.socket, within: float = 10.0) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    async with asyncio.timeout(within):
        while chunk := await loop.sock_recv(sock, 65536):
            data += chunk
    return data


async def start(tmp_path: Path, **overrides) -> ArenaServer:  # noqa: ANN003
    srv = ArenaServer(make_config(tmp_path, **overrides), passwords=PasswordHasher(n=2**10))
    await srv.start()
    return srv


async def test_a_dead_peer_that_never_answers_pings_is_reaped(tmp_path: Path) -> None:
    srv = await start(tmp_path, ws_ping_interval=0.3, ws_ping_timeout=0.3)
    c = Browserless(srv.url)
    try:
        await c.guest("ghost")
        sock = await open_raw_socket(srv.port, c.cookie_header())  # reads, never pongs
        data = await drain_until_closed(sock)
        assert b"\x89" in data  # the server pinged it first
        sock.close()
        assert len(srv.sockets) == 0
    finally:
        await c.aclose()
        await srv.stop()


async def test_non_utf8_text_and_protocol_violations_close_only_that_socket(
    server, client_factory
) -> None:
    healthy: Browserless = client_factory()
    await healthy.guest("healthy")
    ws = await healthy.ws()
    ws.write_message(orjson.dumps({"type": "join", "mode": "arena"}).decode())
    await recv_until(ws, "joined")
    bad_frames = [
        masked(0x1, b"\xff\xfe\xfd"),                       # text that is not UTF-8
        bytes((0x81, 0x03)) + b"abc",                       # a client frame without a mask
        masked(0x3, b"??"),                                 # a reserved opcode
        masked(0x9, b"p" * 10, fin=False),                  # a fragmented control frame
    ]
    for i, frame in enumerate(bad_frames):
        c: Browserless = client_factory()
        await c.guest(f"broken{i}")
        sock = await open_raw_socket(server.port, c.cookie_header())
        await asyncio.get_running_loop().sock_sendall(sock, frame)
        await drain_until_closed(sock)
        sock.close()
    # the healthy player never noticed
    ws.write_message(orjson.dumps({"type": "ping", "id": "ok"}).decode())
    assert (await recv_until(ws, "pong"))["id"] == "ok"
    await recv_until(ws, "state")


async def test_fragmented_messages_with_interleaved_pings_are_reassembled(server,
                                                                       client_factory) -> None:
    c: Browserless = client_factory()
    await c.guest("pieces")
    sock = await open_raw_socket(server.port, c.cookie_header())
    loop = asyncio.get_running_loop()
    msg = b'{"type":"ping","id":"whole"}'
    await loop.sock_sendall(sock, masked(0x1, msg[:10], fin=False) + masked(0x9, b"hi")
                            + masked(0x0, msg[10:20], fin=False) + masked(0x0, msg[20:]))
    data = b""
    async with asyncio.timeout(5):
        while b'"id":"whole"' not in data:
            data += await loop.sock_recv(sock, 65536)
    assert b"\x8a\x02hi" in data  # the ping in between was answered with a pong
    sock.close()
