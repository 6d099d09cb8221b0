"""Tests for game_server.storage: a contract every Storage must meet, then SQLite specifics."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from game_server.games.api import Outcome
from game_server.storage import open_storage
from game_server.storage import postgres as pg_storage
from game_server.storage import sqlite as sqlite_module
from game_server.storage.base import Storage, StorageError, User, UsernameTaken, hash_session_id
from game_server.storage.postgres import PostgresStorage
from game_server.storage.sqlite import SCHEMA_VERSION, SQLiteStorage

from .pg import PostgresServer, postgres_database, postgres_server, skip_unless_installed

# Fixtures used by name below; importing them is what makes pytest see them here.
__all__ = ["postgres_database", "postgres_server"]


class ManualClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# Makes an unopened storage; called twice in one test, it must reach the same data.
StorageFactory = Callable[[Path, ManualClock], Storage]


def _sqlite(request: pytest.FixtureRequest) -> StorageFactory:
    return lambda tmp_path, clock: SQLiteStorage(tmp_path / "db" / "arena.sqlite3", clock=clock)


def _postgres(request: pytest.FixtureRequest) -> StorageFactory:
    dsn = request.getfixturevalue("postgres_database")  # a new empty database for each test
    return lambda tmp_path, clock: PostgresStorage(dsn, clock=clock)


# Every implementation of Storage goes here and must pass the contract tests. Each entry gets
# the test's request (to reach fixtures such as a fresh database) and returns a factory.
FACTORIES = [pytest.param(_sqlite, id="sqlite"), pytest.param(_postgres, id="postgres")]



async def record_best(storage: Storage, user_id: int, score: int) -> None:
    """A finished life of the arena game: its best score (what the game reports)."""
    if score > 0:
        await storage.record_outcomes("arena", "best_score", None,
                                      [(user_id, Outcome(player=0, score=score))])


async def best_of(storage: Storage, user_id: int) -> int:
    """The user's best score in the arena mode, 0 without one."""
    found = await storage.rank_around("arena", "best_score", user_id, neighbours=0)
    return found["you"]["score"] if found else 0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=FACTORIES)
def factory(request: pytest.FixtureRequest) -> StorageFactory:
    return request.param(request)


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
    assert user == User(id=user.id, name="Alice", is_guest=False)
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
    assert guest.to_json() == {"id": guest.id, "name": "Guest 7", "guest": True}


# -- contract: sessions ------------------------------------------------------------------------


async def test_session_valid_then_revoked(storage: Storage) -> None:
    user = await storage.create_user("alice", "hash")
    session_id = await storage.create_session(user.id, ttl_seconds=3600)
    assert len(session_id) >= 40
    assert await storage.session_user(session_id) == user
    await storage.revoke_session(session_id)
    assert await storage.session_user(session_id) is None
    await storage.revoke_session(session_id)  # twice is fine


async def test_session_by_hash_follows_the_session(storage: Storage) -> None:
    from game_server.storage.base import hash_session_id

    user = await storage.create_user("alice", "hash")
    session_id = await storage.create_session(user.id, ttl_seconds=3600)
    assert await storage.session_user_by_hash(hash_session_id(session_id)) == user
    assert await storage.session_user_by_hash(session_id) is None  # the id is not its hash
    await storage.revoke_session(session_id)
    assert await storage.session_user_by_hash(hash_session_id(session_id)) is None


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


async def test_best_score_keeps_max(storage: Storage) -> None:
    user = await storage.create_user("alice", "hash")
    await record_best(storage, user.id, 120)
    await record_best(storage, user.id, 80)
    assert await best_of(storage, user.id) == 120
    await record_best(storage, user.id, 300)
    assert await best_of(storage, user.id) == 300
    await record_best(storage, 999_999, 10)  # unknown user: ignored


