"""Shared fixtures: fakes for the engine (clock, scheduler, connection) and a real server."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import orjson
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.websocket import WebSocketClientConnection, websocket_connect

from game_server.app import ArenaServer
from game_server.config import Config
from game_server.storage.passwords import PasswordHasher

TEST_SECRET = "test-secret-" + "x" * 40
REPO = Path(__file__).resolve().parent.parent

# The server's own bots (game_server/house_bots.py) would join every arena room a test opens
# and change what it counts: off in every server the tests start, in process (`make_config`)
# or as `python -m game_server` (this variable), unless a test turns them on.
os.environ.setdefault("ARENA_NO_HOUSE_BOTS", "1")


# -- engine fakes ---------------------------------------------------------------------------


class ManualClock:
    """A monotonic clock that moves only when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class _ManualTimer:
    def __init__(self, scheduler: ManualScheduler, due: float, interval: float | None,
                 callback: Callable[[], object]) -> None:
        self.scheduler = scheduler
        self.due = due
        self.interval = interval
        self.callback = callback
        self.cancelled = False
        self.start = due  # a repeating timer's grid: call n at start + n * interval
        self.count = 0

    def cancel(self) -> None:
        self.cancelled = True


class ManualScheduler:
    """A `Scheduler` driven by `advance`, sharing time with a `ManualClock`."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, _ManualTimer]] = []
        self._order = itertools.count()

    def _push(self, timer: _ManualTimer) -> _ManualTimer:
        heapq.heappush(self._heap, (timer.due, next(self._order), timer))
        return timer

    def every(self, interval: float, callback: Callable[[], object]) -> _ManualTimer:
        timer = _ManualTimer(self, self.clock.now + interval, interval, callback)
        timer.start, timer.count = self.clock.now, 1
        return self._push(timer)

    def later(self, delay: float, callback: Callable[[], object]) -> _ManualTimer:
        return self._push(_ManualTimer(self, self.clock.now + delay, None, callback))

    @property
    def active(self) -> list[_ManualTimer]:
        return [t for _, _, t in self._heap if not t.cancelled]

    def advance(self, seconds: float) -> None:
        end = self.clock.now + seconds
        while self._heap and self._heap[0][0] <= end + 1e-12:
            due, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self.clock.now = max(self.clock.now, due)
            timer.callback()
            if timer.interval is not None and not timer.cancelled:
                # The n-th call at start + n * interval, not a sum of intervals (which drifts
                # off a grid that timers set at the same moment fall on).
                timer.count += 1
                timer.due = timer.start + timer.count * timer.interval
                self._push(timer)
        self.clock.now = end


class FakeConnection:
    """An in-memory `Connection` that decodes what it is sent."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self.pending = 0  # what backlog() reports: set it to play a slow reader
        self._behind_since: float | None = None  # when lag() first saw `pending`

    def send(self, data: bytes) -> None:
        assert isinstance(data, bytes)
        self.raw.append(data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)

    def backlog(self) -> int:
        return self.pending

    def lag(self, now: float) -> float:
        if self.pending <= 0:
            self._behind_since = None
            return 0.0
        if self._behind_since is None:
            self._behind_since = now
        return now - self._behind_since

    def send_state(self, data: bytes, limit: int) -> bool:
        if self.pending > limit:
            return False
        self.send(data)
        return True

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [orjson.loads(b) for b in self.raw]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]


@dataclass(frozen=True)
class FakeIdentity:
    id: int
    name: str


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def scheduler(clock: ManualClock) -> ManualScheduler:
    return ManualScheduler(clock)


# -- a real server on 127.0.0.1 -------------------------------------------------------------


