"""The journal tables: the storage contract (journal_* methods), on SQLite and PostgreSQL alike,
with the same factories as tests/test_storage.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from game_server.storage.base import Storage, StorageError
from game_server.storage.sqlite import SQLiteStorage

from .pg import postgres_database, postgres_server
from .test_storage import ManualClock, factory, storage

# The storage contract's fixtures, on both databases; `clock` below starts them at START.
__all__ = ["factory", "postgres_database", "postgres_server", "storage"]

START = 1_700_000_000_000  # wall ms of the first header; the clock below starts there


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START / 1000)


def header(jid: str, mode: str = "dice", started: int = START, **extra: Any) -> dict[str, Any]:
    return {"format": 1, "id": jid, "mode": mode, "version": "1", "room": "r-" + jid,
            "seed": 7, "options": {"seats": 2}, "tick_rate": 0, "max_players": 2,
            "private": False, "started": started, "hash_every": 1, "snapshot_every": 1,
            **extra}


def summary(ended: int, players: list[tuple[int, int | None, str, int | None]]) -> dict[str, Any]:
    """players: (player, user, name, score)."""
    return {"ended": ended, "ticks": 0, "duration_ms": ended - START, "reason": "over",
            "players": [{"player": p, "user": u, "name": n} for p, u, n, _ in players],
            "outcomes": [{"player": p, "user": u, "name": n, "score": s, "placement": None}
                         for p, u, n, s in players if s is not None]}


async def finished(storage: Storage, jid: str, *, mode: str = "dice", started: int = START,
                   score: int | None = 5, user: int | None = 1, private: bool = False) -> None:
    await storage.journal_begin(header(jid, mode, started, private=private))
    await storage.journal_append(jid, 0, b"chunk")
    await storage.journal_end(jid, summary(started + 1000, [(1, user, "Ann", score),
                                                            (2, None, "Bot", None)]))


async def test_a_journal_round_trips(storage: Storage) -> None:
    head = header("j1", options={"seats": 2, "k": [1, {"x": None}]})
    await storage.journal_begin(head)
    live = await storage.journal_load("j1")
    assert live == {"id": "j1", "header": head, "summary": None, "chunks": [], "bytes": 0}
    # Chunks come back in seq order, as the exact bytes (zlib output is arbitrary bytes).
    data = [bytes(range(256)), b"\x00" * 3, b"\xff\x00x"]
    await storage.journal_append("j1", 0, data[0])
    await storage.journal_append("j1", 2, data[2])
    await storage.journal_append("j1", 1, data[1])
    await storage.journal_append("j1", 1, b"a retried write stores nothing")
    end = summary(START + 5000, [(1, 11, "Ann", 3), (2, 12, "Bob", 9)])
    await storage.journal_end("j1", end)
    loaded = await storage.journal_load("j1")
    assert loaded is not None
    assert loaded["header"] == head and loaded["summary"] == end
    assert loaded["chunks"] == data
    assert loaded["bytes"] == sum(map(len, data))
    assert await storage.journal_load("nope") is None


async def test_begin_twice_and_unknown_ids(storage: Storage) -> None:
    await storage.journal_begin(header("j1"))
    await storage.journal_begin(header("j1", mode="other"))  # a retry: no-op
    assert (await storage.journal_load("j1"))["header"]["mode"] == "dice"
    with pytest.raises(StorageError):
        await storage.journal_append("missing", 0, b"x")
    await storage.journal_end("missing", summary(START, []))  # no-op
    with pytest.raises(ValueError, match="mode"):
        await storage.journal_begin({"id": "j2", "version": "1", "room": "r", "started": 0})


async def test_many_chunks_of_several_journals_in_one_call(storage: Storage) -> None:
    await storage.journal_begin(header("a"))
    await storage.journal_begin(header("b"))
    failed = await storage.journal_append_many([
        ("a", 0, b"a0"), ("b", 0, b"b0"), ("gone", 0, b"x"), ("a", 1, b"a1"),
        ("gone", 1, b"y"), ("b", 0, b"a retried write stores nothing"), ("b", 1, b"b1"),
    ])
    # The journal purged meanwhile is named once; every other chunk is stored.
    assert set(failed) == {"gone"} and "gone" in failed["gone"]
    a, b = await storage.journal_load("a"), await storage.journal_load("b")
    assert a is not None and b is not None
    assert a["chunks"] == [b"a0", b"a1"] and a["bytes"] == 4
    assert b["chunks"] == [b"b0", b"b1"] and b["bytes"] == 4
    assert await storage.journal_append_many([]) == {}


async def test_list_items_and_mine(storage: Storage) -> None:
    await finished(storage, "old", started=START, score=4, user=1)
    await finished(storage, "new", started=START + 10, score=2, user=2)
    await storage.journal_begin(header("live", started=START + 20))
    items = await storage.journals_list()
    assert [i["id"] for i in items] == ["live", "new", "old"]
    old = items[2]
    assert old == {"id": "old", "mode": "dice", "version": "1", "room": "r-old",
                   "private": False, "started": START, "ended": START + 1000,
                   "duration_ms": 1000, "bytes": 5, "score": 4,
                   "players": [{"player": 1, "name": "Ann", "user": 1, "score": 4},
                               {"player": 2, "name": "Bot", "user": None, "score": None}]}
    assert items[0]["ended"] is None and items[0]["players"] == []
    assert [i["id"] for i in await storage.journals_list(user=1)] == ["old"]
    assert [i["id"] for i in await storage.journals_list(user=2)] == ["new"]
    assert await storage.journals_list(user=3) == []
    assert [i["id"] for i in await storage.journals_list(limit=1)] == ["live"]
    assert await storage.journals_list(limit=0) == []


async def test_top_per_mode(storage: Storage) -> None:
    await finished(storage, "a", score=4)
    await finished(storage, "b", score=9, started=START + 1)
    await finished(storage, "c", score=None, started=START + 2)
    await finished(storage, "d", score=100, private=True, started=START + 3)
    await finished(storage, "e", score=50, mode="arena", started=START + 4)
    await storage.journal_begin(header("live", started=START + 5))
    top = await storage.journals_list(mode="dice", top=True)
    # Best first, unscored last, private tables and live matches left out.
    assert [i["id"] for i in top] == ["b", "a", "c"]
    assert [i["id"] for i in await storage.journals_list(mode="arena", top=True)] == ["e"]
    # Your own private table is yours to see.
    assert "d" in [i["id"] for i in await storage.journals_list(user=1)]


async def test_purge_by_age_and_count(storage: Storage, clock: ManualClock) -> None:
    day = 86_400
    await finished(storage, "old", started=START)
    await finished(storage, "mid", started=START + 2 * day * 1000)
    await storage.journal_begin(header("stale-live", started=START))
    await storage.journal_begin(header("live", started=START))
    clock.advance(3 * day)
    await storage.journal_append("live", 0, b"still going")  # a chunk now: not stale
    assert await storage.journals_purge(older_than_s=2 * day) == 2  # old, stale-live
    assert {i["id"] for i in await storage.journals_list()} == {"mid", "live"}
    assert await storage.journal_load("old") is None
    await finished(storage, "new", started=START + 3 * day * 1000)
    await finished(storage, "arena1", mode="arena")
    assert await storage.journals_purge(keep_per_mode=1) == 1  # mid: dice keeps "new"
    assert {i["id"] for i in await storage.journals_list()} == {"new", "arena1", "live"}
    assert await storage.journals_purge() == 0


async def test_ending_again_replaces_players(storage: Storage) -> None:
    await finished(storage, "j", score=1, user=1)
    await storage.journal_end("j", summary(START + 9, [(3, 7, "Cy", 8)]))
    [item] = await storage.journals_list()
    assert item["score"] == 8 and [p["user"] for p in item["players"]] == [7]


async def test_a_version_2_sqlite_file_gains_the_journal_tables(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    store = SQLiteStorage(path)
    await store.open()
    try:
        await store.journal_begin(header("j"))
        assert (await store.journal_load("j"))["chunks"] == []
    finally:
        await store.close()