async def test_leaderboard_order_limit_and_zero(storage: Storage) -> None:
    masses = {"a": 10, "b": 300, "c": 0, "d": 150, "e": 300}
    for name, mass in masses.items():
        user = await storage.create_user(name, "hash")
        await record_best(storage, user.id, mass)
    guest = await storage.create_guest("guesty")
    await record_best(storage, guest.id, 200)

    board = [(e["name"], e["score"], e["guest"])
             for e in await storage.leaderboard("arena", "best_score")]
    assert board == [
        ("b", 300, False),
        ("e", 300, False),  # ties: older account first
        ("guesty", 200, True),
        ("d", 150, False),
        ("a", 10, False),
    ]
    assert len(await storage.leaderboard("arena", "best_score", limit=2)) == 2
    assert await storage.leaderboard("arena", "best_score", limit=0) == []


async def test_empty_leaderboard(storage: Storage) -> None:
    await storage.create_user("zero", "hash")
    assert await storage.leaderboard("arena", "best_score") == []


# -- contract: results per mode ----------------------------------------------------------------


def _won(user_id: int, place: int) -> tuple[int, Outcome]:
    return user_id, Outcome(player=user_id, placement=place)


def _scored(user_id: int, score: int) -> tuple[int, Outcome]:
    return user_id, Outcome(player=user_id, score=score)


async def _users(storage: Storage, *names: str) -> list[User]:
    return [await storage.create_user(name, "hash") for name in names]


async def test_best_score_keeps_the_max_per_mode(storage: Storage) -> None:
    ann, bob = await _users(storage, "ann", "bob")
    assert await storage.record_outcomes("golf", "best_score", "m1", [_scored(ann.id, 120)])
    assert await storage.record_outcomes("golf", "best_score", "m2",
                                         [_scored(ann.id, 80), _scored(bob.id, 90)])
    assert await storage.record_outcomes("darts", "best_score", "m1", [_scored(bob.id, 7)])
    assert await storage.top("golf", "best_score") == [
        {"rank": 1, "name": "ann", "guest": False, "score": 120},
        {"rank": 2, "name": "bob", "guest": False, "score": 90},
    ]
    assert await storage.top("darts", "best_score") == [
        {"rank": 1, "name": "bob", "guest": False, "score": 7}]
    assert await storage.top("chess", "best_score") == []


async def test_wins_count_wins_and_games_played(storage: Storage) -> None:
    ann, bob, cy = await _users(storage, "ann", "bob", "cy")
    await storage.record_outcomes("dice", "wins", "1", [_won(ann.id, 1), _won(bob.id, 2),
                                                        _won(cy.id, 3)])
    await storage.record_outcomes("dice", "wins", "2", [_won(ann.id, 2), _won(bob.id, 1)])
    await storage.record_outcomes("dice", "wins", "3", [
        (ann.id, Outcome(0, won=True)), (cy.id, Outcome(1, won=False))])
    assert await storage.top("dice", "wins") == [
        {"rank": 1, "name": "ann", "guest": False, "wins": 2, "played": 3},
        {"rank": 2, "name": "bob", "guest": False, "wins": 1, "played": 2},
        {"rank": 3, "name": "cy", "guest": False, "wins": 0, "played": 2},
    ]


async def test_a_draw_is_played_not_won(storage: Storage) -> None:
    ann, bob = await _users(storage, "ann", "bob")
    # tic-tac-toe's draw: first place for both, and no winner
    await storage.record_outcomes("tictactoe", "wins", "d", [
        (ann.id, Outcome(0, placement=1, won=False)), (bob.id, Outcome(1, placement=1, won=False))])
    assert [(e["wins"], e["played"]) for e in await storage.top("tictactoe", "wins")] == [
        (0, 1), (0, 1)]


