"""The storage interface: accounts, login sessions and best scores behind a small async API.

SQLite (``sqlite.py``) is the embedded default; a PostgreSQL implementation can follow for
several hosts. Every implementation stores only a hash of each session id (``hash_session_id``).
"""

from __future__ import annotations

import abc
import hashlib
import secrets
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

# Bytes of randomness in a session id; token_urlsafe(32) gives 43 URL-safe characters.
SESSION_ID_BYTES = 32


@dataclass(frozen=True)
class User:
    """A player account: registered (with a username) or a guest (with a display name)."""

    id: int
    name: str
    is_guest: bool
    best_mass: int

    def to_json(self) -> dict[str, Any]:
        """Return the public JSON form: ``{"id", "name", "guest", "best_mass"}``."""
        return {
            "id": self.id,
            "name": self.name,
            "guest": self.is_guest,
            "best_mass": self.best_mass,
        }


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
    async def record_best_mass(self, user_id: int, mass: int) -> None:
        """Keep ``max(old best, mass)`` as the user's best mass. Unknown ids are ignored."""

    @abc.abstractmethod
    async def leaderboard(self, limit: int = 10) -> list[dict[str, Any]]:
        """Return up to ``limit`` entries ``{"name", "best_mass", "guest"}``, best first.

        Users whose best mass is 0 are left out; ties go to the older account.
        """

    @abc.abstractmethod
    async def purge_expired_sessions(self) -> int:
        """Delete sessions that are expired or revoked; return how many were deleted."""
