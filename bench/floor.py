"""`python -m bench.floor`: Arena against its bare transport floor, alternating, in one run.

Runs Arena (`python -m game_server`, hardening on, `--max-connections-per-ip 0`) and the floor
(`python -m bench.floor_server`: the same login and messages, no game, no storage) as fresh
processes pinned to CPU 0, one after the other (A F for each player count, every other round
mirrored: F A from the largest count down), and drives each with the same load
generator (`bench.loadgen`) pinned to CPU 1. The floor's states are sized to the average state
Arena sent in its latest run, so both send states of the same size. Per run: server CPU per
player-second over the measured window, ping RTT, states/s per player, RSS growth per player and
bytes sent per player-second; then medians across rounds and the ratio Arena / floor. Writes
`<date>-floor.json` and `.md` into `bench/results/` (or `--out`); `--profile` adds a py-spy flame
graph of one extra Arena run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.floor_report import (
    SERVERS,
    headline_lines,
    progress_line,
    summarize,
    summarize_run,
    write_report,
)
from bench.floor_server import DEFAULT_STATE_BYTES
from bench.procs import Processes, guarded_run, pinning, tail, wait_for_line
from bench.prom import Metrics, metric_total, parse_prometheus
from bench.report import REPO_DIR, RESULTS_DIR, command_line, display_path, exit_status, new_report
from bench.sampling import http_get, machine_info, proc_rss

STARTUP_TIMEOUT = 30.0
IDLE_SETTLE = 1.0  # seconds between "listening" and the idle RSS sample
LISTENING = {
    "arena": re.compile(r"Arena listening on (http://\S+)"),
    "floor": re.compile(r"floor listening on (http://\S+)"),
}
WINDOW_OPEN = re.compile(r"loadgen: window open")
WINDOW_CLOSED = re.compile(r"loadgen: window closed")


@dataclass
class Options:
    players: list[int] = field(default_factory=lambda: [400, 800])
    seconds: float = 30.0
    warmup: float = 5.0
    rounds: int = 2
    warm_runs: int = 1  # unmeasured runs of each server first (cold caches, first imports)
    concurrency: int = 50
    state_bytes: int | None = None  # fixed floor state size; None: Arena's last average
    pin: bool = True
    profile: bool = False
    profile_players: int = 400
    profile_format: str = "flamegraph"
    max_seconds: float = 3600.0
    out: Path = RESULTS_DIR

    def run_estimate(self, players: int) -> float:
        """A generous bound on one run: start, ramp, warm-up, window, stop."""
        return 10.0 + players / 50.0 + self.warmup + self.seconds + 10.0

    def connect_seconds(self, players: int) -> float:
        return 30.0 + players / 10.0


# -- one run ---------------------------------------------------------------------------------


class FloorBench:
    """Starts servers and load generators, each run in fresh processes, and stops them all."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.procs = Processes(cwd=REPO_DIR)
        taskset = shutil.which("taskset") if options.pin else None
        self.server_prefix, self.loadgen_prefix = pinning(os.cpu_count(), taskset)
        self.runs = 0

    @property
    def pinning_text(self) -> str:
        if not self.server_prefix:
            return "no CPU pinning"
        return f"servers on CPU 0, load generator on CPU {self.loadgen_prefix[-1]} (taskset)"

    def start_server(self, kind: str, state_bytes: int) -> tuple[subprocess.Popen[bytes], str]:
        log = self.workdir / f"run-{self.runs}-{kind}.log"
        if kind == "arena":
            argv = [
                sys.executable, "-m", "game_server", "--host", "127.0.0.1", "--port", "0",
                "--data-dir", str(self.workdir / f"arena-{self.runs}"),
                "--max-connections-per-ip", "0", "--log-level", "info",
            ]
        else:
            argv = [
                sys.executable, "-m", "bench.floor_server", "--host", "127.0.0.1", "--port", "0",
                "--state-bytes", str(state_bytes),
            ]
        return self.procs.start_listening(
            [*self.server_prefix, *argv], log, LISTENING[kind], STARTUP_TIMEOUT,
            f"the {kind} server",
        )

    def counters(self, kind: str, url: str) -> dict[str, float] | None:
        """State messages and payload bytes the server has sent so far."""
        if kind == "arena":
            text = http_get(url + "/metrics")
            metrics: Metrics | None = parse_prometheus(text) if text else None
            messages = metric_total(metrics, "arena_state_messages_sent_total")
            sent = metric_total(metrics, "arena_state_bytes_sent_total")
        else:
            text = http_get(url + "/healthz")
            try:
                health = json.loads(text) if text else {}
            except ValueError:
                health = {}
            messages, sent = health.get("states_sent"), health.get("state_bytes_sent")
        if messages is None or sent is None:
            return None
        return {"messages": float(messages), "bytes": float(sent)}

    def run(self, kind: str, players: int, round_no: int, state_bytes: int,
            profile: Path | None = None) -> dict[str, Any]:
        opts = self.options
        self.runs += 1
        number = self.runs
        server, url = self.start_server(kind, state_bytes)
        try:
            time.sleep(IDLE_SETTLE)
            rss_idle = proc_rss(server.pid)
            result_path = self.workdir / f"run-{number}-loadgen.json"
            log = self.workdir / f"run-{number}-loadgen.log"
            argv = [
                *self.loadgen_prefix, sys.executable, "-m", "bench.loadgen", "--url", url,
                "--players", str(players), "--seconds", f"{opts.seconds:g}",
                "--warmup", f"{opts.warmup:g}", "--concurrency", str(opts.concurrency),
                "--connect-seconds", f"{opts.connect_seconds(players):g}",
                "--server-pid", str(server.pid), "--json-out", str(result_path),
            ]
            loadgen = self.procs.start(argv, log)
            spy = None
            try:
                limit = opts.connect_seconds(players) + opts.warmup + 30.0
                if wait_for_line(log, WINDOW_OPEN, loadgen, limit) is None:
                    raise RuntimeError(f"the load generator never opened its window:\n{tail(log)}")
                before = self.counters(kind, url)
                t0 = time.monotonic()
                if profile is not None:
                    spy = self._start_profiler(server.pid, profile)
                if wait_for_line(log, WINDOW_CLOSED, loadgen, opts.seconds + 30.0) is None:
                    raise RuntimeError(f"the load generator never closed its window:\n{tail(log)}")
                after = self.counters(kind, url)
                t1 = time.monotonic()
                try:
                    loadgen.wait(30.0)
                except subprocess.TimeoutExpired:
                    pass
                if spy is not None:
                    try:
                        spy.wait(30.0)
                    except subprocess.TimeoutExpired:
                        pass
            finally:
                self.procs.stop(loadgen)
                if spy is not None:
                    self.procs.stop(spy)
            if not result_path.exists():
                raise RuntimeError(f"the load generator wrote no result:\n{tail(log)}")
            result = json.loads(result_path.read_text())
        finally:
            self.procs.stop(server)
        record = summarize_run(
            kind, players, round_no, result, rss_idle, before, after, max(1e-9, t1 - t0),
            state_bytes if kind == "floor" else None,
        )
        record["run"] = number
        if profile is not None:
            record["profiled"] = True
            record["profile"] = display_path(profile) if profile.exists() else None
        return record

    def _start_profiler(self, pid: int, path: Path) -> subprocess.Popen[bytes] | None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(exe).exists():
            print("py-spy not found: `.venv/bin/pip install py-spy` for --profile",
                  file=sys.stderr, flush=True)
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            *self.loadgen_prefix, exe, "record", "--pid", str(pid),
            "--duration", str(max(1, math.floor(self.options.seconds))), "--rate", "200",
            "--format", self.options.profile_format, "-o", str(path),
        ]
        return self.procs.start(argv, self.workdir / "py-spy.log")


