"""`python -m game_server` / `game-server`: read flags and environment, run until SIGINT/SIGTERM.

The flags are made from the settings declared in `Config` (config.py), and each can also come
from an environment variable (`--tick-group` from `ARENA_TICK_GROUP`, and so on); the flag
wins. The cookie secret comes from `ARENA_COOKIE_SECRET` or a generated file in the data
directory, never from a flag (flags show up in process lists); `ARENA_COOKIE_SECRET` may hold
`VERSION SECRET` pairs separated by commas for rotation.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import os
import shutil
import signal
import socket
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, get_origin, get_type_hints

from tornado.netutil import bind_sockets
from tornado.process import fork_processes

from game_server.app import ArenaServer
from game_server.config import (
    COOKIE_SECRET_FILE,
    Config,
    Declared,
    declared_settings,
    load_cookie_secret,
    rotate_cookie_secret,
)
from game_server.games.api import Field, GameSpec, Ticking
from game_server.games.loading import GameLoadError, server_modes

log = logging.getLogger("arena")


def _env(environ: Mapping[str, str], flag: str, default: str) -> str:
    return environ.get("ARENA_" + flag.upper().replace("-", "_"), default)


def _shown(value: object) -> str:
    if isinstance(value, tuple | list):
        value = ",".join(map(str, value))
    return str(value).replace("%", "%%")


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """`--help` names every flag's default: the built-in one, or the `ARENA_*` environment
    variable's value when it is set (what the flag falls back to). A help text that already
    says what its default is keeps its own words. (The epilog comes wrapped, as paragraphs.)"""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (not action.option_strings or action.default is argparse.SUPPRESS
                or "default:" in text or "(default" in text):
            return text
        if isinstance(action.default, bool) or action.default is None:
            return text + (" (default: on)" if action.default else " (default: off)")
        if action.default in ("", (), []):
            return text + " (default: none)"
        return text + f" (default: {_shown(action.default)})"


ENV_EPILOG = (
    "Every flag can also be set by an environment variable: ARENA_ and the flag's name in "
    "capitals, dashes as underscores (--tick-group: ARENA_TICK_GROUP); the flag wins. The "
    "cookie secret comes from ARENA_COOKIE_SECRET, or from a file generated in the data "
    "directory."
)

# The subcommands `main` dispatches before the server's flags are parsed: argparse never sees
# them, so `--help` names them here (each has its own `--help`).
SUBCOMMANDS = {
    "new-game": ("NAME [--dir DIR]",
                 "write a game package: a working game, its page, its bots' policy, a test"),
    "announce": ("TEXT [--url URL | --redis-url URL]",
                 "send an announcement to every player of a running Arena"),
    "replay": ("verify ID|FILE | export ID -o FILE",
               "verify a recorded match (the match journal), or export it to a file"),
}
USAGE = "\n".join(["%(prog)s [options]"] + [
    f"       %(prog)s {name} {args}" for name, (args, _) in SUBCOMMANDS.items()])
DESCRIPTION = "\n".join([
    "Arena: a multiplayer game server on Tornado. Without a command it runs the server.",
    "", "commands (game-server COMMAND --help for each one's options):",
    *(f"  {name:<10}{words}" for name, (_, words) in SUBCOMMANDS.items())])


def _items(text: str, parse: Callable[[str], Any]) -> list[Any]:
    return [parse(item.strip()) for item in text.split(",") if item.strip()]


class _Items(argparse.Action):
    """A list setting's flag: each use adds comma-separated items. The first use replaces the
    environment's list, so the flag wins as it does for every other setting."""

    def __init__(self, *args: Any, parse: Callable[[str], Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parse = parse

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        items = getattr(namespace, self.dest)
        if items is self.default:
            items = []
        setattr(namespace, self.dest, [*items, *_items(values, self.parse)])


def _add_setting(parser: argparse.ArgumentParser, declared: Declared, kind: Any,
                 environ: Mapping[str, str]) -> None:
    """One flag, from the setting's declaration in `Config`, falling back to its variable."""
    rules = declared.rules
    text = environ.get(declared.env)
    if kind is bool:  # a switch: flag or variable given, the default flips
        on = text is not None and text.strip().lower() not in ("", "0", "false")
        parser.add_argument("--" + declared.flag, dest=declared.name, action="store_true",
                            default=on, help=rules.help)
        return
    if get_origin(kind) is tuple:
        parse = rules.parse or str
        items = _items(text, parse) if text is not None else list(declared.default)
        parser.add_argument("--" + declared.flag, dest=declared.name, action=_Items,
                            parse=parse, default=items, metavar=rules.metavar, help=rules.help)
        return
    parser.add_argument(
        "--" + declared.flag, dest=declared.name, type=rules.parse or kind,
        # A text default goes through `type` too, so a bad variable is refused like a bad flag.
        default=text if text is not None else declared.default,
        metavar=rules.metavar, help=rules.help)


def _option_words(name: str, spec: Field) -> str:
    words = name
    if spec.low is not None and spec.high is not None:
        words += f" {spec.low:g} to {spec.high:g}"
    elif spec.choices:
        words += " one of " + "/".join(map(str, spec.choices))
    if spec.default is not None:
        default = str(spec.default).lower() if spec.kind == "bool" else spec.default
        words += f" (default {default})"
    return words


def modes_help(mode_options: Sequence[str]) -> str:
    """What `--help` says of the modes this server would run and their options: the mode's
    own settings (the arena's rate and seats among them), with the defaults they would have."""
    try:
        modes = server_modes(mode_options=mode_options)
    except GameLoadError:
        try:
            modes = server_modes()  # the variable's settings are wrong: the games' own defaults
        except GameLoadError as exc:
            return _wrap(f"No mode to list: {exc}.")
    lines = [_wrap("The modes found and their options: --mode-option MODE.OPTION=VALUE sets a "
                   "default, a room created with options may choose within the bounds.")]
    for name, mode in modes.items():
        options = ", ".join(_option_words(option, spec) for option, spec in mode.options.items())
        lines.append(_wrap(f"{name}: {options or 'no options'}", indent="  "))
    return "\n".join(lines)


def _wrap(text: str, indent: str = "") -> str:
    width = min(shutil.get_terminal_size().columns, 100) - 2
    return textwrap.fill(text, width, initial_indent=indent,
                         subsequent_indent=indent + "    " if indent else "")


class _Help(argparse.Action):
    """`-h`/`--help`: the flags, then the modes and their options (found only when asked)."""

    def __init__(self, *args: Any, mode_options: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, nargs=0, default=argparse.SUPPRESS, **kwargs)
        self.mode_options = mode_options

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        parser.epilog = f"{_wrap(ENV_EPILOG)}\n\n{modes_help(self.mode_options)}"
        parser.print_help()
        parser.exit()


def parse_config(
    argv: Sequence[str] | None, environ: Mapping[str, str]
) -> tuple[Config, str]:
    """Build a `Config` (and the log level) from flags with environment fallbacks: one flag
    for every setting declared in `Config`."""
    parser = argparse.ArgumentParser(
        prog="game-server", usage=USAGE, description=DESCRIPTION,
        epilog=ENV_EPILOG, formatter_class=DefaultsHelpFormatter, add_help=False,
    )
    parser.add_argument("-h", "--help", action=_Help, help="show this help message and exit",
                        mode_options=_items(environ.get("ARENA_MODE_OPTIONS", ""), str))
    kinds = get_type_hints(Config)
    settings = declared_settings()
    for declared in settings:
        _add_setting(parser, declared, kinds[declared.name], environ)
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
    values: dict[str, Any] = {}
    for declared in settings:
        value = getattr(args, declared.name)
        if kinds[declared.name] is bool:
            value = (not declared.default) if value else declared.default
        elif isinstance(value, list):
            value = tuple(value)
        values[declared.name] = value
    config = Config(
        **values,
        cookie_secret=load_cookie_secret(args.data_dir, environ.get("ARENA_COOKIE_SECRET")),
    )
    return config, config.log_level


def describe_modes(modes: Mapping[str, GameSpec]) -> str:
    """The modes as the start-up line lists them: each with its rate (or "events") and the
    seats of its rooms, as its options' defaults make them."""
    return ", ".join(
        f"{name} ({spec.clock.rate} Hz, {spec.max_players} seats)"
        if isinstance(spec.clock, Ticking) else f"{name} (events, {spec.max_players} seats)"
        for name, spec in modes.items()
    )


async def serve(config: Config, shared_sockets: list[socket.socket] | None = None,
                modes: dict[str, GameSpec] | None = None) -> None:
    """Run one server until SIGINT or SIGTERM, then stop it cleanly."""
    server = ArenaServer(config, shared_sockets=shared_sockets, modes=modes)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "Arena listening on %s%s (public %s, %s presence, data in %s, %s loop); modes: %s",
        server.url,
        "".join(f" and :{s.getsockname()[1]}" for s in (shared_sockets or [])[:1]),
        server.public_url,
        "Redis" if config.redis_url else "in-process",
        config.data_dir,
        type(loop).__module__.split(".")[0],
        describe_modes(server.matchmaker.modes),
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
    if args[:1] == ["replay"]:
        from game_server.journal import cli
        return cli.main(args[1:], os.environ)
    if args[:1] == ["new-game"]:
        from game_server import scaffold
        return scaffold.main(args[1:])
    try:
        config, log_level = parse_config(argv, os.environ)
        config.validate()
    except ValueError as exc:
        print(f"game-server: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, str(log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        # Loaded once, before any fork: a skipped game is logged once, and a game that cannot
        # load (or a bad --mode-option) stops us here, clearly.
        modes = server_modes(games=config.games, mode_options=config.mode_options,
                             strict=config.strict_games)
    except GameLoadError as exc:
        print(f"game-server: {exc}", file=sys.stderr)
        return 2
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
        asyncio.run(serve(config, shared, modes))
    except OSError as exc:
        print(f"game-server: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
