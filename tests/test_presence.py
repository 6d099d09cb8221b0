"""Tests for game_server.presence: a contract every Presence must meet, then Redis specifics.

The contract runs on `LocalPresence` (with a fake clock: time passes only when a test says so)
and on `RedisPresence` (a private redis-server, real time, short TTLs, polled to a deadline).
Where the contract speaks of several processes, Redis gets one `RedisPresence` per process;
the local one is shared by every "process", as the engine's cluster tests share it.
"""

from __future__ import annotations

import abc
import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis

from game_server.presence import (
    LocalPresence,
    Presence,
    PresenceUnavailable,
    RedisPresence,
    RoomRecord,
    open_presence,
)
from game_server.presence import redis as redis_presence
from game_server.presence.base import options_key

from .conftest import ManualClock
from .rd import RedisServer, private_redis, redis_server, redis_url

# Fixtures used by name below; importing them is what makes pytest see them here.
__all__ = ["private_redis", "redis_server", "redis_url"]

ROOM_TTL = 0.5  # for the tests of expiry; the others keep the default (5 s)
SEAT_TTL = 0.3
WS = "ws://127.0.0.2:8888/ws"


def room(room_id: str = "r1", *, mode: str = "arena", process: str = "p1", players: int = 0,
         max_players: int = 8, connected: int | None = None) -> RoomRecord:
    """A record; its players all connected unless `connected` says how many are."""
    return RoomRecord(room_id, mode, process, WS, players, max_players,
                      connected=players if connected is None else connected)


async def until(check: Callable[[], Any], within: float = 5.0, what: str = "condition") -> None:
    """Poll `check` (sync or async) until it is true; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {within} s")
        await asyncio.sleep(0.02)


async def ids(presence: Presence, mode: str | None = None) -> list[str]:
    return sorted(r.id for r in await presence.rooms(mode))


async def one(presence: Presence, room_id: str = "r1") -> RoomRecord:
    [record] = [r for r in await presence.rooms() if r.id == room_id]
    return record


# -- the worlds the contract runs in -------------------------------------------------------


class World(abc.ABC):
    """Presences of one deployment (one per process), and the time they see."""

    @abc.abstractmethod
    async def presence(self, process_id: str = "p1", *, room_ttl: float = 5.0) -> Presence:
        """A started presence for process `process_id`; closed after the test."""

    @abc.abstractmethod
    async def elapse(self, seconds: float) -> None:
        """Let `seconds` pass."""

    @abc.abstractmethod
    async def eventually(self, check: Callable[[], Awaitable[bool]], within: float) -> None:
        """`check` holds once `within` seconds have passed (polled, for real time)."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class LocalWorld(World):
    def __init__(self) -> None:
        self.clock = ManualClock()
        self._shared: dict[float, LocalPresence] = {}

    async def presence(self, process_id: str = "p1", *, room_ttl: float = 5.0) -> Presence:
        if room_ttl not in self._shared:
            self._shared[room_ttl] = LocalPresence("local", room_ttl=room_ttl, clock=self.clock)
            await self._shared[room_ttl].start()
        return self._shared[room_ttl]

    async def elapse(self, seconds: float) -> None:
        self.clock.now += seconds
        await asyncio.sleep(0)

    async def eventually(self, check: Callable[[], Awaitable[bool]], within: float) -> None:
        await self.elapse(within)
        assert await check()

    async def close(self) -> None:
        for presence in self._shared.values():
            await presence.close()