async def test_ratings_move_and_are_zero_sum(storage: Storage) -> None:
    ann, bob, cy = await _users(storage, "ann", "bob", "cy")
    await storage.record_outcomes("dice", "rating", "1", [_won(ann.id, 1), _won(bob.id, 2)])
    board = await storage.top("dice", "rating")
    assert board == [{"rank": 1, "name": "ann", "guest": False, "rating": 1516},
                     {"rank": 2, "name": "bob", "guest": False, "rating": 1484}]
    for i in range(5):
        await storage.record_outcomes("dice", "rating", f"x{i}", [
            _won(cy.id, 1), _won(bob.id, 2), _won(ann.id, 3)])
    board = await storage.top("dice", "rating")
    assert [e["name"] for e in board] == ["cy", "bob", "ann"]
    # Rounded figures, so the sum is exact to within one point per player.
    assert abs(sum(e["rating"] for e in board) - 3 * 1500) <= 1.5


async def test_a_match_id_counts_once(storage: Storage) -> None:
    ann, bob = await _users(storage, "ann", "bob")
    match = [_won(ann.id, 1), _won(bob.id, 2)]
    assert await storage.record_outcomes("dice", "rating", "room-7:1", match) is True
    first = await storage.top("dice", "rating")
    assert await storage.record_outcomes("dice", "rating", "room-7:1", match) is False
    assert await storage.top("dice", "rating") == first
    # The same id in another mode is another match.
    assert await storage.record_outcomes("duel", "rating", "room-7:1", match) is True
    # Without an id every call counts.
    await storage.record_outcomes("tally", "wins", None, [_won(ann.id, 1)])
    await storage.record_outcomes("tally", "wins", None, [_won(ann.id, 1)])
    assert (await storage.top("tally", "wins"))[0]["wins"] == 2


async def test_unknown_users_are_left_out(storage: Storage) -> None:
    (ann,) = await _users(storage, "ann")
    await storage.record_outcomes("dice", "rating", "1", [_won(ann.id, 1), _won(999_999, 2)])
    # A match of one known player rates nobody; it still counts as played.
    assert await storage.top("dice", "rating") == []
    assert await storage.top("dice", "wins") == [
        {"rank": 1, "name": "ann", "guest": False, "wins": 1, "played": 1}]


async def test_bad_results_are_refused_before_writing(storage: Storage) -> None:
    (ann,) = await _users(storage, "ann")
    with pytest.raises(ValueError):
        await storage.record_outcomes("dice", "elo", "1", [_won(ann.id, 1)])  # type: ignore
    with pytest.raises(ValueError):
        await storage.record_outcomes("dice", "wins", "1", [_won(ann.id, 1), _won(ann.id, 2)])
    with pytest.raises(ValueError):
        await storage.top("dice", "elo")  # type: ignore[arg-type]
    # Nothing was written, not even the match id.
    assert await storage.record_outcomes("dice", "wins", "1", [_won(ann.id, 1)]) is True


async def test_order_ties_guests_and_limit(storage: Storage) -> None:
    scores = {"a": 10, "b": 300, "d": 150, "e": 300}
    users = await _users(storage, *scores)
    guest = await storage.create_guest("guesty")
    await storage.create_user("never", "hash")  # no result: not listed
    await storage.record_outcomes(
        "m", "best_score", "1",
        [_scored(u.id, scores[u.name]) for u in users] + [_scored(guest.id, 200)])
    board = await storage.top("m", "best_score")
    assert [(e["rank"], e["name"], e["score"], e["guest"]) for e in board] == [
        (1, "b", 300, False),
        (2, "e", 300, False),  # ties: the lower user id first
        (3, "guesty", 200, True),
        (4, "d", 150, False),
        (5, "a", 10, False),
    ]
    assert await storage.top("m", "best_score", limit=2) == board[:2]
    assert await storage.top("m", "best_score", limit=0) == []
    assert await storage.leaderboard("m", "best_score", 3) == board[:3]