# -- the command -----------------------------------------------------------------------------


def plan(options: Options) -> list[tuple[str, int, int]]:
    """(server, players, round) in order: odd rounds A F for each player count going up, even
    rounds the mirror image, F A going down.

    A run is affected by the one before it and by the machine drifting over the session; with
    a fixed A F A F order over two player counts, every Arena run at the smaller count came
    right after a floor run at the larger one, and every floor run there after an Arena run
    at the same count. Mirrored rounds give each server each kind of predecessor, and cancel
    a steady drift over every two rounds.
    """
    runs: list[tuple[str, int, int]] = []
    for round_no in range(1, options.rounds + 1):
        mirrored = round_no % 2 == 0
        for players in (sorted(options.players, reverse=True) if mirrored
                        else sorted(options.players)):
            kinds = tuple(reversed(SERVERS)) if mirrored else SERVERS
            runs.extend((kind, players, round_no) for kind in kinds)
    return runs


def run(options: Options, command: str) -> dict[str, Any]:
    started = time.monotonic()
    machine = machine_info(("tornado", "locust", "uvloop", "orjson", "py-spy"))
    report = new_report(command, machine, runs=[], summary=[])
    with tempfile.TemporaryDirectory(prefix="arena-floor-") as tmp:
        bench = FloorBench(options, Path(tmp))
        if bench.loadgen_prefix and hasattr(os, "sched_setaffinity"):
            # This process only waits and polls; keep even that off the servers' CPU.
            os.sched_setaffinity(0, {int(bench.loadgen_prefix[-1].split("-")[0])})
        report["config"] = {
            "players": options.players,
            "seconds": options.seconds,
            "warmup": options.warmup,
            "rounds": options.rounds,
            "warm_runs": options.warm_runs,
            "concurrency": options.concurrency,
            "state_bytes": options.state_bytes,
            "profile_players": options.profile_players if options.profile else None,
            "pinning": bench.pinning_text,
        }
        print(f"floor benchmark: {len(plan(options))} runs, {bench.pinning_text}", flush=True)
        state_bytes = options.state_bytes or DEFAULT_STATE_BYTES
        with guarded_run(bench.procs, prog="bench.floor",
                         stopping="the load generator and the servers") as end:
            for _ in range(options.warm_runs):
                for kind in SERVERS:
                    # The first run of a session measures cold caches: run each server once,
                    # kept in the report, left out of the medians.
                    record = bench.run(kind, min(options.players), 0, state_bytes)
                    record["warm_up"] = True
                    report["runs"].append(record)
                    print("warm-up " + progress_line(record), flush=True)
                    if kind == "arena" and options.state_bytes is None and record.get(
                            "state_bytes"):
                        state_bytes = max(1, round(record["state_bytes"]))
            for kind, players, round_no in plan(options):
                if options.run_estimate(players) > options.max_seconds - (
                        time.monotonic() - started):
                    print(f"{kind} {players} players round {round_no}: skipped, it would not "
                          "finish within --max-minutes", flush=True)
                    report["truncated"] = True
                    break
                record = bench.run(kind, players, round_no, state_bytes)
                report["runs"].append(record)
                report["loadgen"] = record.get("loadgen")
                print(progress_line(record), flush=True)
                if kind == "arena" and options.state_bytes is None and record.get("state_bytes"):
                    state_bytes = max(1, round(record["state_bytes"]))
            if options.profile and not report.get("truncated"):
                path = options.out / (
                    f"{report['date']}-arena-flame."
                    + ("svg" if options.profile_format == "flamegraph" else "speedscope.json")
                )
                record = bench.run("arena", options.profile_players, 0, state_bytes, path)
                report["runs"].append(record)
                report["profile"] = record.get("profile")
                print(progress_line(record), flush=True)
                print(f"flame graph: {record.get('profile') or 'not written (see py-spy)'}",
                      flush=True)
        report.update(end.report_fields())
    report["summary"] = summarize(report["runs"])
    report["headline"] = headline_lines(report["summary"])
    report["elapsed_seconds"] = round(time.monotonic() - started, 1)
    return report


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.floor",
        description="Arena against its bare transport floor, alternating, same load generator.",
    )
    parser.add_argument("--players", default="400,800",
                        help="comma-separated player counts (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="measured window per run, after the warm-up (default 30)")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds between the last join and the window (default 5)")
    parser.add_argument("--warm-runs", type=int, default=1,
                        help="unmeasured runs of each server, at the smallest player count, "
                             "before the measured rounds (default 1)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of A F per player count (default 2)")
    parser.add_argument("--concurrency", type=int, default=50,
                        help="logins and handshakes in flight during a ramp")
    parser.add_argument("--state-bytes", type=int, default=None,
                        help="fixed state size for the floor (default: Arena's average in "
                             f"the run before; {DEFAULT_STATE_BYTES} until there is one)")
    parser.add_argument("--profile", action="store_true",
                        help="one extra Arena run under py-spy, flame graph into --out")
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
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        players=args.player_list,
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
