"""`python -m game_server` / `game-server`: read flags and environment, run until SIGINT/SIGTERM.

Every flag can also come from an environment variable (`--tick-rate` from `ARENA_TICK_RATE`, and
so on); the flag wins. The cookie secret comes from `ARENA_COOKIE_SECRET` or a generated file in
the data directory, never from a flag (flags show up in process lists); `ARENA_COOKIE_SECRET`
may hold `VERSION SECRET` pairs separated by commas for rotation.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from tornado.netutil import bind_sockets
from tornado.process import fork_processes

from game_server.app import ArenaServer
from game_server.config import (
    COOKIE_SECRET_FILE,
    Config,
    load_cookie_secret,
    rotate_cookie_secret,
)
from game_server.games.loading import GameLoadError, server_modes

log = logging.getLogger("arena")


def _env(environ: Mapping[str, str], flag: str, default: str) -> str:
    return environ.get("ARENA_" + flag.upper().replace("-", "_"), default)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """`--help` names every flag's default: the built-in one, or the `ARENA_*` environment
    variable's value when it is set (what the flag falls back to). A help text that already
    says what its default is keeps its own words."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (not action.option_strings or action.default is argparse.SUPPRESS
                or "default:" in text or "(default" in text):
            return text
        if isinstance(action.default, bool) or action.default is None:
            return text + (" (default: on)" if action.default else " (default: off)")
        if action.default == "":
            return text + " (default: none)"
        return text + " (default: %(default)s)"


ENV_EPILOG = (
    "Every flag can also be set by an environment variable: ARENA_ and the flag's name in "
    "capitals, dashes as underscores (--tick-rate: ARENA_TICK_RATE); the flag wins. The cookie "
    "secret comes from ARENA_COOKIE_SECRET, or from a file generated in the data directory."
)


