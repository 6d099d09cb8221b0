"""`python -m bench.capacity` (also `game-bench`): how many players one server process holds.

Starts its own server on a free port, runs locust (`bench/locustfile.py`) headless at stepped user
counts and measures the steady part of each step: what the players saw (locust), what the server
did (`GET /metrics`) and what it cost (`/proc`) — for the server and for locust, so the report
says when the load generator was the bottleneck. Writes `<date>-capacity.json`, `.md` and `.png`
into `bench/results/` (or `--out`) and prints the headline.

A step: locust starts `users` players at `--spawn-rate`; after the ramp plus `--settle` seconds
the window of `--step-seconds` opens (locust records pongs and states only inside it, see its
`--arena-warmup` / `--arena-window`), then locust stops. The server is pinned to CPU 0 and locust
to the other CPUs when `taskset` exists and there are at least two.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.capacity_report import (
    Snapshot,
    headline,
    headline_text,
    progress_line,
    summarize_step,
    write_report,
)
from bench.locust_csv import read_locust_failures, read_locust_stats
from bench.procs import Processes, guarded_run, pinning, tail, wait_for_line
from bench.prom import Metrics, metric_total, parse_prometheus
from bench.report import BENCH_DIR, REPO_DIR, RESULTS_DIR, command_line, exit_status, new_report
from bench.sampling import http_get, machine_info, proc_rss, proc_stat, process_tree

LOCUSTFILE = BENCH_DIR / "locustfile.py"
DEFAULT_STEPS = (50, 100, 200, 400, 800)

LOCUST_TAIL = 2.0  # seconds locust runs after the window, so its last CSV write covers it
STARTUP_TIMEOUT = 30.0
LISTENING = re.compile(r"Arena listening on (http://\S+)")
LOCUST_STARTED = re.compile(r"Ramping to \d+ users|Sending spawn jobs of \d+ users")


# -- one run -----------------------------------------------------------------------------------


@dataclass
class Options:
    steps: list[int]
    step_seconds: float = 30.0
    spawn_rate: float = 50.0
    settle: float = 3.0
    processes: int = 0
    tick_rate: int = 20
    max_players: int = 20
    pin: bool = True
    max_seconds: float = 1800.0
    out: Path = RESULTS_DIR


class Bench:
    """One capacity run: a server, then one locust run per step."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.procs = Processes(cwd=REPO_DIR)
        self.server: subprocess.Popen[bytes] | None = None
        self.url = ""
        cpus = os.cpu_count()
        taskset = shutil.which("taskset") if options.pin else None
        self.server_prefix, self.locust_prefix = pinning(cpus, taskset)

    # -- the server ----------------------------------------------------------------------------

    def start_server(self) -> None:
        log = self.workdir / "server.log"
        argv = [
            *self.server_prefix, sys.executable, "-m", "game_server",
            "--host", "127.0.0.1", "--port", "0",
            "--data-dir", str(self.workdir / "data"),
            "--tick-rate", str(self.options.tick_rate),
            "--max-players", str(self.options.max_players),
            "--log-level", "info",  # the start line says which port it took
        ]
        self.server, self.url = self.procs.start_listening(
            argv, log, LISTENING, STARTUP_TIMEOUT, "the server"
        )

    def metrics(self) -> Metrics | None:
        text = http_get(self.url + "/metrics")
        return parse_prometheus(text) if text and "arena_" in text else None

    def players(self, metrics: Metrics | None = None) -> int | None:
        """Connected players: the server's `arena_players` gauge, else `/healthz`."""
        value = metric_total(metrics if metrics is not None else self.metrics(), "arena_players")
        if value is not None:
            return int(value)
        text = http_get(self.url + "/healthz")
        try:
            return int(json.loads(text)["players"]) if text else None
        except (ValueError, KeyError, TypeError):
            return None

    # -- a step --------------------------------------------------------------------------------

    def step_duration(self, users: int) -> float:
        """Locust's run time for a step: ramp, settle, window and tail."""
        return self.warmup(users) + self.options.step_seconds + LOCUST_TAIL

    def warmup(self, users: int) -> float:
        return users / self.options.spawn_rate + self.options.settle

    def run_step(self, users: int) -> dict[str, Any]:
        opts = self.options
        warmup = self.warmup(users)
        window = opts.step_seconds
        run_time = self.step_duration(users)
        prefix = self.workdir / f"step-{users}"
        log = self.workdir / f"locust-{users}.log"
        argv = [
            *self.locust_prefix, sys.executable, "-m", "locust",
            "-f", str(LOCUSTFILE), "--headless",
            "-u", str(users), "-r", str(opts.spawn_rate), "-t", f"{math.ceil(run_time)}s",
            "--host", self.url, "--csv", str(prefix), "--only-summary",
            "--arena-warmup", f"{warmup:.3f}", "--arena-window", f"{window:.3f}",
            "--loglevel", "INFO",
        ]
        if opts.processes:
            argv += ["--processes", str(opts.processes)]
        locust = self.procs.start(argv, log)
        try:
            # The window is timed from locust's own start of the test: "Ramping to ..." in one
            # process, "Sending spawn jobs ..." from the master of --processes workers.
            started = wait_for_line(log, LOCUST_STARTED, locust, STARTUP_TIMEOUT)
            if started is None:
                raise RuntimeError(f"locust did not start:\n{tail(log)}")
            t0 = time.monotonic()
            _sleep_until(t0 + warmup)
            before = self._snapshot(locust.pid)
            players: list[int] = []
            rss: list[int] = []
            while time.monotonic() < t0 + warmup + window - 0.05:
                time.sleep(min(1.0, max(0.0, t0 + warmup + window - time.monotonic())))
                count = self.players()
                if count is not None:
                    players.append(count)
                size = proc_rss(self.server.pid) if self.server else None
                if size is not None:
                    rss.append(size)
            after = self._snapshot(locust.pid)
            try:
                locust.wait(max(5.0, t0 + run_time - time.monotonic()) + 30.0)
            except subprocess.TimeoutExpired:
                pass  # stopped below; its CSV is as last written
        finally:
            self.procs.stop(locust)
        stats_path = Path(f"{prefix}_stats.csv")
        if not stats_path.exists():
            raise RuntimeError(f"locust wrote no statistics:\n{tail(log)}")
        stats = read_locust_stats(stats_path)
        failures = read_locust_failures(Path(f"{prefix}_failures.csv"))
        step = summarize_step(users, window, stats, failures, before, after, players, rss)
        self._wait_for_empty()
        return step

    def _snapshot(self, locust_pid: int) -> Snapshot:
        server = proc_stat(self.server.pid) if self.server else None
        loadgen = {}
        for pid in process_tree(locust_pid):
            stat = proc_stat(pid)
            if stat is not None:
                loadgen[pid] = stat.cpu_ticks
        return Snapshot(
            at=time.monotonic(),
            server_ticks=server.cpu_ticks if server else None,
            loadgen_ticks=loadgen,
            metrics=self.metrics(),
        )

    def _wait_for_empty(self, timeout: float = 15.0) -> None:
        """Let the last step's players leave before the next step starts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (self.players() or 0) > 0:
            time.sleep(0.2)


def _sleep_until(deadline: float) -> None:
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))


# -- the command ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="game-bench",
        description="Measure how many players one Arena server process holds (locust, stepped).",
    )
    parser.add_argument("--steps", default=",".join(map(str, DEFAULT_STEPS)),
                        help="comma-separated user counts (default %(default)s)")
    parser.add_argument("--step-seconds", type=float, default=30.0,
                        help="seconds measured per step, after ramp and settle (default 30)")
    parser.add_argument("--spawn-rate", type=float, default=50.0,
                        help="users started per second (default 50)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds between the end of the ramp and the window (default 3)")
    parser.add_argument("--processes", type=int, default=0,
                        help="locust --processes (worker processes; -1: one per core; "
                             "default 0: a single locust process)")
    parser.add_argument("--tick-rate", type=int, default=20, help="server --tick-rate")
    parser.add_argument("--max-players", type=int, default=20, help="server --max-players")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the server and locust to CPUs with taskset")
    parser.add_argument("--max-minutes", type=float, default=30.0,
                        help="bound on the whole run; steps that would not fit are skipped")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help="where the JSON, Markdown and PNG go (default bench/results)")
    args = parser.parse_args(argv)
    try:
        args.step_list = [int(s) for s in args.steps.split(",") if s.strip()]
    except ValueError:
        parser.error("--steps must be comma-separated integers")
    if not args.step_list or any(n <= 0 for n in args.step_list):
        parser.error("--steps needs at least one positive user count")
    if args.step_seconds <= 0 or args.spawn_rate <= 0 or args.settle < 0:
        parser.error("--step-seconds and --spawn-rate must be positive, --settle not negative")
    return args


def run(options: Options, command: str) -> dict[str, Any]:
    started = time.monotonic()
    report = new_report(command, machine_info(("tornado", "locust")), steps=[], headline={})
    with tempfile.TemporaryDirectory(prefix="arena-capacity-") as tmp:
        bench = Bench(options, Path(tmp))
        report["config"] = {
            "steps": options.steps,
            "step_seconds": options.step_seconds,
            "spawn_rate": options.spawn_rate,
            "settle": options.settle,
            "processes": options.processes,
            "tick_rate": options.tick_rate,
            "max_players": options.max_players,
            "pinning": (
                f"server on CPU 0 and locust on CPU {bench.locust_prefix[-1]} (taskset)"
                if bench.server_prefix else "no CPU pinning"
            ),
        }
        with guarded_run(bench.procs, prog="game-bench", stopping="locust and the server") as end:
            bench.start_server()
            print(f"server {bench.url} (pid {bench.server.pid if bench.server else '?'}); "
                  f"{report['config']['pinning']}", flush=True)
            for index, users in enumerate(options.steps, 1):
                left = options.max_seconds - (time.monotonic() - started)
                if bench.step_duration(users) + 20 > left:
                    print(f"[{index}/{len(options.steps)}] {users} users: skipped, "
                          f"it would not finish within --max-minutes", flush=True)
                    report["truncated"] = True
                    break
                step = bench.run_step(users)
                report["steps"].append(step)
                print(progress_line(index, len(options.steps), step), flush=True)
        report.update(end.report_fields())
    report["headline"] = headline(report["steps"])
    report["headline_text"] = headline_text(report["headline"])
    report["elapsed_seconds"] = round(time.monotonic() - started, 1)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        steps=args.step_list,
        step_seconds=args.step_seconds,
        spawn_rate=args.spawn_rate,
        settle=args.settle,
        processes=args.processes,
        tick_rate=args.tick_rate,
        max_players=args.max_players,
        pin=not args.no_pin,
        max_seconds=args.max_minutes * 60.0,
        out=args.out,
    )
    report = run(options, command_line("bench.capacity", argv))
    paths = write_report(report, options.out)
    if report["steps"]:
        print(report["headline_text"])
    if paths:
        print("wrote " + ", ".join(str(p) for p in paths))
    return exit_status(report)


if __name__ == "__main__":
    sys.exit(main())
