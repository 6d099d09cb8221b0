"""`python -m bench.capacity` (also `game-bench`): how many players a server holds.

Starts its own server on a free port, runs locust (`bench/locustfile.py`) headless at stepped user
counts and measures the steady part of each step: what the players saw (locust), what the server
did (`GET /metrics`) and what it cost (`/proc`) — for the server and for locust, so the report
says when the load generator was the bottleneck. Writes `<date>-capacity.json`, `.md` and `.png`
into `bench/results/` (or `--out`) and prints the headline.

A step: locust starts `users` players at `--spawn-rate`; after the ramp plus `--settle` seconds
the window of `--step-seconds` opens (locust records pongs and states only inside it, see its
`--arena-warmup` / `--arena-window`), then locust stops. The server is pinned to CPU 0 and locust
to the other CPUs when `taskset` exists and there are at least two.

`--processes N` (N > 1) runs the server as N worker processes sharing one port, with a private
`redis-server` for their shared rooms: locust connects to the shared port (the kernel spreads the
connections) and follows `redirect`s to the workers' own ports. The server's CPU and RSS are then
the sum over its process tree, and each step also says how players and CPU were split across the
workers (each one's own `/metrics`). The server gets the first N CPUs when more are left for
locust; else nothing is pinned.

`--find-limit` searches for the knee instead of trying `--steps` (`bench.capacity_limit`):
doubling, then bisection, each step driven by the asyncio load generator by default.
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

from bench.capacity_limit import (
    SearchOptions,
    add_search_arguments,
    search_limit,
    search_options,
    search_text,
    write_limit_report,
)
from bench.capacity_report import Snapshot, progress_line, summarize_step, write_report
from bench.capacity_search import DEFAULT_LIMITS, Limits, headline, headline_text
from bench.capacity_split import WorkerPoint, WorkerReading, merge_metrics
from bench.locust_csv import read_locust_failures, read_locust_stats
from bench.procs import Processes, cpu_range, guarded_run, pinning, tail, wait_for_line
from bench.prom import Metrics, metric_total, parse_prometheus
from bench.redis_proc import redis_version, require_redis_server, start_redis
from bench.report import BENCH_DIR, REPO_DIR, RESULTS_DIR, command_line, exit_status, new_report
from bench.sampling import (
    http_get,
    listening_ports,
    machine_info,
    proc_rss,
    proc_stat,
    process_tree,
)
from game_server.games.api import Ticking
from game_server.games.loading import GameLoadError, server_modes

LOCUSTFILE = BENCH_DIR / "locustfile.py"
DEFAULT_STEPS = (50, 100, 200, 400, 800)

LOCUST_TAIL = 2.0  # seconds locust runs after the window, so its last CSV write covers it
STARTUP_TIMEOUT = 30.0
LISTENING = re.compile(r"Arena listening on (http://\S+)")
WORKER_LISTENING = re.compile(r"Arena listening on (http://\S+) and :(\d+)")
LOCUST_STARTED = re.compile(r"Ramping to \d+ users|Sending spawn jobs of \d+ users")


# -- one run -----------------------------------------------------------------------------------


@dataclass
class Options:
    steps: list[int]
    step_seconds: float = 30.0
    spawn_rate: float = 50.0
    settle: float = 3.0
    processes: int = 1  # server processes; > 1: workers sharing one port, with a private Redis
    locust_workers: int = 0  # locust --processes; 0: one locust process
    mode_options: tuple[str, ...] = ()  # the server's --mode-option settings
    pin: bool = True
    max_seconds: float = 1800.0
    out: Path = RESULTS_DIR
    limits: Limits = DEFAULT_LIMITS
    search: SearchOptions | None = None  # --find-limit: search instead of `steps`


class Bench:
    """One capacity run: a server, then one locust run per step."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.procs = Processes(cwd=REPO_DIR)
        self.server: subprocess.Popen[bytes] | None = None
        self.redis: subprocess.Popen[bytes] | None = None
        self.redis_url = ""
        self.url = ""
        self.processes = options.processes or os.cpu_count() or 1
        self.worker_urls: list[str] = []  # with several processes: each worker's own URL
        self.redis_binary = require_redis_server("--processes > 1") if self.several else None
        cpus = os.cpu_count()
        taskset = shutil.which("taskset") if options.pin else None
        self.server_prefix, self.locust_prefix = pinning(cpus, taskset, self.processes)
        search = options.search
        loadgen = "the load generator" if search and search.loadgen == "asyncio" else "locust"
        if not self.server_prefix:
            self.pinning_text = "no CPU pinning"
            if taskset and cpus and self.several and cpus <= self.processes:
                self.pinning_text += (f" ({self.processes} server processes on {cpus} CPUs "
                                      f"leave none for {loadgen})")
        elif not self.several:
            self.pinning_text = (f"server on CPU 0 and {loadgen} on CPU "
                                 f"{self.locust_prefix[-1]} (taskset)")
        else:
            self.pinning_text = (
                f"server's {self.processes} processes on CPUs {cpu_range(0, self.processes)}, "
                f"{loadgen} and Redis on CPU {self.locust_prefix[-1]} (taskset)"
            )

    @property
    def several(self) -> bool:
        """The server runs as several worker processes (with Redis)."""
        return self.processes > 1

    # -- the server ----------------------------------------------------------------------------

    def start_server(self) -> None:
        log = self.workdir / "server.log"
        argv = [
            *self.server_prefix, sys.executable, "-m", "game_server",
            "--host", "127.0.0.1", "--port", "0",
            "--data-dir", str(self.workdir / "data"),
            *(arg for option in self.options.mode_options for arg in ("--mode-option", option)),
            "--log-level", "info",  # the start line says which port it took
        ]
        if not self.several:
            self.server, self.url = self.procs.start_listening(
                argv, log, LISTENING, STARTUP_TIMEOUT, "the server"
            )
            return
        assert self.redis_binary is not None
        self.redis, self.redis_url = start_redis(
            self.procs, self.redis_binary, self.workdir, self.locust_prefix
        )
        argv += ["--processes", str(self.processes), "--redis-url", self.redis_url]
        # One start line per worker: its own URL, and the port they all share.
        self.server, lines = self.procs.start_waiting(
            argv, log, WORKER_LISTENING, STARTUP_TIMEOUT, "the server", self.processes,
            wait_group=True,  # the workers stop cleanly after the parent is gone
        )
        self.worker_urls = [m.group(1) for m in lines]
        shared = {m.group(2) for m in lines}
        if len(shared) != 1 or len(set(self.worker_urls)) != self.processes:
            raise RuntimeError(f"the server's workers do not share one port:\n{tail(log)}")
        self.url = f"http://127.0.0.1:{shared.pop()}"

    def worker_pids(self) -> dict[str, int]:
        """Each worker's pid by its URL, told apart by the port each one listens on alone."""
        if self.server is None:
            return {}
        ports = {}
        for pid in process_tree(self.server.pid):
            if pid != self.server.pid:
                for port in listening_ports(pid):
                    ports[port] = pid
        pids = {}
        for url in self.worker_urls:
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            if port in ports:
                pids[url] = ports[port]
        return pids

    def metrics(self, url: str | None = None) -> Metrics | None:
        """One process's `/metrics` (`url`; the server's by default). With several workers and
        no `url`: all of theirs together (None unless every one answered)."""
        if url is None and self.several:
            return merge_metrics([self.metrics(u) for u in self.worker_urls])
        text = http_get((url or self.url) + "/metrics")
        return parse_prometheus(text) if text and "arena_" in text else None

    def players(self, metrics: Metrics | None = None, url: str | None = None) -> int | None:
        """Connected players: the server's `arena_players_connected` gauge, else `/healthz`'s
        `players_connected`; with several workers and no `url`, their total (None unless every
        one answered)."""
        if url is None and self.several:
            counts = [self.players(url=u) for u in self.worker_urls]
            return None if any(c is None for c in counts) else sum(c or 0 for c in counts)
        if metrics is None:
            metrics = self.metrics(url)
        return self._gauge(url or self.url, metrics, "arena_players_connected",
                           "players_connected")

    @staticmethod
    def _gauge(url: str, metrics: Metrics | None, metric: str, key: str) -> int | None:
        """A gauge from `metrics`, else the same count from the process's `/healthz`."""
        value = metric_total(metrics, metric)
        if value is not None:
            return int(value)
        text = http_get(url + "/healthz")
        try:
            return int(json.loads(text)[key]) if text else None
        except (ValueError, KeyError, TypeError):
            return None

    def worker_point(self, url: str, pid: int | None) -> WorkerPoint:
        """One worker now: players and rooms from its own `/metrics` (else `/healthz`), RSS."""
        metrics = self.metrics(url)
        return WorkerPoint(
            players=self._gauge(url, metrics, "arena_players_connected", "players_connected"),
            rooms=self._gauge(url, metrics, "arena_rooms", "rooms"),
            rss=proc_rss(pid) if pid is not None else None,
        )

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
        if opts.locust_workers:
            argv += ["--processes", str(opts.locust_workers)]
        start = self.metrics() if self.several else None  # the joins of the whole step
        locust = self.procs.start(argv, log)
        try:
            # The window is timed from locust's own start of the test: "Ramping to ..." in one
            # process, "Sending spawn jobs ..." from the master of --processes workers.
            started = wait_for_line(log, LOCUST_STARTED, locust, STARTUP_TIMEOUT)
            if started is None:
                raise RuntimeError(f"locust did not start:\n{tail(log)}")
            t0 = time.monotonic()
            before, after, players, rss, samples = self.measure(locust.pid, t0 + warmup, window)
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
        step = summarize_step(users, window, stats, failures, before, after, players, rss,
                              samples=samples, start=start, limits=opts.limits)
        self.wait_for_empty()
        return step

    def measure(self, loadgen_pid: int, opens: float, window: float
                ) -> tuple[Snapshot, Snapshot, list[int], list[int], list[dict[str, WorkerPoint]]]:
        """The window from `opens` (monotonic) for `window` seconds: a snapshot at each edge
        (the server's and the load generator's CPU, the metrics), and each second's players
        and RSS (with several workers: each worker's reading) between them."""
        _sleep_until(opens)
        before = self._snapshot(loadgen_pid)
        players: list[int] = []
        rss: list[int] = []
        samples: list[dict[str, WorkerPoint]] = []
        pids = {w.url: w.pid for w in before.workers}
        while time.monotonic() < opens + window - 0.05:
            time.sleep(min(1.0, max(0.0, opens + window - time.monotonic())))
            if self.several:
                points = {url: self.worker_point(url, pid) for url, pid in pids.items()}
                samples.append(points)
                sizes = [p.rss for p in points.values()]
                if self.server and None not in sizes:
                    rss.append(sum(s or 0 for s in sizes) + (proc_rss(self.server.pid) or 0))
                continue
            count = self.players()
            if count is not None:
                players.append(count)
            size = proc_rss(self.server.pid) if self.server else None
            if size is not None:
                rss.append(size)
        return before, self._snapshot(loadgen_pid), players, rss, samples

    def _snapshot(self, locust_pid: int) -> Snapshot:
        loadgen = _tree_ticks(locust_pid)
        if not self.several:
            server = proc_stat(self.server.pid) if self.server else None
            return Snapshot(
                at=time.monotonic(),
                server_ticks=server.cpu_ticks if server else None,
                loadgen_ticks=loadgen,
                metrics=self.metrics(),
            )
        # The whole server tree at once, then each worker's metrics: CPU first, as it is what
        # the window's edges must be exact for.
        tree = _tree_ticks(self.server.pid) if self.server else {}
        pids = self.worker_pids()
        redis = proc_stat(self.redis.pid) if self.redis else None
        at = time.monotonic()
        workers = [
            WorkerReading(url=url, pid=pids.get(url),
                          ticks=tree.get(pids[url]) if url in pids else None,
                          metrics=self.metrics(url))
            for url in self.worker_urls
        ]
        return Snapshot(
            at=at,
            server_ticks=sum(tree.values()) if tree else None,
            loadgen_ticks=loadgen,
            metrics=merge_metrics([w.metrics for w in workers]),
            parent_ticks=tree.get(self.server.pid) if self.server else None,
            workers=workers,
            redis_ticks=redis.cpu_ticks if redis else None,
        )

    def wait_for_empty(self, timeout: float = 15.0) -> None:
        """Let the last step's players leave before the next step starts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (self.players() or 0) > 0:
            time.sleep(0.2)


def _tree_ticks(root: int) -> dict[int, int]:
    """CPU ticks of `root` and each of its descendants, by pid."""
    ticks = {}
    for pid in process_tree(root):
        stat = proc_stat(pid)
        if stat is not None:
            ticks[pid] = stat.cpu_ticks
    return ticks


def _sleep_until(deadline: float) -> None:
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))


# -- the command ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="game-bench",
        description="Measure how many players an Arena server holds (locust, stepped; or "
                    "--find-limit: a search for the knee): one process, or --processes "
                    "workers sharing a port and a private Redis.",
    )
    parser.add_argument("--steps", default=",".join(map(str, DEFAULT_STEPS)),
                        help="comma-separated user counts (default %(default)s)")
    parser.add_argument("--step-seconds", type=float, default=30.0,
                        help="seconds measured per step, after ramp and settle (default 30)")
    parser.add_argument("--spawn-rate", type=float, default=50.0,
                        help="users started per second (default 50)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds between the end of the ramp and the window (default 3)")
    parser.add_argument("--processes", type=int, default=1,
                        help="server worker processes sharing one port (game_server "
                             "--processes; > 1 starts a private redis-server for them; "
                             "0: one per core; default 1)")
    parser.add_argument("--locust-workers", type=int, default=0,
                        help="locust --processes (worker processes; -1: one per core; "
                             "default 0: a single locust process)")
    parser.add_argument("--mode-option", action="append", default=[],
                        metavar="MODE.OPTION=VALUE",
                        help="server --mode-option, such as arena.tick_rate=30 or "
                             "arena.max_players=8 (repeatable; default: the modes' own)")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the server and locust to CPUs with taskset")
    parser.add_argument("--max-minutes", type=float, default=30.0,
                        help="bound on the whole run; steps that would not fit are skipped")
    parser.add_argument("--latency-limit-ms", type=float,
                        default=DEFAULT_LIMITS.latency_p99_ms,
                        help="a step holds only with state latency p99 below this "
                             "(default %(default)g)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help="where the JSON, Markdown and PNG go (default bench/results)")
    add_search_arguments(parser)
    args = parser.parse_args(argv)
    try:
        args.step_list = [int(s) for s in args.steps.split(",") if s.strip()]
    except ValueError:
        parser.error("--steps must be comma-separated integers")
    if not args.step_list or any(n <= 0 for n in args.step_list):
        parser.error("--steps needs at least one positive user count")
    if args.step_seconds <= 0 or args.spawn_rate <= 0 or args.settle < 0:
        parser.error("--step-seconds and --spawn-rate must be positive, --settle not negative")
    if args.processes < 0:
        parser.error("--processes must be 0 (one per core) or more")
    if args.latency_limit_ms <= 0:
        parser.error("--latency-limit-ms must be positive")
    args.search = search_options(parser, args)
    try:  # refused here, before anything starts, as the server would refuse it
        server_modes(mode_options=args.mode_option)["arena"]
    except (GameLoadError, KeyError) as exc:
        parser.error(f"the arena mode as the server would run it: {exc}")
    return args


def run(options: Options, command: str) -> dict[str, Any]:
    started = time.monotonic()
    arena = server_modes(mode_options=options.mode_options)["arena"]
    search = options.search
    packages = ("tornado", "locust", "uvloop")
    report = new_report(command, machine_info(packages), steps=[], headline={})
    with tempfile.TemporaryDirectory(prefix="arena-capacity-") as tmp:
        bench = Bench(options, Path(tmp))
        report["config"] = {
            "steps": options.steps,
            "step_seconds": options.step_seconds,
            "spawn_rate": options.spawn_rate,
            "settle": options.settle,
            "processes": bench.processes,
            "locust_workers": options.locust_workers,
            # The arena's, as the server runs it (its defaults and --mode-option's).
            "tick_rate": arena.clock.rate if isinstance(arena.clock, Ticking) else 0,
            "max_players": arena.max_players,
            "mode_options": list(options.mode_options),
            "pinning": bench.pinning_text,
            "latency_limit_ms": options.limits.latency_p99_ms,
        }
        if search is not None:
            report["config"].update({
                "steps": None, "start": search.start, "ceiling": search.ceiling,
                "max_steps": search.max_steps, "resolution": search.resolution.text(),
                "loadgen": search.loadgen,
            })
        if bench.redis_binary is not None:
            version = redis_version(bench.redis_binary)
            report["config"]["redis"] = f"redis-server {version or '?'}"
        stopping = "locust, the server and Redis" if bench.several else "locust and the server"
        with guarded_run(bench.procs, prog="game-bench", stopping=stopping) as end:
            bench.start_server()
            print(f"server {bench.url} (pid {bench.server.pid if bench.server else '?'}); "
                  f"{report['config']['pinning']}", flush=True)
            if bench.several:
                pids = bench.worker_pids()
                print(f"{bench.processes} workers: "
                      + ", ".join(f"{u} (pid {pids.get(u, '?')})" for u in bench.worker_urls)
                      + f"; Redis {bench.redis_url}", flush=True)
            if search is not None:
                search_limit(bench, report, started)
            for index, users in enumerate(options.steps if search is None else (), 1):
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
    loadgen = "bench.loadgen" if search is not None and search.loadgen == "asyncio" else "locust"
    report["headline"] = headline(report["steps"], report["config"]["processes"],
                                  options.limits, loadgen)
    report["headline_text"] = headline_text(report["headline"])
    if search is not None:
        report["headline_text"] += " " + search_text(report)
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
        locust_workers=args.locust_workers,
        mode_options=tuple(args.mode_option),
        pin=not args.no_pin,
        max_seconds=args.max_minutes * 60.0,
        out=args.out,
        limits=Limits(latency_p99_ms=args.latency_limit_ms),
        search=args.search,
    )
    try:
        report = run(options, command_line("bench.capacity", argv))
    except RuntimeError as exc:  # before anything started: no redis-server
        print(f"game-bench: {exc}", file=sys.stderr)
        return 2
    paths = (write_report if options.search is None else write_limit_report)(report, options.out)
    if report["steps"]:
        print(report["headline_text"])
    if paths:
        print("wrote " + ", ".join(str(p) for p in paths))
    return exit_status(report)


if __name__ == "__main__":
    sys.exit(main())
