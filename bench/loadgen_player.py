"""One simulated player of the load generator (`bench.loadgen`): a raw WebSocket on `/ws` with
the session cookie and no Origin, `join`, then `input` 10 times a second and `ping` once a second
at random phases, while counting states and timing pongs.

When matchmaking answers `redirect` (the room is on another process), the player closes its
socket (1000), connects to the redirect's host and port (from its own loopback address there
too), upgrades `/ws?seat=TOKEN` with its cookie and joins with the seat; a refused seat, or a
target that cannot be reached, sends it back to join by mode where it was redirected from. At
most `MAX_REDIRECTS` redirects per player."""

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
    MAX_REDIRECTS,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WS_GUID,
    FrameParser,
    ProtocolError,
    client_frame,
    close_code,
    redirect_target,
)
from protocol.closes import CloseCode

if TYPE_CHECKING:
    from bench.loadgen import LoadRun

INPUT_HZ = 10
PING_INTERVAL = 1.0
TURN_EVERY = (INPUT_HZ - 2, INPUT_HZ + 2)  # inputs between new directions: about a second
PONG_DEADLINE = 5.0  # a ping older than this at the end is reported as `pong missing`
JOIN_TIMEOUT = 20.0  # seconds from the TCP connect to `joined`


class _Link(asyncio.Protocol):
    """One TCP connection of a player. A redirect replaces the player's connection; the old
    one's late events (its close, bytes still in flight) are dropped here."""

    __slots__ = ("player", "transport")

    def __init__(self, player: Player) -> None:
        self.player = player
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.player.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.player.transport is self.transport:
            self.player.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.player.transport is self.transport:
            self.player.connection_lost(exc)


