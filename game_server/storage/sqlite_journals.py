"""The match journal's calls on SQLite (the tables are schema step 3 in sqlite_schema.py).

What a row holds and how it is listed is shared with PostgreSQL in storage/journals.py; this
mixin is only the SQL, run on the storage's worker thread like every other SQLite call.
"""

from __future__ import annotations

import abc
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from . import journals
from .base import StorageError

T = TypeVar("T")


class SQLiteJournals(abc.ABC):
    """``Storage``'s journal calls for ``SQLiteStorage``, on top of its worker thread
    (``_run``), its connection (``_db``) and its transactions (``_transaction``)."""

    _clock: Callable[[], float]  # wall-clock seconds, the storage's own

    @abc.abstractmethod
    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the worker thread and await its result."""

    @abc.abstractmethod
    def _db(self) -> sqlite3.Connection:
        """The open connection (on the worker thread only)."""

    @abc.abstractmethod
    def _transaction(self, *, immediate: bool = True) -> AbstractContextManager[sqlite3.Connection]:
        """One committed write, or with ``immediate=False`` one consistent read snapshot."""

    async def journal_begin(self, header: dict[str, Any]) -> None:
        await self._run(self._journal_begin_sync, journals.journal_row(header))

    async def journal_append(self, journal_id: str, seq: int, data: bytes) -> None:
        await self._run(self._journal_append_sync, journal_id, seq, bytes(data),
                        int(self._clock() * 1000))

    async def journal_append_many(self, chunks: Sequence[tuple[str, int, bytes]]
                                  ) -> dict[str, str]:
        return await self._run(self._journal_append_many_sync,
                               [(journal_id, seq, bytes(data)) for journal_id, seq, data in chunks],
                               int(self._clock() * 1000))

    async def journal_end(self, journal_id: str, summary: dict[str, Any]) -> None:
        await self._run(self._journal_end_sync, journal_id, journals.dumps(summary),
                        journals.ended(summary), journals.players(summary))

    async def journal_load(self, journal_id: str) -> dict[str, Any] | None:
        return await self._run(self._journal_load_sync, journal_id)

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
        return await self._run(self._journals_list_sync, mode, user, top, limit)

    async def journals_purge(
        self, older_than_s: float | None = None, keep_per_mode: int | None = None
    ) -> int:
        cutoff = None if older_than_s is None else int((self._clock() - older_than_s) * 1000)
        return await self._run(self._journals_purge_sync, cutoff, keep_per_mode)

    # -- running on the worker thread ---------------------------------------------------------

    def _journal_begin_sync(self, row: journals.JournalRow) -> None:
        self._db().execute(
            "INSERT INTO journals (id, mode, version, room, private, started, updated, header)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (row.id, row.mode, row.version, row.room, int(row.private), row.started,
             row.started, row.header),
        )

    def _journal_append_sync(self, journal_id: str, seq: int, data: bytes, now: int) -> None:
        with self._transaction() as conn:
            self._append_chunk(conn, journal_id, seq, data, now)

    def _journal_append_many_sync(self, chunks: list[tuple[str, int, bytes]], now: int
                                  ) -> dict[str, str]:
        failed: dict[str, str] = {}
        with self._transaction() as conn:  # one commit for a whole flush of the writer
            for journal_id, seq, data in chunks:
                if journal_id not in failed:
                    try:
                        self._append_chunk(conn, journal_id, seq, data, now)
                    except StorageError as exc:
                        failed[journal_id] = str(exc)
        return failed

    @staticmethod
    def _append_chunk(conn: sqlite3.Connection, journal_id: str, seq: int, data: bytes,
                      now: int) -> None:
        try:
            cursor = conn.execute(
                "INSERT INTO journal_chunks (journal_id, seq, data) VALUES (?, ?, ?)"
                " ON CONFLICT (journal_id, seq) DO NOTHING",
                (journal_id, seq, data),
            )
        except sqlite3.IntegrityError as exc:  # the foreign key: no such journal
            raise StorageError(f"no journal {journal_id!r} to append to") from exc
        if cursor.rowcount:
            conn.execute(
                "UPDATE journals SET bytes = bytes + ?, updated = ? WHERE id = ?",
                (len(data), now, journal_id),
            )

    def _journal_end_sync(self, journal_id: str, summary: str, ended: int | None,
                          players: list[journals.PlayerRow]) -> None:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE journals SET summary = ?, ended = COALESCE(?, updated), best_score = ?"
                " WHERE id = ?",
                (summary, ended, journals.best_score(players), journal_id),
            )
            if not cursor.rowcount:
                return
            conn.execute("DELETE FROM journal_players WHERE journal_id = ?", (journal_id,))
            conn.executemany(
                "INSERT INTO journal_players (journal_id, player, user_id, name, score)"
                " VALUES (?, ?, ?, ?, ?)",
                [(journal_id, p.player, p.user, p.name, p.score) for p in players],
            )

    def _journal_load_sync(self, journal_id: str) -> dict[str, Any] | None:
        with self._transaction(immediate=False) as conn:
            row = conn.execute(
                "SELECT id, header, summary, bytes FROM journals WHERE id = ?", (journal_id,)
            ).fetchone()
            if row is None:
                return None
            chunks = [bytes(r[0]) for r in conn.execute(
                "SELECT data FROM journal_chunks WHERE journal_id = ? ORDER BY seq",
                (journal_id,))]
        return {"id": row["id"], "header": journals.loads(row["header"]),
                "summary": journals.loads(row["summary"]), "chunks": chunks,
                "bytes": row["bytes"]}

    def _journals_list_sync(self, mode: str | None, user: int | None, top: bool,
                            limit: int) -> list[dict[str, Any]]:
        where, args = [], []
        if mode is not None:
            where.append("journals.mode = ?")
            args.append(mode)
        if user is not None:
            where.append("journals.ended IS NOT NULL AND journals.id IN"
                         " (SELECT journal_id FROM journal_players WHERE user_id = ?)")
            args.append(user)
        if top:
            where.append("journals.ended IS NOT NULL AND journals.private = 0")
            order = "journals.best_score IS NULL, journals.best_score DESC, journals.ended DESC"
        else:
            order = "journals.started DESC"
        sql = ("SELECT id, mode, version, room, private, started, ended, bytes, best_score"
               " FROM journals" + (" WHERE " + " AND ".join(where) if where else "")
               + f" ORDER BY {order}, journals.id LIMIT ?")
        with self._transaction(immediate=False) as conn:
            rows = conn.execute(sql, (*args, limit)).fetchall()
            ids = [row["id"] for row in rows]
            by_journal: dict[str, list[sqlite3.Row]] = {i: [] for i in ids}
            if ids:
                for p in conn.execute(
                    "SELECT journal_id, player, user_id, name, score FROM journal_players"
                    f" WHERE journal_id IN ({', '.join('?' * len(ids))})"
                    " ORDER BY journal_id, player", ids):
                    by_journal[p["journal_id"]].append(p)
        return [journals.list_item(row, by_journal[row["id"]]) for row in rows]

    def _journals_purge_sync(self, cutoff: int | None, keep: int | None) -> int:
        deleted = 0
        with self._transaction() as conn:
            if cutoff is not None:
                deleted += conn.execute(
                    "DELETE FROM journals WHERE (ended IS NOT NULL AND ended < ?)"
                    " OR (ended IS NULL AND updated < ?)", (cutoff, cutoff)).rowcount
            if keep is not None:
                deleted += conn.execute(
                    "DELETE FROM journals WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER()"
                    " OVER (PARTITION BY mode ORDER BY ended DESC, id) AS n FROM journals"
                    " WHERE ended IS NOT NULL) WHERE n > ?)", (max(0, keep),)).rowcount
        return deleted
