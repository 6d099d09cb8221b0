"""The journal writer on a real SQLite file: records reach storage in order, in chunks, off the
rooms' path; an outage or a full queue drops recording (log once, metric), never anything else."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from game_server.journal.codec import encode_chunk
from game_server.journal.store import load_journal
from game_server.journal.writer import JournalCollector, JournalWriter
from game_server.storage.sqlite import SQLiteStorage


def header(**extra: Any) -> dict[str, Any]:
    return {"format": 1, "id": uuid.uuid4().hex, "mode": "dice", "version": "1", "room": "r1",
            "seed": 3, "options": {}, "tick_rate": 0, "max_players": 2, "private": False,
            "started": 1_700_000_000_000, "hash_every": 1, "snapshot_every": 1, **extra}


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    store = SQLiteStorage(tmp_path / "arena.sqlite3")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def writer(storage: SQLiteStorage) -> AsyncIterator[JournalWriter]:
    # A flush interval no test waits for: each test flushes by hand.
    journal = JournalWriter(storage, flush_interval=3600)
    journal.start()
    yield journal
    await journal.stop()


async def flush(writer: JournalWriter) -> None:
    await writer.flush()
    await writer.written()


async def test_records_reach_storage_in_order(writer: JournalWriter,
                                              storage: SQLiteStorage) -> None:
    recorder = writer.open(header())
    assert recorder is not None
    jid = recorder.header["id"]
    recorder.records += [["j", 0, 1, "Ann", None, 1], ["m", 5, 1, "roll", {"n": 1}]]
    await flush(writer)
    live = await load_journal(storage, jid)
    assert live is not None and live.summary is None and not live.finished
    assert live.records == [["j", 0, 1, "Ann", None, 1], ["m", 5, 1, "roll", {"n": 1}]]
    await flush(writer)  # nothing new: no empty chunk
    recorder.records.append(["h", 1, "abcd"])
    recorder.summary = {"ended": 1_700_000_001_000, "players": [
        {"player": 1, "user": 9, "name": "Ann"}], "outcomes": []}
    recorder.closed = True
    await flush(writer)
    done = await load_journal(storage, jid)
    assert done is not None and done.summary == recorder.summary
    assert [r[0] for r in done.records] == ["j", "m", "h"]
    assert writer.live == 0
    assert (writer.stats.chunks, writer.stats.dropped, writer.stats.queue_bytes) == (2, 0, 0)
    assert writer.stats.bytes == done.bytes > 0
    assert [i["id"] for i in await storage.journals_list(user=9)] == [jid]


async def test_a_room_that_recorded_nothing_leaves_no_journal(
        writer: JournalWriter, storage: SQLiteStorage) -> None:
    recorder = writer.open(header())
    assert recorder is not None
    recorder.summary, recorder.closed = {"ended": 1}, True
    await flush(writer)
    assert await storage.journals_list() == []


async def test_settings_go_into_ticking_headers(storage: SQLiteStorage) -> None:
    writer = JournalWriter(storage, hash_every=5, snapshot_every=3)
    assert writer.open(header()) is None  # not started: nothing is recorded
    writer.start()
    try:
        ticking = writer.open(header(tick_rate=20, hash_every=20, snapshot_every=10))
        event = writer.open(header())
        assert ticking is not None and event is not None
        assert (ticking.header["hash_every"], ticking.header["snapshot_every"]) == (5, 3)
        assert (event.header["hash_every"], event.header["snapshot_every"]) == (1, 3)
    finally:
        await writer.stop()


async def test_an_outage_drops_recording_once_in_the_log(
        writer: JournalWriter, storage: SQLiteStorage, caplog: pytest.LogCaptureFixture) -> None:
    first, second = writer.open(header()), writer.open(header())
    assert first is not None and second is not None
    await storage.close()  # the database is gone
    first.records.append(["j", 0, 1, "Ann", None, 1])
    second.records.append(["j", 0, 2, "Bob", None, 1])
    with caplog.at_level(logging.INFO, logger="arena.journal"):
        await flush(writer)
    assert first.dropped and second.dropped
    assert writer.stats.dropped == 2 and writer.stats.queue_bytes == 0
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and "recording dropped" in said[0].getMessage()
    # The metric says so too.
    families = {m.name: m for m in JournalCollector(writer.stats).collect()}
    assert families["arena_journal_dropped"].samples[0].value == 2
    # A dropped recorder is let go of at the next flush; nothing else is written for it.
    first.records.append(["m", 1, 1, "x", {}])
    await flush(writer)
    assert writer.live == 0


async def test_a_full_queue_drops_the_journal(storage: SQLiteStorage) -> None:
    writer = JournalWriter(storage, flush_interval=3600, max_queue_bytes=16)
    writer.start()
    try:
        recorder = writer.open(header())
        assert recorder is not None
        recorder.records += [["m", i, 1, "say", {"text": uuid.uuid4().hex}] for i in range(50)]
        await writer.flush()
        assert recorder.dropped and writer.stats.dropped == 1
        await writer.written()
        assert writer.stats.chunks == 0 and writer.stats.queue_bytes == 0
    finally:
        await writer.stop()


async def test_stop_writes_what_is_left(storage: SQLiteStorage) -> None:
    writer = JournalWriter(storage, flush_interval=3600)
    writer.start()
    recorder = writer.open(header())
    assert recorder is not None
    recorder.records.append(["j", 0, 1, "Ann", None, 1])
    recorder.summary, recorder.closed = {"ended": 2, "players": [], "outcomes": []}, True
    await writer.stop()
    found = await load_journal(storage, recorder.header["id"])
    assert found is not None and found.finished and len(found.records) == 1


async def test_the_writer_flushes_on_its_own_timer(storage: SQLiteStorage) -> None:
    writer = JournalWriter(storage, flush_interval=0.01)
    writer.start()
    try:
        recorder = writer.open(header())
        assert recorder is not None
        recorder.records.append(["j", 0, 1, "Ann", None, 1])
        async with asyncio.timeout(5):  # nobody flushes by hand: the timer must
            while True:
                if await load_journal(storage, recorder.header["id"]) is not None:
                    break
                await asyncio.sleep(0.01)
    finally:
        await writer.stop()


async def test_a_journal_stops_at_its_size_limit_and_keeps_its_prefix(
        storage: SQLiteStorage) -> None:
    writer = JournalWriter(storage, flush_interval=3600, max_journal_bytes=200)
    writer.start()
    try:
        recorder = writer.open(header())
        assert recorder is not None
        recorder.records.append(["j", 0, 1, "Ann", None, 1])
        recorder.players.append({"player": 1, "user": 4, "name": "Ann"})
        await flush(writer)
        # Random text does not compress: this chunk would take the journal past 200 bytes.
        recorder.records += [["m", i, 1, "say", {"t": uuid.uuid4().hex}] for i in range(20)]
        await flush(writer)
        assert recorder.dropped and writer.live == 0 and writer.stats.dropped == 1
        found = await load_journal(storage, recorder.header["id"])
        assert found is not None and found.records == [["j", 0, 1, "Ann", None, 1]]
        assert found.summary is not None and "200 bytes" in found.summary["dropped"]
        assert found.summary["players"] == [{"player": 1, "user": 4, "name": "Ann"}]
    finally:
        await writer.stop()


async def test_records_that_cannot_be_encoded_stop_that_journal_alone(
        writer: JournalWriter, storage: SQLiteStorage) -> None:
    bad, good = writer.open(header()), writer.open(header())
    assert bad is not None and good is not None
    bad.records.append(["j", 0, 1, "Ann", None, 1])
    await flush(writer)
    bad.records.append(["m", 1, 1, "say", {"odd": {1, 2}}])  # a set: not JSON
    good.records.append(["j", 0, 2, "Bob", None, 1])
    await flush(writer)
    assert bad.dropped and not good.dropped
    stored = await load_journal(storage, bad.header["id"])
    assert stored is not None and len(stored.records) == 1
    assert "cannot be encoded" in stored.summary["dropped"]
    assert (await load_journal(storage, good.header["id"])).records == [
        ["j", 0, 2, "Bob", None, 1]]


async def test_stop_during_a_timed_flush_loses_nothing(storage: SQLiteStorage) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_encode(records: list[list[Any]]) -> bytes:
        entered.set()
        release.wait(5)
        return encode_chunk(records)

    writer = JournalWriter(storage, flush_interval=0.01, encode=slow_encode)
    writer.start()
    recorder = writer.open(header())
    assert recorder is not None
    recorder.records.append(["j", 0, 1, "Ann", None, 1])
    assert await asyncio.to_thread(entered.wait, 5)  # the timer's flush took the records
    stopping = asyncio.get_running_loop().create_task(writer.stop())
    await asyncio.sleep(0)  # stop() has cancelled the timer by now
    release.set()
    await stopping
    found = await load_journal(storage, recorder.header["id"])
    assert found is not None and found.records == [["j", 0, 1, "Ann", None, 1]]


async def test_a_flush_is_one_write_and_a_purged_journal_drops_alone(
        writer: JournalWriter, storage: SQLiteStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    rooms = [writer.open(header()) for _ in range(3)]
    assert all(r is not None for r in rooms)
    for i, recorder in enumerate(rooms):
        recorder.records.append(["m", 0, 1, "roll", {"n": i}])  # type: ignore[union-attr]
    await flush(writer)  # begins them all
    # One of them is purged from the database meanwhile (retention, an operator).
    gone = rooms[1].header["id"]  # type: ignore[union-attr]
    await storage._run(lambda: storage._db().execute("DELETE FROM journals WHERE id = ?",
                                                     (gone,)) and storage._db().commit())
    calls: list[int] = []
    many = storage.journal_append_many

    async def counted(chunks: Any) -> dict[str, str]:
        calls.append(len(chunks))
        return await many(chunks)

    monkeypatch.setattr(storage, "journal_append_many", counted)
    for i, recorder in enumerate(rooms):
        recorder.records.append(["m", 5, 1, "roll", {"n": 10 + i}])  # type: ignore[union-attr]
    await flush(writer)
    assert calls == [3]  # the three rooms' chunks, stored by one call
    assert rooms[1].dropped and not rooms[0].dropped and not rooms[2].dropped  # type: ignore
    assert writer.stats.dropped == 1
    for recorder in (rooms[0], rooms[2]):
        stored = await load_journal(storage, recorder.header["id"])  # type: ignore[union-attr]
        assert stored is not None and len(stored.records) == 2