async def test_rank_around_top_middle_bottom(storage: Storage) -> None:
    users = await _users(storage, *(f"p{i}" for i in range(7)))
    # p0 .. p6 score 70 .. 10; p3 and p4 tie at 40 and 40 (p3 first: lower id).
    points = [70, 60, 50, 40, 40, 20, 10]
    await storage.record_outcomes("m", "best_score", "1",
                                  [_scored(u.id, p) for u, p in zip(users, points, strict=True)])
    top = await storage.top("m", "best_score", limit=100)

    def names(around: dict | None) -> list[str]:
        assert around is not None
        return [e["name"] for e in around["around"]]

    first = await storage.rank_around("m", "best_score", users[0].id)
    assert first is not None and first["you"] == top[0]
    assert first["around"] == top[0:3]
    middle = await storage.rank_around("m", "best_score", users[4].id)
    assert middle is not None and middle["you"] == top[4] == {
        "rank": 5, "name": "p4", "guest": False, "score": 40}
    assert middle["around"] == top[2:7]
    last = await storage.rank_around("m", "best_score", users[6].id, neighbours=1)
    assert names(last) == ["p5", "p6"] and last and last["you"]["rank"] == 7
    alone = await storage.rank_around("m", "best_score", users[3].id, neighbours=0)
    assert alone == {"you": top[3], "around": [top[3]]}
    outsider = await storage.create_guest("late")
    assert await storage.rank_around("m", "best_score", outsider.id) is None
    assert await storage.rank_around("other", "best_score", users[0].id) is None


async def test_rank_around_by_wins_and_rating(storage: Storage) -> None:
    ann, bob, cy = await _users(storage, "ann", "bob", "cy")
    await storage.record_outcomes("dice", "rating", "1",
                                  [_won(ann.id, 2), _won(bob.id, 1), _won(cy.id, 3)])
    rated = await storage.rank_around("dice", "rating", cy.id, neighbours=1)
    assert rated is not None and rated["you"]["rank"] == 3
    assert [e["name"] for e in rated["around"]] == ["ann", "cy"]
    won = await storage.rank_around("dice", "wins", bob.id)
    assert won is not None and won["you"] == {
        "rank": 1, "name": "bob", "guest": False, "wins": 1, "played": 1}
    # A mode ranked by best score has nobody under it when no outcome had a score.
    assert await storage.rank_around("dice", "best_score", bob.id) is None


async def test_concurrent_matches_on_one_user_lose_no_update(
    factory: StorageFactory, tmp_path: Path, clock: ManualClock
) -> None:
    # Two storages on one database: two processes, each with its own connections.
    async with factory(tmp_path, clock) as one, factory(tmp_path, clock) as two:
        ann, bob = await _users(one, "ann", "bob")
        rounds = 100

        def match(i: int) -> list[tuple[int, Outcome]]:
            return [_won(ann.id, 1 + i % 2), _won(bob.id, 2 - i % 2)]

        await asyncio.gather(*(
            store.record_outcomes("dice", "rating", f"{name}{i}", match(i))
            for i in range(rounds) for name, store in (("a", one), ("b", two))))
        board = await one.top("dice", "wins")
        assert [(e["name"], e["wins"], e["played"]) for e in board] == [
            ("ann", rounds, 2 * rounds), ("bob", rounds, 2 * rounds)]
        ratings = await two.top("dice", "rating")
        assert abs(sum(e["rating"] for e in ratings) - 3000) <= 1
        # Retried writes of the same matches from either side change nothing.
        retried = await asyncio.gather(*(
            store.record_outcomes("dice", "rating", f"a{i}", match(i))
            for i in range(rounds) for store in (one, two)))
        assert not any(retried)
        assert await one.top("dice", "wins") == board


# Users of a schema-1 database (best masses in users.best_mass): name, guest, best mass.
V1_USERS = [("ann", False, 120), ("bob", False, 0), ("guest", True, 5), ("cy", False, 120)]