@asynccontextmanager
async def running(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """A `python -m game_server` process on a free port, and its URL; killed if still alive."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "game_server", "--port", "0", "--data-dir", str(data_dir), *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(30):
            while True:
                line = (await proc.stderr.readline()).decode()
                assert line, "the server exited before it was ready"
                found = re.search(r"Arena listening on (http://\S+)", line)
                if found:
                    break
        yield proc, found.group(1)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def run_locust(host: str, users: int, seconds: int, prefix: Path, *extra: str
                     ) -> tuple[str, dict[str, dict[str, Any]], list[dict[str, Any]], int]:
    """Run bench/locustfile.py headless against `host` (with `extra` arguments): (its output,
    the stats by name, the failures, its exit code). Killed if it outlives a minute."""
    from bench.locust_csv import read_locust_failures, read_locust_stats

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "locust", "-f", str(REPO / "bench" / "locustfile.py"),
        "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", host,
        "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", *extra,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return (output.decode(errors="replace"), read_locust_stats(Path(f"{prefix}_stats.csv")),
            read_locust_failures(Path(f"{prefix}_failures.csv")), proc.returncode or 0)


def loopback_aliases_work(*addresses: str) -> bool:
    """Whether these 127.0.0.x addresses can be bound here (Linux: all of 127/8 can)."""
    import socket

    for address in addresses:
        try:
            with socket.socket() as sock:
                sock.bind((address, 0))
        except OSError:
            return False
    return True


def make_config(data_dir: Path, **overrides: Any) -> Config:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "data_dir": data_dir,
        "cookie_secret": TEST_SECRET,
        "empty_room_grace": 0.5,
        "resume_grace": 0.5,
        "house_bots": False,
    }
    values.update(overrides)
    return Config(**values)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ArenaServer]:
    srv = ArenaServer(make_config(tmp_path / "data"), passwords=PasswordHasher(n=2**10))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@asynccontextmanager
async def tls_listener(srv: ArenaServer, cert_dir: Path) -> AsyncIterator[str]:
    """`srv`'s application also served over TLS (a self-signed certificate made by ``openssl``
    for 127.0.0.1) on a free port of its own; yields its https:// URL. Arena serves plain HTTP
    and leaves TLS to a proxy, but an application embedding it may serve TLS itself: its game
    sockets stay on Tornado's own reader and stream (transport/ws.py)."""
    import shutil
    import ssl

    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    openssl = shutil.which("openssl")
    if openssl is None:
        message = "openssl not found; install it with: apt-get install -y openssl"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    cert, key = cert_dir / "tls-cert.pem", cert_dir / "tls-key.pem"
    made = await asyncio.create_subprocess_exec(
        openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await made.communicate()
    assert made.returncode == 0, err.decode(errors="replace")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sockets = bind_sockets(0, "127.0.0.1")
    http = HTTPServer(srv.app, ssl_options=context)
    http.add_sockets(sockets)
    try:
        yield f"https://127.0.0.1:{sockets[0].getsockname()[1]}"
    finally:
        http.stop()
        await http.close_all_connections()


class Browserless:
    """An HTTP client with a cookie jar, like a bot: XSRF token, JSON API, WebSocket."""

    def __init__(self, base_url: str, *, validate_cert: bool = True) -> None:
        self.base = base_url
        self.validate_cert = validate_cert  # False for a test's self-signed TLS proxy
        self.ws_base = "ws" + base_url[len("http"):]
        self.cookies: dict[str, str] = {}
        self.http = AsyncHTTPClient(force_instance=True)
        self.sockets: list[WebSocketClientConnection] = []

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _keep_cookies(self, response: HTTPResponse) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if not morsel.value or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def request(self, method: str, path: str, body: Any = None, *,
                      form: dict[str, str] | None = None, xsrf: bool = True,
                      headers: dict[str, str] | None = None) -> HTTPResponse:
        all_headers = dict(headers or {})
        if method == "POST" and xsrf:
            if "_xsrf" not in self.cookies:
                await self.request("GET", "/api/xsrf")
            all_headers.setdefault("X-XSRFToken", self.cookies["_xsrf"])
        payload: bytes | None = None
        if form is not None:
            from urllib.parse import urlencode
            payload = urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif method == "POST":
            payload = orjson.dumps(body if body is not None else {})
            all_headers["Content-Type"] = "application/json"
        if self.cookies:
            all_headers["Cookie"] = self.cookie_header()
        req = HTTPRequest(self.base + path, method=method, body=payload, headers=all_headers,
                          follow_redirects=False, validate_cert=self.validate_cert)
        try:
            response = await self.http.fetch(req, raise_error=False)
        except HTTPClientError as exc:  # pragma: no cover - raise_error=False
            response = exc.response
        self._keep_cookies(response)
        return response

    async def guest(self, name: str = "tester") -> dict[str, Any]:
        response = await self.request("POST", "/api/guest", {"name": name})
        assert response.code == 200, response.body
        return orjson.loads(response.body)["user"]

    async def ws(self, *, origin: str | None = None,
                 cookie: str | None = None) -> WebSocketClientConnection:
        headers = {"Cookie": self.cookie_header() if cookie is None else cookie}
        if origin is not None:
            headers["Origin"] = origin
        ws = await websocket_connect(HTTPRequest(self.ws_base + "/ws", headers=headers,
                                                 validate_cert=self.validate_cert))
        self.sockets.append(ws)
        return ws

    async def aclose(self) -> None:
        """Close every socket and wait for each close handshake, so nothing leaks."""
        for ws in self.sockets:
            already_closed = ws.close_code is not None
            ws.close()
            if already_closed:
                continue
            try:
                async with asyncio.timeout(2):
                    while await ws.read_message() is not None:
                        pass
            except TimeoutError:
                pass
        self.sockets.clear()
        self.http.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[Browserless]]:
    """A list to put HTTP clients in; each one left in it is closed after the test."""
    made: list[Browserless] = []
    yield made
    for client in made:
        await client.aclose()


@pytest.fixture
async def client_factory(server: ArenaServer) -> AsyncIterator[Callable[[], Browserless]]:
    made: list[Browserless] = []

    def make() -> Browserless:
        c = Browserless(server.url)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.aclose()


async def recv_json(ws: WebSocketClientConnection, within: float = 5.0) -> dict[str, Any] | None:
    msg = await asyncio.wait_for(ws.read_message(), within)
    return None if msg is None else orjson.loads(msg)


async def recv_until(ws: WebSocketClientConnection, kind: str, within: float = 5.0,
                     where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """Read messages until one of `kind` (matching `where`) arrives; fail on close or timeout."""
    async def loop() -> dict[str, Any]:
        while True:
            msg = await ws.read_message()
            assert msg is not None, f"socket closed while waiting for {kind!r}"
            obj = orjson.loads(msg)
            if obj["type"] == kind and (where is None or where(obj)):
                return obj
    return await asyncio.wait_for(loop(), within)
