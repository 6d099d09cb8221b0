"""One round of `bench.floor`: fresh server processes pinned to CPU 0, each driven by a load
generator of its own on CPU 1, and each run's record.

A round of one server is a run of the alternating mode. A round of several is side by side: all
servers start, then all load generators, each with `--go-file`; once every one of them has said
`loadgen: ready` (ramp and warm-up done) the file appears and every window opens at the same
moment, so whatever the machine does meanwhile hits every server alike. The load generators
then keep their players for `SIDE_BY_SIDE_LINGER` seconds, so that no window sees another
server's players leave. Each server's counters are read right when its own load generator says
its window opened or closed.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.floor_report import ARENAS, BASELINE, DATA_PATHS, FLOORS, summarize_run
from bench.procs import Processes, pinning, tail, wait_for_each
from bench.prom import Metrics, metric_total, parse_prometheus
from bench.report import REPO_DIR, RESULTS_DIR, display_path
from bench.sampling import http_get, proc_rss

STARTUP_TIMEOUT = 30.0
IDLE_SETTLE = 1.0  # seconds between "listening" and the idle RSS sample
SIDE_BY_SIDE_LINGER = 2.0  # seconds each load generator keeps its players after its window
LISTENING = {
    "arena": re.compile(r"Arena listening on (http://\S+)"),
    "floor": re.compile(r"floor listening on (http://\S+)"),
}
READY = re.compile(r"loadgen: ready")
WINDOW_OPEN = re.compile(r"loadgen: window open")
WINDOW_CLOSED = re.compile(r"loadgen: window closed")


@dataclass
class Options:
    """What `python -m bench.floor` was asked for."""

    players: list[int] = field(default_factory=lambda: [400, 800])
    servers: tuple[str, ...] = ("arena", "floor")
    side_by_side: bool = False
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
    baseline: Path | None = None  # the checkout `arena-baseline` runs (its own .venv)
    baseline_args: tuple[str, ...] = ()  # more `game_server` flags for it only

    @property
    def baseline_python(self) -> Path | None:
        return self.baseline / ".venv" / "bin" / "python" if self.baseline else None

    def run_estimate(self, players: int, servers: int = 1) -> float:
        """A generous bound on one round: start, ramps (one CPU for every server's logins),
        warm-up, window, stop."""
        return 10.0 + servers * players / 50.0 + self.warmup + self.seconds + 10.0

    def connect_seconds(self, players: int) -> float:
        return 30.0 + players / 10.0


@dataclass
class Lane:
    """One server of a round, its load generator, and what was read at its window's edges."""

    kind: str
    number: int
    server: subprocess.Popen[bytes]
    url: str
    log: Path
    result_path: Path
    rss_idle: int | None = None
    loadgen: subprocess.Popen[bytes] | None = None
    before: dict[str, float] | None = None
    after: dict[str, float] | None = None
    t0: float = 0.0
    t1: float = 0.0


class FloorBench:
    """Starts servers and load generators, each round in fresh processes, and stops them all."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.procs = Processes(cwd=REPO_DIR)
        taskset = shutil.which("taskset") if options.pin else None
        self.server_prefix, self.loadgen_prefix = pinning(os.cpu_count(), taskset)
        self.runs = 0
        self.rounds = 0

    @property
    def pinning_text(self) -> str:
        if not self.server_prefix:
            return "no CPU pinning"
        return f"servers on CPU 0, load generators on CPU {self.loadgen_prefix[-1]} (taskset)"

    def start_server(self, kind: str, state_bytes: int) -> tuple[subprocess.Popen[bytes], str]:
        log = self.workdir / f"run-{self.runs}-{kind}.log"
        if kind in ARENAS:
            python, extra = sys.executable, ()
            if kind == BASELINE:
                python, extra = str(self.options.baseline_python), self.options.baseline_args
            argv = [
                python, "-m", "game_server", "--host", "127.0.0.1", "--port", "0",
                "--data-dir", str(self.workdir / f"arena-{self.runs}"),
                "--max-connections-per-ip", "0", "--log-level", "info", *extra,
            ]
            listening = LISTENING["arena"]
        else:
            argv = [
                sys.executable, "-m", "bench.floor_server", "--host", "127.0.0.1", "--port", "0",
                "--state-bytes", str(state_bytes), "--data-path", DATA_PATHS[kind],
            ]
            listening = LISTENING["floor"]
        return self.procs.start_listening(
            [*self.server_prefix, *argv], log, listening, STARTUP_TIMEOUT, f"the {kind} server",
            # The baseline runs in its own checkout, so that `-m game_server` is its code.
            cwd=self.options.baseline if kind == BASELINE else None,
        )

    def counters(self, kind: str, url: str) -> dict[str, float] | None:
        """State messages and payload bytes the server has sent so far."""
        if kind in ARENAS:
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

    def run_round(self, kinds: Sequence[str], players: int, round_no: int, state_bytes: int,
                  profile: Path | None = None) -> list[dict[str, Any]]:
        """Run `kinds` together (one: alone) at `players` each; one record per server."""
        self.rounds += 1
        together = len(kinds) > 1
        lanes: list[Lane] = []
        try:
            for kind in kinds:
                self.runs += 1
                server, url = self.start_server(kind, state_bytes)
                lanes.append(Lane(
                    kind, self.runs, server, url,
                    log=self.workdir / f"run-{self.runs}-loadgen.log",
                    result_path=self.workdir / f"run-{self.runs}-loadgen.json",
                ))
            time.sleep(IDLE_SETTLE)
            for lane in lanes:
                lane.rss_idle = proc_rss(lane.server.pid)
            go = self.workdir / f"go-{self.rounds}" if together else None
            for lane in lanes:
                lane.loadgen = self._start_loadgen(lane, players, go)
            self._measure(lanes, players, go, profile)
        finally:
            for lane in lanes:  # load generators first: no server sees its players fail
                if lane.loadgen is not None:
                    self.procs.stop(lane.loadgen)
            for lane in lanes:
                self.procs.stop(lane.server)
        records = []
        for lane in lanes:
            if not lane.result_path.exists():
                raise RuntimeError(f"the load generator of {lane.kind} wrote no result:\n"
                                   f"{tail(lane.log)}")
            record = summarize_run(
                lane.kind, players, round_no, json.loads(lane.result_path.read_text()),
                lane.rss_idle, lane.before, lane.after, max(1e-9, lane.t1 - lane.t0),
                state_bytes if lane.kind in FLOORS else None,
            )
            record.update(run=lane.number, group=self.rounds, side_by_side=together)
            if profile is not None:
                record["profiled"] = True
                record["profile"] = display_path(profile) if profile.exists() else None
            records.append(record)
        return records

    def _start_loadgen(self, lane: Lane, players: int,
                       go: Path | None) -> subprocess.Popen[bytes]:
        opts = self.options
        argv = [
            *self.loadgen_prefix, sys.executable, "-m", "bench.loadgen", "--url", lane.url,
            "--players", str(players), "--seconds", f"{opts.seconds:g}",
            "--warmup", f"{opts.warmup:g}", "--concurrency", str(opts.concurrency),
            "--connect-seconds", f"{opts.connect_seconds(players):g}",
            "--server-pid", str(lane.server.pid), "--json-out", str(lane.result_path),
        ]
        if go is not None:
            argv += ["--go-file", str(go), "--linger", f"{SIDE_BY_SIDE_LINGER:g}"]
        return self.procs.start(argv, lane.log)

    def _measure(self, lanes: list[Lane], players: int, go: Path | None,
                 profile: Path | None) -> None:
        """Wait for every window to open and close, reading each server's counters at its own
        load generator's lines; then for every load generator to finish."""
        opts = self.options
        ramp = opts.connect_seconds(players) + opts.warmup + 30.0
        if go is not None:
            self._wait(lanes, READY, ramp, "never got ready", lambda _: None)
            go.touch()

        def opened(lane: Lane) -> None:
            lane.before = self.counters(lane.kind, lane.url)
            lane.t0 = time.monotonic()

        def closed(lane: Lane) -> None:
            lane.after = self.counters(lane.kind, lane.url)
            lane.t1 = time.monotonic()

        self._wait(lanes, WINDOW_OPEN, 30.0 if go is not None else ramp,
                   "never opened its window", opened)
        spy = self._start_profiler(lanes[0].server.pid, profile) if profile else None
        try:
            self._wait(lanes, WINDOW_CLOSED, opts.seconds + 30.0, "never closed its window",
                       closed)
            for lane in lanes:
                _wait_quietly(lane.loadgen, 30.0 + SIDE_BY_SIDE_LINGER)
            _wait_quietly(spy, 30.0)
        finally:
            if spy is not None:
                self.procs.stop(spy)

    def _wait(self, lanes: list[Lane], pattern: re.Pattern[str], timeout: float, what: str,
              seen: Callable[[Lane], None]) -> None:
        live = [lane for lane in lanes if lane.loadgen is not None]
        failed = wait_for_each([(lane.log, lane.loadgen) for lane in live if lane.loadgen],
                               pattern, timeout, lambda i: seen(live[i]))
        if failed is not None:
            lane = live[failed]
            raise RuntimeError(f"the load generator of {lane.kind} {what}:\n{tail(lane.log)}")

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


def _wait_quietly(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Give a process that is finishing on its own up to `timeout` seconds; the caller stops it
    either way."""
    if proc is None:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
