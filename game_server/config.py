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
    tick_rate: int = 20
    max_players: int = 20
    allowed_origins: tuple[str, ...] = ()
    cookie_secret: str = field(default="", repr=False)
    session_ttl_days: float = 30.0
    empty_room_grace: float = 10.0
    max_message_size: int = 16 * 1024
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 30.0
    max_connections_per_ip: int = 32
    max_messages_per_second: float = 30.0
    max_chats_per_second: float = 1.0
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
        if not 1 <= self.max_players <= 1000:
            raise ValueError("--max-players must be between 1 and 1000")
        if not 0 <= self.port <= 65535:
            raise ValueError("--port must be between 0 and 65535")
        if self.max_connections_per_ip < 0:
            raise ValueError("--max-connections-per-ip must be 0 (no limit) or more")
        if self.max_messages_per_second <= 0 or self.max_chats_per_second <= 0:
            raise ValueError("message and chat rates must be more than 0")
        if len(self.cookie_secret) < 32:
            raise ValueError("the cookie secret must be at least 32 characters")


def load_cookie_secret(data_dir: Path, from_env: str | None) -> str:
    """The secret that signs cookies: `from_env` if given, else a file in `data_dir`.

    The file is created once with 64 random hex characters and mode 0600, so restarts keep
    everyone logged in and the secret never lives in the repository.
    """
    if from_env:
        return from_env
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / COOKIE_SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if len(secret) < 32:
            raise ValueError(f"{path} holds no usable secret; delete it for a new one") from None
        return secret
    secret = secrets.token_hex(32)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret
