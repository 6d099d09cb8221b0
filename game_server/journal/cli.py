"""`python -m game_server replay verify ID|FILE` and `replay export ID -o FILE`.

`verify` re-runs a recorded match (from the configured database by its journal id, or from an
export file) and compares every hash the room recorded: exit 0 when they all match, 1 at the
first difference (its tick, where the states differ, the two values side by side), 2 when the
match cannot be replayed at all (unknown id, damaged file, a mode or version this server does
not have). `export` writes one match to a file another machine can verify and step through
(`load_replay(path).state_at(tick)`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson

from game_server.config import DATABASE_FILE
from game_server.journal.codec import ReplayError, read_export, write_export
from game_server.journal.replay import Replay, Verification

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2
_SHOWN = 20  # differing paths printed side by side
_WIDTH = 48  # characters of each value shown
_WHOLE_LINES = 60  # states up to this many lines (as indented JSON) are shown whole too


def _env(environ: Mapping[str, str], name: str, default: str) -> str:
    return environ.get("ARENA_" + name.upper().replace("-", "_"), default)


def _parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="game-server replay",
        description="Check and export recorded matches (the match journal).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def storage_flags(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--data-dir", type=Path, default=Path(_env(environ, "data-dir", "data")),
                         help="the server's data directory, whose SQLite file holds the "
                              "journals (default: ARENA_DATA_DIR or %(default)s)")
        sub.add_argument("--database-url", default=_env(environ, "database-url", ""),
                         help="the server's database instead (sqlite:///path or "
                              "postgresql://...; default: ARENA_DATABASE_URL)")

    verify = commands.add_parser(
        "verify", help="re-run a match and compare every recorded state hash",
        description="Re-run a recorded match and compare every state hash it recorded. Exit "
                    "0: identical; 1: the first tick that differs and the two states; 2: it "
                    "cannot be replayed here.")
    verify.add_argument("match", metavar="ID|FILE",
                        help="a journal id from the database, or an export file")
    storage_flags(verify)
    verify.add_argument("--game", action="append", metavar="MODULE:ATTR",
                        default=[g for g in _env(environ, "games", "").split(",") if g.strip()],
                        help="a game that is not installed, as the server's --game names it")
    export = commands.add_parser(
        "export", help="write one match to a file another machine can verify",
        description="Write one recorded match to a file: `replay verify FILE` and "
                    "`load_replay(FILE)` read it on any machine with the game installed.")
    export.add_argument("match", metavar="ID", help="the journal id")
    export.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                        help="the file to write")
    storage_flags(export)
    return parser


async def _from_database(args: argparse.Namespace, journal_id: str
                         ) -> tuple[dict[str, Any], dict[str, Any] | None, list[Any]]:
    from game_server.journal.store import load_journal
    from game_server.storage import open_storage

    target: str | Path = args.database_url
    if not target:
        target = args.data_dir / DATABASE_FILE
        if not target.is_file():
            raise ReplayError(f"no database at {target} (give the server's --data-dir or "
                              "--database-url)")
    try:
        storage = open_storage(target)
    except ValueError as exc:
        raise ReplayError(str(exc)) from None
    await storage.open()
    try:
        data = await load_journal(storage, journal_id)
    finally:
        await storage.close()
    if data is None:
        raise ReplayError(f"no match {journal_id!r} in the database (unknown, or deleted by "
                          "retention)")
    return data.header, data.summary, data.records


def _load(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any] | None, list[Any]]:
    if Path(args.match).is_file():
        return read_export(args.match)
    if os.sep in args.match or args.match.endswith(".journal"):
        raise ReplayError(f"no such file: {args.match}")
    return asyncio.run(_from_database(args, args.match))


def _shown(value: Any) -> str:
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode() if not isinstance(
        value, _Missing) else "(absent)"
    return text if len(text) <= _WIDTH else text[:_WIDTH - 1] + "…"


class _Missing:
    pass


def _at(state: Any, path: str) -> Any:
    for part in path.split(" ")[0].split("."):
        if isinstance(state, dict) and part in state:
            state = state[part]
        elif isinstance(state, list) and part.isdigit() and int(part) < len(state):
            state = state[int(part)]
        else:
            return _Missing()
    return state


def report(verification: Verification, out: TextIO) -> None:
    """Print what `verify` found: a line when it matched, else the first bad tick and the
    differing paths with the recorded and replayed values side by side."""
    v = verification
    if v.ok:
        print(f"ok: {v.hashes_checked} state hashes match", file=out)
        return
    print(f"MISMATCH after tick {v.first_bad_tick}: {v.problem}", file=out)
    print(f"({v.hashes_checked} state hashes compared)", file=out)
    if v.recorded is None and v.replayed is None:
        for line in v.differences:
            print(f"  {line}", file=out)
        return
    print(f"the states after tick {v.snapshot_tick}, the first snapshot since, differ at:",
          file=out)
    print(f"  {'path':<28} {'recorded':<{_WIDTH}} | replayed", file=out)
    for path in v.differences[:_SHOWN]:
        print(f"  {path:<28} {_shown(_at(v.recorded, path)):<{_WIDTH}} | "
              f"{_shown(_at(v.replayed, path))}", file=out)
    if len(v.differences) > _SHOWN:
        print("  ... and more", file=out)
    left = _pretty(v.recorded)
    right = _pretty(v.replayed)
    if max(len(left), len(right)) <= _WHOLE_LINES:
        # A small state: the whole of both, side by side, differing lines marked.
        print(f"\n  {'recorded':<{_WIDTH}}   replayed", file=out)
        for i in range(max(len(left), len(right))):
            a = left[i] if i < len(left) else ""
            b = right[i] if i < len(right) else ""
            mark = " " if a == b else "|"
            print(f"  {a[:_WIDTH]:<{_WIDTH}} {mark} {b[:_WIDTH]}", file=out)


def _pretty(state: Any) -> list[str]:
    return orjson.dumps(state, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
                        | orjson.OPT_NON_STR_KEYS).decode().splitlines()


def main(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> int:
    """The `replay` subcommand; its exit status."""
    args = _parser(environ).parse_args(argv)
    try:
        header, summary, records = _load(args)
        if args.command == "export":
            write_export(args.output, header, summary, records)
            print(f"wrote {args.output} ({args.output.stat().st_size} bytes, "
                  f"{len(records)} records)")
            return EXIT_OK
        from game_server.games.loading import GameLoadError, server_modes
        try:
            modes = server_modes(games=args.game)
        except GameLoadError as exc:
            raise ReplayError(str(exc)) from None
        verification = Replay(header, records, summary, modes=modes).verify()
    except ReplayError as exc:
        print(f"game-server replay: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"game-server replay: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if summary is None:
        print("(the match has not ended, or its recording stopped early: checked as far as it "
              "was recorded)")
    elif summary.get("dropped"):
        print(f"(its recording stopped early: {summary['dropped']}; checked as far as it went)")
    report(verification, sys.stdout)
    return EXIT_OK if verification.ok else EXIT_MISMATCH
