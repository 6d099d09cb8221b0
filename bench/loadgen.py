"""`python -m bench.loadgen`: a lean asyncio load generator for Arena's protocol on raw sockets.

N players, each: a guest login over HTTP (`GET /api/xsrf`, `POST /api/guest`; not measured), a
raw WebSocket on `/ws` with the `arena_session` cookie and no Origin, `join`, then `input` 10
times a second and `ping` once a second, while counting `state` frames by a byte-prefix check
(never decoding them) and timing pongs. After the ramp and a warm-up it measures one window and
reports states/s per player, ping RTT, bytes received, failures and its own CPU, so every report
can say whether the load generator was the limit.

    python -m bench.loadgen --url http://127.0.0.1:8888 --players 400 --seconds 30

`bench.floor` runs it as a subprocess: it reads the `loadgen: window open` / `window closed`
lines and the `--json-out` file, and passes `--server-pid` so the server's CPU and RSS are read
at exactly the window's edges.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import math
import os
import random
import resource
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from tornado.util import _websocket_mask

from bench.capacity import CLK_TCK, proc_rss, proc_stat

SESSION_COOKIE = "arena_session"
XSRF_COOKIE = "_xsrf"
INPUT_HZ = 10
PING_INTERVAL = 1.0
TURN_EVERY = (INPUT_HZ - 2, INPUT_HZ + 2)  # inputs between new directions: about a second
PONG_DEADLINE = 5.0  # a ping older than this at the end is reported as `pong missing`
LOOPBACK_SOURCES = 253  # 127.0.0.2 .. 127.0.0.254
JOIN_TIMEOUT = 20.0  # seconds from the TCP connect to `joined`
CLOSE_GRACE = 2.0  # seconds to wait for the server's close before aborting the rest
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

# `protocol.messages.state` puts `type` first and orjson keeps insertion order, so a state is
# recognised by its first bytes; a state with its keys in another order is still counted after
# a full decode.
STATE_PREFIX = b'{"type":"state",'


class ProtocolError(Exception):
    """The server broke RFC 6455 (a masked frame, a continuation without a start)."""


class PlayerFailed(Exception):
    """A player could not log in, connect or join; the message is its failure kind."""


# -- server frames ---------------------------------------------------------------------------


class FrameParser:
    """Server-to-client WebSocket frames out of a byte stream that may split them anywhere.

    `feed(data)` counts every complete text message starting with `STATE_PREFIX` in `states`
    (without copying it out) and returns every other complete message as `(opcode, payload)`:
    other text, binary, and control frames (close, ping, pong). Fragmented messages are
    reassembled; control frames may come between fragments.
    """

    __slots__ = ("_buf", "_parts", "_parts_opcode", "states")

    def __init__(self) -> None:
        self._buf = b""
        self._parts: list[bytes] | None = None
        self._parts_opcode = 0
        self.states = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf + data if self._buf else data
        pos = 0
        end = len(buf)
        out: list[tuple[int, bytes]] = []
        states = 0
        while end - pos >= 2:
            b0 = buf[pos]
            n = buf[pos + 1]
            if n & 0x80:
                raise ProtocolError("the server sent a masked frame")
            if n < 126:
                start = pos + 2
            elif n == 126:
                if end - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            else:
                if end - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            stop = start + n
            if stop > end:
                break
            pos = stop
            if b0 == 0x81 and self._parts is None:  # a whole text message: the hot path
                if buf.startswith(STATE_PREFIX, start, stop):
                    states += 1
                else:
                    out.append((OP_TEXT, buf[start:stop]))
                continue
            opcode = b0 & 0x0F
            payload = buf[start:stop]
            if opcode >= 0x8:
                out.append((opcode, payload))
            elif opcode != OP_CONTINUATION:
                if self._parts is not None:
                    raise ProtocolError("a new message before the last one's final fragment")
                if b0 & 0x80:
                    out.append((opcode, payload))
                else:
                    self._parts, self._parts_opcode = [payload], opcode
            elif self._parts is None:
                raise ProtocolError("a continuation frame without a first fragment")
            else:
                self._parts.append(payload)
                if b0 & 0x80:
                    message = b"".join(self._parts)
                    self._parts = None
                    if self._parts_opcode == OP_TEXT and message.startswith(STATE_PREFIX):
                        states += 1
                    else:
                        out.append((self._parts_opcode, message))
        self._buf = buf[pos:] if pos else buf
        if states:
            self.states += states
        return out


def client_frame(payload: bytes, mask: bytes, opcode: int = OP_TEXT) -> bytes:
    """One masked client-to-server frame (RFC 6455 5.3): every client frame must be masked."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + _websocket_mask(mask, payload)


def close_code(payload: bytes) -> int | None:
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None


# -- the login (not measured) --------------------------------------------------------------------


