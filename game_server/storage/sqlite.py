"""SQLite storage, the embedded default for one process: the connection, accounts, sessions
and results per mode.

Every sqlite3 call runs on one dedicated worker thread that owns the connection; coroutines
await it with ``loop.run_in_executor``, so the event loop never waits on the disk. The schema and
its migrations are in sqlite_schema.py, the match journal's calls in sqlite_journals.py, the
operator console's in operators.py.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from game_server.games.results import LeaderboardRule, Outcome

from . import leaderboards, sqlite_schema
from .base import (
    Storage,
    StorageError,
    User,
    UsernameTaken,
    hash_session_id,
    new_session_id,
)
from .operators import OperatorStorage
from .sqlite_journals import SQLiteJournals
from .sqlite_schema import MIGRATIONS as _MIGRATIONS  # noqa: F401  (tests run old steps)
from .sqlite_schema import SCHEMA_VERSION

__all__ = ["BUSY_TIMEOUT", "SCHEMA_VERSION", "SQLiteStorage"]

T = TypeVar("T")

_USER_COLUMNS = "users.id, users.display_name, users.is_guest, users.is_operator"

# Seconds a statement waits for another process's lock on the file before it gives up.
BUSY_TIMEOUT = 5.0


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch the file to write-ahead logging, waiting up to `timeout` s for other processes.

    SQLite answers SQLITE_BUSY to this pragma at once, without its busy handler, while another
    connection holds a write lock on a file still in rollback-journal mode: what forked workers
    opening a new database at the same moment run into. So wait here, as the busy timeout would.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY,
                                                              sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


class SQLiteStorage(SQLiteJournals, OperatorStorage, Storage):
    """``Storage`` on one SQLite file, with all sqlite3 work on a single worker thread.

    ``clock`` returns wall-clock seconds (``time.time`` by default) and is read on the event
    loop when a call is made; tests pass a manual clock to expire sessions.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._path = os.fspath(path)
        self._clock = clock
        self._executor: ThreadPoolExecutor | None = None
        # Touched only on the worker thread.
        self._conn: sqlite3.Connection | None = None

    @property
    def path(self) -> str:
        """The database file this storage opens."""
        return self._path

    async def open(self) -> None:
        """Start the worker thread, connect, set pragmas and create or migrate the schema.

        Raise ``StorageError`` if the file cannot be opened or has a newer schema.
        """
        if self._executor is not None:
            raise StorageError("storage is already open")
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arena-sqlite")
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._open_sync)
        except BaseException as exc:
            executor.submit(self._close_sync)
            executor.shutdown(wait=False)
            if isinstance(exc, sqlite3.Error | OSError):
                raise StorageError(f"cannot open database {self._path!r}: {exc}") from exc
            raise
        self._executor = executor

    async def close(self) -> None:
        """Close the connection, then shut the worker thread down. Idempotent."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            # Queued after every call already submitted, so those finish first.
            await asyncio.get_running_loop().run_in_executor(executor, self._close_sync)
        finally:
            # The queue is empty by now, so this only joins an idle thread.
            executor.shutdown(wait=True)

    async def create_user(self, username: str, password_hash: str) -> User:
        return await self._run(self._create_user_sync, username, password_hash, self._clock())

    async def create_guest(self, name: str) -> User:
        return await self._run(self._create_guest_sync, name, self._clock())

    async def find_login(self, username: str) -> tuple[User, str] | None:
        return await self._run(self._find_login_sync, username)

    async def get_user(self, user_id: int) -> User | None:
        return await self._run(self._get_user_sync, user_id)

    async def create_session(self, user_id: int, ttl_seconds: float) -> str:
        if not ttl_seconds > 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
        session_id = new_session_id()
        now = self._clock()
        await self._run(
            self._create_session_sync, hash_session_id(session_id), user_id, now, now + ttl_seconds
        )
        return session_id

    async def session_user(self, session_id: str) -> User | None:
        return await self.session_user_by_hash(hash_session_id(session_id))

    async def session_user_by_hash(self, session_hash: str) -> User | None:
        return await self._run(self._session_user_sync, session_hash, self._clock())

    async def revoke_session(self, session_id: str) -> None:
        await self._run(self._revoke_session_sync, hash_session_id(session_id), self._clock())

    async def record_outcomes(
        self,
        mode: str,
        rule: LeaderboardRule,
        match_id: str | None,
        outcomes: list[tuple[int, Outcome]],
    ) -> bool:
        checked = leaderboards.check_match(mode, rule, match_id, outcomes)
        return await self._run(
            self._record_outcomes_sync, mode, rule, match_id, checked, self._clock()
        )

    async def top(self, mode: str, rule: LeaderboardRule, limit: int = 10) -> list[dict[str, Any]]:
        leaderboards.check_rule(rule)
        if limit <= 0:
            return []
        return await self._run(self._top_sync, mode, rule, limit)

    async def rank_around(
        self, mode: str, rule: LeaderboardRule, user_id: int, neighbours: int = 2
    ) -> dict[str, Any] | None:
        leaderboards.check_rule(rule)
        return await self._run(self._rank_around_sync, mode, rule, user_id, max(0, neighbours))

    async def purge_expired_sessions(self) -> int:
        return await self._run(self._purge_sync, self._clock())

    # -- running on the worker thread ---------------------------------------------------------

    async def _rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self._run(self._rows_sync, sql, args)

    async def _write(self, sql: str, *args: Any) -> int:
        return await self._run(self._write_sync, sql, args)

    def _rows_sync(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [dict(row) for row in self._db().execute(sql, args).fetchall()]

    def _write_sync(self, sql: str, args: tuple[Any, ...]) -> int:
        return self._db().execute(sql, args).rowcount

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the worker thread and await its result."""
        if self._executor is None:
            raise StorageError("storage is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError("storage is not open")
        return self._conn

    @contextmanager
    def _transaction(self, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """Group several statements into one committed write (autocommit is the default), or
        with ``immediate=False`` several reads into one consistent snapshot."""
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _open_sync(self) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, so each single-statement write commits on its own.
        conn = sqlite3.connect(self._path, isolation_level=None)
        self._conn = conn
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        _enable_wal(conn, BUSY_TIMEOUT)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        self._migrate_sync()

    def _migrate_sync(self) -> None:
        with self._transaction() as conn:
            sqlite_schema.migrate(conn, self._path)

    def _close_sync(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _create_user_sync(self, username: str, password_hash: str, now: float) -> User:
        try:
            cursor = self._db().execute(
                "INSERT INTO users (username, display_name, password_hash, is_guest, created_at)"
                " VALUES (?, ?, ?, 0, ?)",
                (username, username, password_hash, now),
            )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise UsernameTaken(username) from exc
            raise StorageError(str(exc)) from exc
        return User(id=_lastrowid(cursor), name=username, is_guest=False)

    def _create_guest_sync(self, name: str, now: float) -> User:
        cursor = self._db().execute(
            "INSERT INTO users (username, display_name, password_hash, is_guest, created_at)"
            " VALUES (NULL, ?, NULL, 1, ?)",
            (name, now),
        )
        return User(id=_lastrowid(cursor), name=name, is_guest=True)

    def _find_login_sync(self, username: str) -> tuple[User, str] | None:
        row = (
            self._db()
            .execute(
                f"SELECT {_USER_COLUMNS}, users.password_hash FROM users"
                " WHERE users.username = ? AND users.is_guest = 0",
                (username,),
            )
            .fetchone()
        )
        if row is None or row["password_hash"] is None:
            return None
        return _user(row), row["password_hash"]

    def _get_user_sync(self, user_id: int) -> User | None:
        row = (
            self._db()
            .execute(f"SELECT {_USER_COLUMNS} FROM users WHERE users.id = ?", (user_id,))
            .fetchone()
        )
        return None if row is None else _user(row)

    def _create_session_sync(
        self, id_hash: str, user_id: int, now: float, expires_at: float
    ) -> None:
        try:
            self._db().execute(
                "INSERT INTO sessions (id_hash, user_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (id_hash, user_id, now, expires_at),
            )
        except sqlite3.IntegrityError as exc:
            raise StorageError(f"cannot create a session for user {user_id}: {exc}") from exc

    def _session_user_sync(self, id_hash: str, now: float) -> User | None:
        row = (
            self._db()
            .execute(
                f"SELECT {_USER_COLUMNS} FROM sessions JOIN users ON users.id = sessions.user_id"
                " WHERE sessions.id_hash = ? AND sessions.revoked_at IS NULL"
                " AND sessions.expires_at > ?",
                (id_hash, now),
            )
            .fetchone()
        )
        return None if row is None else _user(row)

    def _revoke_session_sync(self, id_hash: str, now: float) -> None:
        self._db().execute(
            "UPDATE sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL",
            (now, id_hash),
        )

    def _record_outcomes_sync(
        self,
        mode: str,
        rule: str,
        match_id: str | None,
        outcomes: list[tuple[int, Outcome]],
        now: float,
    ) -> bool:
        # BEGIN IMMEDIATE takes the file's write lock before reading, so another process's
        # match cannot slip in between the read and the write.
        with self._transaction() as conn:
            if match_id is not None:
                cursor = conn.execute(
                    "INSERT INTO matches (mode, match_id, recorded_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (mode, match_id) DO NOTHING",
                    (mode, match_id, now),
                )
                if cursor.rowcount == 0:
                    return False
            ids = [user for user, _ in outcomes]
            marks = ", ".join("?" * len(ids))
            known = {row[0] for row in conn.execute(
                f"SELECT id FROM users WHERE id IN ({marks})", ids)}
            outcomes = [(user, outcome) for user, outcome in outcomes if user in known]
            before = {
                row["user_id"]: _standing(row)
                for row in conn.execute(
                    f"SELECT {_STANDING_COLUMNS} FROM scores JOIN users ON users.id ="
                    f" scores.user_id WHERE scores.mode = ? AND scores.user_id IN ({marks})",
                    (mode, *ids),
                )
            }
            after = leaderboards.apply_outcomes(rule, before, outcomes)
            conn.executemany(
                "INSERT INTO scores (mode, user_id, best_score, wins, played, rating, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (mode, user_id) DO UPDATE SET"
                " best_score = excluded.best_score, wins = excluded.wins,"
                " played = excluded.played, rating = excluded.rating, updated = excluded.updated",
                [(mode, user, s.best_score, s.wins, s.played, s.rating, now)
                 for user, s in after.items()],
            )
        return True

    def _top_sync(self, mode: str, rule: str, limit: int) -> list[dict[str, Any]]:
        column = leaderboards.RANK_COLUMN[rule]
        rows = self._db().execute(
            f"SELECT {_STANDING_COLUMNS} FROM scores JOIN users ON users.id = scores.user_id"
            f" WHERE scores.mode = ? AND {leaderboards.RANKED_WHERE[rule]}"
            f" ORDER BY scores.{column} DESC, scores.user_id ASC LIMIT ?",
            (mode, limit),
        )
        return [leaderboards.entry(rule, rank, row) for rank, row in enumerate(rows, 1)]

    def _rank_around_sync(
        self, mode: str, rule: str, user_id: int, neighbours: int
    ) -> dict[str, Any] | None:
        column = f"scores.{leaderboards.RANK_COLUMN[rule]}"
        ranked = f"scores.mode = ? AND {leaderboards.RANKED_WHERE[rule]}"
        better = f"({column} > ? OR ({column} = ? AND scores.user_id < ?))"
        worse = f"({column} < ? OR ({column} = ? AND scores.user_id > ?))"
        select = f"SELECT {_STANDING_COLUMNS} FROM scores JOIN users ON users.id = scores.user_id"
        # One read transaction: the rank and the neighbours come from the same snapshot.
        with self._transaction(immediate=False) as conn:
            mine = conn.execute(
                f"{select} WHERE {ranked} AND scores.user_id = ?", (mode, user_id)
            ).fetchone()
            if mine is None:
                return None
            key = (mine[leaderboards.RANK_COLUMN[rule]],) * 2 + (user_id,)
            rank = 1 + conn.execute(
                f"SELECT COUNT(*) FROM scores WHERE {ranked} AND {better}", (mode, *key)
            ).fetchone()[0]
            above = conn.execute(
                f"{select} WHERE {ranked} AND {better}"
                f" ORDER BY {column} ASC, scores.user_id DESC LIMIT ?",
                (mode, *key, neighbours),
            ).fetchall()
            below = conn.execute(
                f"{select} WHERE {ranked} AND {worse}"
                f" ORDER BY {column} DESC, scores.user_id ASC LIMIT ?",
                (mode, *key, neighbours),
            ).fetchall()
        rows = [*reversed(above), mine, *below]
        first = rank - len(above)
        around = [leaderboards.entry(rule, first + i, row) for i, row in enumerate(rows)]
        return {"you": around[len(above)], "around": around}

    def _purge_sync(self, now: float) -> int:
        cursor = self._db().execute(
            "DELETE FROM sessions WHERE expires_at <= ? OR revoked_at IS NOT NULL", (now,)
        )
        return cursor.rowcount


_STANDING_COLUMNS = (
    "users.display_name, users.is_guest, scores.user_id, scores.best_score, scores.wins,"
    " scores.played, scores.rating"
)


def _standing(row: sqlite3.Row) -> leaderboards.Standing:
    return leaderboards.Standing(
        best_score=row["best_score"], wins=row["wins"], played=row["played"], rating=row["rating"]
    )


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        name=row["display_name"],
        is_guest=bool(row["is_guest"]),
        is_operator=bool(row["is_operator"]),
    )


def _lastrowid(cursor: sqlite3.Cursor) -> int:
    if cursor.lastrowid is None:
        raise StorageError("insert returned no row id")
    return cursor.lastrowid