def parse_config(
    argv: Sequence[str] | None, environ: Mapping[str, str]
) -> tuple[Config, str]:
    """Build a `Config` (and the log level) from flags with environment fallbacks."""
    defaults = Config()
    parser = argparse.ArgumentParser(
        prog="game-server", description="Arena: a multiplayer game server on Tornado.",
        epilog=ENV_EPILOG, formatter_class=DefaultsHelpFormatter,
    )

    def add(flag: str, default: object, help_text: str, kind: type = str) -> None:
        parser.add_argument(
            "--" + flag, type=kind, default=kind(_env(environ, flag, str(default))), help=help_text
        )

    add("host", defaults.host, "address to listen on")
    add("port", defaults.port, "port to listen on; 0 picks a free one", int)
    add("data-dir", defaults.data_dir, "SQLite file and cookie secret live here", Path)
    add("database-url", defaults.database_url,
        "sqlite:///path or postgresql://user@host/db (default: SQLite in the data directory)")
    add("redis-url", defaults.redis_url,
        "redis://host:port/db shared by every process of this Arena (rooms, seats, lobby, "
        "pub/sub); empty: one process, in-process presence")
    add("public-url", defaults.public_url,
        "http(s)://host:port[/path] players reach this process at (redirects point there); "
        "{port} stands for this process's own port; default: http://HOST:PORT")
    add("processes", defaults.processes,
        "worker processes on this host sharing --port (0: one per core; >1 needs --redis-url)",
        int)
    add("worker-port", defaults.worker_port,
        "with --processes: worker i also listens on this port + i for redirects "
        "(default: the port after --port)", int)
    add("presence-ttl", defaults.presence_ttl,
        "seconds a room of a dead process stays in the lobby", float)
    add("seat-ttl", defaults.seat_ttl,
        "seconds a seat reserved for a redirected player waits to be claimed", float)
    add("tick-rate", defaults.tick_rate, "simulation and state rate in Hz", int)
    add("tick-group", defaults.tick_group,
        "rooms ticked by one PeriodicCallback (cheaper than one each; a loop turn apart "
        "under half a core of load, back to back above); 1: one callback per room", int)
    add("max-players", defaults.max_players, "players per room", int)
    add(
        "allowed-origins",
        ",".join(defaults.allowed_origins),
        "comma-separated extra Origins allowed to open /ws (the server's own is always allowed)",
    )
    add("session-ttl-days", defaults.session_ttl_days, "login sessions expire after this", float)
    add("empty-room-grace", defaults.empty_room_grace, "seconds an empty room lives on", float)
    add("resume-grace", defaults.resume_grace,
        "seconds a dropped player's seat is held for a resume; 0 turns resuming off", float)
    add("max-connections-per-ip", defaults.max_connections_per_ip,
        "open game sockets allowed from one address; 0 means no limit", int)
    add("max-messages-per-second", defaults.max_messages_per_second,
        "WebSocket messages a connection may send per second (bursts of twice that)", float)
    add("max-chats-per-second", defaults.max_chats_per_second,
        "chat messages a connection may send per second (bursts of five times that)", float)
    add("max-backlog-bytes", defaults.max_backlog_bytes,
        "bytes queued for a slow reader before its states are skipped (4x: nothing is queued)",
        int)
    add("max-lag-seconds", defaults.max_lag_seconds,
        "seconds a reader may stay behind before it is closed with 4002", float)
    add("max-login-failures", defaults.max_login_failures,
        "failed logins for one username within the window before 429", int)
    add("max-login-failures-per-ip", defaults.max_login_failures_per_ip,
        "failed logins from one address within the window before 429", int)
    add("login-failure-window", defaults.login_failure_window,
        "seconds failed logins are remembered", float)
    add("log-level", "info", "debug, info, warning or error")
    def switch(flag: str, help_text: str) -> None:
        default = _env(environ, flag, "") not in ("", "0", "false")
        parser.add_argument("--" + flag, action="store_true", default=default, help=help_text)

    switch("no-uvloop", "run on asyncio's default event loop instead of uvloop")
    switch("xheaders", "behind a reverse proxy: take client addresses (per-address limits) "
           "from X-Real-IP / X-Forwarded-For; never without a proxy that sets them")
    parser.add_argument(
        "--game", action="append", metavar="MODULE:ATTR",
        default=[g.strip() for g in _env(environ, "games", "").split(",") if g.strip()],
        help="also run this game: a GameSpec, or a callable making one (repeatable; "
             "ARENA_GAMES takes a comma-separated list); games installed with pip under the "
             "arena.games entry point run without it")
    parser.add_argument(
        "--rotate-cookie-secret",
        action="store_true",
        help="add a new cookie-signing secret version to the data directory, then exit",
    )
    args = parser.parse_args(argv)
    if args.rotate_cookie_secret:
        version = rotate_cookie_secret(args.data_dir)
        print(f"cookie secret version {version} added to {args.data_dir}; restart to use it")
        raise SystemExit(0)
    origins = tuple(o.strip().rstrip("/") for o in args.allowed_origins.split(",") if o.strip())
    return Config(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        database_url=args.database_url,
        redis_url=args.redis_url,
        public_url=args.public_url.rstrip("/"),
        processes=args.processes,
        worker_port=args.worker_port,
        presence_ttl=args.presence_ttl,
        seat_ttl=args.seat_ttl,
        tick_rate=args.tick_rate,
        tick_group=args.tick_group,
        max_players=args.max_players,
        allowed_origins=origins,
        session_ttl_days=args.session_ttl_days,
        empty_room_grace=args.empty_room_grace,
        resume_grace=args.resume_grace,
        max_connections_per_ip=args.max_connections_per_ip,
        max_messages_per_second=args.max_messages_per_second,
        max_chats_per_second=args.max_chats_per_second,
        games=tuple(args.game),
        xheaders=args.xheaders,
        uvloop=not args.no_uvloop,
        max_backlog_bytes=args.max_backlog_bytes,
        max_lag_seconds=args.max_lag_seconds,
        max_login_failures=args.max_login_failures,
        max_login_failures_per_ip=args.max_login_failures_per_ip,
        login_failure_window=args.login_failure_window,
        cookie_secret=load_cookie_secret(args.data_dir, environ.get("ARENA_COOKIE_SECRET")),
    ), args.log_level


async def serve(config: Config, shared_sockets: list[socket.socket] | None = None) -> None:
    """Run one server until SIGINT or SIGTERM, then stop it cleanly."""
    server = ArenaServer(config, shared_sockets=shared_sockets)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "Arena listening on %s%s (public %s, %s presence, tick %d Hz, %d players a room, "
        "data in %s, %s loop)",
        server.url,
        "".join(f" and :{s.getsockname()[1]}" for s in (shared_sockets or [])[:1]),
        server.public_url,
        "Redis" if config.redis_url else "in-process",
        config.tick_rate,
        config.max_players,
        config.data_dir,
        type(loop).__module__.split(".")[0],
    )
    await stop.wait()
    log.info("shutting down")
    await server.stop()
    log.info("stopped")


