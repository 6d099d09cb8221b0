"""A plain TCP game socket leaves Tornado after the handshake, and nothing leaks.

Real server, real sockets, on asyncio's own event loop and on uvloop's (the server's default;
each has its own `connect_accepted_socket`): the handler's protocol and connection are the
handed-over kind, the IOStream is closed while the connection lives on, descriptors come back to
where they were once the sockets close, and a frame the client sent together with its handshake
is not lost. A TLS socket stays on Tornado's own reader and stream. And the real
`python -m game_server` (uvloop): players play, SIGTERM closes them with 1001.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import struct
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest
import uvloop
from tornado.websocket import WebSocketClientConnection, WebSocketProtocol13

from bench.wsframes import OP_TEXT, client_frame
from game_server.app import ArenaServer
from game_server.storage.passwords import PasswordHasher
from game_server.transport.handoff import HandoffProtocol13, WireConnection
from game_server.transport.ws import GameSocket, SocketConnection
from tests.conftest import Browserless, make_config, recv_until, running, tls_listener
from tests.test_flood import read_close_code
from tests.test_presence import until

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
Body = Callable[[ArenaServer, Browserless], Awaitable[None]]


@pytest.fixture(params=list(LOOPS))
def on_loop(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Body], None]:
    """Run a test body against a fresh server, on that event loop."""

    def run(body: Body) -> None:
        async def main() -> None:
            srv = ArenaServer(make_config(tmp_path), passwords=PasswordHasher(n=2**10))
            await srv.start()
            c = Browserless(srv.url)
            try:
                await c.guest("handed")
                await body(srv, c)
            finally:
                await c.aclose()
                await srv.stop()

        with asyncio.Runner(loop_factory=LOOPS[request.param]) as runner:
            runner.run(main())

    return run


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def client_closed(ws: WebSocketClientConnection) -> bool:
    stream = getattr(ws.protocol, "stream", None)
    return stream is None or stream.closed()


def only_socket(server: ArenaServer) -> GameSocket:
    (handler,) = list(server.services.sockets)
    return handler


def test_the_socket_leaves_tornado_and_descriptors_come_back(on_loop) -> None:
    async def body(server: ArenaServer, c: Browserless) -> None:
        before = 0
        for turn in range(4):
            ws = await c.ws()
            ws.write_message('{"type":"ping","id":1}')
            assert (await recv_until(ws, "pong"))["id"] == 1
            handler = only_socket(server)
            proto = handler.ws_connection
            assert isinstance(proto, HandoffProtocol13)
            assert isinstance(handler.session.connection, WireConnection)  # type: ignore[union-attr]
            assert proto.stream.closed() and proto.stream.socket is None  # type: ignore[union-attr]
            assert proto.sock is not None and proto.sock.fileno() >= 0  # the duplicate, open
            ws.close()
            async with asyncio.timeout(5):
                while await ws.read_message() is not None:
                    pass
            await until(lambda: not len(server.services.sockets), what="the server's on_close")
            assert proto.sock.fileno() == -1  # the transport closed it, once
            await until(partial(client_closed, ws), what="the client's socket closed")
            if turn == 0:
                # The baseline: after one socket, since libuv reserves a descriptor (/dev/null,
                # for running out of them) when a loop's first stream opens.
                before = open_fds()
        c.sockets.clear()
        await until(lambda: open_fds() <= before, what="every descriptor closed")

    on_loop(body)


def test_a_tls_socket_stays_on_tornados_reader_and_stream(on_loop, tmp_path: Path) -> None:
    async def body(server: ArenaServer, c: Browserless) -> None:
        async with tls_listener(server, tmp_path) as url:
            player = Browserless(url, validate_cert=False)
            try:
                await player.guest("over tls")
                ws = await player.ws()
                ws.write_message('{"type":"ping","id":2}')
                assert (await recv_until(ws, "pong"))["id"] == 2
                handler = only_socket(server)
                assert type(handler.ws_connection) is WebSocketProtocol13
                assert isinstance(handler.session.connection,  # type: ignore[union-attr]
                                  SocketConnection)
                ws.write_message('{"type":"join","mode":"arena"}')
                await recv_until(ws, "joined")
                assert (await recv_until(ws, "state"))["tick"] >= 0
            finally:
                await player.aclose()

    on_loop(body)


def test_a_frame_sent_with_the_handshake_is_not_lost(on_loop) -> None:
    async def body(server: ArenaServer, c: Browserless) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\nCookie: {c.cookie_header()}\r\n\r\n").encode()
        try:
            # One write: the frame reaches Tornado's read buffer with the request.
            writer.write(request + client_frame(b'{"type":"ping","id":7}', b"abcd", OP_TEXT))
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101"), head
            async with asyncio.timeout(5):
                while True:
                    first = await reader.readexactly(2)
                    payload = await reader.readexactly(first[1] & 0x7F)
                    if b'"pong"' in payload:
                        break
            assert b'"id":7' in payload
            writer.write(client_frame(struct.pack("!H", 1000), b"wxyz", 0x8))
            assert await asyncio.wait_for(read_close_code(reader), 5) == 1000
        finally:
            writer.close()

    on_loop(body)


async def test_the_real_server_on_uvloop_plays_and_sigterm_closes_every_socket_with_1001(
        tmp_path: Path) -> None:
    async with running(tmp_path / "data") as (proc, url):
        players = [Browserless(url), Browserless(url)]
        try:
            sockets = []
            for i, c in enumerate(players):
                await c.guest(f"p{i}")
                ws = await c.ws()
                ws.write_message('{"type":"join","mode":"arena"}')
                await recv_until(ws, "joined")
                sockets.append(ws)
            for ws in sockets:
                assert (await recv_until(ws, "state"))["tick"] >= 0
            proc.send_signal(signal.SIGTERM)
            for ws in sockets:
                async with asyncio.timeout(20):
                    while await ws.read_message() is not None:
                        pass
                assert ws.close_code == 1001
            async with asyncio.timeout(20):
                assert await proc.wait() == 0
        finally:
            for c in players:
                await c.aclose()
