"""Several "hosts" on one machine behave as one Arena: separate `python -m game_server`
processes on 127.0.0.2 and 127.0.0.3 sharing a real Redis (presence) and a real PostgreSQL
(accounts, sessions, scores), both private to the tests.

Faults: a host killed with SIGKILL, Redis restarted mid-game, PostgreSQL briefly down.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from client.bots import run_bots
from tests.conftest import (
    TEST_SECRET,
    Browserless,
    loopback_aliases_work,
    recv_json,
    recv_until,
)
from tests.pg import PostgresServer, postgres_server  # noqa: F401 (fixture)
from tests.rd import RedisServer, private_redis  # noqa: F401 (fixture)

HOSTS = ("127.0.0.2", "127.0.0.3")
PRESENCE_TTL = 1.5  # a dead host's rooms leave the lobby within this


pytestmark = pytest.mark.skipif(not loopback_aliases_work(*HOSTS),
                                reason="127.0.0.2/.3 cannot be bound on this machine")


@asynccontextmanager
async def host(address: str, data_dir: Path, redis_url: str, database_url: str,
               *extra: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """One Arena process on `address` in the shared deployment, and its URL. Its log is
    drained all along (a full pipe would stall it) and printed if the test fails."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "game_server", "--port", "0", "--data-dir", str(data_dir),
        "--host", address, "--redis-url", redis_url, "--database-url", database_url,
        "--presence-ttl", str(PRESENCE_TTL), "--seat-ttl", "3",
        "--max-connections-per-ip", "0", "--empty-room-grace", "1", *extra,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "ARENA_COOKIE_SECRET": TEST_SECRET})
    assert proc.stderr is not None
    log: list[str] = []
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def drain() -> None:
        assert proc.stderr is not None
        while line := (await proc.stderr.readline()).decode():
            log.append(line)
            if "Arena listening on" in line and not ready.done():
                ready.set_result(line.split("Arena listening on ")[1].split()[0])
        if not ready.done():
            ready.set_exception(AssertionError("the server exited: " + "".join(log[-20:])))

    drainer = asyncio.get_running_loop().create_task(drain())
    try:
        url = await asyncio.wait_for(asyncio.shield(ready), 30)
        yield proc, url
    except BaseException:
        sys.stderr.write(f"--- log of {address} ---\n" + "".join(log[-60:]))
        raise
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await drainer


@pytest.fixture
async def database(postgres_server: PostgresServer) -> AsyncIterator[str]:  # noqa: F811
    postgres_server.start()  # a no-op unless a test stopped it
    name = await postgres_server.create_database()
    yield postgres_server.dsn(name)
    postgres_server.start()
    await postgres_server.drop_database(name)


@asynccontextmanager
async def hosts(tmp_path: Path, redis_url: str, database: str, *extra: str
                ) -> AsyncIterator[list[tuple[asyncio.subprocess.Process, str]]]:
    """Both hosts, with `extra` arguments."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(
            host(address, tmp_path / address, redis_url, database, *extra))
            for address in HOSTS]


@pytest.fixture
async def two_hosts(tmp_path: Path, private_redis: RedisServer, database: str  # noqa: F811
                    ) -> AsyncIterator[list[tuple[asyncio.subprocess.Process, str]]]:
    async with hosts(tmp_path, private_redis.url, database) as found:
        yield found


@pytest.fixture
async def capped_hosts(tmp_path: Path, private_redis: RedisServer, database: str  # noqa: F811
                       ) -> AsyncIterator[list[tuple[asyncio.subprocess.Process, str]]]:
    """Both hosts, holding 48 sockets from one address between them (all the bots' address:
    40 players, and the second socket each holds for a moment while it follows a redirect)."""
    async with hosts(tmp_path, private_redis.url, database,
                     "--max-connections-per-ip", "48") as found:
        yield found


async def login(clients: list[Browserless], url: str, name: str) -> Browserless:
    client = Browserless(url)
    clients.append(client)
    await client.guest(name)
    return client


def send(ws: WebSocketClientConnection, **msg: Any) -> None:
    ws.write_message(orjson.dumps(msg).decode())


async def join(client: Browserless, *, attempts: int = 20) -> tuple[WebSocketClientConnection,
                                                                    dict[str, Any]]:
    """Join by mode from the client's home host, following a redirect; retried (as the
    clients do) while a dead host's rooms are still listed or the presence is restarting."""
    for _ in range(attempts):
        ws = await client.ws()
        send(ws, type="join", mode="arena")
        answer = await _answer(ws)
        if answer["type"] == "redirect":
            ws.close()
            try:
                ws = await websocket_connect(HTTPRequest(
                    answer["url"] + "?seat=" + quote(answer["seat"])))
            except OSError:
                await asyncio.sleep(0.3)  # that host is gone: matchmake again
                continue
            client.sockets.append(ws)
            send(ws, type="join", seat=answer["seat"])
            answer = await _answer(ws)
        if answer["type"] == "joined":
            return ws, answer
        ws.close()
        await asyncio.sleep(0.3)
    raise AssertionError(f"could not join: {answer}")


