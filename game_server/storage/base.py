"""The storage interface: accounts, login sessions and results per mode behind a small async
API.

SQLite (``sqlite.py``) is the embedded default; PostgreSQL (``postgres.py``) serves several
hosts. Every implementation stores only a hash of each session id (``hash_session_id``).
Results know no game: a mode's matches are lists of ``games.results.Outcome``, folded into standings
and ranked by the mode's leaderboard rule (``leaderboards.py``).
"""

from __future__ import annotations

import abc
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from game_server.games.results import LeaderboardRule, Outcome

# Bytes of randomness in a session id; token_urlsafe(32) gives 43 URL-safe characters.
SESSION_ID_BYTES = 32

@dataclass(frozen=True)
class User:
    """A player account: registered (with a username) or a guest (with a display name)."""

    id: int
    name: str
    is_guest: bool
    is_operator: bool = False  # may use the operator console (`operator grant NAME`)

    def to_json(self) -> dict[str, Any]:
        """Return the public JSON form: ``{"id", "name", "guest"}``, and ``"operator": true``
        for an operator (the lobby then links the console)."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "guest": self.is_guest}
        if self.is_operator:
            out["operator"] = True
        return out


class StorageError(Exception):
    """A storage operation failed, or the storage was used while not open."""


class UsernameTaken(StorageError):
    """A registered user already has this username (compared case-insensitively)."""

    def __init__(self, username: str) -> None:
        super().__init__(f"username already taken: {username!r}")
        self.username = username


def new_session_id() -> str:
    """Return a new random session id for a cookie; only its hash is ever stored."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def hash_session_id(session_id: str) -> str:
    """Return the hex SHA-256 of a session id: the only form a storage keeps.

    A plain hash suffices (no salt, no slow KDF) because session ids carry 256 random bits;
    it keeps a leaked database from yielding live sessions.
    """
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class Storage(abc.ABC):
    """The async storage interface the server uses.

    Implementations must never block the event loop. Use ``await storage.open()`` and
    ``await storage.close()``, or ``async with storage:``.
    """

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and create or migrate the schema. Must be called before anything else."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and threads. Idempotent."""

    @abc.abstractmethod
    async def create_user(self, username: str, password_hash: str) -> User:
        """Register a user; raise ``UsernameTaken`` if the name is taken, ignoring case."""

    @abc.abstractmethod
    async def create_guest(self, name: str) -> User:
        """Create a guest account. Guests never collide: many may share a display name."""

    @abc.abstractmethod
    async def find_login(self, username: str) -> tuple[User, str] | None:
        """Return ``(user, password_hash)`` for a registered username, ignoring case.

        Return None for an unknown username; guests can never be found this way.
        """

    @abc.abstractmethod
    async def get_user(self, user_id: int) -> User | None:
        """Return the user with this id, registered or guest, or None."""

    @abc.abstractmethod
    async def create_session(self, user_id: int, ttl_seconds: float) -> str:
        """Start a login session for ``user_id`` and return its new random id.

        Raise ``StorageError`` if the user does not exist, ``ValueError`` if ``ttl_seconds``
        is not positive.
        """

    @abc.abstractmethod
    async def session_user(self, session_id: str) -> User | None:
        """Return the session's user, or None when the id is unknown, revoked or expired."""

    @abc.abstractmethod
    async def session_user_by_hash(self, session_hash: str) -> User | None:
        """Like `session_user`, for a session known only by `hash_session_id` of its id (a
        seat token carries the hash, never the id)."""

    @abc.abstractmethod
    async def revoke_session(self, session_id: str) -> None:
        """End a session now (logout). An unknown or already revoked id is a no-op."""

    @abc.abstractmethod
    async def record_outcomes(
        self,
        mode: str,
        rule: LeaderboardRule,
        match_id: str | None,
        outcomes: list[tuple[int, Outcome]],
    ) -> bool:
        """Record one finished match (or one finished life, for endless games) of ``mode``:
        ``(user_id, outcome)`` for each player. Return False when ``match_id`` was recorded
        before in this mode (nothing changes), True otherwise.

        The whole match is applied in one transaction, with the ``match_id`` (if not None) kept
        so that a retried write after an outage does not count twice; concurrent calls from any
        process never lose an update. ``rule`` is the mode's leaderboard rule: every rule keeps
        best score, wins and games played; ``"rating"`` also moves the placed players' ratings.
        Unknown user ids are left out. Raise ``ValueError`` for bad arguments (never worth
        retrying) and ``StorageError`` when the database fails.
        """

    @abc.abstractmethod
    async def top(self, mode: str, rule: LeaderboardRule, limit: int = 10) -> list[dict[str, Any]]:
        """Return the first ``limit`` entries of ``mode``'s leaderboard under ``rule``: dicts
        ``{"rank", "name", "guest"}`` plus the rule's figures (``leaderboards.entry``)."""

    @abc.abstractmethod
    async def rank_around(
        self, mode: str, rule: LeaderboardRule, user_id: int, neighbours: int = 2
    ) -> dict[str, Any] | None:
        """Return ``{"you": entry, "around": [entries]}``: the user's entry and up to
        ``neighbours`` entries above and below it (the user's included), best first. Return
        None when the user is not on this leaderboard."""

    async def leaderboard(
        self, mode: str, rule: LeaderboardRule, limit: int = 10
    ) -> list[dict[str, Any]]:
        """Return ``top(mode, rule, limit)``."""
        return await self.top(mode, rule, limit)

    @abc.abstractmethod
    async def purge_expired_sessions(self) -> int:
        """Delete sessions that are expired or revoked; return how many were deleted."""

    # -- the match journal (journal/writer.py writes it, journal/store.py reads it) -------------
    #
    # A journal is one room's match: its header (a JSON-able dict with at least "id", "mode",
    # "version", "room", "started" wall ms), compressed chunks of records appended in order
    # (``seq`` 0, 1, 2...), and a summary once the room ended (``ended`` wall ms, ``players``,
    # ``outcomes``). Storage never decodes chunks: they are opaque bytes.

    @abc.abstractmethod
    async def journal_begin(self, header: dict[str, Any]) -> None:
        """Create the journal ``header["id"]``; beginning one that exists is a no-op (a
        retried write). Raise ``ValueError`` for a header without id, mode, version, room or
        started."""

    @abc.abstractmethod
    async def journal_append(self, journal_id: str, seq: int, data: bytes) -> None:
        """Store chunk ``seq`` of a journal; storing the same ``seq`` again is a no-op.
        Raise ``StorageError`` for a journal that does not exist (purged meanwhile)."""

    async def journal_append_many(self, chunks: Sequence[tuple[str, int, bytes]]
                                  ) -> dict[str, str]:
        """Store several journals' chunks, each as `journal_append` would, in as few writes
        as the backend can (the journal writer stores a whole flush with one call); return
        the journals whose chunk could not be stored, each with why (a journal purged
        meanwhile). Anything else that fails (the database is gone) raises."""
        failed: dict[str, str] = {}
        for journal_id, seq, data in chunks:
            if journal_id not in failed:
                try:
                    await self.journal_append(journal_id, seq, data)
                except StorageError as exc:
                    failed[journal_id] = str(exc)
        return failed

    @abc.abstractmethod
    async def journal_end(self, journal_id: str, summary: dict[str, Any]) -> None:
        """Finish a journal with the room's summary: its end time, who played (for "your
        matches": every ``players`` and ``outcomes`` entry with a ``user``) and the best
        score. Ending it again replaces the summary. An unknown id is a no-op."""

    @abc.abstractmethod
    async def journal_load(self, journal_id: str) -> dict[str, Any] | None:
        """Return ``{"id", "header", "summary" (None while live), "chunks": [bytes in seq
        order], "bytes"}``, or None for an unknown (or purged) journal."""

    @abc.abstractmethod
    async def journals_list(
        self,
        mode: str | None = None,
        user: int | None = None,
        top: bool = False,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Journals as list items ``{"id", "mode", "version", "room", "private", "started",
        "ended", "duration_ms", "bytes", "score", "players": [{"player", "name", "user",
        "score"}]}`` (times in wall ms; ``ended``, ``duration_ms`` and ``score`` None while
        live), of ``mode`` if given.

        ``user``: only finished journals that user played in, newest first (private rooms
        included: they are the user's own). ``top``: finished public journals by best score,
        best first (ties: newest first). Otherwise every journal, newest first.
        """

    @abc.abstractmethod
    async def journals_purge(
        self, older_than_s: float | None = None, keep_per_mode: int | None = None
    ) -> int:
        """Delete journals (with their chunks and players) that ended more than
        ``older_than_s`` seconds ago (or never ended and got no chunk for as long: a crashed
        process's), and finished journals beyond the newest ``keep_per_mode`` of their mode.
        Live journals are never counted nor deleted by ``keep_per_mode``. Return how many
        were deleted."""