async def _check_best_masses_migrated(store: Storage, reopen: Callable[[], Storage]) -> None:
    """The schema-1 best masses became best scores of mode "arena", once, and stay there."""
    assert await store.top("arena", "best_score") == [
        {"rank": 1, "name": "ann", "guest": False, "score": 120},
        {"rank": 2, "name": "cy", "guest": False, "score": 120},
        {"rank": 3, "name": "guest", "guest": True, "score": 5},
    ]
    found = await store.find_login("ann")
    assert found is not None and await best_of(store, found[0].id) == 120
    await store.record_outcomes("arena", "best_score", "after", [_scored(found[0].id, 150)])
    await store.close()
    async with reopen() as again:  # opening again does not copy the old values over
        assert [(e["name"], e["score"]) for e in await again.top("arena", "best_score")] == [
            ("ann", 150), ("cy", 120), ("guest", 5)]


async def test_sqlite_migrates_best_masses_to_scores(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.executescript(sqlite_module._MIGRATIONS[0])
    conn.executemany(
        "INSERT INTO users (username, display_name, password_hash, is_guest, best_mass,"
        " created_at) VALUES (?, ?, ?, ?, ?, 1.0)",
        [(None if guest else name, name, None if guest else "h", guest, mass)
         for name, guest, mass in V1_USERS])
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = SQLiteStorage(path)
    await store.open()
    await _check_best_masses_migrated(store, lambda: SQLiteStorage(path))
    with sqlite3.connect(path) as conn:  # the old column is kept, untouched
        masses = conn.execute("SELECT display_name, best_mass FROM users ORDER BY id").fetchall()
    conn.close()
    assert masses == [(name, mass) for name, _, mass in V1_USERS]


async def test_postgres_migrates_best_masses_to_scores(postgres_database: str) -> None:
    conn = await asyncpg.connect(postgres_database, timeout=5)
    try:
        await conn.execute(pg_storage._VERSION_TABLE + pg_storage._MIGRATIONS[0])
        await conn.execute("INSERT INTO arena_schema (version) VALUES (1)")
        await conn.executemany(
            "INSERT INTO users (username, display_name, password_hash, is_guest, best_mass,"
            " created_at) VALUES ($1, $2, $3, $4, $5, 1.0)",
            [(None if guest else name, name, None if guest else "h", guest, mass)
             for name, guest, mass in V1_USERS])
    finally:
        await conn.close()
    store = PostgresStorage(postgres_database)
    await store.open()
    await _check_best_masses_migrated(store, lambda: PostgresStorage(postgres_database))
    rows = await _query(postgres_database,
                        "SELECT display_name, best_mass FROM users ORDER BY id")
    assert [tuple(r) for r in rows] == [(name, mass) for name, _, mass in V1_USERS]
    assert [r["version"] for r in await _query(
        postgres_database, "SELECT version FROM arena_schema")] == [pg_storage.SCHEMA_VERSION]


# -- contract: lifecycle -----------------------------------------------------------------------


async def test_data_survives_close_and_reopen(
    factory: StorageFactory, tmp_path: Path, clock: ManualClock
) -> None:
    async with factory(tmp_path, clock) as store:
        user = await store.create_user("alice", "hash")
        await record_best(store, user.id, 42)
        session_id = await store.create_session(user.id, ttl_seconds=60)
    async with factory(tmp_path, clock) as store:
        assert await store.find_login("ALICE") == (User(user.id, "alice", False), "hash")
        assert await store.session_user(session_id) == User(user.id, "alice", False)
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


async def test_concurrent_best_mass_keeps_the_max(storage: Storage) -> None:
    user = await storage.create_guest("g")
    masses = [(i * 37) % 101 for i in range(60)]
    await asyncio.gather(*(record_best(storage, user.id, m) for m in masses))
    assert await best_of(storage, user.id) == max(masses)


async def test_concurrent_registrations_of_one_name(storage: Storage) -> None:
    names = ["Alice", "alice", "ALICE", "aLiCe"] * 5
    results = await asyncio.gather(
        *(storage.create_user(name, "hash") for name in names), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, User)]
    assert len(created) == 1
    assert all(isinstance(r, UsernameTaken) for r in results if r is not created[0])


