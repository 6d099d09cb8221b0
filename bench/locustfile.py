"""Locust players for Arena: log in as a guest, open `/ws`, join, steer and ping like a client.

    locust -f bench/locustfile.py --headless -u 50 -r 10 -t 20s --host http://127.0.0.1:8888

Besides locust's own `/login` and `/api/guest` rows, every user reports (request type `WS`):

- `WS connect+join`: from opening the TCP connection to the `joined` message (failures: the
  handshake refused with its HTTP status, or no `joined`);
- `WS redirect`: one per `redirect` followed (matchmaking put the user in a room of another
  process): from the redirect to the answer on the new server; its request count is the number
  of redirects. The user closes its socket (1000), connects to the redirect's host and port
  (from its own loopback address there too), upgrades `/ws?seat=TOKEN` with its cookie and joins
  with the seat. `WS seat refused` counts seats that were refused (or whose server could not be
  reached): the user joined by mode again where it was redirected from. At most 3 redirects per
  join, then `WS connect+join` fails with `too many redirects`;
- `pong`: round trip of a `ping`, sent once a second;
- `state latency`: one sample per `state` received: arrival wall clock minus the state's `ts`
  (same host, same clock), so its request count is the number of states received;
- `states per user-second`: once a second per user, how many states arrived in that second (the
  average is about the tick rate; `Min` shows a starved user);
- failures `WS closed` (with the close code), `error <code>` (an `error` message), `left room`,
  `pong missing`.

`--arena-warmup S` and `--arena-window S` limit the `pong`, `state latency` and `states ...`
samples to a window after the test starts, so a ramp-up does not pollute steady-state numbers
(`bench.capacity` uses them); connects and failures are always reported.

Each user opens its socket from its own loopback address (127.0.0.2 to 127.0.0.251) when the
server is on 127.x, as real players come from their own addresses: the server caps sockets per
address. This runs under gevent: the WebSocket handshake and sends go through
`websocket-client`, and the reader takes whole `recv(65536)` chunks off the socket and parses
every frame in them, because the load generator's cost per received message decides how many
users one locust process can drive.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import gevent
import orjson
import websocket
from locust import HttpUser, constant, task

from bench.locust_window import Window
from bench.locust_wire import (
    SESSION_COOKIE,
    FrameReader,
    close_code,
    session_cookie,
    source_address,
    websocket_url,
)
from bench.wsframes import MAX_REDIRECTS, OP_CLOSE, OP_PING, OP_TEXT, redirect_target

XSRF_COOKIE = "_xsrf"
INPUT_HZ = 10  # inputs per second; a ping goes with every INPUT_HZ-th input
CONNECT_TIMEOUT = 10.0  # seconds for the TCP connect + handshake, and again for `joined`
CLOSE_GRACE = 1.0  # seconds to wait for the server's close frame when stopping
PONG_DEADLINE = 5.0  # a ping unanswered for this long is reported as `pong missing`

# `messages.state` puts type, tick and ts first; the fast path reads ts without decoding the state
# and falls back to a full decode for anything else.
_STATE_PREFIX = b'{"type":"state",'
_STATE_TS = re.compile(rb'"ts":(\d+)')

_names = itertools.count(1)
_users = itertools.count(os.getpid())  # spreads source addresses across --processes workers


class ConnectionClosed(Exception):
    """The WebSocket ended; the message says how."""


class JoinRefused(ConnectionClosed):
    """The server answered `join` with an `error`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"error {code}: {message}")
        self.code = code


def random_direction(rng: random.Random) -> tuple[float, float]:
    angle = rng.uniform(0.0, 2.0 * math.pi)
    return math.cos(angle), math.sin(angle)