class RedisWorld(World):
    def __init__(self, url: str) -> None:
        self.url = url
        self._made: list[RedisPresence] = []

    async def presence(self, process_id: str = "p1", *, room_ttl: float = 5.0) -> Presence:
        presence = RedisPresence(self.url, process_id, room_ttl=room_ttl)
        self._made.append(presence)
        await presence.start()
        await until(lambda: presence.listening, what="subscribed")
        return presence

    async def elapse(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def eventually(self, check: Callable[[], Awaitable[bool]], within: float) -> None:
        await until(check, within + 2.0)

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


# -- contract: the registry ------------------------------------------------------------------


async def test_register_list_and_filter_by_mode(world: World) -> None:
    a = await world.presence("p1")
    b = await world.presence("p2")
    await a.register_room(room("r1", max_players=8, players=2))
    await b.register_room(room("r2", mode="duel", process="p2", max_players=2))
    for viewer in (a, b):
        assert await ids(viewer) == ["r1", "r2"]
        assert await ids(viewer, "duel") == ["r2"]
        assert await ids(viewer, "ctf") == []
    assert await one(b, "r1") == room("r1", max_players=8, players=2)
    assert (await one(a, "r2")).to_json()["process"] == "p2"


async def test_register_again_replaces_the_record(world: World) -> None:
    p = await world.presence()
    await p.register_room(room(players=1))
    await p.register_room(room(players=4, max_players=6))
    assert await one(p) == room(players=4, max_players=6)


async def test_set_players(world: World) -> None:
    p = await world.presence()
    await p.register_room(room(players=0))
    await p.set_players("r1", 5, 2)
    record = await one(p)
    assert (record.players, record.connected, record.away) == (5, 2, 3)
    await p.set_players("gone", 3, 3)  # not a room: nothing is created
    assert await ids(p) == ["r1"]


async def test_connected_and_away_travel_with_the_players(world: World) -> None:
    # Quick play ranks rooms by the people there: of a room's players (its seats taken), how
    # many are connected; the rest are away (held seats). The owner sets both, a claim adds a
    # connected player, and neither a heartbeat nor an update rewrites them.
    a = await world.presence("p1")
    b = await world.presence("p2")
    await a.register_room(room(players=15, connected=0, max_players=20))
    record = await one(b)
    assert (record.players, record.connected, record.away) == (15, 0, 15)
    assert {k: record.to_json()[k] for k in ("players", "connected", "away")} == {
        "players": 15, "connected": 0, "away": 15}
    assert await b.reserve("r1", "s1", 30)
    assert await a.claim("r1", "s1")
    assert (await one(b)).connected == 1 and (await one(b)).players == 16
    await a.heartbeat([room(players=15, connected=15, max_players=20)])
    await a.update_room(room(players=15, connected=15, max_players=20))
    assert ((await one(b)).players, (await one(b)).connected) == (16, 1)
    await a.set_players("r1", 6, 6)  # the held seats expired
    record = await one(b)
    assert (record.players, record.connected, record.away) == (6, 6, 0)


async def test_remove_room_drops_it_and_its_seats(world: World) -> None:
    p = await world.presence()
    await p.register_room(room(max_players=2))
    assert await p.reserve("r1", "a", 30)
    await p.remove_room("r1")
    assert await ids(p) == []
    assert not await p.claim("r1", "a")
    await p.register_room(room(max_players=2))  # the same id again starts with no seats
    assert (await one(p)).reserved == 0
    assert await p.reserve("r1", "a", 30) and await p.reserve("r1", "b", 30)
    await p.remove_room("never-was")  # a no-op


async def test_a_room_not_refreshed_disappears(world: World) -> None:
    p = await world.presence(room_ttl=ROOM_TTL)
    await p.register_room(room())
    await world.elapse(ROOM_TTL * 0.2)
    assert await ids(p) == ["r1"]

    async def gone() -> bool:
        return await ids(p) == []

    await world.eventually(gone, ROOM_TTL)
    assert not await p.reserve("r1", "a", 30)


async def test_heartbeat_keeps_rooms_alive(world: World) -> None:
    p = await world.presence(room_ttl=ROOM_TTL)
    records = [room("r1"), room("r2", mode="duel")]
    for record in records:
        await p.register_room(record)
    await p.set_players("r1", 3, 1)
    for _ in range(6):  # 1.5 room TTLs in all
        await world.elapse(ROOM_TTL / 4)
        await p.heartbeat(records)
        assert await ids(p) == ["r1", "r2"]
    # A heartbeat refreshes a live room; it does not overwrite what the owner set since.
    assert ((await one(p)).players, (await one(p)).connected) == (3, 1)
    await p.heartbeat([])  # nothing to do


async def test_heartbeat_recreates_a_vanished_room(world: World) -> None:
    p = await world.presence(room_ttl=ROOM_TTL)
    await p.register_room(room("r1"))

    async def gone() -> bool:
        return await ids(p) == []

    await world.eventually(gone, ROOM_TTL)
    await p.heartbeat([room("r1", players=2, connected=1), room("r3", max_players=4)])
    assert await one(p, "r1") == room("r1", players=2, connected=1)
    assert await one(p, "r3") == room("r3", max_players=4)
    await p.remove_room("r1")  # and one re-created that way expires as usual
    await world.eventually(gone, ROOM_TTL)


async def test_matchmaking_fields_round_trip(world: World) -> None:
    a = await world.presence("p1")
    b = await world.presence("p2")
    plain = room("r1")
    assert (plain.locked, plain.private, plain.code, plain.metadata, plain.options) == (
        False, False, None, {}, "{}")
    table = replace(room("r2", mode="dice", max_players=6), locked=True,
                    metadata={"status": "playing", "players": 2, "wild": True, "pot": 1.5},
                    options=options_key({"turn_seconds": 30, "dice": 5}))
    secret = replace(room("r3", mode="dice", max_players=6), private=True, code="ABCDE")
    for record in (plain, table, secret):
        assert await a.register_room(record)
    for viewer in (a, b):
        assert await one(viewer, "r1") == plain
        assert await one(viewer, "r2") == table
        assert await one(viewer, "r3") == secret
    assert table.options == '{"dice":5,"turn_seconds":30}'  # canonical: sorted keys
    assert [r.matchable for r in (plain, table, secret)] == [True, False, False]
    assert table.to_json()["locked"] is True
    assert table.to_json()["metadata"] == table.metadata
    assert "locked" not in plain.to_json() and "metadata" not in plain.to_json()


async def test_update_room_rewrites_all_but_players(world: World) -> None:
    p = await world.presence()
    await p.register_room(room(players=1))
    await p.set_players("r1", 3, 3)
    changed = replace(room(players=0), locked=True, metadata={"status": "playing"})
    await p.update_room(changed)
    assert await one(p) == replace(changed, players=3, connected=3)
    await p.update_room(replace(changed, locked=False, metadata={}))
    assert await one(p) == room(players=3)
    await p.update_room(room("gone"))  # not a room: nothing is created
    assert await ids(p) == ["r1"]


async def test_heartbeat_refreshes_fields_but_players(world: World) -> None:
    p = await world.presence()
    await p.register_room(room(players=1))
    await p.set_players("r1", 2, 1)
    await p.heartbeat([replace(room(players=0), locked=True, metadata={"round": 3})])
    assert await one(p) == replace(room(players=2, connected=1), locked=True,
                                   metadata={"round": 3})


async def test_a_private_room_is_found_by_its_code_only_while_it_lives(world: World) -> None:
    a = await world.presence("p1", room_ttl=ROOM_TTL)
    b = await world.presence("p2", room_ttl=ROOM_TTL)
    secret = replace(room("r1", players=1), private=True, code="K7M2Q")
    assert await a.register_room(secret)
    assert await b.room_by_code("K7M2Q") == secret
    assert await b.room_by_code("ZZZZZ") is None
    assert await b.room_by_code("") is None
    # Another process drew the same code: refused, and nothing of it is written.
    clash = replace(room("r2", process="p2"), private=True, code="K7M2Q")
    assert not await b.register_room(clash)
    assert await ids(a) == ["r1"]
    assert (await a.room_by_code("K7M2Q")).id == "r1"
    await a.remove_room("r1")
    assert await b.room_by_code("K7M2Q") is None
    assert await b.register_room(clash)  # free again
    assert (await a.room_by_code("K7M2Q")).id == "r2"

    async def gone() -> bool:
        return await a.room_by_code("K7M2Q") is None

    await world.eventually(gone, ROOM_TTL)  # the code expires with its room
    await b.heartbeat([clash])  # ... and a heartbeat brings both back
    assert (await a.room_by_code("K7M2Q")).id == "r2"


# -- contract: seats ---------------------------------------------------------------------------


async def test_reserve_respects_players_plus_reserved(world: World) -> None:
    a = await world.presence("p1")
    b = await world.presence("p2")
    await a.register_room(room(players=1, max_players=3))
    assert await a.reserve("r1", "s1", 30)
    assert not await b.reserve("r1", "s1", 30)  # held already
    assert await b.reserve("r1", "s2", 30)
    assert not await a.reserve("r1", "s3", 30)  # 1 player + 2 reserved = 3
    record = await one(b)
    assert (record.players, record.reserved, record.free) == (1, 2, 0)
    await a.set_players("r1", 0, 0)  # a player left
    assert await b.reserve("r1", "s3", 30)
    assert not await b.reserve("r1", "s4", 30)


async def test_a_reservation_lapses_and_frees_the_seat(world: World) -> None:
    p = await world.presence()
    await p.register_room(room(max_players=1))
    assert await p.reserve("r1", "early", SEAT_TTL)
    assert not await p.reserve("r1", "late", SEAT_TTL)
    await world.eventually(lambda: p.reserve("r1", "late", 30), SEAT_TTL)
    assert not await p.claim("r1", "early")  # lapsed
    record = await one(p)
    assert (record.players, record.reserved) == (0, 1)


async def test_claim_is_single_use_and_counts_as_a_player(world: World) -> None:
    a = await world.presence("p1")
    b = await world.presence("p2")
    await a.register_room(room(players=1, max_players=3))
    assert await b.reserve("r1", "s1", 30)
    assert await a.claim("r1", "s1")
    assert not await a.claim("r1", "s1")
    assert not await b.claim("r1", "s1")
    assert not await a.claim("r1", "never-reserved")
    record = await one(b)
    assert (record.players, record.connected, record.reserved) == (2, 2, 0)
    assert await b.reserve("r1", "s2", 30)
    assert not await b.reserve("r1", "s3", 30)  # 2 players + 1 reserved


async def test_release_frees_the_seat(world: World) -> None:
    p = await world.presence()
    await p.register_room(room(max_players=1))
    assert await p.reserve("r1", "a", 30)
    assert not await p.reserve("r1", "b", 30)
    await p.release("r1", "a")
    assert (await one(p)).reserved == 0
    assert not await p.claim("r1", "a")
    assert await p.reserve("r1", "b", 30)
    await p.release("r1", "nobody")  # no-ops
    await p.release("no-room", "a")


async def test_a_locked_room_has_no_free_seats_and_a_private_one_has(world: World) -> None:
    a = await world.presence("p1")
    b = await world.presence("p2")
    await a.register_room(replace(room("r1", max_players=4), locked=True))
    assert not await b.reserve("r1", "s1", 30)
    await a.update_room(room("r1", max_players=4))  # unlocked
    assert await b.reserve("r1", "s1", 30)
    # Private rooms take seats: that is how a join by code is seated, here or elsewhere.
    await a.register_room(replace(room("r2", max_players=2), private=True, code="ABCDE"))
    assert await b.reserve("r2", "s1", 30)


async def test_unknown_room_has_no_seats(world: World) -> None:
    p = await world.presence()
    assert not await p.reserve("nowhere", "a", 30)
    assert not await p.claim("nowhere", "a")
    assert await p.rooms() == []


# -- contract: messages --------------------------------------------------------------------


async def test_a_lock_has_one_holder_until_unlocked_or_lapsed(world: World) -> None:
    a = await world.presence("p1")
    b = await world.presence("p2")
    token = await a.lock("create:arena", 30)
    assert token
    assert await b.lock("create:arena", 30) is None
    assert await b.lock("create:duel", 30)  # another name, another lock
    await b.unlock("create:arena", "not-the-token")  # only the holder unlocks
    assert await b.lock("create:arena", 30) is None
    await a.unlock("create:arena", token)
    again = await b.lock("create:arena", 0.3)
    assert again and again != token
    await a.unlock("create:arena", token)  # a stale token unlocks nothing

    async def lapsed() -> bool:
        return await a.lock("create:arena", 30) is not None

    await world.eventually(lapsed, 0.3)


async def test_publish_reaches_every_process(world: World) -> None:
    a = await world.presence("p1")
    b = await world.presence("p2")
    got_a: list[dict[str, Any]] = []
    got_b: list[dict[str, Any]] = []
    a.subscribe(got_a.append)
    b.subscribe(got_b.append)
    message = {"kind": "chat", "name": "ann", "text": "héllo", "n": [1, 2.5, None]}
    await a.publish(message)
    await until(lambda: got_a and got_b, what="delivery")
    assert got_a == got_b == [message]
    await b.publish({"kind": "kick_session", "session": "abc"})
    await until(lambda: len(got_a) == len(got_b) == 2, what="delivery")
    assert got_a[1] == {"kind": "kick_session", "session": "abc"}


async def test_unsubscribe_stops_delivery(world: World) -> None:
    a = await world.presence("p1")
    b = await world.presence("p2")
    gone: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    unsubscribe = b.subscribe(gone.append)
    b.subscribe(kept.append)
    unsubscribe()
    unsubscribe()  # idempotent
    await a.publish({"kind": "chat", "text": "1"})
    await until(lambda: kept, what="delivery")
    assert gone == []


# -- open_presence -------------------------------------------------------------------------


def test_open_presence_picks_the_implementation() -> None:
    local = open_presence("", "p1", room_ttl=2.0)
    assert isinstance(local, LocalPresence) and not local.shared and local.room_ttl == 2.0
    shared = open_presence("redis://127.0.0.1:1/0", "p1", room_ttl=3.0)
    assert isinstance(shared, RedisPresence) and shared.shared
    assert (shared.process_id, shared.room_ttl) == ("p1", 3.0)


# -- Redis specifics ---------------------------------------------------------------------------


async def started(url: str, process_id: str, **kwargs: Any) -> RedisPresence:
    presence = RedisPresence(url, process_id, **kwargs)
    await presence.start()
    return presence


async def test_redis_key_layout(redis_url: str) -> None:
    p = await started(redis_url, "p1", room_ttl=ROOM_TTL, prefix="t1")
    direct = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await p.register_room(room(players=2, max_players=4))
        assert await p.reserve("r1", "s1", 30)
        assert await direct.hgetall("t1:room:r1") == {
            "mode": "arena", "process": "p1", "url": WS, "players": "2", "connected": "2",
            "max_players": "4",
            "locked": "0", "private": "0", "code": "", "metadata": "{}", "options": "{}",
                "spectators": "0",
        }
        assert 0 < await direct.pttl("t1:room:r1") <= ROOM_TTL * 1000
        assert 0 < await direct.pttl("t1:seats:r1") <= ROOM_TTL * 1000
        [(seat, expiry)] = await direct.zrange("t1:seats:r1", 0, -1, withscores=True)
        now_s, now_us = await direct.time()
        assert seat == "s1" and 29_000 < expiry - (now_s * 1000 + now_us // 1000) <= 30_000
        assert await direct.smembers("t1:rooms") == {"r1"}
        # A room whose hash expired leaves its id in the set until `rooms()` drops it.
        await until(lambda: _gone(direct, "t1:room:r1"), what="expiry")
        assert await direct.smembers("t1:rooms") == {"r1"}
        assert await p.rooms() == []
        assert await direct.smembers("t1:rooms") == set()
        # A private room's code names its id, and expires with it.
        await p.register_room(replace(room("r2"), private=True, code="ABCDE"))
        assert await direct.get("t1:code:ABCDE") == "r2"
        assert 0 < await direct.pttl("t1:code:ABCDE") <= ROOM_TTL * 1000
        await p.remove_room("r2")
        assert await direct.exists("t1:code:ABCDE", "t1:room:r2") == 0
        # Messages are JSON on the channel.
        listener = direct.pubsub()
        await listener.subscribe("t1:events")
        await p.publish({"kind": "chat", "text": "x"})
        async with asyncio.timeout(5):
            while (m := await listener.get_message(True, timeout=1)) is None:
                pass
        assert m["channel"] == "t1:events" and m["data"] == '{"kind":"chat","text":"x"}'
        await listener.aclose()
    finally:
        await direct.aclose()
        await p.close()


async def _gone(client: aioredis.Redis, key: str) -> bool:
    return await client.exists(key) == 0


async def test_redis_a_record_of_a_release_without_the_connected_count(redis_url: str) -> None:
    # During a rolling upgrade, a process of the previous release writes no `connected`: its
    # players count as there (as quick play counted them then), so its rooms are still offered.
    p = await started(redis_url, "p1", prefix="t3")
    direct = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await direct.hset("t3:room:r1", mapping={
            "mode": "arena", "process": "p0", "url": WS, "players": "3", "max_players": "8",
            "locked": "0", "private": "0", "code": "", "metadata": "{}", "options": "{}"})
        await direct.pexpire("t3:room:r1", 5000)
        await direct.sadd("t3:rooms", "r1")
        record = await one(p)
        assert (record.players, record.connected, record.away) == (3, 3, 0)
        await p.set_players("r1", 3, 1)  # an upgraded owner writes both
        assert ((await one(p)).connected, (await one(p)).away) == (1, 2)
    finally:
        await direct.aclose()
        await p.close()


async def test_redis_prefixes_are_separate_deployments(redis_url: str) -> None:
    a = await started(redis_url, "p1", prefix="blue")
    b = await started(redis_url, "p2", prefix="green")
    try:
        await a.register_room(room())
        assert await b.rooms() == []
        assert not await b.reserve("r1", "s", 30)
    finally:
        await a.close()
        await b.close()


async def test_redis_concurrent_reservations_never_overbook(redis_url: str) -> None:
    a = await started(redis_url, "p1")
    b = await started(redis_url, "p2")
    try:
        await a.register_room(room(players=0, max_players=20))
        results = await asyncio.gather(*(
            (a if i % 2 else b).reserve("r1", f"seat-{i}", 30) for i in range(60)
        ))
        assert results.count(True) == 20
        assert (await one(a)).reserved == 20
        # Each reservation is claimed once, however many processes try at once.
        won = [seat for seat, ok in zip(range(60), results, strict=True) if ok]
        claims = await asyncio.gather(*(
            p.claim("r1", f"seat-{i}") for i in won for p in (a, b)
        ))
        assert claims.count(True) == 20
        record = await one(b)
        assert (record.players, record.reserved) == (20, 0)
    finally:
        await a.close()
        await b.close()


def _outage_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "arena.presence" and "messages from other processes" in r.getMessage()]


async def test_redis_down_fails_fast_and_nothing_crashes(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "arena.presence")
    p = await started(private_redis.url, "p1", timeout=0.5)
    try:
        await until(lambda: p.listening, what="subscribed")
        await p.register_room(room())
        private_redis.stop()
        calls: list[Callable[[], Awaitable[object]]] = [
            p.rooms, lambda: p.register_room(room()), lambda: p.set_players("r1", 1, 1),
            lambda: p.heartbeat([room()]), lambda: p.remove_room("r1"),
            lambda: p.reserve("r1", "s", 5), lambda: p.claim("r1", "s"),
            lambda: p.release("r1", "s"), lambda: p.publish({"kind": "chat"}),
        ]
        for call in calls * 2:  # the second round, on connections already known dead
            began = time.monotonic()
            with pytest.raises(PresenceUnavailable, match=r"Redis at redis://127\.0\.0\.1:\d+"):
                await call()
            assert time.monotonic() - began < 2
        await until(lambda: not p.listening, what="the subscriber noticing")
        await asyncio.sleep(1.0)  # the subscriber retries a few times meanwhile...
        assert len(_outage_warnings(caplog)) == 1  # ...and says so once
        assert p._listener is not None and not p._listener.done()
    finally:
        began = time.monotonic()
        await p.close()
        await p.close()  # idempotent
        assert time.monotonic() - began < 2
    with pytest.raises(PresenceUnavailable, match="not started"):
        await p.rooms()


async def test_redis_hung_fails_within_the_timeout(private_redis: RedisServer) -> None:
    p = await started(private_redis.url, "p1", timeout=0.3)
    try:
        await p.register_room(room())
        private_redis.pause()  # connections stay open; nothing is answered
        try:
            for call in (p.rooms, lambda: p.reserve("r1", "s", 5)):
                began = time.monotonic()
                with pytest.raises(PresenceUnavailable):
                    await call()
                assert time.monotonic() - began < 1.0
        finally:
            private_redis.resume()
        await until(_succeeds(p.rooms), what="recovery")
    finally:
        await p.close()


def _succeeds(call: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[bool]]:
    async def attempt() -> bool:
        try:
            await call()
        except PresenceUnavailable:
            return False
        return True
    return attempt


async def test_redis_start_while_down_then_recover(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "arena.presence")
    private_redis.stop()
    p = RedisPresence(private_redis.url, "p1", timeout=0.5)
    began = time.monotonic()
    await p.start()  # rooms must run without Redis: starting does not fail
    try:
        assert time.monotonic() - began < 2
        assert any("rooms run locally" in r.getMessage() for r in caplog.records)
        with pytest.raises(PresenceUnavailable):
            await p.rooms()
        private_redis.start()
        await until(_succeeds(lambda: p.register_room(room())), what="Redis back")
        assert await ids(p) == ["r1"]
        got: list[dict[str, Any]] = []
        p.subscribe(got.append)
        await until(lambda: p.listening, what="subscribed")
        await p.publish({"kind": "chat", "text": "up"})
        await until(lambda: got, what="delivery")
    finally:
        await p.close()


async def test_redis_restart_rebuilds_the_registry_and_pubsub(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "arena.presence")
    owner = await started(private_redis.url, "p1", timeout=0.5)
    other = await started(private_redis.url, "p2", timeout=0.5)
    try:
        await until(lambda: owner.listening and other.listening, what="subscribed")
        records = [room("r1", players=3), room("r2", mode="duel", max_players=2)]
        for record in records:
            await owner.register_room(record)
        assert await other.reserve("r2", "s", 30)

        private_redis.restart()  # same port, no data
        await until(_succeeds(other.rooms), what="Redis back")
        assert await other.rooms() == []
        await owner.heartbeat(records)  # the owner's truth comes back with its next heartbeat
        assert sorted(await other.rooms(), key=lambda r: r.id) == records
        assert await other.reserve("r2", "s", 30)  # the scripts are loaded again as needed
        assert await owner.claim("r2", "s")

        got: list[dict[str, Any]] = []
        owner.subscribe(got.append)

        async def delivered() -> bool:
            await other.publish({"kind": "chat", "text": "again"})
            return bool(got)

        await until(delivered, within=10, what="pub/sub after the restart")
        assert got[0] == {"kind": "chat", "text": "again"}
        assert owner.listening and other.listening
    finally:
        await owner.close()
        await other.close()


async def test_redis_subscriber_survives_bad_messages_and_subscribers(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    p = await started(redis_url, "p1")
    direct = aioredis.Redis.from_url(redis_url)
    try:
        await until(lambda: p.listening, what="subscribed")

        def broken(message: dict[str, Any]) -> None:
            raise RuntimeError("a bug in a subscriber")

        got: list[dict[str, Any]] = []
        unsubscribe = p.subscribe(broken)
        await direct.publish("arena:events", b"not json")
        await direct.publish("arena:events", b"[1, 2]")
        await p.publish({"kind": "chat", "text": "1"})
        await until(lambda: any("subscriber failed" in r.getMessage() for r in caplog.records),
                    what="the failure logged")
        unsubscribe()
        p.subscribe(got.append)
        await p.publish({"kind": "chat", "text": "2"})
        await until(lambda: got, what="delivery")
        assert got == [{"kind": "chat", "text": "2"}] and p.listening
    finally:
        await direct.aclose()
        await p.close()


async def test_redis_subscriber_notices_a_hung_server(
    private_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_presence, "_KEEPALIVE", 0.2)  # PING an idle subscription often
    p = await started(private_redis.url, "p1", timeout=0.3)
    try:
        await until(lambda: p.listening, what="subscribed")
        private_redis.pause()
        try:
            await until(lambda: not p.listening, within=3, what="the subscriber noticing")
        finally:
            private_redis.resume()
        await until(lambda: p.listening, within=5, what="subscribed again")
        got: list[dict[str, Any]] = []
        p.subscribe(got.append)
        await p.publish({"kind": "chat", "text": "awake"})
        await until(lambda: got, what="delivery")
    finally:
        await p.close()
