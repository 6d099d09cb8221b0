"""PostgreSQL storage, for several processes or hosts sharing accounts, sessions and results:
the pool, accounts, sessions and results per mode.

Every call borrows a connection from an asyncpg pool; nothing blocks the event loop. Connecting
and every command are bounded by timeouts, and any driver or server failure becomes a
``StorageError`` that says which server could not be reached (never its password). The schema
and its migrations are in postgres_schema.py, the match journal's calls in postgres_journals.py,
the operator console's in operators.py.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from game_server.games.results import LeaderboardRule, Outcome

from . import leaderboards, postgres_schema
from .base import (
    Storage,
    StorageError,
    User,
    UsernameTaken,
    hash_session_id,
    new_session_id,
)
from .operators import OperatorStorage
from .postgres_journals import PostgresJournals
from .postgres_schema import MIGRATIONS as _MIGRATIONS  # noqa: F401  (tests run old steps)
from .postgres_schema import SCHEMA_VERSION
from .postgres_schema import VERSION_TABLE as _VERSION_TABLE  # noqa: F401  (tests too)

__all__ = ["SCHEMA_VERSION", "PostgresStorage"]

_USER_COLUMNS = "users.id, users.display_name, users.is_guest, users.is_operator"
_STANDING_COLUMNS = (
    "users.display_name, users.is_guest, scores.user_id, scores.best_score, scores.wins,"
    " scores.played, scores.rating"
)

# What the driver raises when the server is unreachable, slow, gone or refuses a statement.
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
_UNAVAILABLE = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


class PostgresStorage(PostgresJournals, OperatorStorage, Storage):
    """``Storage`` on a PostgreSQL database, through a pool of ``min_size`` to ``max_size``
    connections.

    ``dsn`` is a ``postgresql://user:password@host:port/database`` URL (libpq's keyword form
    is not accepted). ``clock`` returns wall-clock seconds and is read on the event loop when a
    call is made. ``connect_timeout`` bounds making a connection and waiting for a free one;
    ``command_timeout`` bounds each statement. The tables are created on ``open()``.
    """

    def __init__(
        self,
        dsn: str,
        *,
        clock: Callable[[], float] = time.time,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
    ) -> None:
        if urlsplit(dsn).scheme not in ("postgresql", "postgres"):
            raise ValueError("a PostgreSQL DSN must start with postgresql:// or postgres://")
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError(f"need 0 <= min_size <= max_size and max_size >= 1, "
                             f"got {min_size} and {max_size}")
        if connect_timeout <= 0 or command_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._dsn = dsn
        self._clock = clock
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._opening = False

    @property
    def where(self) -> str:
        """The server and database, for messages: the DSN without password or options."""
        return _redact(self._dsn)

    async def open(self) -> None:
        """Connect the pool and create or migrate the schema.

        Raise ``StorageError`` if the server cannot be reached in time, refuses the login, or
        holds a newer schema than this server knows.
        """
        if self._pool is not None or self._opening:
            raise StorageError("storage is already open")
        self._opening = True
        try:
            pool = asyncpg.create_pool(
                self._dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._connect_timeout,
                command_timeout=self._command_timeout,
                server_settings={"application_name": "arena"},
            )
            try:
                await pool
                await self._migrate(pool)
            except BaseException as exc:
                pool.terminate()
                if isinstance(exc, _DRIVER_ERRORS):
                    raise self._error(exc, "cannot open") from exc
                raise
            self._pool = pool
        finally:
            self._opening = False

    async def close(self) -> None:
        """Wait for calls in flight (up to the command timeout), then close every connection.

        Idempotent.
        """
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), self._command_timeout + 1.0)
        except _DRIVER_ERRORS:
            pool.terminate()

    async def create_user(self, username: str, password_hash: str) -> User:
        now = self._clock()
        async with self._connection() as conn:
            try:
                user_id = await conn.fetchval(
                    "INSERT INTO users (username, display_name, password_hash, is_guest,"
                    " created_at) VALUES ($1, $1, $2, false, $3) RETURNING id",
                    username,
                    password_hash,
                    now,
                )
            except asyncpg.UniqueViolationError as exc:
                raise UsernameTaken(username) from exc
        return User(id=user_id, name=username, is_guest=False)

    async def create_guest(self, name: str) -> User:
        now = self._clock()
        async with self._connection() as conn:
            user_id = await conn.fetchval(
                "INSERT INTO users (username, display_name, password_hash, is_guest, created_at)"
                " VALUES (NULL, $1, NULL, true, $2) RETURNING id",
                name,
                now,
            )
        return User(id=user_id, name=name, is_guest=True)

    async def find_login(self, username: str) -> tuple[User, str] | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_USER_COLUMNS}, users.password_hash FROM users"
                " WHERE lower(users.username) = lower($1) AND NOT users.is_guest",
                username,
            )
        if row is None or row["password_hash"] is None:
            return None
        return _user(row), row["password_hash"]

    async def get_user(self, user_id: int) -> User | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_USER_COLUMNS} FROM users WHERE users.id = $1", user_id
            )
        return None if row is None else _user(row)

    async def create_session(self, user_id: int, ttl_seconds: float) -> str:
        if not ttl_seconds > 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
        session_id = new_session_id()
        now = self._clock()
        async with self._connection() as conn:
            try:
                await conn.execute(
                    "INSERT INTO sessions (id_hash, user_id, created_at, expires_at)"
                    " VALUES ($1, $2, $3, $4)",
                    hash_session_id(session_id),
                    user_id,
                    now,
                    now + ttl_seconds,
                )
            except asyncpg.ForeignKeyViolationError as exc:
                raise StorageError(f"cannot create a session for user {user_id}: "
                                   "no such user") from exc
        return session_id

    async def session_user(self, session_id: str) -> User | None:
        return await self.session_user_by_hash(hash_session_id(session_id))

    async def session_user_by_hash(self, session_hash: str) -> User | None:
        id_hash, now = session_hash, self._clock()
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_USER_COLUMNS} FROM sessions JOIN users ON users.id = sessions.user_id"
                " WHERE sessions.id_hash = $1 AND sessions.revoked_at IS NULL"
                " AND sessions.expires_at > $2",
                id_hash,
                now,
            )
        return None if row is None else _user(row)

    async def revoke_session(self, session_id: str) -> None:
        id_hash, now = hash_session_id(session_id), self._clock()
        async with self._connection() as conn:
            await conn.execute(
                "UPDATE sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL",
                id_hash,
                now,
            )

    async def record_outcomes(
        self,
        mode: str,
        rule: LeaderboardRule,
        match_id: str | None,
        outcomes: list[tuple[int, Outcome]],
    ) -> bool:
        checked = leaderboards.check_match(mode, rule, match_id, outcomes)
        now = self._clock()
        ids = [user for user, _ in checked]
        async with self._connection() as conn, conn.transaction():
            if match_id is not None:
                # A concurrent insert of the same id waits here for the other to commit.
                status = await conn.execute(
                    "INSERT INTO matches (mode, match_id, recorded_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT (mode, match_id) DO NOTHING",
                    mode, match_id, now,
                )
                if status == "INSERT 0 0":
                    return False
            # Create missing rows, then lock every player's row, in user id order (``checked``
            # is sorted) so that two matches sharing players cannot deadlock; a concurrent
            # match of the same players waits here until this one commits.
            await conn.execute(
                "INSERT INTO scores (mode, user_id, updated)"
                " SELECT $1, users.id, $3 FROM unnest($2::bigint[]) AS ids (id)"
                " JOIN users ON users.id = ids.id ORDER BY users.id"
                " ON CONFLICT (mode, user_id) DO NOTHING",
                mode, ids, now,
            )
            rows = await conn.fetch(
                f"SELECT {_STANDING_COLUMNS} FROM scores JOIN users ON users.id = scores.user_id"
                " WHERE scores.mode = $1 AND scores.user_id = ANY($2::bigint[])"
                " ORDER BY scores.user_id FOR UPDATE OF scores",
                mode, ids,
            )
            before = {row["user_id"]: _standing(row) for row in rows}
            after = leaderboards.apply_outcomes(
                rule, before, [(user, o) for user, o in checked if user in before]
            )
            await conn.executemany(
                "UPDATE scores SET best_score = $3, wins = $4, played = $5, rating = $6,"
                " updated = $7 WHERE mode = $1 AND user_id = $2",
                [(mode, user, s.best_score, s.wins, s.played, s.rating, now)
                 for user, s in after.items()],
            )
        return True

    async def top(self, mode: str, rule: LeaderboardRule, limit: int = 10) -> list[dict[str, Any]]:
        leaderboards.check_rule(rule)
        if limit <= 0:
            return []
        column = leaderboards.RANK_COLUMN[rule]
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_STANDING_COLUMNS} FROM scores JOIN users ON users.id = scores.user_id"
                f" WHERE scores.mode = $1 AND {leaderboards.RANKED_WHERE[rule]}"
                f" ORDER BY scores.{column} DESC, scores.user_id ASC LIMIT $2",
                mode, limit,
            )
        return [leaderboards.entry(rule, rank, row) for rank, row in enumerate(rows, 1)]

    async def rank_around(
        self, mode: str, rule: LeaderboardRule, user_id: int, neighbours: int = 2
    ) -> dict[str, Any] | None:
        leaderboards.check_rule(rule)
        neighbours = max(0, neighbours)
        column = f"scores.{leaderboards.RANK_COLUMN[rule]}"
        ranked = f"scores.mode = $1 AND {leaderboards.RANKED_WHERE[rule]}"
        better = f"({column} > $2 OR ({column} = $2 AND scores.user_id < $3))"
        worse = f"({column} < $2 OR ({column} = $2 AND scores.user_id > $3))"
        select = f"SELECT {_STANDING_COLUMNS} FROM scores JOIN users ON users.id = scores.user_id"
        # One repeatable-read transaction: the rank and the neighbours share one snapshot.
        async with self._connection() as conn, conn.transaction(
            isolation="repeatable_read", readonly=True
        ):
            mine = await conn.fetchrow(
                f"{select} WHERE {ranked} AND scores.user_id = $2", mode, user_id
            )
            if mine is None:
                return None
            key = (mine[leaderboards.RANK_COLUMN[rule]], user_id)
            rank = 1 + await conn.fetchval(
                f"SELECT COUNT(*) FROM scores WHERE {ranked} AND {better}", mode, *key
            )
            above = await conn.fetch(
                f"{select} WHERE {ranked} AND {better}"
                f" ORDER BY {column} ASC, scores.user_id DESC LIMIT $4",
                mode, *key, neighbours,
            )
            below = await conn.fetch(
                f"{select} WHERE {ranked} AND {worse}"
                f" ORDER BY {column} DESC, scores.user_id ASC LIMIT $4",
                mode, *key, neighbours,
            )
        rows = [*reversed(above), mine, *below]
        first = rank - len(above)
        around = [leaderboards.entry(rule, first + i, row) for i, row in enumerate(rows)]
        return {"you": around[len(above)], "around": around}

    async def purge_expired_sessions(self) -> int:
        now = self._clock()
        async with self._connection() as conn:
            status = await conn.execute(
                "DELETE FROM sessions WHERE expires_at <= $1 OR revoked_at IS NOT NULL", now
            )
        return int(status.split()[-1])  # "DELETE <count>"

    # -- private helpers ---------------------------------------------------------------------

    async def _rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with self._connection() as conn:
            return [dict(row) for row in await conn.fetch(_numbered(sql), *args)]

    async def _write(self, sql: str, *args: Any) -> int:
        async with self._connection() as conn:
            status = await conn.execute(_numbered(sql), *args)
        return int(status.split()[-1])  # "UPDATE <count>"

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """Borrow a pooled connection; turn driver failures into ``StorageError``."""
        pool = self._pool
        if pool is None:
            raise StorageError("storage is not open")
        try:
            async with pool.acquire(timeout=self._connect_timeout) as conn:
                yield conn
        except _DRIVER_ERRORS as exc:
            raise self._error(exc) from exc

    async def _migrate(self, pool: asyncpg.Pool) -> None:
        # Waiting for another process's migration, or running one, may outlast a normal call.
        timeout = max(postgres_schema.MIGRATION_TIMEOUT, self._command_timeout)
        async with pool.acquire(timeout=self._connect_timeout) as conn, conn.transaction():
            await postgres_schema.migrate(conn, timeout, self.where)

    def _error(self, exc: BaseException, doing: str = "") -> StorageError:
        prefix = f"{doing} " if doing else ""
        if isinstance(exc, TimeoutError):
            return StorageError(f"{prefix}PostgreSQL at {self.where}: no answer in time")
        if isinstance(exc, _UNAVAILABLE):
            return StorageError(f"{prefix}PostgreSQL at {self.where}: unavailable: {exc}")
        return StorageError(f"{prefix}PostgreSQL at {self.where}: {type(exc).__name__}: {exc}")


def _numbered(sql: str) -> str:
    """Portable SQL's `?` placeholders as PostgreSQL's `$1`, `$2`... (storage/operators.py
    writes no `?` in a literal)."""
    count = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(count)}", sql)


def _redact(dsn: str) -> str:
    parts = urlsplit(dsn)
    hosts = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return f"{parts.scheme}://{user + '@' if user else ''}{hosts}{parts.path}"


def _standing(row: asyncpg.Record) -> leaderboards.Standing:
    return leaderboards.Standing(
        best_score=row["best_score"], wins=row["wins"], played=row["played"], rating=row["rating"]
    )


def _user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        name=row["display_name"],
        is_guest=row["is_guest"],
        is_operator=row["is_operator"],
    )
