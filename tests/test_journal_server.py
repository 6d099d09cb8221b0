"""The match journal in a real server: bots play dice and the arena, the journals land in the
SQLite file and re-run to the same hashes; a storage outage drops recording, not the game;
retention purges; GET /api/replays lists your matches and a mode's top."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from client.bots import run_bots
from game_server.app import ArenaServer
from game_server.journal.replay import Replay
from game_server.journal.store import load_journal
from game_server.storage import open_storage
from game_server.storage.base import StorageError
from game_server.storage.passwords import PasswordHasher
from game_server.storage.sqlite import SQLiteStorage
from tests.conftest import Browserless, make_config

DICE = {"start_players": 2, "dice": 1}


async def test_bot_matches_are_journaled_and_verify(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # A hash every 5 ticks: the short arena run is checked several times over.
    srv = ArenaServer(make_config(data, journal_hash_every=5), passwords=PasswordHasher(n=2**10))
    await srv.start()
    try:
        dice = await run_bots(srv.url, 2, 60.0, "dice", "dice", seed=5, matches=1,
                              options=DICE)
        assert dice.ok and dice.matches == 2, dice.failures
        # A short arena run: the bots leave after one second; the room is journaled so far.
        arena = await run_bots(srv.url, 2, 1.0, "arena", "blob", seed=6)
        assert arena.ok, arena.failures
    finally:
        await srv.stop()  # flushes every journal before the database closes
    async with open_storage(data / "arena.sqlite3") as storage:
        items = await storage.journals_list()
        by_mode = {item["mode"]: item for item in items}
        assert set(by_mode) == {"dice", "arena"}
        for mode, item in by_mode.items():
            journal = await load_journal(storage, item["id"])
            assert journal is not None and journal.finished, mode
            assert journal.bytes > 0
            result = Replay(journal.header, journal.records, journal.summary).verify()
            assert result.ok and result.hashes_checked > 1, (mode, result)
        finished = by_mode["dice"]
        assert sorted(p["name"] for p in finished["players"]) == sorted(
            b.name for b in dice.bots)
        # "Your matches": each bot's account finds the match it played.
        user = finished["players"][0]["user"]
        assert [i["id"] for i in await storage.journals_list(user=user)] == [finished["id"]]


class JournalOutage(SQLiteStorage):
    """A database whose journal writes fail (accounts, sessions and results still work)."""

    async def journal_begin(self, header: dict[str, Any]) -> None:
        raise StorageError("disk full")

    async def journal_append(self, journal_id: str, seq: int, data: bytes) -> None:
        raise StorageError("disk full")


async def test_an_outage_drops_recording_not_the_game(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path / "data")
    srv = ArenaServer(config, storage=JournalOutage(config.database_path),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    try:
        assert srv.journal is not None
        srv.journal.flush_interval = 0.05  # the outage is met during the match
        with caplog.at_level(logging.INFO, logger="arena.journal"):
            report = await run_bots(srv.url, 2, 60.0, "dice", "dice", seed=7, matches=1,
                                    options=DICE)
            await srv.journal.flush()
            await srv.journal.written()
        # The match was played to its end, and its result counted.
        assert report.ok and report.matches == 2 and report.errors == {}, report.failures
        said = [r.getMessage() for r in caplog.records
                if r.name == "arena.journal" and r.levelno >= logging.WARNING]
        assert len(said) == 1 and "recording dropped" in said[0] and "disk full" in said[0]
        client = Browserless(srv.url)
        try:
            metrics = (await client.request("GET", "/metrics")).body.decode()
        finally:
            await client.aclose()
        dropped = next(line for line in metrics.splitlines()
                       if line.startswith("arena_journal_dropped_total"))
        assert float(dropped.split()[-1]) >= 1
        assert "arena_journal_queue_bytes 0.0" in metrics
    finally:
        await srv.stop()


def header(jid: str, mode: str, started: int, private: bool = False) -> dict[str, Any]:
    return {"format": 1, "id": jid, "mode": mode, "version": "1", "room": "r", "seed": 1,
            "options": {}, "tick_rate": 0, "max_players": 2, "private": private,
            "started": started, "hash_every": 1, "snapshot_every": 1}


async def add_match(srv: ArenaServer, jid: str, *, mode: str = "dice", started: int,
                    players: list[tuple[int, str, int | None]], private: bool = False) -> None:
    """A finished match of `players` (user id, name, score), as the writer would store it."""
    await srv.storage.journal_begin(header(jid, mode, started, private))
    await srv.storage.journal_end(jid, {
        "ended": started + 60_000, "players": [
            {"player": i + 1, "user": user, "name": name}
            for i, (user, name, _) in enumerate(players)],
        "outcomes": [{"player": i + 1, "user": user, "name": name, "score": score}
                     for i, (user, name, score) in enumerate(players) if score is not None]})


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ArenaServer]:
    srv = ArenaServer(make_config(tmp_path / "data", journal_keep_per_mode=2),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def get(client: Browserless, path: str) -> tuple[int, Any]:
    response = await client.request("GET", path)
    return response.code, orjson.loads(response.body)


async def test_replays_api_mine_and_top(server: ArenaServer) -> None:
    ann, bob = Browserless(server.url), Browserless(server.url)
    try:
        a = (await ann.guest("Ann"))["id"]
        b = (await bob.guest("Bob"))["id"]
        now = 1_900_000_000_000
        await add_match(server, "m1", started=now, players=[(a, "Ann", 3), (b, "Bob", 7)])
        await add_match(server, "m2", started=now + 1, players=[(b, "Bob", 9)])
        await add_match(server, "m3", started=now + 2, players=[(a, "Ann", 50)], private=True)
        code, body = await get(ann, "/api/replays?mine=1")
        assert code == 200
        assert [r["id"] for r in body["replays"]] == ["m3", "m1"]
        assert body["replays"][1] == {
            "id": "m1", "mode": "dice", "title": "Liar's Dice: Ann vs Bob", "started": now,
            "ended": now + 60_000, "duration_ms": 60_000, "score": 7,
            "players": [{"player": 1, "name": "Ann"}, {"player": 2, "name": "Bob"}]}
        code, body = await get(bob, "/api/replays?mine=1&mode=dice&limit=1")
        assert [r["id"] for r in body["replays"]] == ["m2"]
        # The top of a mode is public, best first, without private tables.
        anon = Browserless(server.url)
        try:
            code, body = await get(anon, "/api/replays?mode=dice&top=1")
            assert code == 200 and [r["id"] for r in body["replays"]] == ["m2", "m1"]
            code, body = await get(anon, "/api/replays?mine=1")
            assert code == 401 and body["error"] == "not_logged_in"
            for bad, status in (("", 400), ("?top=1", 400), ("?mode=nope&top=1", 404),
                                ("?mine=1&top=1", 400), ("?mode=dice&top=1&limit=x", 400),
                                ("?mode=dice&top=yes", 400)):
                code, body = await get(ann, "/api/replays" + bad)
                assert code == status and body["message"], bad
        finally:
            await anon.aclose()
    finally:
        await ann.aclose()
        await bob.aclose()


async def test_retention_keeps_the_newest_per_mode(server: ArenaServer) -> None:
    now = 1_900_000_000_000
    for i in range(4):
        await add_match(server, f"d{i}", started=now + i, players=[(1, "x", i)])
    await add_match(server, "a0", mode="arena", started=now, players=[(1, "x", 1)])
    # --journal-keep-per-mode 2: the two oldest dice matches go.
    assert await server.purge_journals() == 2
    assert sorted(i["id"] for i in await server.storage.journals_list()) == ["a0", "d2", "d3"]
    # --journal-days 30 (the default): a match that ended long ago goes too.
    await add_match(server, "ancient", mode="arena", started=1_000_000_000_000,
                    players=[(1, "x", 1)])
    assert await server.purge_journals() == 1
    assert await load_journal(server.storage, "ancient") is None


async def test_no_journal_records_nothing(tmp_path: Path) -> None:
    srv = ArenaServer(make_config(tmp_path / "data", journal=False),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    try:
        assert srv.journal is None and srv.matchmaker.journal is None
        room = srv.matchmaker.create_room("dice")
        assert room.closed is False
        client = Browserless(srv.url)
        try:
            metrics = (await client.request("GET", "/metrics")).body.decode()
        finally:
            await client.aclose()
        assert "arena_journal" not in metrics
    finally:
        await srv.stop()
