"""Tests for game_server.storage: a contract every Storage must meet, then SQLite specifics."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from game_server.storage.base import Storage, StorageError, User, UsernameTaken, hash_session_id
from game_server.storage.sqlite import SCHEMA_VERSION, SQLiteStorage


class ManualClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


StorageFactory = Callable[[Path, ManualClock], Storage]


def _sqlite(tmp_path: Path, clock: ManualClock) -> Storage:
    return SQLiteStorage(tmp_path / "db" / "arena.sqlite3", clock=clock)


# Every implementation of Storage goes here (PostgreSQL next) and must pass the contract tests.
FACTORIES = [pytest.param(_sqlite, id="sqlite")]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=FACTORIES)
def factory(request: pytest.FixtureRequest) -> StorageFactory:
    return request.param


@pytest.fixture
async def storage(
    factory: StorageFactory, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[Storage]:
    store = factory(tmp_path, clock)
    await store.open()
    yield store
    await store.close()


# -- contract: users ---------------------------------------------------------------------------


async def test_create_and_find_user(storage: Storage) -> None:
    user = await storage.create_user("Alice", "hash-a")
    assert user == User(id=user.id, name="Alice", is_guest=False, best_mass=0)
    assert await storage.find_login("Alice") == (user, "hash-a")
    assert await storage.find_login("aLiCe") == (user, "hash-a")
    assert await storage.get_user(user.id) == user


async def test_username_taken_ignores_case(storage: Storage) -> None:
    await storage.create_user("Alice", "hash-a")
    with pytest.raises(UsernameTaken):
        await storage.create_user("alice", "hash-b")
    with pytest.raises(UsernameTaken):
        await storage.create_user("ALICE", "hash-c")
    found = await storage.find_login("alice")
    assert found is not None and found[1] == "hash-a"


async def test_unknown_login_and_user(storage: Storage) -> None:
    assert await storage.find_login("nobody") is None
    assert await storage.get_user(12345) is None


async def test_guests_share_names_and_cannot_log_in(storage: Storage) -> None:
    first = await storage.create_guest("Blob")
    second = await storage.create_guest("Blob")
    assert first.id != second.id
    assert first.is_guest and second.is_guest
    assert first.name == second.name == "Blob"
    assert await storage.find_login("Blob") is None
    assert await storage.get_user(second.id) == second
    # A guest's display name does not reserve the username.
    registered = await storage.create_user("Blob", "hash")
    assert not registered.is_guest


async def test_user_to_json(storage: Storage) -> None:
    guest = await storage.create_guest("Guest 7")
    assert guest.to_json() == {"id": guest.id, "name": "Guest 7", "guest": True, "best_mass": 0}


# -- contract: sessions ------------------------------------------------------------------------


async def test_session_valid_then_revoked(storage: Storage) -> None:
    user = await storage.create_user("alice", "hash")
    session_id = await storage.create_session(user.id, ttl_seconds=3600)
    assert len(session_id) >= 40
    assert await storage.session_user(session_id) == user
    await storage.revoke_session(session_id)
    assert await storage.session_user(session_id) is None
    await storage.revoke_session(session_id)  # twice is fine


async def test_sessions_are_independent(storage: Storage) -> None:
    user = await storage.create_guest("g")
    first = await storage.create_session(user.id, ttl_seconds=60)
    second = await storage.create_session(user.id, ttl_seconds=60)
    assert first != second
    await storage.revoke_session(first)
    assert await storage.session_user(first) is None
    assert await storage.session_user(second) == user


async def test_session_expires(storage: Storage, clock: ManualClock) -> None:
    user = await storage.create_user("alice", "hash")
    session_id = await storage.create_session(user.id, ttl_seconds=60)
    clock.advance(59.9)
    assert await storage.session_user(session_id) == user
    clock.advance(0.1)
    assert await storage.session_user(session_id) is None


async def test_unknown_session(storage: Storage) -> None:
    assert await storage.session_user("no-such-session") is None
    assert await storage.session_user("") is None
    await storage.revoke_session("no-such-session")


async def test_session_for_unknown_user_fails(storage: Storage) -> None:
    with pytest.raises(StorageError):
        await storage.create_session(999_999, ttl_seconds=60)


async def test_session_ttl_must_be_positive(storage: Storage) -> None:
    user = await storage.create_guest("g")
    with pytest.raises(ValueError):
        await storage.create_session(user.id, ttl_seconds=0)


async def test_session_user_sees_current_best_mass(storage: Storage) -> None:
    user = await storage.create_guest("g")
    session_id = await storage.create_session(user.id, ttl_seconds=60)
    await storage.record_best_mass(user.id, 50)
    current = await storage.session_user(session_id)
    assert current is not None and current.best_mass == 50


async def test_purge_removes_expired_and_revoked(storage: Storage, clock: ManualClock) -> None:
    user = await storage.create_user("alice", "hash")
    short = await storage.create_session(user.id, ttl_seconds=10)
    revoked = await storage.create_session(user.id, ttl_seconds=1000)
    live = await storage.create_session(user.id, ttl_seconds=1000)
    await storage.revoke_session(revoked)
    assert await storage.purge_expired_sessions() == 1  # only the revoked one so far
    clock.advance(10)
    assert await storage.purge_expired_sessions() == 1
    assert await storage.purge_expired_sessions() == 0
    assert await storage.session_user(short) is None
    assert await storage.session_user(live) == user


# -- contract: scores --------------------------------------------------------------------------


async def test_best_mass_keeps_max(storage: Storage) -> None:
    user = await storage.create_user("alice", "hash")
    await storage.record_best_mass(user.id, 120)
    await storage.record_best_mass(user.id, 80)
    assert (await storage.get_user(user.id)) == User(user.id, "alice", False, 120)
    await storage.record_best_mass(user.id, 300)
    found = await storage.find_login("alice")
    assert found is not None and found[0].best_mass == 300
    await storage.record_best_mass(999_999, 10)  # unknown user: ignored


async def test_leaderboard_order_limit_and_zero(storage: Storage) -> None:
    masses = {"a": 10, "b": 300, "c": 0, "d": 150, "e": 300}
    for name, mass in masses.items():
        user = await storage.create_user(name, "hash")
        await storage.record_best_mass(user.id, mass)
    guest = await storage.create_guest("guesty")
    await storage.record_best_mass(guest.id, 200)

    board = await storage.leaderboard()
    assert board == [
        {"name": "b", "best_mass": 300, "guest": False},
        {"name": "e", "best_mass": 300, "guest": False},  # ties: older account first
        {"name": "guesty", "best_mass": 200, "guest": True},
        {"name": "d", "best_mass": 150, "guest": False},
        {"name": "a", "best_mass": 10, "guest": False},
    ]
    assert await storage.leaderboard(limit=2) == board[:2]
    assert await storage.leaderboard(limit=0) == []


async def test_empty_leaderboard(storage: Storage) -> None:
    await storage.create_user("zero", "hash")
    assert await storage.leaderboard() == []


# -- contract: lifecycle -----------------------------------------------------------------------


async def test_data_survives_close_and_reopen(
    factory: StorageFactory, tmp_path: Path, clock: ManualClock
) -> None:
    async with factory(tmp_path, clock) as store:
        user = await store.create_user("alice", "hash")
        await store.record_best_mass(user.id, 42)
        session_id = await store.create_session(user.id, ttl_seconds=60)
    async with factory(tmp_path, clock) as store:
        assert await store.find_login("ALICE") == (User(user.id, "alice", False, 42), "hash")
        assert await store.session_user(session_id) == User(user.id, "alice", False, 42)
        with pytest.raises(UsernameTaken):
            await store.create_user("Alice", "other")


async def test_close_is_idempotent_and_closed_storage_refuses(storage: Storage) -> None:
    await storage.close()
    await storage.close()
    with pytest.raises(StorageError):
        await storage.get_user(1)


async def test_concurrent_calls(storage: Storage) -> None:
    users = await asyncio.gather(*(storage.create_guest(f"g{i}") for i in range(50)))
    assert len({user.id for user in users}) == 50


# -- SQLite specifics --------------------------------------------------------------------------


@pytest.fixture
async def sqlite_storage(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SQLiteStorage]:
    store = SQLiteStorage(tmp_path / "nested" / "dir" / "arena.db", clock=clock)
    await store.open()
    yield store
    await store.close()


async def test_sqlite_creates_parent_directory(sqlite_storage: SQLiteStorage) -> None:
    assert await asyncio.to_thread(Path(sqlite_storage.path).is_file)


async def test_sqlite_wal_and_schema_version(sqlite_storage: SQLiteStorage) -> None:
    with sqlite3.connect(sqlite_storage.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


async def test_sqlite_stores_only_session_hashes(sqlite_storage: SQLiteStorage) -> None:
    user = await sqlite_storage.create_user("alice", "hash")
    session_id = await sqlite_storage.create_session(user.id, ttl_seconds=60)
    with sqlite3.connect(sqlite_storage.path) as conn:
        rows = conn.execute("SELECT * FROM sessions").fetchall()
        dump = "\n".join(conn.iterdump())
    conn.close()
    assert len(rows) == 1
    assert rows[0][0] == hash_session_id(session_id)
    assert session_id not in dump
    raw = b"".join(path.read_bytes() for path in Path(sqlite_storage.path).parent.iterdir())
    assert session_id.encode() not in raw


async def test_sqlite_runs_on_one_worker_thread(sqlite_storage: SQLiteStorage) -> None:
    loop_thread = threading.get_ident()
    idents = {await sqlite_storage._run(threading.get_ident) for _ in range(5)}
    assert len(idents) == 1
    assert loop_thread not in idents


async def test_sqlite_close_stops_worker_thread(tmp_path: Path) -> None:
    store = SQLiteStorage(tmp_path / "a.db")
    await store.open()
    worker = await store._run(threading.current_thread)
    assert worker.name.startswith("arena-sqlite")
    await store.close()
    assert not worker.is_alive()


async def test_sqlite_deleting_user_cascades_to_sessions(sqlite_storage: SQLiteStorage) -> None:
    user = await sqlite_storage.create_user("alice", "hash")
    session_id = await sqlite_storage.create_session(user.id, ttl_seconds=60)
    await sqlite_storage._run(
        lambda: sqlite_storage._db().execute("DELETE FROM users WHERE id = ?", (user.id,))
    )
    assert await sqlite_storage.session_user(session_id) is None
    count = await sqlite_storage._run(
        lambda: sqlite_storage._db().execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    )
    assert count == 0


async def test_sqlite_refuses_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = SQLiteStorage(path)
    with pytest.raises(StorageError, match="newer"):
        await store.open()
    await store.close()


async def test_sqlite_open_twice_refused(sqlite_storage: SQLiteStorage) -> None:
    with pytest.raises(StorageError):
        await sqlite_storage.open()


async def test_sqlite_unopenable_path_raises_storage_error(tmp_path: Path) -> None:
    store = SQLiteStorage(tmp_path)  # a directory, not a file
    with pytest.raises(StorageError, match="cannot open"):
        await store.open()
    await store.close()
