"""The server's configuration, and where the cookie secret comes from.

Each setting is declared once, as a field of `Config` made with `setting`: its type, default,
`--help` words and the values it accepts. `game_server.__main__` makes the flags and their
`ARENA_*` environment fallbacks from those declarations (it alone reads the command line and the
environment), and `Config.validate` checks the same bounds. Everything else gets a `Config` (or
the parts of it it needs) passed in.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

COOKIE_SECRET_FILE = "cookie_secret"
DATABASE_FILE = "arena.sqlite3"
LOG_LEVELS = ("debug", "info", "warning", "error")

_SETTING = "arena.setting"  # where a field's `Setting` lives in its metadata


@dataclass(frozen=True)
class Setting:
    """How one `Config` field is set from outside, declared next to the field (`setting`).

    Its flag is `--` and the field's name with dashes unless `flag` says otherwise, and its
    environment variable `ARENA_` and the flag's name in capitals (or `env`'s). A bool is a
    switch that flips the field's default (`uvloop` defaults to on: `flag="no-uvloop"`); a
    tuple takes comma-separated items, and its flag may be repeated. `parse` turns one text
    value (one item, for a tuple) into the field's; `low`, `high` (inclusive), `above`
    (exclusive), `choices` and `check` (a complaint, or None) are what `Config.validate`
    accepts.
    """

    help: str
    low: float | None = None
    high: float | None = None
    above: float | None = None
    choices: tuple[str, ...] | None = None
    parse: Callable[[str], Any] | None = None
    check: Callable[[Any], str | None] | None = None
    flag: str = ""
    env: str = ""
    metavar: str | None = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value`, in words that follow the flag's name; None if nothing."""
        if self.choices is not None and value not in self.choices:
            return "must be one of: " + ", ".join(self.choices)
        low, high = self.low, self.high
        if low is not None and high is not None and not low <= value <= high:
            return f"must be between {low:g} and {high:g}"
        if low is not None and value < low:
            return f"must be {low:g} or more"
        if high is not None and value > high:
            return f"must be {high:g} or less"
        if self.above is not None and not value > self.above:
            return f"must be more than {self.above:g}"
        return self.check(value) if self.check is not None else None


def setting(default: Any, help: str, **rules: Any) -> Any:
    """A `Config` field that flags and the environment set: its default, its `--help` words,
    and the `Setting` rules (bounds, flag name, parser) it is read and checked by."""
    return field(default=default, metadata={_SETTING: Setting(help, **rules)})


@dataclass(frozen=True)
class Declared:
    """A setting as the command line sees it: the field, its rules, its flag and variable."""

    name: str
    default: Any
    rules: Setting
    flag: str
    env: str


def declared_settings() -> list[Declared]:
    """Every setting of `Config`, in declaration order (the order `--help` lists them in)."""
    found = []
    for f in fields(Config):
        rules = f.metadata.get(_SETTING)
        if rules is None:
            continue
        flag = rules.flag or f.name.replace("_", "-")
        env = "ARENA_" + (rules.env or flag).upper().replace("-", "_")
        found.append(Declared(f.name, f.default, rules, flag, env))
    return found


def _url(text: str) -> str:
    return text.strip().rstrip("/")


def _http_url(url: str) -> str | None:
    if url and not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    return None


def parse_delays(items: tuple[str, ...]) -> dict[str, float]:
    """`--spectate-delay` items (`MODE=SECONDS`) by mode; ValueError names a bad one."""
    delays: dict[str, float] = {}
    for item in items:
        mode, sep, seconds = item.partition("=")
        try:
            value = float(seconds)
        except ValueError:
            value = -1.0
        if not sep or not mode.strip() or not 0 <= value <= 3600:
            raise ValueError(f"{item!r} is not MODE=SECONDS (0 to 3600 seconds)")
        delays[mode.strip()] = value
    return delays


def _delays_problem(items: tuple[str, ...]) -> str | None:
    try:
        parse_delays(items)
    except ValueError as exc:
        return f"takes MODE=SECONDS items: {exc}"
    return None