async def test_concurrent_mixed_calls(storage: Storage) -> None:
    users = await asyncio.gather(*(storage.create_user(f"u{i}", "hash") for i in range(20)))
    sessions = await asyncio.gather(*(storage.create_session(u.id, 60) for u in users))
    found = await asyncio.gather(
        *(storage.session_user(s) for s in sessions),
        *(storage.find_login(f"U{i}") for i in range(20)),
        *(record_best(storage, u.id, u.id) for u in users),
        storage.leaderboard("arena", "best_score"),
    )
    assert found[:20] == users
    assert [f[0].id for f in found[20:40]] == [u.id for u in users]


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


# -- open_storage ------------------------------------------------------------------------------


def test_open_storage_picks_the_implementation(tmp_path: Path) -> None:
    plain = open_storage(tmp_path / "a.db")
    assert isinstance(plain, SQLiteStorage) and plain.path == str(tmp_path / "a.db")
    relative = open_storage("sqlite:///data/arena.sqlite3")
    assert isinstance(relative, SQLiteStorage) and relative.path == "data/arena.sqlite3"
    absolute = open_storage(f"sqlite:///{tmp_path}/b.db")
    assert isinstance(absolute, SQLiteStorage) and absolute.path == f"{tmp_path}/b.db"
    memory = open_storage("sqlite:///:memory:")
    assert isinstance(memory, SQLiteStorage) and memory.path == ":memory:"
    for url in ("postgresql://u:secret@db.example:5432/arena", "postgres://db.example/arena"):
        store = open_storage(url, max_size=3)
        assert isinstance(store, PostgresStorage)
        assert "secret" not in store.where
    with pytest.raises(ValueError, match="unsupported"):
        open_storage("mysql://db.example/arena")
    with pytest.raises(ValueError):
        open_storage("sqlite://")


# -- PostgreSQL specifics ----------------------------------------------------------------------


@pytest.fixture
async def pg(postgres_database: str, clock: ManualClock) -> AsyncIterator[PostgresStorage]:
    store = PostgresStorage(postgres_database, clock=clock)
    await store.open()
    yield store
    await store.close()


