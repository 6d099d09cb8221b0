"""Clients following `redirect` (matchmaking across processes, PROTOCOL.md section 4).

The server side is tested elsewhere; here the clients (the Python library and bots, the asyncio
load generator, the locust players) run against a fake two-process Arena: two small Tornado
servers, "home" on 127.0.0.1 and "away" on 127.0.0.3, sharing sessions and seats. Home answers
`join` by mode with a redirect to away, which seats `join` with the seat token.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.ioloop import PeriodicCallback
from tornado.netutil import bind_sockets
from tornado.websocket import WebSocketHandler

from bench import loadgen
from bench.wsframes import redirect_target
from client.bots import run_bots
from client.joining import (
    MAX_REDIRECTS,
    JoinError,
    Redirect,
    connect_and_join,
    join_following,
)
from client.session import ArenaSocket, login_guest, with_seat, without_seat
from tests.conftest import run_locust

REPO = Path(__file__).resolve().parent.parent
SEAT = "eyJyIjoiM2Y5YzBhMWIi+/="

# -- URLs and redirect messages -------------------------------------------------------------------


def test_with_seat_url_encodes_the_token_and_keeps_the_rest() -> None:
    assert with_seat("ws://127.0.0.3:8888/ws", SEAT) == (
        "ws://127.0.0.3:8888/ws?seat=eyJyIjoiM2Y5YzBhMWIi%2B%2F%3D")
    assert with_seat("ws://h/ws?x=1", "tok") == "ws://h/ws?x=1&seat=tok"
    assert with_seat("ws://h/ws?seat=old", "new") == "ws://h/ws?seat=new"
    assert without_seat(with_seat("ws://h:1/ws?x=1", SEAT)) == "ws://h:1/ws?x=1"
    assert without_seat("ws://h:1/ws") == "ws://h:1/ws"


def test_redirect_from_message() -> None:
    msg = {"type": "redirect", "url": "ws://127.0.0.3:8888/ws", "room": "3f9c0a1b", "seat": SEAT,
           "expires_in": 5}
    redirect = Redirect.from_message(msg)
    assert redirect == Redirect("ws://127.0.0.3:8888/ws", SEAT, "3f9c0a1b", 5.0)
    assert redirect.seat_url == with_seat("ws://127.0.0.3:8888/ws", SEAT)
    assert Redirect.from_message({**msg, "expires_in": None}).expires_in == 5.0
    assert Redirect.from_message({**msg, "url": "wss://a.example/ws"}) is not None
    for broken in ({**msg, "url": "http://127.0.0.3/ws"}, {**msg, "url": 7}, {**msg, "seat": ""},
                   {**msg, "type": "joined"}, {"type": "redirect"}):
        assert Redirect.from_message(broken) is None, broken


def test_load_generators_redirect_target() -> None:
    target = redirect_target({"type": "redirect", "url": "ws://127.0.0.3:8888/ws", "seat": SEAT,
                              "room": "r", "expires_in": 3})
    assert target is not None
    assert (target.host, target.port, target.seat, target.expires_in) == (
        "127.0.0.3", 8888, SEAT, 3.0)
    assert target.path == "/ws?seat=eyJyIjoiM2Y5YzBhMWIi%2B%2F%3D"
    assert target.url == "ws://127.0.0.3:8888/ws?seat=eyJyIjoiM2Y5YzBhMWIi%2B%2F%3D"
    assert redirect_target({"url": "ws://[::1]:9/ws", "seat": "s"}).url == "ws://[::1]:9/ws?seat=s"
    assert redirect_target({"url": "ws://h/ws", "seat": "s"}).port == 80
    assert redirect_target({"url": "wss://h/ws", "seat": "s"}) is None  # no TLS in the loadgen
    assert redirect_target({"url": "ws://h/ws"}) is None


# -- join_following against scripted sockets ------------------------------------------------------


class ScriptedSocket:
    """A `GameSocket` whose server answers each `join` from a script."""

    def __init__(self, url: str, answers: list[list[dict[str, Any]] | None],
                 close_code: int | None = None) -> None:
        self.url = url
        self.sent: list[dict[str, Any]] = []
        self.closed_with: int | None = None
        self._answers = list(answers)  # per join: messages, or None for "the socket closes"
        self._inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._close_code = close_code

    @property
    def close_code(self) -> int | None:
        return self._close_code

    def send(self, msg: dict[str, Any]) -> bool:
        if self.closed_with is not None:
            return False
        self.sent.append(msg)
        if msg["type"] == "join":
            answer = self._answers.pop(0) if self._answers else []
            if answer is None:
                self._inbox.put_nowait(None)
            else:
                for item in answer:
                    self._inbox.put_nowait(item)
        return True

    async def recv(self) -> dict[str, Any] | None:
        if self.closed_with is not None:
            return None
        return await self._inbox.get()

    async def aclose(self, code: int = 1000, reason: str | None = None, *,
                     grace: float = 2.0) -> None:
        if self.closed_with is None:
            self.closed_with = code


HOME = "ws://127.0.0.1:8888/ws"
AWAY = "ws://127.0.0.3:8888/ws"
JOINED = {"type": "joined", "room": "r9", "mode": "arena", "player": 1, "tick_rate": 20,
          "resume": "tok", "client": {}, "state": {"tick": 0, "players": [], "pellets": [],
                                                  "leaderboard": []}}


def redirect(url: str = AWAY, seat: str = SEAT) -> dict[str, Any]:
    return {"type": "redirect", "url": url, "room": "r9", "seat": seat, "expires_in": 5}


def error(code: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": code.replace("_", " ")}


class Network:
    """`connect` for join_following: opens scripted sockets in order, records the URLs."""

    def __init__(self, *scripts: ScriptedSocket | Exception) -> None:
        self.scripts = list(scripts)
        self.urls: list[str] = []

    async def connect(self, url: str) -> ScriptedSocket:
        self.urls.append(url)
        script = self.scripts.pop(0)
        if isinstance(script, Exception):
            raise script
        script.url = url
        return script


async def test_a_redirect_is_followed_to_joined_on_the_new_socket() -> None:
    home = ScriptedSocket(HOME, [[{"type": "pong", "id": 1, "ts": 5}, redirect()]])
    away = ScriptedSocket("", [[JOINED]])
    net = Network(away)
    seen: list[dict[str, Any]] = []
    result = await join_following(home, mode="arena", connect=net.connect, on_message=seen.append)
    assert home.sent == [{"type": "join", "mode": "arena"}]
    assert home.closed_with == 1000
    assert net.urls == [with_seat(AWAY, SEAT)]
    assert away.sent == [{"type": "join", "seat": SEAT}]
    assert result.socket is away and away.closed_with is None
    assert result.message == JOINED
    assert (result.url, result.redirects, result.fallbacks, result.errors) == (AWAY, 1, 0, [])
    assert seen == [{"type": "pong", "id": 1, "ts": 5}]


async def test_no_redirect_keeps_the_socket() -> None:
    home = ScriptedSocket(HOME, [[JOINED]])
    result = await join_following(home, connect=Network().connect)
    assert result.socket is home and home.closed_with is None
    assert (result.url, result.redirects) == (HOME, 0)


async def test_seat_invalid_joins_by_mode_again_where_the_redirect_came_from() -> None:
    home = ScriptedSocket(HOME, [[redirect()]])
    away = ScriptedSocket("", [[error("seat_invalid")]])
    home_again = ScriptedSocket("", [[JOINED]])
    net = Network(away, home_again)
    result = await join_following(home, mode="arena", connect=net.connect)
    assert net.urls == [with_seat(AWAY, SEAT), HOME]
    assert away.closed_with == 1000
    assert home_again.sent == [{"type": "join", "mode": "arena"}]
    assert result.socket is home_again
    assert (result.url, result.redirects, result.fallbacks, result.errors) == (
        HOME, 1, 1, ["seat_invalid"])


async def test_a_target_that_cannot_be_reached_or_closes_falls_back() -> None:
    from client.session import UnreachableError

    home = ScriptedSocket(HOME, [[redirect()]])
    back = ScriptedSocket("", [[redirect()]])
    closes = ScriptedSocket("", [None])  # opens, then closes before joined
    last = ScriptedSocket("", [[JOINED]])
    net = Network(UnreachableError("cannot reach"), back, closes, last)
    result = await join_following(home, connect=net.connect)
    assert net.urls == [with_seat(AWAY, SEAT), HOME, with_seat(AWAY, SEAT), HOME]
    assert result.socket is last
    assert (result.redirects, result.fallbacks) == (2, 2)


async def test_redirects_are_bounded() -> None:
    # Every seat is refused and every matchmaking redirects again: a loop.
    scripts: list[ScriptedSocket | Exception] = []
    for _ in range(MAX_REDIRECTS):
        scripts += [ScriptedSocket("", [[error("seat_invalid")]]),
                    ScriptedSocket("", [[redirect()]])]
    net = Network(*scripts)
    home = ScriptedSocket(HOME, [[redirect()]])
    with pytest.raises(JoinError) as caught:
        await join_following(home, connect=net.connect)
    assert caught.value.code == "too_many_redirects"
    assert str(caught.value) == f"gave up joining after {MAX_REDIRECTS} redirects"
    assert len(net.urls) == 2 * MAX_REDIRECTS
    assert all(s.closed_with == 1000 for s in scripts if isinstance(s, ScriptedSocket))


async def test_unavailable_is_asked_again_then_reported() -> None:
    home = ScriptedSocket(HOME, [[error("unavailable")], [JOINED]])
    result = await join_following(home, connect=Network().connect, retry_delay=0.01)
    assert home.sent == [{"type": "join", "mode": "arena"}] * 2
    assert result.errors == ["unavailable"]
    home = ScriptedSocket(HOME, [[error("unavailable")]] * 3)
    with pytest.raises(JoinError) as caught:
        await join_following(home, connect=Network().connect, retry_delay=0.01)
    assert caught.value.code == "unavailable"


async def test_other_refusals_and_closes_are_join_errors() -> None:
    home = ScriptedSocket(HOME, [[error("unknown_mode")]])
    with pytest.raises(JoinError) as caught:
        await join_following(home, mode="nope", connect=Network().connect)
    assert (caught.value.code, str(caught.value)) == (
        "unknown_mode", "join refused (unknown_mode): unknown mode")
    assert home.closed_with is None  # the caller's socket is the caller's to close

    with pytest.raises(JoinError) as caught:
        await join_following(ScriptedSocket(HOME, [None], close_code=1001),
                             connect=Network().connect)
    assert caught.value.code == "closed" and caught.value.close_code == 1001

    # Logged out meanwhile (4003), even on the redirect's server: no fallback.
    away = ScriptedSocket("", [None], close_code=4003)
    with pytest.raises(JoinError) as caught:
        await join_following(ScriptedSocket(HOME, [[redirect()]]), connect=Network(away).connect)
    assert caught.value.code == "session_ended"


async def test_a_join_with_no_answer_times_out_and_closes_what_it_opened() -> None:
    home = ScriptedSocket(HOME, [[redirect()]])
    away = ScriptedSocket("", [[]])  # never answers the seat
    with pytest.raises(JoinError) as caught:
        await join_following(home, connect=Network(away).connect, join_timeout=0.2)
    assert caught.value.code == "timeout"
    assert away.closed_with == 1000


# -- a fake two-process Arena ---------------------------------------------------------------------


@dataclass
class Node:
    name: str
    url: str = ""  # ws://host:port/ws
    http: str = ""  # http://host:port
    redirects: bool = False  # answer join by mode with a redirect to the other node
    unavailable: int = 0  # answer that many joins by mode with `unavailable` first


@dataclass
class FakeArena:
    home: Node = field(default_factory=lambda: Node("home", redirects=True))
    away: Node = field(default_factory=lambda: Node("away"))
    sessions: dict[str, str] = field(default_factory=dict)  # cookie value -> name
    seats: dict[str, tuple[str, str]] = field(default_factory=dict)  # token -> (name, node)
    used: set[str] = field(default_factory=set)
    refuse_seats: int = 0  # the next that many seat joins are refused (seat_invalid)
    handshakes: list[tuple[str, str | None, bool]] = field(default_factory=list)
    peers: list[tuple[str, str]] = field(default_factory=list)  # (node, client address)
    joins: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    closes: list[tuple[str, int | None]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)  # set at every close
    tokens: itertools.count[int] = field(default_factory=itertools.count)

    def other(self, node: Node) -> Node:
        return self.away if node is self.home else self.home


class _Xsrf(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_cookie("_xsrf", "x-token")
        self.write({"xsrf": "x-token"})


class _Guest(tornado.web.RequestHandler):
    def initialize(self, arena: FakeArena) -> None:
        self.arena = arena

    def post(self) -> None:
        name = orjson.loads(self.request.body)["name"]
        sid = f"s{next(self.arena.tokens)}"
        self.arena.sessions[sid] = name
        self.set_cookie("arena_session", sid)
        self.write({"user": {"id": 1, "name": name, "guest": True, "best_mass": 0}})


class _Game(WebSocketHandler):
    def initialize(self, arena: FakeArena, node: Node) -> None:
        self.arena = arena
        self.node = node
        self.ticker: PeriodicCallback | None = None
        self.tick = 0

    def check_origin(self, origin: str) -> bool:
        return True

    async def get(self, *args: Any, **kwargs: Any) -> None:
        seat = self.get_query_argument("seat", None)
        cookie = self.get_cookie("arena_session")
        self.arena.handshakes.append((self.node.name, seat, cookie is not None))
        self.arena.peers.append((self.node.name, str(self.request.remote_ip)))
        account = self.arena.sessions.get(cookie or "")
        if account is None and seat in self.arena.seats:
            account = self.arena.seats[seat][0]
        if account is None:
            self.set_status(401)
            self.finish()
            return
        self.account = account
        await super().get(*args, **kwargs)

    def on_message(self, message: str | bytes) -> None:
        msg = orjson.loads(message)
        kind = msg.get("type")
        if kind == "ping":
            self.send({"type": "pong", "id": msg.get("id"), "ts": int(time.time() * 1000)})
        elif kind == "join":
            self.arena.joins.append((self.node.name, {k: v for k, v in msg.items()
                                                       if k != "type"}))
            self.on_join(msg)

    def on_join(self, msg: dict[str, Any]) -> None:
        arena, node = self.arena, self.node
        if "seat" in msg:
            seat = msg["seat"]
            held = arena.seats.get(seat)
            if arena.refuse_seats > 0 or held is None or seat in arena.used or held != (
                    self.account, node.name):
                arena.refuse_seats = max(0, arena.refuse_seats - 1)
                self.send({"type": "error", "code": "seat_invalid", "message": "no such seat"})
                return
            arena.used.add(seat)
            self.seat()
        elif node.unavailable > 0:
            node.unavailable -= 1
            self.send({"type": "error", "code": "unavailable", "message": "try again"})
        elif node.redirects:
            token = f"seat+{next(arena.tokens)}/="
            arena.seats[token] = (self.account, arena.other(node).name)
            self.send({"type": "redirect", "url": arena.other(node).url,
                       "room": f"room-{arena.other(node).name}", "seat": token,
                       "expires_in": 5})
        else:
            self.seat()

    def seat(self) -> None:
        self.send({"type": "joined", "room": f"room-{self.node.name}", "mode": "arena",
                   "player": 1, "tick_rate": 20, "resume": "r",
                   "client": {"width": 3000, "height": 3000, "pellet_radius": 5,
                             "radius_factor": 4},
                   "state": {"tick": 0, "players": [[1, self.account, 1500, 1500, 10, 0, True]],
                             "pellets": [[0, 1600, 1500]], "leaderboard": [[1, 10]]}})
        self.ticker = PeriodicCallback(self.send_state, 50)
        self.ticker.start()

    def send_state(self) -> None:
        self.tick += 1
        self.send({"type": "state", "tick": self.tick, "ts": int(time.time() * 1000)})

    def send(self, msg: dict[str, Any]) -> None:
        if self.ws_connection is not None and not self.ws_connection.is_closing():
            self.write_message(orjson.dumps(msg).decode())

    def on_close(self) -> None:
        self.arena.closes.append((self.node.name, self.close_code))
        self.arena.closed.set()
        if self.ticker is not None:
            self.ticker.stop()


@pytest.fixture
async def arena() -> AsyncIterator[FakeArena]:
    fake = FakeArena()
    servers = []
    for node, address in ((fake.home, "127.0.0.1"), (fake.away, "127.0.0.3")):
        try:
            sockets = bind_sockets(0, address, family=socket.AF_INET)
        except OSError:
            pytest.skip(f"cannot bind {address} (no 127.0.0.0/8 loopback here)")
        port = sockets[0].getsockname()[1]
        node.url = f"ws://{address}:{port}/ws"
        node.http = f"http://{address}:{port}"
        app = tornado.web.Application([
            (r"/login", _Xsrf), (r"/api/xsrf", _Xsrf), (r"/api/guest", _Guest, {"arena": fake}),
            (r"/ws", _Game, {"arena": fake, "node": node}),
        ])
        server = HTTPServer(app)
        server.add_sockets(sockets)
        servers.append(server)
    try:
        yield fake
    finally:
        for server in servers:
            server.stop()
        for server in servers:
            await server.close_all_connections()


# -- the Python client and the bots against it ----------------------------------------------------


async def test_connect_and_join_follows_a_redirect_with_seat_and_cookie(arena: FakeArena) -> None:
    cookie = await login_guest(arena.home.http, "ann")
    result = await connect_and_join(arena.home.http, cookie, mode="arena")
    try:
        assert result.redirects == 1 and result.fallbacks == 0
        assert result.url == arena.away.url
        assert result.message["room"] == "room-away"
        assert isinstance(result.socket, ArenaSocket)
        assert result.socket.url.startswith(arena.away.url + "?seat=")
        [(_, seat)] = [j for j in arena.joins if "seat" in j[1]]
        # Home: the cookie; away: the seat in the URL and the cookie too.
        assert arena.handshakes == [("home", None, True), ("away", seat["seat"], True)]
        assert arena.joins == [("home", {"mode": "arena"}), ("away", seat)]
        # Pings now go to (and come back from) the new server.
        result.socket.send({"type": "ping", "id": 7})
        while (msg := await result.socket.recv()) is not None and msg["type"] != "pong":
            pass
        assert msg is not None and msg["id"] == 7
    finally:
        await result.socket.aclose()
    async with asyncio.timeout(5):  # the abandoned socket was closed cleanly
        while ("home", 1000) not in arena.closes:
            arena.closed.clear()
            await arena.closed.wait()


async def test_a_refused_seat_falls_back_to_home(arena: FakeArena) -> None:
    arena.refuse_seats = 1
    cookie = await login_guest(arena.home.http, "bob")
    result = await connect_and_join(arena.home.http, cookie)
    try:
        assert (result.redirects, result.fallbacks, result.errors) == (2, 1, ["seat_invalid"])
        assert [j[0] for j in arena.joins] == ["home", "away", "home", "away"]
        assert result.url == arena.away.url
    finally:
        await result.socket.aclose()


async def test_bots_follow_redirects_and_count_them(arena: FakeArena) -> None:
    report = await run_bots(arena.home.http, bots=3, duration=1.0, seed=1)
    assert report.ok, report.failures
    assert (report.redirects, report.redirected, report.seat_fallbacks) == (3, 3, 0)
    assert report.servers == {arena.away.url: 3}
    assert report.states > 0 and report.ping_samples > 0  # pings went to the new server
    assert report.errors == {}
    assert f"redirects: 3 followed by 3 bots, 0 seats refused; playing on {arena.away.url} x3" \
        in report.format()


async def test_bots_report_a_redirect_loop(arena: FakeArena) -> None:
    arena.refuse_seats = 100
    report = await run_bots(arena.home.http, bots=2, duration=1.0, seed=1)
    assert report.joined == 0
    assert report.main_failure() == f"gave up joining after {MAX_REDIRECTS} redirects"
    assert report.errors == {}


# -- the load generators against it ---------------------------------------------------------------


async def test_loadgen_players_follow_redirects_from_their_own_addresses(arena: FakeArena) -> None:
    arena.refuse_seats = 1
    result = await loadgen.run_load(
        loadgen.LoadOptions(url=arena.home.http, players=4, seconds=1.0, warmup=0.2, seed=1),
        announce=False,
    )
    assert result["joined"] == 4, result["failure_kinds"]
    assert result["failures"] == 0, result["failure_kinds"]
    assert (result["redirected"], result["redirects"], result["seat_fallbacks"]) == (4, 5, 1)
    assert result["states_per_player_second_min"] > 0 and result["pongs"] > 0
    assert "redirected           4 players to another process (5 redirects, 1 seats refused)" \
        in loadgen.summary_text(result)
    seats = [h for h in arena.handshakes if h[0] == "away"]
    assert len(seats) == 5 and all(seat and cookie for _, seat, cookie in seats)
    # Each player comes from its own loopback address, on the other host too.
    assert {ip for node, ip in arena.peers if node == "away"} == {
        "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}


async def test_loadgen_gives_up_a_redirect_loop(arena: FakeArena) -> None:
    arena.refuse_seats = 100
    result = await loadgen.run_load(
        loadgen.LoadOptions(url=arena.home.http, players=2, seconds=0.2, warmup=0.0),
        announce=False,
    )
    assert result["joined"] == 0
    assert result["failure_kinds"] == {f"join failed: more than {MAX_REDIRECTS} redirects": 2}
    assert result["redirects"] == 2 * MAX_REDIRECTS


@pytest.mark.serial  # locust counts states over a few seconds: a busy neighbour starves it
async def test_locust_players_follow_redirects(arena: FakeArena, tmp_path: Path) -> None:
    log, stats, failures, _ = await run_locust(arena.home.http, 3, 4, tmp_path / "redirect")
    assert failures == [], log
    assert stats["WS connect+join"]["Request Count"] == 3, log
    assert stats["WS redirect"]["Request Count"] == 3, log
    assert stats["pong"]["Request Count"] > 0, log
    assert stats["states per user-second"]["Request Count"] > 0, log
    assert sum(1 for h in arena.handshakes if h[0] == "away" and h[1] and h[2]) == 3


# -- one server: nothing changes ------------------------------------------------------------------


async def test_join_following_on_a_real_single_server(server: Any) -> None:
    cookie = await login_guest(server.url, "solo")
    result = await connect_and_join(server.url, cookie)
    try:
        assert result.redirects == 0 and result.fallbacks == 0
        assert result.message["type"] == "joined" and result.message["mode"] == "arena"
        assert result.url == server.url.replace("http://", "ws://") + "/ws"
    finally:
        await result.socket.aclose()