class Player:
    """One simulated player's WebSocket: handshake, join (following redirects), then inputs,
    pings and reading. Its current connection's `_Link` passes the socket's events on."""

    def __init__(self, run: LoadRun, index: int) -> None:
        self.run = run
        self.index = index
        self.rng = random.Random(run.rng.random())
        self.mask = os.urandom(4)  # one mask per connection is enough to be a valid client
        self.parser = FrameParser(run.latency)
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
        self._cookie = ""
        self._server = ("", 0)  # the host and port of the current connection
        self._seat: str | None = None  # a redirect's seat token, while it is being claimed
        self._claiming_from: tuple[str, int] | None = None  # where to go back if it is refused
        self._hop: asyncio.Task[None] | None = None  # connecting after a redirect or refusal
        self.redirects = 0

    async def start(self, host: str, port: int) -> None:
        """Log in, connect from this player's own address, and wait for `joined`."""
        run = self.run
        source = source_address(host, self.index)
        try:
            cookie = await run.login(host, port, source, f"lg-{self.index}")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            raise PlayerFailed(f"login failed: {type(e).__name__}") from None
        self._cookie = cookie
        await self._connect(host, port, "/ws")
        try:
            async with asyncio.timeout(JOIN_TIMEOUT):
                await self.joined
        except TimeoutError:
            if self._hop is not None:
                self._hop.cancel()
            if self.transport is not None:
                self.transport.abort()
            raise PlayerFailed("join failed: no joined in time") from None
        except BaseException:
            if self._hop is not None:
                self._hop.cancel()
            raise

    async def _connect(self, host: str, port: int, path: str) -> None:
        """Connect to `host`:`port` from this player's own address there (see
        `source_address`) and start the upgrade of `path` with the session cookie."""
        run = self.run
        key = base64.b64encode(os.urandom(16))
        self._accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nCookie: {SESSION_COOKIE}={self._cookie}\r\n\r\n"
        ).encode()
        source = source_address(host, self.index)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
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
        self._server = (host, port)
        self._handshake = bytearray()
        states, self.parser = self.parser.states, FrameParser(run.latency)  # new stream, same count
        self.parser.states = states
        await run.loop.create_connection(lambda: _Link(self), sock=sock)

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
        if self._claiming_from is not None and not self.joined.done():
            self._fall_back()  # the redirect's server dropped us before `joined`
            return
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
        if self._seat is not None:
            self.send(orjson.dumps({"type": "join", "seat": self._seat}))
        else:
            self.send(b'{"type":"join","mode":"' + self.run.mode.encode() + b'"}')
        return rest

    def _refuse(self, kind: str) -> None:
        if self._claiming_from is not None and not self.joined.done():
            self._fall_back()  # the seat was refused (or its server was): matchmake again
            return
        if not self.joined.done():
            self.joined.set_exception(PlayerFailed(kind))
        if self.transport is not None:
            self.transport.close()

    # -- redirects -------------------------------------------------------------------------------

    def _on_redirect(self, msg: dict[str, object]) -> None:
        """Close this connection (1000) and claim the redirect's seat on its server."""
        run = self.run
        if self.redirects >= MAX_REDIRECTS:
            self._refuse_for_good(f"join failed: more than {MAX_REDIRECTS} redirects")
            return
        self.redirects += 1
        run.redirects += 1
        if self.redirects == 1:
            run.redirected += 1
        target = redirect_target(msg)
        if target is None:  # not one we can follow: matchmake here again (counted above)
            self.send(b'{"type":"join","mode":"' + run.mode.encode() + b'"}')
            return
        origin = self._claiming_from or self._server
        self._abandon()
        self._claiming_from = origin
        self._seat = target.seat

        async def hop() -> None:
            try:
                async with asyncio.timeout(max(target.expires_in, 1.0)):
                    await self._connect(target.host, target.port, target.path)
            except (PlayerFailed, OSError, TimeoutError):
                self._fall_back()

        self._hop = run.loop.create_task(hop())

    def _fall_back(self) -> None:
        """The redirect's seat was not had: join by mode again where the redirect came from."""
        origin = self._claiming_from
        if origin is None:
            return
        self.run.seat_fallbacks += 1
        self._claiming_from = None
        self._seat = None
        self._abandon()

        async def hop() -> None:
            try:
                await self._connect(*origin, "/ws")
            except (PlayerFailed, OSError) as exc:
                if not self.joined.done():
                    failed = exc if isinstance(exc, PlayerFailed) else PlayerFailed(
                        f"connect failed: {type(exc).__name__}")
                    self.joined.set_exception(failed)

        self._hop = self.run.loop.create_task(hop())

    def _abandon(self) -> None:
        """Close the current connection with 1000; its `_Link` drops whatever comes after."""
        transport, self.transport = self.transport, None
        if transport is None or transport.is_closing():
            return
        if self._handshake is None:
            transport.write(client_frame(struct.pack("!H", CloseCode.NORMAL), self.mask, OP_CLOSE))
        transport.close()

    def _refuse_for_good(self, kind: str) -> None:
        self._claiming_from = None
        self._refuse(kind)

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
                        self._claiming_from = self._seat = None
                        self.joined.set_result(None)
                        self._start_playing()
                elif kind == "redirect":
                    if not self.joined.done():
                        self._on_redirect(msg)
                        if self.transport is None:
                            return  # what is left of this read came on the abandoned socket
                    else:
                        run.fail("redirect after joined")
                elif kind == "error":
                    code = msg.get("code")
                    if not self.joined.done():
                        self._refuse(f"join failed: error {code}")
                        if self.transport is None:
                            return  # falling back after a refused seat: this one is done
                    else:
                        run.fail(f"error {code}")
                elif kind == "left" and not run.stopping:
                    run.fail(f"left the room: {msg.get('reason')}")
            elif opcode == OP_CLOSE:
                if self._claiming_from is not None and not self.joined.done():
                    self._fall_back()  # the redirect's server closed before seating us
                    return
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
            self.send(struct.pack("!H", CloseCode.NORMAL), OP_CLOSE)
        else:
            self.transport.close()