async def _query(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_postgres_stores_only_session_hashes(pg: PostgresStorage, postgres_database: str):
    user = await pg.create_user("alice", "hash")
    session_id = await pg.create_session(user.id, ttl_seconds=60)
    rows = await _query(postgres_database, "SELECT * FROM sessions")
    assert len(rows) == 1
    assert rows[0]["id_hash"] == hash_session_id(session_id)
    assert session_id not in repr([dict(r) for r in rows])


async def test_postgres_schema_is_versioned_and_open_is_idempotent(
    postgres_database: str,
) -> None:
    # Several processes starting at once: the schema lock keeps them from racing.
    stores = [PostgresStorage(postgres_database) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    await asyncio.gather(*(s.close() for s in stores))
    rows = await _query(postgres_database, "SELECT version FROM arena_schema")
    assert [r["version"] for r in rows] == [pg_storage.SCHEMA_VERSION]
    async with PostgresStorage(postgres_database) as store:
        assert await store.leaderboard("arena", "best_score") == []


async def test_postgres_refuses_newer_schema(postgres_database: str) -> None:
    async with PostgresStorage(postgres_database):
        pass
    await _query(postgres_database, "UPDATE arena_schema SET version = version + 1")
    store = PostgresStorage(postgres_database)
    with pytest.raises(StorageError, match="newer"):
        await store.open()
    await store.close()


async def test_postgres_open_twice_refused(pg: PostgresStorage) -> None:
    with pytest.raises(StorageError):
        await pg.open()


async def test_postgres_username_index_ignores_case(pg: PostgresStorage) -> None:
    await pg.create_user("Bob", "hash")
    found = await pg.find_login("bOB")
    assert found is not None and found[0].name == "Bob"


def test_postgres_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        PostgresStorage("host=localhost dbname=arena")
    with pytest.raises(ValueError):
        PostgresStorage("postgresql://localhost/arena", min_size=5, max_size=2)


async def test_postgres_nothing_listening_is_a_storage_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = PostgresStorage(f"postgresql://arena:hunter2@127.0.0.1:{port}/arena")
    with pytest.raises(StorageError, match=f"127.0.0.1:{port}") as caught:
        await store.open()
    assert "hunter2" not in str(caught.value)
    await store.close()
    with pytest.raises(StorageError, match="not open"):
        await store.get_user(1)


async def test_postgres_silent_server_times_out() -> None:
    # Accepts connections and never answers, like a host that froze.
    accepted: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = PostgresStorage(f"postgresql://arena@127.0.0.1:{port}/arena", connect_timeout=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(StorageError, match="no answer in time"):
            await store.open()
    finally:
        server.close()
        for writer in accepted:
            writer.close()
        await server.wait_closed()
        await store.close()
    assert loop.time() - started < 3


async def test_postgres_slow_statement_times_out(pg: PostgresStorage, postgres_database: str):
    user = await pg.create_guest("g")
    store = PostgresStorage(postgres_database, command_timeout=0.5)
    await store.open()
    blocker = await asyncpg.connect(postgres_database, timeout=5)
    try:
        async with blocker.transaction():
            await blocker.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user.id)
            with pytest.raises(StorageError, match="no answer in time"):
                await record_best(store, user.id, 10)
        # The lock is gone: the pool still works after a timed-out statement.
        await record_best(store, user.id, 10)
        assert (await store.get_user(user.id)) == User(user.id, "g", True)
    finally:
        await blocker.close()
        await store.close()


async def test_postgres_server_stopped_then_back() -> None:
    # A private server, since this one is stopped halfway.
    with PostgresServer(skip_unless_installed()) as server:
        store = PostgresStorage(server.dsn("arena"), connect_timeout=2, command_timeout=2)
        await store.open()
        try:
            user = await store.create_guest("g")
            assert await store.record_outcomes("duel", "wins", "m1", [_won(user.id, 1)])
            await asyncio.to_thread(server.stop)
            loop = asyncio.get_running_loop()
            started = loop.time()
            for call in (store.get_user(user.id), record_best(store, user.id, 5),
                         store.record_outcomes("duel", "wins", "m2", [_won(user.id, 1)])):
                with pytest.raises(StorageError, match="unavailable"):
                    await call
            assert loop.time() - started < 5
            results = await asyncio.gather(
                *(store.get_user(user.id) for _ in range(20)), return_exceptions=True
            )
            assert all(isinstance(r, StorageError) for r in results)
            await asyncio.to_thread(server.start)
            # The pool reconnects by itself once the server is back.
            await record_best(store, user.id, 5)
            assert (await store.get_user(user.id)) == User(user.id, "g", True)
            # Retried writes: the failed match counts now, the saved one not again.
            assert await store.record_outcomes("duel", "wins", "m2", [_won(user.id, 1)])
            assert not await store.record_outcomes("duel", "wins", "m1", [_won(user.id, 1)])
            assert [e["wins"] for e in await store.top("duel", "wins")] == [2]
        finally:
            await store.close()
        await store.close()


async def test_sqlite_opens_while_another_process_writes_a_new_file(tmp_path: Path) -> None:
    # Forked workers open a new database at the same moment: one holds a write lock while the
    # file is still in rollback-journal mode, and SQLite refuses the other's switch to WAL at
    # once, busy timeout or not. Opening waits for the lock instead of failing.
    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE other_process (a)")
    store = SQLiteStorage(path)
    opening = asyncio.ensure_future(store.open())
    done, _ = await asyncio.wait([opening], timeout=0.3)
    assert not done, "open() gave up while the other writer held its lock"
    other.execute("COMMIT")
    other.close()
    try:
        await opening
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await store.close()
