"""What every locust player does, whatever its game: guest login, `/ws` from its own loopback
address, join by mode following `redirect`s, the `WS ...` rows, a clean close.

`GamePlayer` is abstract: `bench/locustfile.py` holds the arena's player and `bench.locust_dice`
the Liar's Dice player, each with its own task and reader. This runs under gevent.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import gevent
import orjson
import websocket
from locust import HttpUser, constant

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
from protocol.closes import CloseCode

XSRF_COOKIE = "_xsrf"
CONNECT_TIMEOUT = 10.0  # seconds for the TCP connect + handshake, and again for `joined`
CLOSE_GRACE = 1.0  # seconds to wait for the server's close frame when stopping

_names = itertools.count(1)
_users = itertools.count(os.getpid())  # spreads source addresses across --processes workers


class ConnectionClosed(Exception):
    """The WebSocket ended; the message says how."""


class JoinRefused(ConnectionClosed):
    """The server answered `join` with an `error`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"error {code}: {message}")
        self.code = code


class GamePlayer(HttpUser):
    """The part of a player every game shares. Subclasses say which `mode` they join (and
    with which `options`) and how they play once `_connect_and_join` has seated them."""

    abstract = True
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
        self._joined: dict[str, Any] = {}  # the last `joined`
        self._after_joined: list[bytes] = []  # text frames read in the same chunk as it
        self._mode = self.join_mode()
        self._index = next(_users)

    def join_mode(self) -> str:
        """The mode to join: `--arena-mode` (default arena)."""
        options = self.environment.parsed_options
        return getattr(options, "arena_mode", None) or "arena"

    def join_options(self) -> dict[str, Any] | None:
        """Room options to quick-play with: `--arena-options` (a JSON object; empty: the
        mode's defaults)."""
        text = getattr(self.environment.parsed_options, "arena_options", "") or ""
        if not text:
            return None
        options = orjson.loads(text)
        if not isinstance(options, dict):
            raise ValueError(f"--arena-options is not a JSON object: {text}")
        return options

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
        by_mode: dict[str, Any] = {"type": "join", "mode": self._mode}
        options = self.join_options()
        if options:
            by_mode["options"] = options
        join_mode = orjson.dumps(by_mode).decode()
        claiming_from: str | None = None  # where to go back if the seat is refused
        hop_started = 0.0
        redirects = 0
        request = join_mode
        while True:
            self._after_joined.clear()
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
                self._joined = answer
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
                ws.send_close(CloseCode.NORMAL)
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
            if opcode == OP_TEXT and answer is not None:
                self._after_joined.append(payload)  # came with `joined`: the reader's
            elif opcode == OP_TEXT:
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
                ws.send_close(CloseCode.NORMAL)
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