def _die_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker when the forking parent dies (killed, or stopped by a
    signal), so workers never outlive it and always shut down cleanly."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        log.warning("workers will not stop by themselves if the parent process dies")
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def fork_workers(config: Config) -> tuple[Config, list[socket.socket]]:
    """Bind the shared port, fork `config.processes` workers (Tornado's `fork_processes`; a
    worker that crashes is restarted), and return, in each worker, its own config (its own
    port: `--worker-port` + index, so redirects reach it) and the shared listening sockets.
    The parent only waits for its workers and never returns."""
    shared = bind_sockets(config.port, address=config.host)
    count = config.processes or os.cpu_count() or 1
    base = config.worker_port or shared[0].getsockname()[1] + 1
    if config.port == 0 and not config.worker_port:
        base = 0  # a free port each
    log.info("forking %d workers on %s:%d", count, config.host, shared[0].getsockname()[1])
    parent = os.getpid()
    index = fork_processes(count)
    _die_with_parent(parent)
    return replace(config, port=base + index if base else 0), shared


def announce_main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """`python -m game_server announce TEXT`: global chat from "server" to every player. With
    `--redis-url` (or `ARENA_REDIS_URL`) it is published to every process of the Arena; without,
    it is sent to the one server at `--url`, signed with the data directory's cookie secret."""
    from game_server import announce
    from game_server.presence import PresenceUnavailable

    parser = argparse.ArgumentParser(
        prog="game-server announce",
        description="Send an operator announcement to every player, as chat from \"server\".")
    parser.add_argument("text", help="what to say (1 to 200 characters)")
    parser.add_argument("--redis-url", default=_env(environ, "redis-url", ""),
                        help="the Arena's Redis: publish to every process (default: "
                             "ARENA_REDIS_URL; without it, the server at --url)")
    host = _env(environ, "host", "127.0.0.1")
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    host = f"[{host}]" if ":" in host else host
    parser.add_argument("--url", default=f"http://{host}:{_env(environ, 'port', '8888')}",
                        help="the running server, without Redis (default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=Path(_env(environ, "data-dir", "data")),
                        help="the server's data directory, for its cookie secret "
                             "(unless ARENA_COOKIE_SECRET is set; default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the outcome is printed; no presence warnings
    try:
        text = announce.check_text(args.text)
        if args.redis_url:
            asyncio.run(announce.publish(args.redis_url, text))
            print(f"announced to every process on {args.redis_url.rpartition('@')[2]}")
            return 0
        from_env = environ.get("ARENA_COOKIE_SECRET")
        if not from_env and not (args.data_dir / COOKIE_SECRET_FILE).is_file():
            raise ValueError(f"no cookie secret in {args.data_dir}: give the server's "
                             "--data-dir, or ARENA_COOKIE_SECRET")
        secret = load_cookie_secret(args.data_dir, from_env)
        asyncio.run(announce.post(args.url, secret, text))
    except ValueError as exc:
        print(f"game-server announce: {exc}", file=sys.stderr)
        return 2
    except (OSError, PresenceUnavailable) as exc:
        print(f"game-server announce: cannot reach the Arena: {exc}", file=sys.stderr)
        return 1
    print(f"announced through {args.url}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["announce"]:
        return announce_main(args[1:], os.environ)
    if args[:1] == ["new-game"]:
        from game_server import scaffold
        return scaffold.main(args[1:])
    try:
        config, log_level = parse_config(argv, os.environ)
        config.validate()
        server_modes(games=config.games)  # a game that cannot load stops us here, clearly
    except (ValueError, GameLoadError) as exc:
        print(f"game-server: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, str(log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    shared: list[socket.socket] | None = None
    try:
        if config.processes != 1:
            config, shared = fork_workers(config)
        if config.uvloop:
            try:
                import uvloop
            except ImportError:
                log.warning("uvloop is not installed; using the default asyncio event loop")
            else:
                asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        asyncio.run(serve(config, shared))
    except OSError as exc:
        print(f"game-server: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
