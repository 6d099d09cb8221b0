"""One simulated player of the load generator (`bench.loadgen`): a raw WebSocket on `/ws` with
the session cookie and no Origin, `join`, then `input` 10 times a second and `ping` once a second
at random phases, while counting states and timing pongs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import os
import random
import socket
import struct
import time
from typing import TYPE_CHECKING

import orjson

from bench.loadgen_login import (
    SESSION_COOKIE,
    PlayerFailed,
    response_header,
    response_status,
    source_address,
)
from bench.wsframes import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WS_GUID,
    FrameParser,
    ProtocolError,
    client_frame,
    close_code,
)

if TYPE_CHECKING:
    from bench.loadgen import LoadRun

INPUT_HZ = 10
PING_INTERVAL = 1.0
TURN_EVERY = (INPUT_HZ - 2, INPUT_HZ + 2)  # inputs between new directions: about a second
PONG_DEADLINE = 5.0  # a ping older than this at the end is reported as `pong missing`
JOIN_TIMEOUT = 20.0  # seconds from the TCP connect to `joined`


class Player(asyncio.Protocol):
    """One simulated player's WebSocket: handshake, join, then inputs, pings and reading."""

    def __init__(self, run: LoadRun, index: int) -> None:
        self.run = run
        self.index = index
        self.rng = random.Random(run.rng.random())
        self.mask = os.urandom(4)  # one mask per connection is enough to be a valid client
        self.parser = FrameParser()
        self.transport: asyncio.Transport | None = None
        self.bytes_in = 0
        self.pongs = 0
        self.open = False  # joined and not yet closed
        self.lost = False  # the connection ended
        self.joined: asyncio.Future[None] = run.loop.create_future()
        self._handshake: bytearray | None = bytearray()
        self._request = b""
        self._accept = b""
        self._pings: dict[int, float] = {}
        self._seq = 0
        self._ping_id = 0
        self._dx = 0.0
        self._dy = 0.0
        self._turn_in = 0
        self._next_input = 0.0
        self._timers: list[asyncio.TimerHandle | None] = [None, None]
        self._closed_seen = False

    async def start(self, host: str, port: int) -> None:
        """Log in, connect from this player's own address, and wait for `joined`."""
        run = self.run
        source = source_address(host, self.index)
        try:
            cookie = await run.login(host, port, source, f"lg-{self.index}")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            raise PlayerFailed(f"login failed: {type(e).__name__}") from None
        key = base64.b64encode(os.urandom(16))
        self._accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        self._request = (
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nCookie: {SESSION_COOKIE}={cookie}\r\n\r\n"
        ).encode()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if source:
                sock.bind((source, 0))
            await run.loop.sock_connect(sock, (host, port))
        except OSError as exc:
            sock.close()
            raise PlayerFailed(f"connect failed: {type(exc).__name__}") from None
        except BaseException:  # cancelled: the ramp ran out of time
            sock.close()
            raise
        await run.loop.create_connection(lambda: self, sock=sock)
        try:
            async with asyncio.timeout(JOIN_TIMEOUT):
                await self.joined
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()
            raise PlayerFailed("join failed: no joined in time") from None

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if self._handshake is not None:
            data = self._on_handshake(data)
            if not data:
                return
        self.bytes_in += len(data)
        try:
            messages = self.parser.feed(data)
        except ProtocolError as exc:
            self._lost(f"bad frame: {exc}")
            return
        if messages:
            self._on_messages(messages)

    def connection_lost(self, exc: Exception | None) -> None:
        was_open = self.open
        self.open = False
        self.lost = True
        self._cancel_timers()
        if not self.joined.done():
            self.joined.set_exception(PlayerFailed("join failed: connection lost"))
        elif was_open and not self._closed_seen and not self.run.stopping:
            self.run.fail("connection lost without a close frame")
        self.run.on_player_gone(self)

    # -- receiving -------------------------------------------------------------------------------

    def _on_handshake(self, data: bytes) -> bytes:
        buf = self._handshake
        assert buf is not None
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return b""
        head = bytes(buf[:end])
        rest = bytes(buf[end + 4 :])
        self._handshake = None
        status = response_status(head)
        if status != 101:
            self._refuse(f"handshake refused: HTTP {status}")
            return b""
        if response_header(head, b"sec-websocket-accept") != self._accept:
            self._refuse("handshake failed: bad Sec-WebSocket-Accept")
            return b""
        self.send(b'{"type":"join","mode":"' + self.run.mode.encode() + b'"}')
        return rest

    def _refuse(self, kind: str) -> None:
        if not self.joined.done():
            self.joined.set_exception(PlayerFailed(kind))
        if self.transport is not None:
            self.transport.close()

    def _on_messages(self, messages: list[tuple[int, bytes]]) -> None:
        run = self.run
        for opcode, payload in messages:
            if opcode == OP_TEXT:
                try:
                    msg = orjson.loads(payload)
                    kind = msg.get("type")
                except (orjson.JSONDecodeError, AttributeError):
                    run.fail("bad message: not a JSON object")
                    continue
                if kind == "pong":
                    sent = self._pings.pop(msg.get("id"), None)
                    if sent is not None:
                        self.pongs += 1
                        if run.recording:
                            run.rtts.append(time.perf_counter() - sent)
                elif kind == "state":
                    self.parser.states += 1  # its keys came in another order
                elif kind == "joined":
                    if not self.joined.done():
                        self.open = True
                        self.joined.set_result(None)
                        self._start_playing()
                elif kind == "error":
                    code = msg.get("code")
                    if not self.joined.done():
                        self._refuse(f"join failed: error {code}")
                    else:
                        run.fail(f"error {code}")
                elif kind == "left" and not run.stopping:
                    run.fail(f"left the room: {msg.get('reason')}")
            elif opcode == OP_CLOSE:
                self._closed_seen = True
                if not run.stopping:
                    run.fail(f"closed by the server with code {close_code(payload)}")
                if not self.joined.done():
                    self._refuse(f"join failed: closed with code {close_code(payload)}")
                if self.transport is not None:
                    self.transport.write(client_frame(payload[:2], self.mask, OP_CLOSE))
                    self.transport.close()
                return
            elif opcode == OP_PING:
                self.send(payload, OP_PONG)

    def _lost(self, kind: str) -> None:
        self.run.fail(kind)
        self._closed_seen = True
        if self.transport is not None:
            self.transport.abort()

    # -- sending ---------------------------------------------------------------------------------

    def send(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(client_frame(payload, self.mask, opcode))

    def _start_playing(self) -> None:
        loop = self.run.loop
        now = loop.time()
        # Random phases, so players' inputs and pings are spread over their periods.
        self._dx, self._dy = self._direction()
        self._turn_in = self.rng.randint(*TURN_EVERY)
        self._next_input = now + self.rng.uniform(0.0, 1.0 / INPUT_HZ)
        self._timers[0] = loop.call_at(self._next_input, self._send_input)
        self._timers[1] = loop.call_at(now + self.rng.uniform(0.0, PING_INTERVAL),
                                       self._send_ping)

    def _direction(self) -> tuple[float, float]:
        angle = self.rng.uniform(0.0, 2.0 * math.pi)
        return math.cos(angle), math.sin(angle)

    def _send_input(self) -> None:
        self._seq += 1
        self._turn_in -= 1
        if self._turn_in <= 0:
            self._dx, self._dy = self._direction()
            self._turn_in = self.rng.randint(*TURN_EVERY)
        self.send(
            f'{{"type":"input","seq":{self._seq},"dx":{self._dx:.4f},"dy":{self._dy:.4f}}}'
            .encode()
        )
        loop = self.run.loop
        period = 1.0 / INPUT_HZ
        self._next_input += period
        now = loop.time()
        if self._next_input < now - period:  # stalled: carry on from now, no burst
            self._next_input = now
        self._timers[0] = loop.call_at(self._next_input, self._send_input)

    def _send_ping(self) -> None:
        self._ping_id += 1
        self._pings[self._ping_id] = time.perf_counter()
        if self.run.recording:
            self.run.pings_sent += 1
        self.send(b'{"type":"ping","id":%d}' % self._ping_id)
        self._timers[1] = self.run.loop.call_later(PING_INTERVAL, self._send_ping)

    def _cancel_timers(self) -> None:
        for i, handle in enumerate(self._timers):
            if handle is not None:
                handle.cancel()
                self._timers[i] = None

    def pongs_missing(self) -> int:
        deadline = time.perf_counter() - PONG_DEADLINE
        return sum(1 for sent in self._pings.values() if sent < deadline)

    def stop(self) -> None:
        """Stop sending and close with 1000; the server's close (or the grace) ends it."""
        self._cancel_timers()
        if self.transport is None or self.transport.is_closing():
            return
        if self._handshake is None:
            self.send(struct.pack("!H", 1000), OP_CLOSE)
        else:
            self.transport.close()