class ArenaPlayer(HttpUser):
    """One player: guest login, `/ws`, `join`, then inputs at 10 Hz and a ping a second."""

    host = "http://127.0.0.1:8888"
    wait_time = constant(1)  # only between a lost connection and the next attempt

    def on_start(self) -> None:
        self._fire = self.environment.events.request.fire
        self._rng = random.Random()
        self._cookie: str | None = None
        self._ws: websocket.WebSocket | None = None
        self._frames = FrameReader()
        self._writer: gevent.Greenlet | None = None
        self._pings: dict[int, float] = {}
        self._states = 0  # received since the writer last reported them
        options = self.environment.parsed_options
        self._mode = getattr(options, "arena_mode", None) or "arena"
        self._index = next(_users)

    @task
    def play(self) -> None:
        """Log in once, connect and join, then read until the socket ends; the next run
        of this task (after `wait_time`) reconnects with the same session."""
        if self._cookie is None:
            self._cookie = self._login()
            if self._cookie is None:
                return
        ws = self._connect_and_join()
        if ws is None:
            return
        self._writer = gevent.spawn(self._write, ws)
        try:
            self._read(ws)
        except Exception:
            self._disconnect(wait_for_close=False)
            raise
        # Not in a `finally`: when locust stops this user (GreenletExit), on_stop closes cleanly.
        self._disconnect(wait_for_close=False)

    def on_stop(self) -> None:
        self._disconnect(wait_for_close=True)

    # -- login and connect ----------------------------------------------------------------------

    def _login(self) -> str | None:
        # Any GET /login sets the _xsrf cookie; the POST must echo it in X-XSRFToken.
        self.client.get("/login")
        xsrf = self.client.cookies.get(XSRF_COOKIE)
        if not xsrf:
            self._failure("/api/guest", 0.0, "GET /login set no _xsrf cookie")
            return None
        name = f"locust-{os.getpid() % 1000}-{next(_names)}"[:20]
        response = self.client.post(
            "/api/guest", json={"name": name}, headers={"X-XSRFToken": xsrf}
        )
        if not response.ok:
            return None  # locust already recorded the failed request
        raw = getattr(response, "raw", None)
        headers = raw.headers.getlist("Set-Cookie") if raw is not None else []
        cookie = session_cookie(headers)
        if cookie is None:
            self._failure("/api/guest", 0.0, f"no {SESSION_COOKIE} cookie in the answer")
        return cookie

    def _connect_and_join(self) -> websocket.WebSocket | None:
        name = "WS connect+join"
        started = time.perf_counter()
        url = websocket_url(self.host)
        try:
            ws = self._open(url)
        except (OSError, websocket.WebSocketException) as exc:
            if isinstance(exc, websocket.WebSocketBadStatusException):
                if exc.status_code == 401:
                    self._cookie = None  # expired or revoked: log in again next time
                self._failure(name, started, f"handshake refused: HTTP {exc.status_code}")
            else:
                self._failure(name, started, f"handshake failed: {type(exc).__name__}: {exc}")
            return None
        try:
            ws = self._join_following(ws, url)
        except (OSError, ValueError, ConnectionClosed, websocket.WebSocketException) as exc:
            self._failure(name, started, f"join failed: {exc}")
            self._disconnect(wait_for_close=False)
            return None
        self._fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=0,
            exception=None,
            context={},
        )
        return ws

    def _open(self, url: str) -> websocket.WebSocket:
        """The game socket at `url` (`ws://host:port/ws`, maybe with `?seat=`), with the
        session cookie and no Origin, from this user's own loopback address."""
        sock = None
        try:
            sock = self._loopback_socket(url)
            ws = websocket.create_connection(
                url,
                socket=sock,  # None: websocket-client connects (and wraps TLS) itself
                sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
                cookie=f"{SESSION_COOKIE}={self._cookie}",
                suppress_origin=True,  # no Origin: the cookie proves who we are
                timeout=CONNECT_TIMEOUT,
                skip_utf8_validation=True,
            )
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._ws = ws
        self._frames = FrameReader()
        return ws

    def _join_following(self, ws: websocket.WebSocket, url: str) -> websocket.WebSocket:
        """Join by mode on `ws` (open at `url`) and follow redirects to `joined`; returns the
        socket that got it."""
        join_mode = orjson.dumps({"type": "join", "mode": self._mode}).decode()
        claiming_from: str | None = None  # where to go back if the seat is refused
        hop_started = 0.0
        redirects = 0
        request = join_mode
        while True:
            ws.send(request)
            try:
                answer = self._await_answer(ws)
            except ConnectionClosed as exc:
                if claiming_from is None or (
                    isinstance(exc, JoinRefused) and exc.code not in ("seat_invalid", "unavailable")
                ):
                    raise
                self._sample("WS redirect", (time.perf_counter() - hop_started) * 1000.0)
                ws, url = self._fall_back(claiming_from, str(exc)), claiming_from
                claiming_from, request = None, join_mode
                continue
            if claiming_from is not None:
                self._sample("WS redirect", (time.perf_counter() - hop_started) * 1000.0)
                claiming_from = None
            if answer.get("type") == "joined":
                return ws
            if redirects >= MAX_REDIRECTS:
                raise ConnectionClosed(f"too many redirects (more than {MAX_REDIRECTS})")
            redirects += 1
            target = redirect_target(answer)
            if target is None:  # cannot be followed: matchmake here again (counted above)
                request = join_mode
                continue
            hop_started = time.perf_counter()
            self._close_quietly(ws)
            try:
                ws = self._open(target.url)
            except (OSError, websocket.WebSocketException) as exc:
                self._sample("WS redirect", (time.perf_counter() - hop_started) * 1000.0)
                ws = self._fall_back(url, f"cannot open {target.url.split('?')[0]}: {exc}")
                request = join_mode
                continue
            claiming_from, url = url, target.url.split("?")[0]
            request = orjson.dumps({"type": "join", "seat": target.seat}).decode()

    def _fall_back(self, url: str, why: str) -> websocket.WebSocket:
        """The redirect's seat was not had: a new socket where the redirect came from."""
        self._fire(
            request_type="WS",
            name="WS seat refused",
            response_time=0.0,
            response_length=0,
            exception=None,
            context={"why": why},
        )
        self._close_quietly(self._ws)
        return self._open(url)

    def _close_quietly(self, ws: websocket.WebSocket | None) -> None:
        """Close with 1000 without waiting for the server's close (it may be gone)."""
        if ws is None:
            return
        if ws is self._ws:
            self._ws = None
        try:
            if ws.sock is not None:
                ws.send_close(1000)
        except (OSError, websocket.WebSocketException):
            pass
        finally:
            ws.shutdown()

    def _loopback_socket(self, url: str) -> socket.socket | None:
        """A TCP connection from this user's own loopback address when the server at `url`
        is on 127.x (see `source_address`); None for any other server."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        source = source_address(host, self._index)
        if source is None or parts.scheme != "ws":
            return None
        sock = socket.create_connection(
            (host, parts.port or 80), timeout=CONNECT_TIMEOUT, source_address=(source, 0)
        )
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _await_answer(self, ws: websocket.WebSocket) -> dict[str, Any]:
        """The answer to `join`: `joined` or `redirect` (an `error` or the end of the socket
        raises), within CONNECT_TIMEOUT."""
        with gevent.Timeout(CONNECT_TIMEOUT, ConnectionClosed("no joined in time")):
            ws.sock.settimeout(None)
            while True:
                answer = self._await_joined(ws)
                if answer is not None:
                    return answer

    def _await_joined(self, ws: websocket.WebSocket) -> dict[str, Any] | None:
        data = ws.sock.recv(65536)
        if not data:
            raise ConnectionClosed("connection lost before joined")
        answer = None
        for opcode, payload in self._frames.feed(data):
            if opcode == OP_TEXT and answer is None:
                msg = orjson.loads(payload)
                kind = msg.get("type")
                if kind in ("joined", "redirect"):
                    answer = msg
                elif kind == "error":
                    raise JoinRefused(str(msg.get("code")), str(msg.get("message")))
            elif opcode == OP_CLOSE:
                raise ConnectionClosed(f"closed with code {close_code(payload)}")
            elif opcode == OP_PING:
                ws.pong(payload)
        return answer

    # -- playing --------------------------------------------------------------------------------

    def _read(self, ws: websocket.WebSocket) -> None:
        """Read every message until the socket ends: the hot loop of the load generator."""
        recv = ws.sock.recv
        feed = self._frames.feed
        fire = self._fire
        loads = orjson.loads
        prefix = _STATE_PREFIX
        find_ts = _STATE_TS.search
        while True:
            try:
                data = recv(65536)
            except OSError as exc:
                self._closed(f"connection lost: {exc}")
                return
            if not data:
                self._closed("connection lost without a close frame")
                return
            now = time.time()
            recording = Window.start <= now < Window.end
            now_ms = now * 1000.0
            try:
                frames = feed(data)
            except ValueError as exc:
                self._closed(f"bad frame: {exc}")
                return
            for opcode, payload in frames:
                if opcode == OP_TEXT:
                    if payload.startswith(prefix):
                        self._states += 1
                        if recording:
                            match = find_ts(payload)
                            ts = int(match.group(1)) if match else loads(payload)["ts"]
                            fire(
                                request_type="WS",
                                name="state latency",
                                response_time=max(0.0, now_ms - ts),
                                response_length=len(payload),
                                exception=None,
                                context={},
                            )
                    else:
                        self._on_message(loads(payload), recording)
                elif opcode == OP_PING:
                    ws.pong(payload)
                elif opcode == OP_CLOSE:
                    self._closed(f"closed by the server with code {close_code(payload)}")
                    return

    def _on_message(self, msg: dict[str, Any], recording: bool) -> None:
        kind = msg.get("type")
        if kind == "state":
            self._states += 1  # a state whose keys came in another order
            if recording:
                latency = max(0.0, time.time() * 1000.0 - msg["ts"])
                self._sample("state latency", latency)
        elif kind == "pong":
            sent = self._pings.pop(msg.get("id"), None)
            if sent is not None and recording:
                self._sample("pong", (time.perf_counter() - sent) * 1000.0)
        elif kind == "error":
            code = msg.get("code")
            self._failure(f"error {code}", 0.0, f"{code}: {msg.get('message')}")
        elif kind == "left" and not Window.stopping:
            self._failure("left room", 0.0, f"left the room: {msg.get('reason')}")

    def _write(self, ws: websocket.WebSocket) -> None:
        """Send `input` at INPUT_HZ with a new direction about every second, and `ping` every
        second; report the states counted by the reader once a second."""
        rng = self._rng
        period = 1.0 / INPUT_HZ
        gevent.sleep(rng.uniform(0.0, period))  # users out of phase, as real players are
        seq = 0
        ping_id = 0
        turn_in = rng.randint(INPUT_HZ - 2, INPUT_HZ + 2)
        dx, dy = random_direction(rng)
        last_report = time.monotonic()
        next_at = last_report
        try:
            while True:
                seq += 1
                turn_in -= 1
                if turn_in <= 0:
                    dx, dy = random_direction(rng)
                    turn_in = rng.randint(INPUT_HZ - 2, INPUT_HZ + 2)
                ws.send(f'{{"type":"input","seq":{seq},"dx":{dx:.4f},"dy":{dy:.4f}}}')
                if seq % INPUT_HZ == 0:
                    ping_id += 1
                    now = time.monotonic()
                    self._pings[ping_id] = time.perf_counter()
                    ws.send(f'{{"type":"ping","id":{ping_id}}}')
                    self._report_states(now - last_report)
                    self._expire_pings()
                    last_report = now
                next_at += period
                delay = next_at - time.monotonic()
                if delay < -period:  # fell behind (a stalled process): don't send a burst
                    next_at = time.monotonic()
                gevent.sleep(max(0.0, delay))
        except (OSError, websocket.WebSocketException):
            return  # the reader sees the end of the socket and reports it

    def _report_states(self, elapsed: float) -> None:
        count, self._states = self._states, 0
        now = time.time()
        if elapsed > 0 and Window.start <= now - elapsed and now <= Window.end:
            self._sample("states per user-second", count / elapsed, length=count)

    def _expire_pings(self) -> None:
        deadline = time.perf_counter() - PONG_DEADLINE
        for ping_id, sent in list(self._pings.items()):
            if sent < deadline:
                del self._pings[ping_id]
                self._failure("pong missing", 0.0, f"no pong within {PONG_DEADLINE:g} s")

    # -- reporting and teardown -----------------------------------------------------------------

    def _sample(self, name: str, value: float, length: int = 0) -> None:
        self._fire(
            request_type="WS",
            name=name,
            response_time=value,
            response_length=length,
            exception=None,
            context={},
        )

    def _failure(self, name: str, started: float, message: str) -> None:
        elapsed = (time.perf_counter() - started) * 1000.0 if started else 0.0
        self._fire(
            request_type="WS",
            name=name,
            response_time=elapsed,
            response_length=0,
            exception=ConnectionClosed(message),
            context={},
        )

    def _closed(self, how: str) -> None:
        if not Window.stopping:
            self._failure("WS closed", 0.0, how)

    def _disconnect(self, *, wait_for_close: bool) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.kill(block=False)
        ws, self._ws = self._ws, None
        if ws is None:
            return
        try:
            if ws.sock is not None and wait_for_close:
                ws.send_close(1000)
                # Read until the server's close frame (bounded), so both sides close cleanly.
                with gevent.Timeout(CLOSE_GRACE, False):
                    while True:
                        data = ws.sock.recv(65536)
                        if not data or any(op == OP_CLOSE for op, _ in self._frames.feed(data)):
                            break
        except (OSError, ValueError, websocket.WebSocketException):
            pass
        finally:
            ws.shutdown()
        self._pings.clear()
