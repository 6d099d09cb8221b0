"""`python -m bench.floor`: Arena against its bare transport floor, in one run.

Runs Arena (`arena`: hardening on, `--max-connections-per-ip 0`), the floor (`floor`: a bare
Tornado server, `python -m bench.floor_server`: the same login and messages, no game, no
storage), optionally the same floor on Arena's asyncio data path (`floor-wire`) and the Arena of
another checkout (`arena-baseline`, `--baseline DIR`) as fresh processes pinned to CPU 0, each
driven by the same load generator (`bench.loadgen`) pinned to CPU 1. `--servers` picks which.
By default one at a time (for each player count going up, every other round mirrored, going
down); `--side-by-side` runs them all at once in every round, each with a load generator of its
own and the windows opened together (`bench/floor_runs.py`). The floors' states are sized to
the average state Arena sent in its latest run. Per run: server CPU per player-second over the
measured window, ping RTT, states/s per player, RSS growth per player and bytes sent per
player-second; then medians across rounds and each Arena's ratio to each floor (and Arena's to
the baseline), of the medians and of each round. Writes `<date>-floor.json` and `.md` into
`bench/results/` (or `--out`); `--profile` adds a py-spy flame graph of one extra Arena run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.floor_report import (
    ARENA,
    ARENAS,
    BASELINE,
    SERVERS,
    headline_lines,
    progress_line,
    shared_rounds,
    summarize,
    write_report,
)
from bench.floor_runs import FloorBench, Options
from bench.floor_server import DEFAULT_STATE_BYTES
from bench.procs import guarded_run
from bench.report import RESULTS_DIR, command_line, exit_status, new_report
from bench.sampling import machine_info

__all__ = ["Options", "main", "plan", "run"]

Step = tuple[tuple[str, ...], int, int]  # (servers run together, players, round)


def groups(options: Options, kinds: Sequence[str]) -> list[tuple[str, ...]]:
    """The servers in `kinds` as rounds run them: all together side by side, else one each."""
    return [tuple(kinds)] if options.side_by_side else [(kind,) for kind in kinds]


def plan(options: Options) -> list[Step]:
    """(servers run together, players, round) in order: odd rounds the servers in order for
    each player count going up, even rounds the mirror image, in reverse going down.

    A run is affected by the one before it and by the machine drifting over the session; with
    a fixed A F A F order over two player counts, every Arena run at the smaller count came
    right after a floor run at the larger one, and every floor run there after an Arena run
    at the same count. Mirrored rounds give each server each kind of predecessor, and cancel
    a steady drift over every two rounds. Side by side the drift hits all servers alike; the
    order of player counts (and of starting the servers) is mirrored the same way.
    """
    steps: list[Step] = []
    for round_no in range(1, options.rounds + 1):
        mirrored = round_no % 2 == 0
        kinds = tuple(reversed(options.servers)) if mirrored else options.servers
        for players in sorted(options.players, reverse=mirrored):
            steps.extend((group, players, round_no) for group in groups(options, kinds))
    return steps


def run(options: Options, command: str) -> dict[str, Any]:
    started = time.monotonic()
    machine = machine_info(("tornado", "locust", "uvloop", "orjson", "py-spy"))
    report = new_report(command, machine, runs=[], summary=[])
    mode = "side-by-side" if options.side_by_side else "alternating"
    with tempfile.TemporaryDirectory(prefix="arena-floor-") as tmp:
        bench = FloorBench(options, Path(tmp))
        if bench.loadgen_prefix and hasattr(os, "sched_setaffinity"):
            # This process only waits and polls; keep even that off the servers' CPU.
            os.sched_setaffinity(0, {int(bench.loadgen_prefix[-1].split("-")[0])})
        report["config"] = {
            "players": options.players,
            "servers": list(options.servers),
            "mode": mode,
            "seconds": options.seconds,
            "warmup": options.warmup,
            "rounds": options.rounds,
            "warm_runs": options.warm_runs,
            "concurrency": options.concurrency,
            "state_bytes": options.state_bytes,
            "profile_players": options.profile_players if options.profile else None,
            "pinning": bench.pinning_text,
        }
        if BASELINE in options.servers and options.baseline is not None:
            report["config"]["baseline"] = {
                "dir": str(options.baseline), "commit": checkout_commit(options.baseline),
                "args": list(options.baseline_args),
            }
        steps = plan(options)
        what = "rounds of them together" if options.side_by_side else "runs"
        print(f"floor benchmark of {', '.join(options.servers)}, {mode}: {len(steps)} {what}, "
              f"{bench.pinning_text}", flush=True)
        sizes = [options.state_bytes or DEFAULT_STATE_BYTES]

        # The floors' states are sized like this checkout's Arena's (the baseline's only when
        # it runs alone).
        sizer = ARENA if ARENA in options.servers else BASELINE

        def keep(records: list[dict[str, Any]], prefix: str = "") -> None:
            """Record a round's runs; the floors' next states are sized like Arena's latest."""
            for record in records:
                report["runs"].append(record)
                print(prefix + progress_line(record), flush=True)
                if record["server"] == sizer and options.state_bytes is None and record.get(
                        "state_bytes"):
                    sizes.append(max(1, round(record["state_bytes"])))

        with guarded_run(bench.procs, prog="bench.floor",
                         stopping="the load generators and the servers") as end:
            for _ in range(options.warm_runs):
                for group in groups(options, options.servers):
                    # The first run of a session measures cold caches: run each server once,
                    # kept in the report, left out of the medians.
                    records = bench.run_round(group, min(options.players), 0, sizes[-1])
                    for record in records:
                        record["warm_up"] = True
                    keep(records, "warm-up ")
            for group, players, round_no in steps:
                if options.run_estimate(players, len(group)) > options.max_seconds - (
                        time.monotonic() - started):
                    print(f"{', '.join(group)} {players} players round {round_no}: skipped, it "
                          "would not finish within --max-minutes", flush=True)
                    report["truncated"] = True
                    break
                records = bench.run_round(group, players, round_no, sizes[-1])
                report["loadgen"] = records[-1].get("loadgen")
                keep(records)
            if options.profile and not report.get("truncated"):
                kind = next(k for k in options.servers if k in ARENAS)
                path = options.out / (
                    f"{report['date']}-{kind}-flame."
                    + ("svg" if options.profile_format == "flamegraph" else "speedscope.json")
                )
                records = bench.run_round((kind,), options.profile_players, 0, sizes[-1], path)
                keep(records)
                report["profile"] = records[0].get("profile")
                print(f"flame graph: {records[0].get('profile') or 'not written (see py-spy)'}",
                      flush=True)
        report.update(end.report_fields())
    report["summary"] = summarize(report["runs"])
    report["rounds"] = shared_rounds(report["runs"])
    report["headline"] = headline_lines(report["summary"], report["rounds"])
    report["elapsed_seconds"] = round(time.monotonic() - started, 1)
    return report