async def _answer(ws: WebSocketClientConnection) -> dict[str, Any]:
    while True:
        msg = await recv_json(ws, 10)
        assert msg is not None, f"closed ({ws.close_code}) before an answer to join"
        if msg["type"] in ("joined", "redirect", "error"):
            return msg


async def rooms(url: str) -> list[dict[str, Any]]:
    client = Browserless(url)
    try:
        return orjson.loads((await client.request("GET", "/api/rooms")).body)["rooms"]
    finally:
        client.http.close()


async def until(predicate, what: str, within: float = 10.0) -> Any:  # type: ignore[no-untyped-def]
    """Poll an async predicate until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await predicate()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@pytest.mark.serial  # 40 bots on two processes, their state rate checked: alone, no neighbour
async def test_forty_bots_over_two_hosts_fill_two_rooms(capped_hosts) -> None:
    # The bots start together on both hosts, from one address, under the deployment-wide
    # address cap as a real deployment runs (the seat a refused connection did not take is
    # tested in test_cluster.py: it used to open a third room here, 20/12/8).
    (_, url_a), (_, url_b) = capped_hosts
    stop = asyncio.Event()
    # They play for 6 s: long enough to be seated (about 1 s) and then play.
    runs = [asyncio.create_task(run_bots(url, 20, 6.0, name_prefix=prefix, seed=7, stop=stop))
            for url, prefix in ((url_a, "a"), (url_b, "b"))]
    try:
        async def seated() -> list[dict[str, Any]] | None:
            listed = await rooms(url_a)
            return listed if sum(r["players"] for r in listed) == 40 else None

        listed = await until(seated, "40 bots in rooms", 30)
        assert sorted(r["players"] for r in listed) == [20, 20]  # not four half-empty rooms
        assert await rooms(url_b) == listed  # one lobby, whichever host you ask
        assert {r["url"] for r in listed} <= {
            "ws" + url[len("http"):] + "/ws" for url in (url_a, url_b)}
        reports = await asyncio.gather(*runs)
    finally:
        stop.set()
        await asyncio.gather(*runs, return_exceptions=True)
    for report in reports:
        assert report.ok, report.failures
        assert report.states_per_second_per_bot > 10  # 20 states/s nominal, every bot
        assert not report.closed_early


async def test_chat_and_logout_cross_hosts(two_hosts, clients) -> None:
    (_, url_a), (_, url_b) = two_hosts
    ann = await login(clients, url_a, "ann")
    bob = await login(clients, url_b, "bob")
    on_a, on_b = await ann.ws(), await bob.ws()
    send(on_a, type="chat", text="hello from a", scope="global")
    for ws in (on_a, on_b):
        assert (await recv_until(ws, "chat"))["text"] == "hello from a"

    # Ann's login, used on host B too; logging out on A closes her socket on B.
    ann_b = Browserless(url_b)
    clients.append(ann_b)
    ann_b.cookies = dict(ann.cookies)
    ws = await ann_b.ws()
    assert (await ann.request("POST", "/api/logout")).code == 200
    assert await asyncio.wait_for(ws.read_message(), 5) is None
    assert ws.close_code == 4003


async def claim(client: Browserless, redirect: dict[str, Any]) -> dict[str, Any]:
    """Follow `redirect` to the host it names and claim its seat: the answer there."""
    assert redirect["type"] == "redirect", redirect
    ws = await websocket_connect(
        HTTPRequest(redirect["url"] + "?seat=" + quote(redirect["seat"])))
    client.sockets.append(ws)
    send(ws, type="join", seat=redirect["seat"])
    return await _answer(ws)


async def test_private_codes_locks_and_metadata_cross_hosts(two_hosts, clients) -> None:
    (_, url_a), (_, url_b) = two_hosts
    # A private table on A, joined by its code from B: redirected to A, the same table.
    ann = await login(clients, url_a, "ann")
    ws = await ann.ws()
    send(ws, type="create", mode="dice", private=True)
    table = await recv_until(ws, "joined")
    bob = await login(clients, url_b, "bob")
    ws = await bob.ws()
    send(ws, type="join", code=table["code"].lower())
    redirect = await _answer(ws)
    assert (redirect["type"], redirect["url"]) == ("redirect", "ws" + url_a[4:] + "/ws")
    joined = await claim(bob, redirect)
    assert (joined["type"], joined["room"], joined["code"]) == (
        "joined", table["room"], table["code"])
    # It is in no lobby, on either host.
    assert await rooms(url_a) == [] and await rooms(url_b) == []
    # A public table on A that starts: B's lobby shows it locked, playing, at once ...
    cid = await login(clients, url_a, "cid")
    dan = await login(clients, url_a, "dan")
    for client in (cid, dan):
        ws = await client.ws()
        send(ws, type="join", mode="dice")
        public = await recv_until(ws, "joined")

    async def playing() -> list[dict[str, Any]]:
        return [r for r in await rooms(url_b)
                if r.get("locked") and r.get("metadata", {}).get("status") == "playing"]

    [listed] = await until(playing, "A's table locked and playing in B's lobby", 5)
    assert (listed["id"], listed["players"]) == (public["room"], 2)
    # ... and quick play on B skips it: a table of its own on B.
    eve = await login(clients, url_b, "eve")
    ws = await eve.ws()
    send(ws, type="join", mode="dice")
    answer = await _answer(ws)
    assert answer["type"] == "joined" and answer["room"] != public["room"]
    assert [r["url"] for r in await rooms(url_a) if r["id"] == answer["room"]] == [
        "ws" + url_b[4:] + "/ws"]


async def test_a_killed_host_leaves_the_lobby_and_its_players_play_elsewhere(
        two_hosts, clients) -> None:
    (proc_a, url_a), (_, url_b) = two_hosts
    # Ann opens a room on A; five bots logged in on B are redirected into it.
    ann = await login(clients, url_a, "ann")
    _, joined = await join(ann)
    stop = asyncio.Event()
    bots = asyncio.create_task(run_bots(url_b, 5, 60.0, name_prefix="b", seed=3, stop=stop))
    try:
        await until(lambda: _room_has(url_b, joined["room"], 6), "the bots in ann's room")
        # Carl is connected to B the whole time.
        carl = await login(clients, url_b, "carl")
        carl_ws = await carl.ws()
        send(carl_ws, type="ping", id=1)
        await recv_until(carl_ws, "pong")

        proc_a.send_signal(signal.SIGKILL)
        await proc_a.wait()
        # Within the TTL A's room leaves the lobby; the bots come back through matchmaking
        # on their home host B and play in a room there.
        await until(lambda: _no_rooms_of(url_b, url_a), "A's rooms to expire", PRESENCE_TTL * 4)
        url_b_ws = "ws" + url_b[len("http"):] + "/ws"

        async def moved() -> bool:
            return [(r["url"], r["players"]) for r in await rooms(url_b)] == [(url_b_ws, 5)]

        await until(moved, "the bots in a room on B", 30)
        send(carl_ws, type="ping", id=2)  # Carl saw nothing
        assert (await recv_until(carl_ws, "pong"))["id"] == 2
    finally:
        stop.set()
        report = await bots
    assert report.ok, report.failures
    assert report.reconnects == 5
    assert report.servers == {url_b_ws: 5}


async def _room_has(url: str, room: str, players: int) -> bool:
    return any(r["id"] == room and r["players"] == players for r in await rooms(url))


async def _no_rooms_of(url: str, dead: str) -> bool:
    dead_ws = "ws" + dead[len("http"):] + "/ws"
    return all(r["url"] != dead_ws for r in await rooms(url))


async def test_redis_restarted_mid_game(two_hosts, clients, private_redis) -> None:  # noqa: F811
    (_, url_a), (_, url_b) = two_hosts
    ann = await login(clients, url_a, "ann")
    on_a, joined = await join(ann)
    bob = await login(clients, url_b, "bob")
    bob_ws, bob_joined = await join(bob)
    assert bob_joined["room"] == joined["room"]

    private_redis.stop()
    # Rooms keep ticking: states keep coming.
    first = (await recv_until(on_a, "state"))["tick"]
    later = (await recv_until(on_a, "state", where=lambda m: m["tick"] >= first + 10))["tick"]
    assert later >= first + 10
    # A cross-host join now cannot be made: a clear error, or a room of the home host.
    dan = await login(clients, url_b, "dan")
    dan_ws = await dan.ws()
    send(dan_ws, type="join", mode="arena")
    answer = await _answer(dan_ws)
    assert answer["type"] in ("joined", "error"), answer
    if answer["type"] == "error":
        assert answer["code"] == "unavailable"

    private_redis.restart()  # empty: the registry must be rebuilt from the live hosts
    await until(lambda: _room_listed(url_b, joined["room"]), "the registry to be rebuilt")
    eve = await login(clients, url_b, "eve")
    eve_ws, eve_joined = await join(eve)
    assert eve_joined["room"] == joined["room"]  # cross-host matchmaking works again

    async def chat_arrives() -> bool:
        # Pub/sub does not queue: what is published before a subscriber is back is lost to it,
        # so say it again until the subscriptions are back (within a few seconds).
        send(on_a, type="chat", text="back", scope="global")
        try:
            await recv_until(eve_ws, "chat", within=1.0, where=lambda m: m.get("scope") == "global")
        except TimeoutError:
            return False
        return True

    await until(chat_arrives, "global chat after the restart", 20)


async def _room_listed(url: str, room: str) -> bool:
    return any(r["id"] == room for r in await rooms(url))


async def test_processes_share_one_port(tmp_path: Path, private_redis: RedisServer,  # noqa: F811
                                        clients) -> None:
    args = ("--processes", "2", "--redis-url", private_redis.url, "--log-level", "info",
            "--max-connections-per-ip", "0")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "game_server", "--port", "0", "--data-dir", str(tmp_path),
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "ARENA_COOKIE_SECRET": TEST_SECRET})
    try:
        assert proc.stderr is not None
        workers: list[str] = []
        async with asyncio.timeout(30):
            while len(workers) < 2:
                line = (await proc.stderr.readline()).decode()
                assert line, "the server exited before it was ready"
                if "Arena listening on" in line:
                    workers.append(line.split("Arena listening on ")[1].split()[0])
        urls = set(workers)
        assert len(urls) == 2  # each worker has its own port for redirects
        # Two players, each on a different worker, end up in one room.
        first = await login(clients, workers[0], "ann")
        ws1, joined1 = await join(first)
        second = await login(clients, workers[1], "bob")
        ws2, joined2 = await join(second)
        assert joined1["room"] == joined2["room"]
    finally:
        if proc.returncode is None:
            proc.terminate()  # the workers stop with their parent
            await asyncio.wait_for(proc.wait(), 15)


async def test_postgres_outage_fails_logins_not_games_and_keeps_every_score(
        two_hosts, clients, postgres_server) -> None:  # noqa: F811
    (_, url_a), (_, url_b) = two_hosts
    ann = await login(clients, url_a, "ann")
    on_a, joined = await join(ann)
    bob = await login(clients, url_b, "bob")
    on_b, _ = await join(bob)  # redirected into ann's room on A

    postgres_server.stop()
    try:
        # Logins fail, clearly and retryably, on both hosts.
        for url in (url_a, url_b):
            refused = await Browserless(url).request("POST", "/api/guest", {"name": "carl"})
            assert refused.code == 503
            assert orjson.loads(refused.body)["error"] == "unavailable"
            assert refused.headers["Retry-After"]
        # Players in rooms keep playing.
        first = (await recv_until(on_a, "state"))["tick"]
        await recv_until(on_b, "state", where=lambda m: m["tick"] >= first + 10)
        # Ann leaves: her best mass cannot be saved now.
        send(on_a, type="leave")
        await recv_until(on_a, "left")
    finally:
        postgres_server.start()

    async def saved() -> bool:
        board = orjson.loads((await Browserless(url_b).request(
            "GET", "/api/leaderboard")).body)["leaderboard"]
        return any(entry["name"] == "ann" for entry in board)

    # Retried, not dropped: the score shows up once the database is back.
    await until(saved, "ann's score to be saved after the outage", 30)
    assert (await Browserless(url_a).request("POST", "/api/guest", {"name": "dan"})).code == 200
