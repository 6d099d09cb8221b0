"""Accounts, sessions and results per mode: the interface, and ``open_storage`` to pick one."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .base import Storage, StorageError, User, UsernameTaken

__all__ = ["Storage", "StorageError", "User", "UsernameTaken", "open_storage"]


def open_storage(
    url: str | Path,
    *,
    clock: Callable[[], float] = time.time,
    min_size: int = 1,
    max_size: int = 10,
) -> Storage:
    """Return an unopened ``Storage`` for a database URL; ``await`` its ``open()`` next.

    ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or a plain path give SQLite
    (``sqlite:///:memory:`` an in-memory database); ``postgresql://user:pw@host:port/db`` (or
    ``postgres://``) gives PostgreSQL with a pool of ``min_size`` to ``max_size`` connections.
    Raise ``ValueError`` for any other scheme.
    """
    text = str(url)
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if scheme in ("postgresql", "postgres"):
        # Imported here so that SQLite-only setups never load the PostgreSQL driver.
        from .postgres import PostgresStorage

        return PostgresStorage(text, clock=clock, min_size=min_size, max_size=max_size)
    if scheme == "sqlite":
        prefix = "sqlite:///"
        if not text.lower().startswith(prefix) or len(text) == len(prefix):
            raise ValueError(f"a SQLite URL looks like sqlite:///path/to/file.db, got {text!r}")
        path = unquote(text[len(prefix):])
    elif scheme:
        raise ValueError(
            f"unsupported database URL scheme {scheme!r}: use sqlite:///path or postgresql://..."
        )
    else:
        path = text
    from .sqlite import SQLiteStorage

    return SQLiteStorage(path, clock=clock)
