"""`python -m bench.probe [--function F ...] [--out DIR] -- COMMAND ...`: what chosen functions
cost inside the real game servers that COMMAND starts (`bench.floor`, `bench.capacity`...), per
call and in all, server by server. A COMMAND that starts with an option (`-m bench.floor ...`)
runs under this Python.

A warm loop in one process (`bench.tick`, `bench.journal_tick`) says what code costs with its
caches hot; a server meets each input alone, between other players' socket reads, with every
cache cold, and there the same code can cost five times as much. Run side by side with
`bench.floor` (one server with a feature, one without), the difference per call of the same
function is what the feature costs where it counts. That is how the match journal's input path
was found to cost 0.62 µs an input in the server where the warm loop said 0.1
(bench/results/2026-12-06-floor-journal.md).

Every `python -m game_server` the command starts, of any checkout, loads
bench/probe_site/sitecustomize.py (through PYTHONPATH), which wraps the functions with a timer
(about 0.1 µs a call, the same in every server) and writes its totals to DIR. The command's
other processes (load generators) are left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SITE = Path(__file__).resolve().parent / "probe_site"

# The input path, the tick, and the match journal's parts (the last two on its worker thread).
DEFAULT_FUNCTIONS = (
    "game_server.games.contract:RoomRules.message",
    "game_server.engine.room_clock:RoomClock.tick",
    "game_server.engine.recorder:RoomRecording._journal_hash",
    "game_server.games.contract:JournalBuffer.take_raw",
    "thread:game_server.journal.writer:_encode_all",
    "thread:game_server.storage.sqlite_journals:SQLiteJournals._journal_append_many_sync",
)


def probe_env(out: Path, functions: tuple[str, ...] | list[str],
              base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that makes the game servers of a command probed into `out`."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(SITE), env.get("PYTHONPATH"))))
    env["ARENA_BENCH_PROBE"] = str(out)
    env["ARENA_BENCH_PROBE_FUNCS"] = ",".join(functions)
    return env


def collect(out: Path) -> dict[str, dict[str, Any]]:
    """The probes' totals by server (its checkout's directory), summed over its processes:
    {server: {"processes": n, "absent": [...], "functions": {name: {"seconds", "calls"}}}}."""
    servers: dict[str, dict[str, Any]] = {}
    for path in sorted(out.glob("probe-*.json")):
        record = json.loads(path.read_text())
        server = servers.setdefault(record["server"], {"processes": 0, "absent": [],
                                                       "functions": {}})
        server["processes"] += 1
        server["absent"] = sorted(set(server["absent"]) | set(record["absent"]))
        for name, got in record["functions"].items():
            total = server["functions"].setdefault(name, {"seconds": 0.0, "calls": 0})
            total["seconds"] += got["seconds"]
            total["calls"] += got["calls"]
    return servers


def report(servers: dict[str, dict[str, Any]]) -> str:
    """A table per function: each server's calls, µs a call and seconds in all."""
    if not servers:
        return "no game server was probed (did the command start `python -m game_server`?)"
    names = list(servers)
    lines = ["servers: " + "; ".join(
        f"[{i}] {name} ({servers[name]['processes']} processes)" for i, name in enumerate(names))]
    functions = sorted({f for s in servers.values() for f in s["functions"]})
    for function in functions:
        cells = []
        for i, name in enumerate(names):
            got = servers[name]["functions"].get(function)
            if got is None or not got["calls"]:
                cells.append(f"[{i}] -")
                continue
            per_call = got["seconds"] / got["calls"] * 1e6
            cells.append(f"[{i}] {got['calls']} calls, {per_call:.2f} µs a call, "
                         f"{got['seconds']:.3f} s")
        lines.append(f"{function}: " + "; ".join(cells))
    for i, name in enumerate(names):
        if servers[name]["absent"]:
            lines.append(f"[{i}] has no " + ", ".join(servers[name]["absent"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.probe", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--function", action="append", default=None, metavar="F",
                        help="module:Class.method or module:function to time (repeatable; "
                             "prefix thread: for worker-thread code, timed in thread CPU); "
                             "default: the input path, the tick and the journal's parts")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the servers write their totals (default: a temporary "
                             "directory, removed after)")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="the command to run, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    if command[0].startswith("-"):  # `-- -m bench.floor ...`: this Python runs it
        command = [sys.executable, *command]
    functions = args.function or list(DEFAULT_FUNCTIONS)
    with tempfile.TemporaryDirectory(prefix="arena-probe-") as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        code = subprocess.call(command, env=probe_env(out, functions))
        print(report(collect(out)))
    return code


if __name__ == "__main__":
    sys.exit(main())
