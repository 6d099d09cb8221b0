"""The SQLite schema, step by step, and the migration that brings any older file up to date.

The file's ``PRAGMA user_version`` is its schema version; ``MIGRATIONS[v]`` is the script that
brings version ``v`` to ``v + 1``, run statement by statement inside the caller's transaction.
The operator console's step lives with its SQL in storage/operators.py.
"""

from __future__ import annotations

import sqlite3

from .base import StorageError
from .operators import SCHEMA_OPERATORS_SQLITE

# Bump when the schema changes, and add a step to MIGRATIONS that brings version - 1 up to it.
SCHEMA_VERSION = 4

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY,
    username      TEXT UNIQUE COLLATE NOCASE,
    display_name  TEXT NOT NULL,
    password_hash TEXT,
    is_guest      INTEGER NOT NULL CHECK (is_guest IN (0, 1)),
    best_mass     INTEGER NOT NULL DEFAULT 0,
    created_at    REAL NOT NULL,
    CHECK ((is_guest = 1) = (username IS NULL))
);
CREATE INDEX IF NOT EXISTS users_best_mass ON users (best_mass DESC);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);
CREATE INDEX IF NOT EXISTS sessions_user_id ON sessions (user_id);
"""

# Results per mode (leaderboards.py), and the ids of recorded matches so that a retried write
# counts once. Existing best masses become best scores of mode "arena"; users.best_mass stays,
# unused, so nothing is lost.
SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS scores (
    mode       TEXT NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    best_score INTEGER,
    wins       INTEGER NOT NULL DEFAULT 0,
    played     INTEGER NOT NULL DEFAULT 0,
    rating     REAL,
    updated    REAL NOT NULL,
    PRIMARY KEY (mode, user_id)
);
CREATE INDEX IF NOT EXISTS scores_best_score ON scores (mode, best_score DESC, user_id)
    WHERE best_score IS NOT NULL;
CREATE INDEX IF NOT EXISTS scores_wins ON scores (mode, wins DESC, user_id) WHERE played > 0;
CREATE INDEX IF NOT EXISTS scores_rating ON scores (mode, rating DESC, user_id)
    WHERE rating IS NOT NULL;
CREATE INDEX IF NOT EXISTS scores_user_id ON scores (user_id);
CREATE TABLE IF NOT EXISTS matches (
    mode        TEXT NOT NULL,
    match_id    TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (mode, match_id)
);
INSERT INTO scores (mode, user_id, best_score, wins, played, rating, updated)
    SELECT 'arena', id, best_mass, 0, 0, NULL, created_at FROM users WHERE best_mass > 0
    ON CONFLICT (mode, user_id) DO NOTHING;
"""

# The match journal (storage/journals.py): one row per room's match, its players once it ended
# (for "your matches"), and its compressed chunks of records in order. Times are wall ms, as in
# the header; `updated` is when the last chunk came (a journal never ended by a crashed process
# is purged once it has been quiet for the retention period).
SCHEMA_V3 = """
CREATE TABLE IF NOT EXISTS journals (
    id         TEXT PRIMARY KEY,
    mode       TEXT NOT NULL,
    version    TEXT NOT NULL,
    room       TEXT NOT NULL,
    private    INTEGER NOT NULL DEFAULT 0,
    started    INTEGER NOT NULL,
    updated    INTEGER NOT NULL,
    ended      INTEGER,
    header     TEXT NOT NULL,
    summary    TEXT,
    bytes      INTEGER NOT NULL DEFAULT 0,
    best_score REAL
);
CREATE INDEX IF NOT EXISTS journals_mode_started ON journals (mode, started DESC);
CREATE INDEX IF NOT EXISTS journals_started ON journals (started DESC);
CREATE INDEX IF NOT EXISTS journals_top ON journals (mode, best_score DESC, ended DESC)
    WHERE ended IS NOT NULL AND private = 0;
CREATE TABLE IF NOT EXISTS journal_players (
    journal_id TEXT NOT NULL REFERENCES journals (id) ON DELETE CASCADE,
    player     INTEGER NOT NULL,
    user_id    INTEGER,
    name       TEXT NOT NULL,
    score      REAL,
    PRIMARY KEY (journal_id, player)
);
CREATE INDEX IF NOT EXISTS journal_players_user ON journal_players (user_id, journal_id);
CREATE TABLE IF NOT EXISTS journal_chunks (
    journal_id TEXT NOT NULL REFERENCES journals (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (journal_id, seq)
);
"""

# MIGRATIONS[v] brings a database at user_version v to v + 1.
# Step 3 -> 4: the operator console (storage/operators.py): the role, the audit log, bans.
MIGRATIONS: dict[int, str] = {0: SCHEMA_V1, 1: SCHEMA_V2, 2: SCHEMA_V3,
                             3: SCHEMA_OPERATORS_SQLITE}


def migrate(conn: sqlite3.Connection, where: str) -> None:
    """Create or upgrade the schema on `conn`, already inside a write transaction.

    Raise ``StorageError`` (naming `where`, the file) when the file's schema is newer than
    ``SCHEMA_VERSION``: this server would not know its tables.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"database schema version {version} is newer than this server's "
            f"({SCHEMA_VERSION}): {where}"
        )
    while version < SCHEMA_VERSION:
        for statement in MIGRATIONS[version].split(";"):
            if statement.strip():
                conn.execute(statement)
        version += 1
        conn.execute(f"PRAGMA user_version = {version:d}")
