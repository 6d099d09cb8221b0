"""The match journal's calls on PostgreSQL (the tables are schema step 3 in
postgres_schema.py).

What a row holds and how it is listed is shared with SQLite in storage/journals.py; this mixin
is only the SQL, on connections borrowed from the storage's pool.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg

from . import journals
from .base import StorageError


class PostgresJournals(abc.ABC):
    """``Storage``'s journal calls for ``PostgresStorage``, on top of its pooled connections
    (``_connection``)."""

    _clock: Callable[[], float]  # wall-clock seconds, the storage's own

    @abc.abstractmethod
    def _connection(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """Borrow a pooled connection; driver failures become ``StorageError``."""

    async def journal_begin(self, header: dict[str, Any]) -> None:
        row = journals.journal_row(header)
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO journals (id, mode, version, room, private, started, updated,"
                " header) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT (id) DO NOTHING",
                row.id, row.mode, row.version, row.room, row.private, row.started, row.header,
            )

    async def journal_append(self, journal_id: str, seq: int, data: bytes) -> None:
        now = int(self._clock() * 1000)
        async with self._connection() as conn, conn.transaction():
            try:
                status = await conn.execute(
                    "INSERT INTO journal_chunks (journal_id, seq, data) VALUES ($1, $2, $3)"
                    " ON CONFLICT (journal_id, seq) DO NOTHING",
                    journal_id, seq, bytes(data),
                )
            except asyncpg.ForeignKeyViolationError as exc:
                raise StorageError(f"no journal {journal_id!r} to append to") from exc
            if status != "INSERT 0 0":
                await conn.execute(
                    "UPDATE journals SET bytes = bytes + $2, updated = $3 WHERE id = $1",
                    journal_id, len(data), now,
                )

    async def journal_end(self, journal_id: str, summary: dict[str, Any]) -> None:
        players = journals.players(summary)
        async with self._connection() as conn, conn.transaction():
            status = await conn.execute(
                "UPDATE journals SET summary = $2, ended = COALESCE($3, updated),"
                " best_score = $4 WHERE id = $1",
                journal_id, journals.dumps(summary), journals.ended(summary),
                journals.best_score(players),
            )
            if status == "UPDATE 0":
                return
            await conn.execute("DELETE FROM journal_players WHERE journal_id = $1", journal_id)
            await conn.executemany(
                "INSERT INTO journal_players (journal_id, player, user_id, name, score)"
                " VALUES ($1, $2, $3, $4, $5)",
                [(journal_id, p.player, p.user, p.name, p.score) for p in players],
            )

    async def journal_load(self, journal_id: str) -> dict[str, Any] | None:
        async with self._connection() as conn, conn.transaction(
            isolation="repeatable_read", readonly=True
        ):
            row = await conn.fetchrow(
                "SELECT id, header, summary, bytes FROM journals WHERE id = $1", journal_id)
            if row is None:
                return None
            chunks = await conn.fetch(
                "SELECT data FROM journal_chunks WHERE journal_id = $1 ORDER BY seq",
                journal_id)
        return {"id": row["id"], "header": journals.loads(row["header"]),
                "summary": journals.loads(row["summary"]),
                "chunks": [bytes(c["data"]) for c in chunks], "bytes": row["bytes"]}

    async def journals_list(
        self,
        mode: str | None = None,
        user: int | None = None,
        top: bool = False,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        limit = journals.clamp_limit(limit)
        if limit == 0:
            return []
        where, args = [], []
        if mode is not None:
            args.append(mode)
            where.append(f"journals.mode = ${len(args)}")
        if user is not None:
            args.append(user)
            where.append(f"journals.ended IS NOT NULL AND journals.id IN"
                         f" (SELECT journal_id FROM journal_players WHERE user_id = ${len(args)})")
        if top:
            where.append("journals.ended IS NOT NULL AND NOT journals.private")
            order = "journals.best_score DESC NULLS LAST, journals.ended DESC"
        else:
            order = "journals.started DESC"
        args.append(limit)
        sql = ("SELECT id, mode, version, room, private, started, ended, bytes, best_score"
               " FROM journals" + (" WHERE " + " AND ".join(where) if where else "")
               + f" ORDER BY {order}, journals.id LIMIT ${len(args)}")
        async with self._connection() as conn, conn.transaction(
            isolation="repeatable_read", readonly=True
        ):
            rows = await conn.fetch(sql, *args)
            ids = [row["id"] for row in rows]
            by_journal: dict[str, list[asyncpg.Record]] = {i: [] for i in ids}
            if ids:
                for p in await conn.fetch(
                    "SELECT journal_id, player, user_id, name, score FROM journal_players"
                    " WHERE journal_id = ANY($1::text[]) ORDER BY journal_id, player", ids):
                    by_journal[p["journal_id"]].append(p)
        return [journals.list_item(row, by_journal[row["id"]]) for row in rows]

    async def journals_purge(
        self, older_than_s: float | None = None, keep_per_mode: int | None = None
    ) -> int:
        cutoff = None if older_than_s is None else int((self._clock() - older_than_s) * 1000)
        deleted = 0
        async with self._connection() as conn, conn.transaction():
            if cutoff is not None:
                status = await conn.execute(
                    "DELETE FROM journals WHERE (ended IS NOT NULL AND ended < $1)"
                    " OR (ended IS NULL AND updated < $1)", cutoff)
                deleted += int(status.split()[-1])
            if keep_per_mode is not None:
                status = await conn.execute(
                    "DELETE FROM journals WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER()"
                    " OVER (PARTITION BY mode ORDER BY ended DESC, id) AS n FROM journals"
                    " WHERE ended IS NOT NULL) AS ranked WHERE n > $1)", max(0, keep_per_mode))
                deleted += int(status.split()[-1])
        return deleted