def source_address(server_host: str, index: int) -> str | None:
    """Player `index`'s own loopback address (127.0.0.2 .. 127.0.0.254, round-robin) when the
    server is on 127.x, since the server caps sockets per address; else the system's choice."""
    if not server_host.startswith("127."):
        return None
    return f"127.0.0.{2 + index % LOOPBACK_SOURCES}"


def set_cookies(head: bytes) -> dict[str, str]:
    """`Set-Cookie` values of a response head by name, exactly as set (quotes included)."""
    cookies: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"set-cookie":
            pair = value.decode("latin-1").split(";", 1)[0]
            key, _, val = pair.partition("=")
            cookies[key.strip()] = val.strip()
    return cookies


def _header(head: bytes, wanted: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == wanted:
            return value.strip()
    return None


def _status(head: bytes) -> int:
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return 0


async def _http(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: bytes,
) -> tuple[int, bytes, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = _header(head, b"content-length")
    body = await reader.readexactly(int(length)) if length else b""
    return _status(head), head, body


async def guest_login(host: str, port: int, source: str | None, name: str) -> str:
    """Log in as a guest on one keep-alive connection; the `arena_session` value as set."""
    local = (source, 0) if source else None
    reader, writer = await asyncio.open_connection(host, port, local_addr=local)
    netloc = f"{host}:{port}"
    try:
        status, head, body = await _http(
            reader, writer,
            f"GET /api/xsrf HTTP/1.1\r\nHost: {netloc}\r\n\r\n".encode(),
        )
        cookie = set_cookies(head).get(XSRF_COOKIE)
        if status != 200 or not cookie:
            raise PlayerFailed(f"GET /api/xsrf: HTTP {status}" if status != 200
                               else "GET /api/xsrf set no _xsrf cookie")
        token = orjson.loads(body).get("xsrf") or cookie
        payload = orjson.dumps({"name": name})
        status, head, _ = await _http(
            reader, writer,
            (
                f"POST /api/guest HTTP/1.1\r\nHost: {netloc}\r\n"
                f"Cookie: {XSRF_COOKIE}={cookie}\r\nX-XSRFToken: {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            ).encode() + payload,
        )
        if status != 200:
            raise PlayerFailed(f"POST /api/guest: HTTP {status}")
        session = set_cookies(head).get(SESSION_COOKIE)
        if not session:
            raise PlayerFailed(f"POST /api/guest set no {SESSION_COOKIE} cookie")
        return session
    finally:
        writer.close()


# -- one player --------------------------------------------------------------------------------


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
            cookie = await guest_login(host, port, source, f"lg-{self.index}")
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
        status = _status(head)
        if status != 101:
            self._refuse(f"handshake refused: HTTP {status}")
            return b""
        if _header(head, b"sec-websocket-accept") != self._accept:
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


# -- a run -------------------------------------------------------------------------------------


@dataclass
class LoadOptions:
    url: str = "http://127.0.0.1:8888"
    players: int = 400
    seconds: float = 30.0
    warmup: float = 3.0
    mode: str = "arena"
    concurrency: int = 50  # logins and handshakes in flight during the ramp
    connect_seconds: float = 120.0  # bound on the whole ramp
    server_pid: int | None = None
    seed: int | None = None


class LoadRun:
    """All players of one run, the window's counters, and the failures by kind."""

    def __init__(self, options: LoadOptions, loop: asyncio.AbstractEventLoop) -> None:
        self.options = options
        self.loop = loop
        self.mode = options.mode
        self.rng = random.Random(options.seed)
        self.players: list[Player] = []
        self.failures: Counter[str] = Counter()
        self.recording = False
        self.stopping = False
        self.rtts: list[float] = []
        self.pings_sent = 0
        self._gone = asyncio.Event()

    def fail(self, kind: str) -> None:
        self.failures[kind] += 1

    def on_player_gone(self, player: Player) -> None:
        self._gone.set()

    async def start_players(self) -> float:
        """Log in, connect and join every player, `concurrency` at a time; returns seconds."""
        parts = urlsplit(self.options.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"--url must be http://host:port, not {self.options.url!r}")
        host, port = parts.hostname, parts.port or 80
        gate = asyncio.Semaphore(self.options.concurrency)
        started = time.perf_counter()

        async def start(player: Player) -> None:
            async with gate:
                try:
                    await player.start(host, port)
                except PlayerFailed as exc:
                    self.fail(str(exc))

        self.players = [Player(self, i) for i in range(self.options.players)]
        tasks = [asyncio.ensure_future(start(p)) for p in self.players]
        done, pending = await asyncio.wait(tasks, timeout=self.options.connect_seconds)
        for task in pending:
            task.cancel()
        if pending:
            self.failures["join failed: the ramp ran out of time"] += len(pending)
            await asyncio.wait(pending)
        return time.perf_counter() - started

    def open_count(self) -> int:
        return sum(1 for p in self.players if p.open)

    async def stop(self) -> None:
        """Close every socket with 1000, wait for the server's closes, abort what is left."""
        self.stopping = True
        live = [p for p in self.players if p.transport is not None and not p.lost]
        for player in self.players:
            player.stop()
        try:
            async with asyncio.timeout(CLOSE_GRACE):
                while any(not p.lost for p in live):
                    self._gone.clear()
                    await self._gone.wait()
        except TimeoutError:
            pass
        for player in live:
            if not player.lost and player.transport is not None:
                player.transport.abort()
        await asyncio.sleep(0)  # let the aborted transports report connection_lost


@dataclass
class Edge:
    """One edge of the measured window."""

    wall: float
    cpu: float
    states: list[int]
    open_flags: list[bool]
    bytes_in: int
    pongs: int
    open: int
    server_ticks: int | None


def _edge(run: LoadRun) -> Edge:
    server = proc_stat(run.options.server_pid) if run.options.server_pid else None
    return Edge(
        wall=time.perf_counter(),
        cpu=time.process_time(),
        states=[p.parser.states for p in run.players],
        open_flags=[p.open for p in run.players],
        bytes_in=sum(p.bytes_in for p in run.players),
        pongs=sum(p.pongs for p in run.players),
        open=run.open_count(),
        server_ticks=server.cpu_ticks if server else None,
    )


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return type(loop).__module__.split(".")[0]


async def run_load(options: LoadOptions, *, announce: bool = True) -> dict[str, Any]:
    """One bounded run: ramp, warm-up, the measured window, then every socket closed."""
    loop = asyncio.get_running_loop()
    run = LoadRun(options, loop)
    cpu0 = time.process_time()

    def say(text: str) -> None:
        if announce:
            print(f"loadgen: {text}", flush=True)

    try:
        ramp = await run.start_players()
        joined = run.open_count()
        say(f"{joined}/{options.players} players joined in {ramp:.1f} s "
            f"({loop_name(loop)} loop); warm-up {options.warmup:g} s")
        await asyncio.sleep(options.warmup)
        run.recording = True
        first = _edge(run)
        say("window open")
        rss: list[int] = []
        deadline = first.wall + options.seconds
        while (left := deadline - time.perf_counter()) > 0:
            await asyncio.sleep(min(1.0, left))
            if options.server_pid:
                size = proc_rss(options.server_pid)
                if size is not None:
                    rss.append(size)
        last = _edge(run)
        run.recording = False
        say("window closed")
        missing = sum(p.pongs_missing() for p in run.players)
        if missing:
            run.failures["pong missing"] += missing
    finally:
        await run.stop()
    return summarize(options, run, ramp, joined, first, last, rss,
                     total_cpu=time.process_time() - cpu0, loop=loop_name(loop))


def summarize(
    options: LoadOptions,
    run: LoadRun,
    ramp: float,
    joined: int,
    first: Edge,
    last: Edge,
    rss: Sequence[int],
    *,
    total_cpu: float,
    loop: str,
) -> dict[str, Any]:
    seconds = max(1e-9, last.wall - first.wall)
    players_avg = (first.open + last.open) / 2.0
    player_seconds = players_avg * seconds
    per_player = [(b - a) / seconds for a, b in zip(first.states, last.states, strict=True)]
    # The slowest player among those connected through the whole window.
    live = [rate for rate, a, b in zip(per_player, first.open_flags, last.open_flags, strict=True)
            if a and b]
    states = sum(last.states) - sum(first.states)
    rtts = sorted(x * 1000.0 for x in run.rtts)
    cpu = last.cpu - first.cpu
    result: dict[str, Any] = {
        "loadgen": f"bench.loadgen (asyncio over raw sockets, {loop} loop, one process)",
        "url": options.url,
        "players": options.players,
        "joined": joined,
        "open_at_start": first.open,
        "open_at_end": last.open,
        "players_avg": players_avg,
        "ramp_seconds": round(ramp, 2),
        "warmup_seconds": options.warmup,
        "window_seconds": round(seconds, 3),
        "states": states,
        "states_per_second": round(states / seconds, 1),
        "states_per_player_second": round(states / player_seconds, 2) if player_seconds else None,
        "states_per_player_second_min": round(min(live), 2) if live else None,
        "states_per_player_second_max": round(max(live), 2) if live else None,
        "pings_sent": run.pings_sent,
        "pongs": len(rtts),
        "ping_p50_ms": _round(percentile(rtts, 50), 3),
        "ping_p99_ms": _round(percentile(rtts, 99), 3),
        "ping_max_ms": _round(rtts[-1] if rtts else None, 3),
        "bytes_received": last.bytes_in - first.bytes_in,
        "bytes_per_player_second": round((last.bytes_in - first.bytes_in) / player_seconds, 1)
        if player_seconds else None,
        "failures": sum(run.failures.values()),
        "failure_kinds": dict(run.failures.most_common()),
        "cpu_seconds": round(cpu, 3),
        "cpu_percent": round(cpu / seconds * 100.0, 1),
        "cpu_total_seconds": round(total_cpu, 3),
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "server": None,
    }
    if options.server_pid and first.server_ticks is not None and last.server_ticks is not None:
        server_cpu = (last.server_ticks - first.server_ticks) / CLK_TCK
        result["server"] = {
            "pid": options.server_pid,
            "cpu_seconds": round(server_cpu, 3),
            "cpu_percent": round(server_cpu / seconds * 100.0, 1),
            "cpu_us_per_player_second": round(server_cpu / player_seconds * 1e6, 1)
            if player_seconds else None,
            "rss_max_bytes": max(rss) if rss else None,
            "rss_last_bytes": rss[-1] if rss else None,
        }
    return result


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def summary_text(result: dict[str, Any]) -> str:
    def num(value: Any, fmt: str = ",.0f") -> str:
        return "–" if value is None else format(value, fmt)

    lines = [
        f"loadgen: {result['joined']}/{result['players']} players joined "
        f"({result['ramp_seconds']:g} s ramp), window {result['window_seconds']:.1f} s "
        f"after {result['warmup_seconds']:g} s warm-up",
        f"  states/s per player  {num(result['states_per_player_second'], '.2f')} "
        f"(min {num(result['states_per_player_second_min'], '.2f')}, "
        f"max {num(result['states_per_player_second_max'], '.2f')}); "
        f"{num(result['states_per_second'])} states/s in all",
        f"  ping RTT             p50 {num(result['ping_p50_ms'], '.2f')} ms, "
        f"p99 {num(result['ping_p99_ms'], '.2f')} ms, max {num(result['ping_max_ms'], '.2f')} ms "
        f"({result['pongs']} pongs of {result['pings_sent']} pings)",
        f"  received             {num(result['bytes_per_player_second'])} B per player-second "
        "(WebSocket frames, all messages)",
        f"  failures             {result['failures']}"
        + "".join(f"\n    {count} x {kind}" for kind, count in result["failure_kinds"].items()),
        f"  load generator CPU   {num(result['cpu_percent'], '.1f')}% of one core "
        f"({result['loadgen']})",
    ]
    server = result.get("server")
    if server:
        lines.append(
            f"  server pid {server['pid']}        CPU {num(server['cpu_percent'], '.1f')}%, "
            f"{num(server['cpu_us_per_player_second'])} µs per player-second, "
            f"RSS {num((server['rss_max_bytes'] or 0) / 2**20, '.1f')} MiB"
        )
    return "\n".join(lines)


# -- the command -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loadgen",
        description="Drive an Arena (or floor) server with N simulated players over raw sockets.",
    )
    parser.add_argument("--url", default="http://127.0.0.1:8888", help="the server (http://)")
    parser.add_argument("--players", type=int, default=400, help="simulated players")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window (s)")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds between the last join and the window")
    parser.add_argument("--mode", default="arena", help="game mode to join")
    parser.add_argument("--concurrency", type=int, default=50,
                        help="logins and handshakes in flight during the ramp")
    parser.add_argument("--connect-seconds", type=float, default=120.0,
                        help="bound on the ramp; players not joined by then are failures")
    parser.add_argument("--server-pid", type=int, default=None,
                        help="read this process's CPU and RSS at the window's edges")
    parser.add_argument("--seed", type=int, default=None, help="seed for directions and phases")
    parser.add_argument("--no-uvloop", action="store_true", help="asyncio's default loop")
    parser.add_argument("--json-out", type=Path, default=None, help="write the result here")
    args = parser.parse_args(argv)
    if args.players <= 0 or args.seconds <= 0 or args.warmup < 0 or args.concurrency <= 0:
        parser.error("--players, --seconds and --concurrency must be positive, --warmup not "
                     "negative")
    return args


def run_with_loop(coro: Any, use_uvloop: bool = True) -> Any:
    """`asyncio.run`, on uvloop when it is installed and wanted."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = LoadOptions(
        url=args.url.rstrip("/"),
        players=args.players,
        seconds=args.seconds,
        warmup=args.warmup,
        mode=args.mode,
        concurrency=args.concurrency,
        connect_seconds=args.connect_seconds,
        server_pid=args.server_pid,
        seed=args.seed,
    )
    try:
        result = run_with_loop(run_load(options), use_uvloop=not args.no_uvloop)
    except KeyboardInterrupt:
        return 130
    except ValueError as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 2
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(summary_text(result), flush=True)
    return 0 if result["joined"] == options.players and not result["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
