"""The server's configuration, and where the cookie secret comes from.

Only `game_server.__main__` reads the command line and the environment; everything else gets a
`Config` (or the parts of it it needs) passed in.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

COOKIE_SECRET_FILE = "cookie_secret"
DATABASE_FILE = "arena.sqlite3"


@dataclass(frozen=True)
class Config:
    """Everything the server can be told; the defaults are the embedded single-process setup."""

    host: str = "127.0.0.1"
    port: int = 8888
    data_dir: Path = Path("data")
    database_url: str = ""  # sqlite:///path or postgresql://...; empty: SQLite in data_dir
    redis_url: str = ""  # redis://host:port/db shared by every process; empty: one process
    public_url: str = ""  # http(s)://host:port players reach this process at; empty: host:port
    processes: int = 1  # forked workers sharing the port; 0: one per core
    worker_port: int = 0  # first port of the workers' own ports; 0: the port after --port
    presence_ttl: float = 5.0  # a room not refreshed for this long leaves the lobby
    seat_ttl: float = 5.0  # a seat reserved for a redirected player lapses after this
    # Behind a proxy: client addresses from X-Real-IP/X-Forwarded-For, the scheme (Secure
    # cookies under TLS) from X-Scheme/X-Forwarded-Proto; Tornado's HTTPServer reads them.
    xheaders: bool = False
    tick_rate: int = 20
    tick_group: int = 4  # rooms ticked by one PeriodicCallback
    max_players: int = 20
    allowed_origins: tuple[str, ...] = ()
    cookie_secret: str | dict[int, str] = field(default="", repr=False)
    session_ttl_days: float = 30.0
    empty_room_grace: float = 10.0
    resume_grace: float = 15.0
    max_message_size: int = 16 * 1024
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0  # Tornado caps it at the interval
    max_connections_per_ip: int = 32
    max_messages_per_second: float = 30.0
    max_chats_per_second: float = 1.0
    # Games besides the shipped and pip-installed ones: "package.module:attr" (--game).
    games: tuple[str, ...] = ()
    uvloop: bool = True
    max_backlog_bytes: int = 64 * 1024
    max_lag_seconds: float = 10.0
    max_login_failures: int = 5
    max_login_failures_per_ip: int = 20
    login_failure_window: float = 300.0
    debug: bool = False

    @property
    def database_path(self) -> Path:
        return self.data_dir / DATABASE_FILE

    def validate(self) -> None:
        """Raise ValueError with a clear message for settings the server cannot run with."""
        if not 1 <= self.tick_rate <= 120:
            raise ValueError("--tick-rate must be between 1 and 120")
        if not 1 <= self.tick_group <= 1000:
            raise ValueError("--tick-group must be between 1 and 1000")
        if not 1 <= self.max_players <= 1000:
            raise ValueError("--max-players must be between 1 and 1000")
        if not 0 <= self.port <= 65535:
            raise ValueError("--port must be between 0 and 65535")
        if self.processes < 0:
            raise ValueError("--processes must be 0 (one per core) or more")
        if self.processes != 1 and not self.redis_url:
            raise ValueError("--processes other than 1 needs --redis-url: the workers share "
                             "their rooms, seats and lobby through Redis")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ValueError("--public-url must start with http:// or https://")
        if self.presence_ttl <= 0 or self.seat_ttl <= 0:
            raise ValueError("--presence-ttl and --seat-ttl must be more than 0")
        if self.max_connections_per_ip < 0:
            raise ValueError("--max-connections-per-ip must be 0 (no limit) or more")
        if self.max_messages_per_second <= 0 or self.max_chats_per_second <= 0:
            raise ValueError("message and chat rates must be more than 0")
        if not self.cookie_secret or any(
            len(s) < 32 for s in secret_versions(self.cookie_secret).values()
        ):
            raise ValueError("every cookie secret must be at least 32 characters")


CookieSecret = str | dict[int, str]


def parse_secrets(text: str) -> CookieSecret:
    """Read a secret file or variable: one plain secret, or `VERSION SECRET` lines/items.

    Several versions allow rotation without logging anyone out: cookies are signed with the
    highest version and verified with whichever version signed them.
    """
    items = [item.strip() for item in text.replace(",", "\n").splitlines() if item.strip()]
    if len(items) == 1 and not items[0].split(None, 1)[0].isdigit():
        return items[0]
    versions: dict[int, str] = {}
    for item in items:
        version, _, secret = item.replace(":", " ", 1).partition(" ")
        if not version.isdigit() or not secret.strip():
            raise ValueError("cookie secrets are `VERSION SECRET` pairs, one per line")
        versions[int(version)] = secret.strip()
    return versions


def secret_versions(secret: CookieSecret) -> dict[int, str]:
    # Tornado signs with key version 0 when given one plain secret; keep that numbering.
    return dict(secret) if isinstance(secret, dict) else {0: secret}


def load_cookie_secret(data_dir: Path, from_env: str | None) -> CookieSecret:
    """The secret(s) that sign cookies: `from_env` if given, else a file in `data_dir`.

    The file is created once with 64 random hex characters and mode 0600, so restarts keep
    everyone logged in and the secret never lives in the repository. `rotate_cookie_secret`
    adds a new version to it.
    """
    if from_env:
        return parse_secrets(from_env)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / COOKIE_SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        found = parse_secrets(path.read_text())
        if any(len(s) < 32 for s in secret_versions(found).values()):
            raise ValueError(f"{path} holds no usable secret; delete it for a new one") from None
        return found
    secret = secrets.token_hex(32)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def rotate_cookie_secret(data_dir: Path) -> int:
    """Add a new, highest-versioned secret to the data directory's file; return its version.

    New cookies are signed with it at the next start; cookies signed with older versions stay
    valid until those lines are removed from the file.
    """
    versions = secret_versions(load_cookie_secret(data_dir, None))
    new_version = max(versions) + 1
    versions[new_version] = secrets.token_hex(32)
    path = data_dir / COOKIE_SECRET_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{v} {s}\n" for v, s in sorted(versions.items(), reverse=True))
    os.replace(tmp, path)
    return new_version
