"""Tests for game_server.presence counts: a contract every `SharedCounts` must meet (failure
windows, sockets per address that lapse with their process), on `LocalCounts` with a manual
clock and on `RedisCounts` against a real redis-server in real time; then the throttle and the
socket cap over Redis, shared by two "processes", and what they do while Redis is down.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from game_server.app import ArenaServer
from game_server.presence import LocalCounts, RedisCounts, RedisPresence, SharedCounts
from game_server.socket_cap import SocketCap
from game_server.storage.passwords import PasswordHasher
from game_server.throttle import LoginThrottle

from .conftest import Browserless, ManualClock, make_config
from .rd import RedisServer, private_redis, redis_server, redis_url
from .test_presence import until

__all__ = ["private_redis", "redis_server", "redis_url"]

TTL = 0.6  # a process's socket report lapses this long after its last refresh


class World(abc.ABC):
    """The counts of one deployment, one view per process, and the time they see."""

    @abc.abstractmethod
    async def counts(self, process_id: str) -> SharedCounts: ...

    @abc.abstractmethod
    async def elapse(self, seconds: float) -> None: ...

    async def close(self) -> None:  # noqa: B027 (most worlds have nothing to close)
        pass


class LocalWorld(World):
    def __init__(self) -> None:
        self.clock = ManualClock()
        self._first: LocalCounts | None = None

    async def counts(self, process_id: str) -> SharedCounts:
        if self._first is None:
            self._first = LocalCounts(process_id, ttl=TTL, clock=self.clock)
            return self._first
        return self._first.peer(process_id)

    async def elapse(self, seconds: float) -> None:
        self.clock.now += seconds


class RedisWorld(World):
    def __init__(self, url: str) -> None:
        self.url = url
        self._made: list[RedisPresence] = []

    async def counts(self, process_id: str) -> SharedCounts:
        presence = RedisPresence(self.url, process_id, room_ttl=TTL)
        self._made.append(presence)
        await presence.start()
        return RedisCounts(presence)

    async def elapse(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        for presence in self._made:
            await presence.close()


@pytest.fixture(params=["local", "redis"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    made: World
    if request.param == "redis":
        made = RedisWorld(request.getfixturevalue("redis_url"))
    else:
        made = LocalWorld()
    yield made
    await made.close()


# -- contract: failures in a window ----------------------------------------------------------


async def test_failures_past_the_limit_wait_for_the_oldest_to_leave_the_window(
        world: World) -> None:
    a, b = await world.counts("p1"), await world.counts("p2")
    for counts in (a, b, a):  # three processes' worth of failures count as one
        assert await counts.retry_after("user:ann", 3, 1.0) == 0
        await counts.add_failure("user:ann", 3, 1.0)
    assert 0 < await b.retry_after("user:ann", 3, 1.0) <= 1.0
    assert await b.retry_after("user:bob", 3, 1.0) == 0
    await world.elapse(1.1)
    assert await a.retry_after("user:ann", 3, 1.0) == 0


async def test_only_the_last_failures_count(world: World) -> None:
    counts = await world.counts("p1")
    for _ in range(2):
        await counts.add_failure("k", 2, 1.0)
    await world.elapse(0.6)
    await counts.add_failure("k", 2, 1.0)
    # The first two are past the limit's reach: the wait runs from the second, not the first.
    assert await counts.retry_after("k", 2, 1.0) > 0
    await world.elapse(0.5)
    assert await counts.retry_after("k", 2, 1.0) == 0


async def test_clear_forgets_the_failures_everywhere(world: World) -> None:
    a, b = await world.counts("p1"), await world.counts("p2")
    await a.add_failure("user:ann", 1, 60.0)
    assert await b.retry_after("user:ann", 1, 60.0) > 0
    await b.clear_failures("user:ann")
    assert await a.retry_after("user:ann", 1, 60.0) == 0


# -- contract: sockets per address -----------------------------------------------------------


async def test_each_process_sees_the_sockets_of_the_others(world: World) -> None:
    a, b, c = [await world.counts(p) for p in ("p1", "p2", "p3")]
    await a.report_sockets({"1.1.1.1": 3, "2.2.2.2": 1})
    await b.report_sockets({"1.1.1.1": 2})
    assert await c.sockets_elsewhere("1.1.1.1") == 5
    assert await a.sockets_elsewhere("1.1.1.1") == 2  # not its own
    assert await b.sockets_elsewhere("2.2.2.2") == 1
    await a.report_sockets({"1.1.1.1": 0})
    assert await c.sockets_elsewhere("1.1.1.1") == 2
    await b.report_sockets({"3.3.3.3": 4}, complete=True)  # all it holds: 1.1.1.1 is gone
    assert await c.sockets_elsewhere("1.1.1.1") == 0
    assert await c.sockets_elsewhere("3.3.3.3") == 4


async def test_a_process_that_stops_reporting_stops_counting(world: World) -> None:
    a, b = await world.counts("p1"), await world.counts("p2")
    await a.report_sockets({"1.1.1.1": 3}, complete=True)
    await b.report_sockets({}, complete=True)
    await world.elapse(TTL / 2)
    await b.report_sockets({}, complete=True)  # b is alive; a died (it reports no more)
    assert await b.sockets_elsewhere("1.1.1.1") == 3
    await world.elapse(TTL / 2 + 0.2)
    assert await b.sockets_elsewhere("1.1.1.1") == 0
    await a.report_sockets({"1.1.1.1": 1})  # back: its report starts from nothing
    assert await b.sockets_elsewhere("1.1.1.1") == 1


# -- over Redis: two processes, and Redis down -----------------------------------------------


async def test_two_processes_share_one_throttle(redis_url: str) -> None:
    world = RedisWorld(redis_url)
    try:
        one, two = [LoginThrottle(per_user=4, per_address=6, window=60.0,
                                  counts=await world.counts(p)) for p in ("p1", "p2")]
        for i in range(4):  # two guesses on each process: the name's limit of four is reached
            await (one, two)[i % 2].failed("Ann", "6.6.6.6")
        assert await one.retry_after("ann", "7.7.7.7") > 0
        assert await two.retry_after("ANN", "7.7.7.7") > 0
        await one.failed("bob", "6.6.6.6")
        await two.failed("cy", "6.6.6.6")  # six from one address, over both processes
        assert await two.retry_after("dee", "6.6.6.6") > 0
        assert await one.retry_after("dee", "8.8.8.8") == 0
        await two.succeeded("ann")
        assert await one.retry_after("ann", "8.8.8.8") == 0
    finally:
        await world.close()


async def test_with_redis_down_each_process_counts_its_own(
        private_redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "arena")
    presence = RedisPresence(private_redis.url, "p1", room_ttl=TTL, timeout=0.3)
    await presence.start()
    try:
        throttle = LoginThrottle(per_user=3, window=60.0, counts=RedisCounts(presence))
        await throttle.failed("ann", "1.1.1.1")  # counted in Redis and here
        private_redis.stop()
        await throttle.failed("ann", "1.1.1.1")
        await throttle.failed("ann", "1.1.1.1")
        assert await throttle.retry_after("ann", "1.1.1.1") > 0  # logins still answered
        assert await throttle.retry_after("bob", "1.1.1.1") == 0

        here = {"1.1.1.1": 1}
        cap = SocketCap(2, lambda a: here.get(a, 0), lambda: dict(here), RedisCounts(presence))
        assert await cap.admits("1.1.1.1")  # the cap holds per process meanwhile
        here["1.1.1.1"] = 2
        assert not await cap.admits("1.1.1.1")
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                    and r.name in ("arena.throttle", "arena.sockets")]
        assert len(warnings) == 2 and all("per process" in w for w in warnings)
    finally:
        await presence.close()


async def test_the_socket_cap_counts_every_process(redis_url: str) -> None:
    world = RedisWorld(redis_url)
    held: dict[str, dict[str, int]] = {"p1": {}, "p2": {}}
    caps: list[SocketCap] = []
    try:
        for p in ("p1", "p2"):
            mine = held[p]
            cap = SocketCap(3, lambda a, m=mine: m.get(a, 0),  # type: ignore[misc]
                            lambda m=mine: dict(m), await world.counts(p))
            cap.start()
            caps.append(cap)
        one, two = caps
        assert await one.admits("9.9.9.9")
        held["p1"]["9.9.9.9"] = 2
        one.changed("9.9.9.9")
        held["p2"]["9.9.9.9"] = 1
        two.changed("9.9.9.9")

        async def refused(cap: SocketCap) -> bool:
            return not await cap.admits("9.9.9.9")

        # 2 + 1 sockets: the cap of 3 holds on both, though each holds fewer itself.
        await until(lambda: refused(two), what="p2 seeing p1's sockets")
        await until(lambda: refused(one), what="p1 seeing p2's socket")
        assert await two.admits("1.1.1.1")
        held["p1"]["9.9.9.9"] = 1
        one.changed("9.9.9.9")
        await until(lambda: two.admits("9.9.9.9"), what="p2 seeing p1's socket close")
    finally:
        for cap in caps:
            await cap.stop()
        await world.close()


# -- two servers on one Redis ------------------------------------------------------------------


@pytest.fixture
async def two_on_redis(tmp_path: Path, redis_url: str
                       ) -> AsyncIterator[tuple[ArenaServer, ArenaServer]]:
    """Two Arena servers (one SQLite file, one Redis), as two processes of one deployment."""
    servers: list[ArenaServer] = []
    try:
        for name in ("A", "B"):
            server = ArenaServer(
                make_config(tmp_path / "data", max_connections_per_ip=2, max_login_failures=5),
                passwords=PasswordHasher(n=2**10),
                presence=RedisPresence(redis_url, name, room_ttl=TTL))
            await server.start()
            servers.append(server)
        yield servers[0], servers[1]
    finally:
        for server in servers:
            await server.stop()


async def test_failed_logins_on_one_server_count_on_the_other(two_on_redis, clients) -> None:
    a, b = two_on_redis
    on_a, on_b = Browserless(a.url), Browserless(b.url)
    clients += [on_a, on_b]
    created = await on_a.request("POST", "/api/register",
                                 {"username": "target", "password": "right-password"})
    assert created.code in (200, 201)
    for i in range(5):  # five guesses, spread over both servers: the name's limit
        guess = await (on_a, on_b)[i % 2].request(
            "POST", "/api/login", {"username": "target", "password": f"guess-{i}"})
        assert guess.code == 401
    for client in (on_a, on_b):
        refused = await client.request("POST", "/api/login",
                                       {"username": "target", "password": "right-password"})
        assert refused.code == 429
        assert int(refused.headers["Retry-After"]) > 0


async def test_the_address_cap_holds_across_servers(two_on_redis, clients) -> None:
    a, b = two_on_redis
    players = []
    for server, name in ((a, "ann"), (b, "bob"), (a, "cy")):
        client = Browserless(server.url)
        clients.append(client)
        await client.guest(name)
        players.append(client)
    first = await players[0].ws()  # 127.0.0.1 on A
    await players[1].ws()  # and on B: the cap of 2 is reached, though each server holds one
    await until(lambda: _equal(a.counts.sockets_elsewhere("127.0.0.1"), 1),
                what="B's socket reported")

    async def third_refused() -> bool:
        with pytest.raises(HTTPClientError) as refused:
            await players[2].ws()
        return refused.value.code == 429

    assert await third_refused()
    first.close()
    await until(lambda: a.sockets.count_ip("127.0.0.1") == 0, what="A's socket closed")
    third = await players[2].ws()  # one on each server again
    assert third.protocol is not None


async def _equal(value: Awaitable[int], expected: int) -> bool:
    return await value == expected