def checkout_commit(directory: Path) -> str | None:
    """The short commit `directory` has checked out, if it is a git checkout."""
    try:
        done = subprocess.run(["git", "-C", str(directory), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.floor",
        description="Arena against a bare Tornado server (and the same server on Arena's data "
                    "path, and another checkout's Arena), one at a time or side by side, same "
                    "load generator.",
    )
    parser.add_argument("--players", default="400,800",
                        help="comma-separated player counts (default %(default)s)")
    parser.add_argument("--servers", default="arena,floor",
                        help="comma-separated servers to run, of " + ", ".join(SERVERS)
                             + " (default %(default)s; run in that order)")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="the checkout `arena-baseline` runs: DIR/.venv/bin/python -m "
                             "game_server in DIR, with the same flags as `arena`")
    parser.add_argument("--baseline-args", default="", metavar="FLAGS",
                        help="more flags for the baseline's game_server only, one string "
                             "(e.g. \"--ws-transport protocol\")")
    parser.add_argument("--side-by-side", action="store_true",
                        help="run the servers of a round at once (all on CPU 0), each with its "
                             "own load generator, their windows opened together")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="measured window per run, after the warm-up (default 30)")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds between the last join and the window (default 5)")
    parser.add_argument("--warm-runs", type=int, default=1,
                        help="unmeasured runs of each server, at the smallest player count, "
                             "before the measured rounds (default 1)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of every server at every player count (default 2)")
    parser.add_argument("--concurrency", type=int, default=50,
                        help="logins and handshakes in flight during a ramp")
    parser.add_argument("--state-bytes", type=int, default=None,
                        help="fixed state size for the floor (default: Arena's average in "
                             f"the run before; {DEFAULT_STATE_BYTES} until there is one)")
    parser.add_argument("--profile", action="store_true",
                        help="one extra run of the first Arena in --servers under py-spy, "
                             "flame graph into --out")
    parser.add_argument("--profile-players", type=int, default=400)
    parser.add_argument("--profile-format", choices=("flamegraph", "speedscope"),
                        default="flamegraph")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument("--max-minutes", type=float, default=60.0,
                        help="bound on the whole run; runs that would not fit are skipped")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help="where the JSON and Markdown go (default bench/results)")
    args = parser.parse_args(argv)
    try:
        args.player_list = [int(p) for p in args.players.split(",") if p.strip()]
    except ValueError:
        parser.error("--players must be comma-separated integers")
    if not args.player_list or any(p <= 0 for p in args.player_list):
        parser.error("--players needs at least one positive count")
    if args.seconds <= 0 or args.warmup < 0 or args.rounds <= 0:
        parser.error("--seconds and --rounds must be positive, --warmup not negative")
    servers = [k.strip() for k in args.servers.split(",") if k.strip()]
    unknown = [k for k in servers if k not in SERVERS]
    if unknown or not servers or len(set(servers)) != len(servers):
        parser.error(f"--servers takes each of {', '.join(SERVERS)} at most once, not "
                     f"{args.servers!r}")
    args.server_list = tuple(k for k in SERVERS if k in servers)  # Arenas before the floor
    if args.side_by_side and len(servers) < 2:
        parser.error("--side-by-side needs at least two --servers")
    if args.profile and not any(k in ARENAS for k in servers):
        parser.error("--profile profiles Arena: put arena in --servers")
    try:
        args.baseline_arg_list = tuple(shlex.split(args.baseline_args))
    except ValueError as exc:
        parser.error(f"--baseline-args: {exc}")
    if (BASELINE in servers) != (args.baseline is not None):
        parser.error("arena-baseline in --servers and --baseline DIR go together")
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
        if not (args.baseline / ".venv" / "bin" / "python").exists():
            parser.error(f"--baseline {args.baseline}: no .venv/bin/python there (make "
                         "`.venv/.installed` in that checkout first)")
    elif args.baseline_arg_list:
        parser.error("--baseline-args needs --baseline")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        players=args.player_list,
        servers=args.server_list,
        side_by_side=args.side_by_side,
        seconds=args.seconds,
        warmup=args.warmup,
        rounds=args.rounds,
        warm_runs=max(0, args.warm_runs),
        concurrency=args.concurrency,
        state_bytes=args.state_bytes,
        pin=not args.no_pin,
        profile=args.profile,
        profile_players=args.profile_players,
        profile_format=args.profile_format,
        max_seconds=args.max_minutes * 60.0,
        out=args.out,
        baseline=args.baseline,
        baseline_args=args.baseline_arg_list,
    )
    report = run(options, command_line("bench.floor", argv))
    for line in report["headline"]:
        print(line)
    paths = write_report(report, options.out)
    if paths:
        print("wrote " + ", ".join(str(p) for p in paths))
    return exit_status(report)


if __name__ == "__main__":
    sys.exit(main())