@dataclass(frozen=True)
class Config:
    """Everything the server can be told; the defaults are the embedded single-process setup.

    A field made with `setting` is a flag and an environment variable too, declared here once:
    `__main__` builds the command line from these declarations and `validate` checks them.
    """

    host: str = setting("127.0.0.1", "address to listen on")
    port: int = setting(8888, "port to listen on; 0 picks a free one", low=0, high=65535)
    data_dir: Path = setting(Path("data"), "SQLite file and cookie secret live here",
                             parse=Path)
    database_url: str = setting(
        "", "sqlite:///path or postgresql://user@host/db (default: SQLite in the data "
        "directory)")
    redis_url: str = setting(
        "", "redis://host:port/db shared by every process of this Arena (rooms, seats, lobby, "
        "pub/sub); empty: one process, in-process presence")
    public_url: str = setting(
        "", "http(s)://host:port[/path] players reach this process at (redirects point there); "
        "{port} stands for this process's own port; default: http://HOST:PORT",
        parse=_url, check=_http_url)
    processes: int = setting(
        1, "worker processes on this host sharing --port (0: one per core; >1 needs "
        "--redis-url)", low=0)
    worker_port: int = setting(
        0, "with --processes: worker i also listens on this port + i for redirects "
        "(default: the port after --port)", low=0, high=65535)
    presence_ttl: float = setting(5.0, "seconds a room of a dead process stays in the lobby",
                                  above=0)
    seat_ttl: float = setting(
        5.0, "seconds a seat reserved for a redirected player waits to be claimed", above=0)
    tick_group: int = setting(
        4, "rooms ticked by one PeriodicCallback (cheaper than one each; a loop turn apart "
        "under half a core of load, back to back above); 1: one callback per room",
        low=1, high=1000)
    allowed_origins: tuple[str, ...] = setting(
        (), "comma-separated extra Origins allowed to open /ws (the server's own is always "
        "allowed)", parse=_url)
    session_ttl_days: float = setting(30.0, "login sessions expire after this", above=0)
    empty_room_grace: float = setting(10.0, "seconds an empty room lives on", low=0)
    resume_grace: float = setting(
        15.0, "seconds a dropped player's seat is held for a resume; 0 turns resuming off",
        low=0)
    max_connections_per_ip: int = setting(
        32, "open game sockets allowed from one address; 0 means no limit", low=0)
    max_messages_per_second: float = setting(
        30.0, "WebSocket messages a connection may send per second (bursts of twice that)",
        above=0)
    max_chats_per_second: float = setting(
        1.0, "chat messages a connection may send per second (bursts of five times that)",
        above=0)
    max_backlog_bytes: int = setting(
        64 * 1024, "bytes queued for a slow reader before its states are skipped (4x: nothing "
        "is queued)", above=0)
    max_lag_seconds: float = setting(
        10.0, "seconds a reader may stay behind before it is closed with 4002", above=0)
    max_login_failures: int = setting(
        5, "failed logins for one username within the window before 429", low=1)
    max_login_failures_per_ip: int = setting(
        20, "failed logins from one address within the window before 429", low=1)
    login_failure_window: float = setting(300.0, "seconds failed logins are remembered",
                                          above=0)
    log_level: str = setting("info", "debug, info, warning or error", choices=LOG_LEVELS,
                             parse=str.lower)
    uvloop: bool = setting(True, "run on asyncio's default event loop instead of uvloop",
                           flag="no-uvloop")
    # Behind a proxy: client addresses from X-Real-IP/X-Forwarded-For, the scheme (Secure
    # cookies under TLS) from X-Scheme/X-Forwarded-Proto; Tornado's HTTPServer reads them.
    xheaders: bool = setting(
        False, "behind a reverse proxy: take client addresses (per-address limits) from "
        "X-Real-IP / X-Forwarded-For; never without a proxy that sets them")
    # Games besides the pip-installed ones: "package.module:attr".
    games: tuple[str, ...] = setting(
        (), "also run this game: a GameSpec, or a callable making one (repeatable; ARENA_GAMES "
        "takes a comma-separated list); games installed with pip under the arena.games entry "
        "point run without it", flag="game", env="games", metavar="MODULE:ATTR")
    mode_options: tuple[str, ...] = setting(
        (), "the default of one option of one mode, such as arena.tick_rate=30 or "
        "arena.max_players=8 (repeatable; ARENA_MODE_OPTIONS takes a comma-separated list); "
        "GET /api/modes lists every mode's options and their bounds",
        flag="mode-option", env="mode-options", metavar="MODE.OPTION=VALUE")
    max_spectators: int = setting(
        50, "spectators allowed to watch one room at once; 0: no spectators", low=0)
    spectate_delays: tuple[str, ...] = setting(
        (), "how many seconds late a mode's spectators see its rooms, such as dice=10 "
        "(repeatable; ARENA_SPECTATE_DELAYS takes a comma-separated list; default 0: live), "
        "so that spectators cannot feed players live information",
        flag="spectate-delay", env="spectate-delays", metavar="MODE=SECONDS",
        check=lambda items: _delays_problem(items))
    house_bots: bool = setting(
        True, "never fill rooms with the server's own bots (a mode that declares a bots "
        "option, the arena, does by default; --mode-option arena.bots=0 turns off one mode's)",
        flag="no-house-bots")
    strict_games: bool = setting(
        False, "an installed game that cannot be loaded stops the server (for CI) instead of "
        "being skipped with a warning")
    # The match journal (game_server/journal): every room's match, recorded to re-run it.
    journal: bool = setting(
        True, "record no match journals (no replays, no `replay verify`)", flag="no-journal")
    journal_days: float = setting(
        30.0, "days a finished match's journal is kept; 0 keeps journals until "
        "--journal-keep-per-mode removes them", low=0)
    journal_keep_per_mode: int = setting(
        0, "keep only the newest this many finished matches of each mode; 0: no such limit",
        low=0)
    journal_hash_every: int = setting(
        0, "ticks between state hashes in a ticking room's journal (verification finds a "
        "divergence to this); 0: every 5 seconds", low=0)
    journal_snapshot_every: int = setting(
        0, "state hashes between full state snapshots in a journal; 0: every 10th (and one "
        "at the end)", low=0)
    journal_flush_seconds: float = setting(
        1.0, "seconds between the journal writer's takes of every room's records (later: "
        "fewer, bigger chunks, cheaper to compress and store; sooner: less in memory)",
        above=0)
    journal_max_bytes: int = setting(
        32 * 1024 * 1024, "compressed bytes one match's journal may take; a room that runs on "
        "(an endless arena) stops being recorded there; 0: no limit", low=0)
    journal_queue_bytes: int = setting(
        8 * 1024 * 1024, "compressed journal bytes waiting for the database before recording "
        "is dropped (never the game)", above=0)
    metrics_token: str = setting(
        "", "when set, GET /metrics needs the header Authorization: Bearer TOKEN (401 "
        "without it), for deployments where the metrics must not be public", metavar="TOKEN")
    bans_refresh: float = setting(
        60.0, "seconds between reloads of the bans in force from the database (a ban made "
        "on any host reaches every host at once through the presence; this catches one "
        "missed while the presence was unreachable)", above=0)
    replay_max_bytes: int = setting(
        2 * 1024 * 1024, "the longest match the replay pages re-run, in compressed journal "
        "bytes (a re-run costs CPU: about 5 s per MB of an arena room); a longer one is refused "
        "with a pointer to `replay export`; 0: no limit", low=0)
    room_accounting: bool = setting(
        True, "do not measure what each room costs (CPU in its game, encoding and sending; "
        "tick times; bytes sent) for the console and /metrics' arena_mode_* figures",
        flag="no-room-accounting")
    cookie_secret: str | dict[int, str] = field(default="", repr=False)
    max_message_size: int = 16 * 1024
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0  # Tornado caps it at the interval
    debug: bool = False

    @property
    def database_path(self) -> Path:
        return self.data_dir / DATABASE_FILE

    def validate(self) -> None:
        """Raise ValueError with a clear message for settings the server cannot run with."""
        for declared in declared_settings():
            problem = declared.rules.problem(getattr(self, declared.name))
            if problem:
                raise ValueError(f"--{declared.flag} {problem}")
        # Rules between settings, and the secret, which is no flag.
        if self.processes != 1 and not self.redis_url:
            raise ValueError("--processes other than 1 needs --redis-url: the workers share "
                             "their rooms, seats and lobby through Redis")
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
