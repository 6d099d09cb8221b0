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
import csv
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LOCUSTFILE = BENCH_DIR / "locustfile.py"
DEFAULT_STEPS = (50, 100, 200, 400, 800)

# The headline rule: a step holds when every user is connected, state latency p99 is below this
# and fewer than this fraction of ticks overran.
LATENCY_P99_LIMIT_MS = 100.0
OVERRUN_LIMIT = 0.01
LOADGEN_BUSY_PERCENT = 90.0  # a locust process this busy is probably the bottleneck

LOCUST_TAIL = 2.0  # seconds locust runs after the window, so its last CSV write covers it
STARTUP_TIMEOUT = 30.0
LOCUST_STARTED = re.compile(r"Ramping to \d+ users|Sending spawn jobs of \d+ users")
STOP_GRACE = 10.0
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# -- locust CSV ------------------------------------------------------------------------------


def read_locust_stats(path: Path) -> dict[str, dict[str, float]]:
    """Rows of a locust `*_stats.csv`, by name (`Aggregated` for the total), numbers as floats."""
    rows: dict[str, dict[str, float]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            name = row.get("Name") or ""
            values: dict[str, float] = {}
            for key, text in row.items():
                if key in ("Type", "Name") or key is None:
                    continue
                try:
                    values[key] = float(text)
                except (TypeError, ValueError):
                    values[key] = math.nan  # locust writes "N/A" for empty percentiles
            rows[name] = values
    return rows


def percentile(row: Mapping[str, float] | None, pct: str) -> float | None:
    """One percentile column ("50%", "95%", "99%", ...) of a stats row; None if unknown."""
    if not row or not row.get("Request Count"):
        return None
    value = row.get(pct)
    return None if value is None or math.isnan(value) else value


def read_locust_failures(path: Path) -> list[dict[str, Any]]:
    """Rows of a locust `*_failures.csv`: method, name, error and occurrences."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [
            {
                "method": row.get("Method", ""),
                "name": row.get("Name", ""),
                "error": row.get("Error", ""),
                "occurrences": int(float(row.get("Occurrences") or 0)),
            }
            for row in csv.DictReader(f)
        ]


# -- /proc -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    """The fields of `/proc/PID/stat` a benchmark needs (CPU times in clock ticks)."""

    pid: int
    ppid: int
    utime: int
    stime: int

    @property
    def cpu_ticks(self) -> int:
        return self.utime + self.stime


def parse_proc_stat(text: str) -> ProcStat:
    # The command name is in parentheses and may hold spaces or parentheses: split after the
    # last ')'. Fields after it start at field 3 (state).
    head, _, tail = text.rpartition(")")
    pid = int(head.split("(", 1)[0])
    fields = tail.split()
    return ProcStat(pid=pid, ppid=int(fields[1]), utime=int(fields[11]), stime=int(fields[12]))


def parse_rss_bytes(status_text: str) -> int | None:
    """VmRSS from `/proc/PID/status`, in bytes (None for a zombie, which has none)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            return int(parts[1]) * 1024
    return None


def proc_stat(pid: int) -> ProcStat | None:
    try:
        return parse_proc_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def proc_rss(pid: int) -> int | None:
    try:
        return parse_rss_bytes(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (locust's --processes workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None:
                children.setdefault(stat.ppid, []).append(stat.pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


# -- Prometheus text format --------------------------------------------------------------------

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?\s*$"
)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}

Metrics = dict[str, list[tuple[dict[str, str], float]]]


def parse_prometheus(text: str) -> Metrics:
    """Samples of a Prometheus text exposition, by sample name: [(labels, value), ...]."""
    metrics: Metrics = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = {
            key: re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m.group(0)], value)
            for key, value in _LABEL.findall(match.group("labels") or "")
        }
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        metrics.setdefault(match.group("name"), []).append((labels, value))
    return metrics


def metric_total(metrics: Metrics | None, name: str, **labels: str) -> float | None:
    """The sum of `name`'s samples whose labels include `labels`; None if there is none."""
    if metrics is None or name not in metrics:
        return None
    values = [
        v for have, v in metrics[name] if all(have.get(k) == want for k, want in labels.items())
    ]
    return sum(values) if values else None


def histogram_buckets(metrics: Metrics | None, name: str) -> list[tuple[float, float]]:
    """Cumulative buckets `[(le, count), ...]` of histogram `name`, summed over other labels."""
    if metrics is None:
        return []
    by_le: dict[float, float] = {}
    for labels, value in metrics.get(name + "_bucket", []):
        le = float(labels.get("le", "nan"))
        if not math.isnan(le):
            by_le[le] = by_le.get(le, 0.0) + value
    return sorted(by_le.items())


def bucket_delta(
    after: Sequence[tuple[float, float]], before: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Buckets of what was observed between two scrapes."""
    earlier = dict(before)
    return [(le, count - earlier.get(le, 0.0)) for le, count in after]


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' `histogram_quantile`: linear within the bucket that holds the rank.

    A rank in the +Inf bucket answers the largest finite bound (a lower bound of the truth).
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


# -- the headline --------------------------------------------------------------------------------


def step_holds(step: Mapping[str, Any]) -> bool:
    """Every user connected, state latency p99 under 100 ms, fewer than 1% of ticks overran.

    An overrun fraction the server did not report (no /metrics) is not held against a step.
    """
    connected = step.get("connected")
    p99 = step.get("latency_p99_ms")
    overrun = step.get("overrun_fraction")
    return (
        connected is not None
        and connected >= step["users"]
        and p99 is not None
        and p99 < LATENCY_P99_LIMIT_MS
        and (overrun is None or overrun < OVERRUN_LIMIT)
    )


def headline(steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The largest step that holds, and what a player-second cost the server there."""
    held = [s for s in steps if step_holds(s)]
    busy = [s["users"] for s in steps if s.get("loadgen_busy")]
    if not held:
        return {"users": None, "loadgen_busy_at": busy}
    best = max(held, key=lambda s: s["users"])
    return {
        "users": best["users"],
        "latency_p99_ms": best.get("latency_p99_ms"),
        "overrun_fraction": best.get("overrun_fraction"),
        "server_cpu_percent": best.get("server_cpu_percent"),
        "cpu_seconds_per_player_second": best.get("cpu_seconds_per_player_second"),
        "cpu_us_per_player_second": best.get("cpu_us_per_player_second"),
        "loadgen_busy_at": busy,
    }


def headline_text(head: Mapping[str, Any]) -> str:
    if head.get("users") is None:
        text = (
            "No step held (every user connected, state latency p99 < "
            f"{LATENCY_P99_LIMIT_MS:g} ms, < {OVERRUN_LIMIT:.0%} of ticks overran)."
        )
    else:
        overrun = head.get("overrun_fraction")
        overrun_text = "overruns unknown" if overrun is None else f"{overrun:.2%} of ticks overran"
        text = (
            f"Capacity: {head['users']} players on one server process (every user connected, "
            f"state latency p99 {_num(head.get('latency_p99_ms'))} ms, {overrun_text}). "
            f"Server CPU per player-second: {_num(head.get('cpu_seconds_per_player_second'), 6)} "
            f"CPU-s ({_num(head.get('cpu_us_per_player_second'))} µs)."
        )
    if head.get("loadgen_busy_at"):
        steps = ", ".join(str(u) for u in head["loadgen_busy_at"])
        text += (
            f" Locust was near 100% CPU at {steps} users: there, the load generator may be"
            " the bottleneck (try --processes)."
        )
    return text


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


# -- the machine -------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                model = value.strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1) if ram else None,
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    for package in ("tornado", "locust"):
        try:
            from importlib.metadata import version

            info[package] = version(package)
        except Exception:  # noqa: BLE001 - a missing package is just not reported
            info[package] = None
    return info


# -- processes -------------------------------------------------------------------------------


def pinning(cpus: int | None, taskset: str | None) -> tuple[list[str], list[str]]:
    """`taskset` prefixes for the server (CPU 0) and locust (the other CPUs)."""
    if not taskset or not cpus or cpus < 2:
        return [], []
    rest = "1" if cpus == 2 else f"1-{cpus - 1}"
    return [taskset, "-c", "0"], [taskset, "-c", rest]


class Processes:
    """Everything the run started, each in its own process group, all stopped by `stop_all`."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                cwd=REPO_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only us; we stop them in order
            )
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
        """SIGTERM to the process group, then SIGKILL after `grace` seconds."""
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(5)
        _signal_group(proc, signal.SIGKILL)  # stragglers of the group (locust workers)
        if proc in self._procs:
            self._procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(self._procs[:]):  # locust before the server
            self.stop(proc)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Interrupted(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C."""


def _raise_interrupted(signum: int, _frame: object) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signal.Signals(signum).name)


def wait_for_line(path: Path, pattern: re.Pattern[str], proc: subprocess.Popen[bytes],
                  timeout: float) -> re.Match[str] | None:
    """Poll a log file until a line matches; None on timeout or if the process ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            match = pattern.search(path.read_text(errors="replace"))
        except OSError:
            match = None
        if match is not None:
            return match
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


def http_get(url: str, timeout: float = 5.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.read().decode()
    except (OSError, urllib.error.URLError):
        return None


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- one step ----------------------------------------------------------------------------------


@dataclass
class Snapshot:
    at: float
    server_ticks: int | None
    loadgen_ticks: dict[int, int]
    metrics: Metrics | None


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
    out: Path = BENCH_DIR / "results"


class Bench:
    """One capacity run: a server, then one locust run per step."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.procs = Processes()
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
        self.server = self.procs.start(argv, log)
        match = wait_for_line(
            log, re.compile(r"Arena listening on (http://\S+)"), self.server, STARTUP_TIMEOUT
        )
        if match is None:
            raise RuntimeError(f"the server did not start:\n{tail(log)}")
        self.url = match.group(1)

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


def summarize_step(
    users: int,
    window: float,
    stats: Mapping[str, Mapping[str, float]],
    failures: list[dict[str, Any]],
    before: Snapshot,
    after: Snapshot,
    players: Sequence[int],
    rss: Sequence[int],
) -> dict[str, Any]:
    """One step's record from locust's CSV, two snapshots and the samples between them."""
    seconds = max(1e-9, after.at - before.at)
    latency = stats.get("state latency")
    pong = stats.get("pong")
    join = stats.get("WS connect+join")
    per_user = stats.get("states per user-second")
    total = stats.get("Aggregated", {})
    joined = None
    if join:
        joined = int(join.get("Request Count", 0) - join.get("Failure Count", 0))
    connected = min(players) if players else joined
    players_avg = sum(players) / len(players) if players else (connected or 0)

    server_cpu = None
    if before.server_ticks is not None and after.server_ticks is not None:
        server_cpu = (after.server_ticks - before.server_ticks) / CLK_TCK
    loadgen = [
        (after.loadgen_ticks[pid] - ticks) / CLK_TCK
        for pid, ticks in before.loadgen_ticks.items()
        if pid in after.loadgen_ticks
    ]
    loadgen_max = max(loadgen) / seconds * 100 if loadgen else None

    m0, m1 = before.metrics, after.metrics

    def delta(name: str) -> float | None:
        a, b = metric_total(m1, name), metric_total(m0, name)
        return None if a is None or b is None else a - b

    ticks = delta("arena_ticks_total")
    overruns = delta("arena_ticks_overrun_total")
    state_bytes = delta("arena_state_bytes_sent_total")
    states_sent = delta("arena_state_messages_sent_total")
    tick_buckets = bucket_delta(
        histogram_buckets(m1, "arena_tick_duration_seconds"),
        histogram_buckets(m0, "arena_tick_duration_seconds"),
    )
    late_buckets = bucket_delta(
        histogram_buckets(m1, "arena_tick_lateness_seconds"),
        histogram_buckets(m0, "arena_tick_lateness_seconds"),
    )
    tick_p99 = histogram_quantile(0.99, tick_buckets)
    late_p99 = histogram_quantile(0.99, late_buckets)
    player_seconds = players_avg * seconds
    states = latency.get("Request Count", 0) if latency else 0

    step: dict[str, Any] = {
        "users": users,
        "connected": connected,
        "joined": joined,
        "players_avg": round(players_avg, 1),
        "window_seconds": round(seconds, 2),
        "states_per_second": round(states / window, 1) if window else None,
        "states_per_user_second": _round(per_user.get("Average Response Time") if per_user
                                         else None, 2),
        "states_per_user_second_min": _round(per_user.get("Min Response Time") if per_user
                                             else None, 2),
        "latency_p50_ms": percentile(latency, "50%"),
        "latency_p95_ms": percentile(latency, "95%"),
        "latency_p99_ms": percentile(latency, "99%"),
        "latency_max_ms": _round(latency.get("Max Response Time") if latency else None, 1),
        "ping_p50_ms": percentile(pong, "50%"),
        "ping_p99_ms": percentile(pong, "99%"),
        "join_p95_ms": percentile(join, "95%"),
        "failures": int(total.get("Failure Count", 0)),
        "failure_kinds": failures,
        "server_cpu_percent": _round(server_cpu / seconds * 100, 1) if server_cpu is not None
        else None,
        "server_rss_mib": _round(max(rss) / 2**20, 1) if rss else None,
        "loadgen_cpu_percent": _round(sum(loadgen) / seconds * 100, 1) if loadgen else None,
        "loadgen_max_process_cpu_percent": _round(loadgen_max, 1),
        "loadgen_processes": len(loadgen),
        "loadgen_busy": bool(loadgen_max is not None and loadgen_max >= LOADGEN_BUSY_PERCENT),
        "ticks": ticks,
        "ticks_overrun": overruns,
        "overrun_fraction": (overruns / ticks) if ticks and overruns is not None else None,
        "tick_p99_ms": _round(tick_p99 * 1000, 2) if tick_p99 is not None else None,
        "tick_lateness_p99_ms": _round(late_p99 * 1000, 2) if late_p99 is not None else None,
        "states_sent_per_second": _round(states_sent / seconds, 1) if states_sent is not None
        else None,
        "bytes_per_player_second": _round(state_bytes / player_seconds, 1)
        if state_bytes is not None and player_seconds > 0 else None,
        "cpu_seconds_per_player_second": (server_cpu / player_seconds)
        if server_cpu is not None and player_seconds > 0 else None,
    }
    cps = step["cpu_seconds_per_player_second"]
    step["cpu_us_per_player_second"] = _round(cps * 1e6, 1) if cps is not None else None
    step["holds"] = step_holds(step)
    return step


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def progress_line(index: int, count: int, step: Mapping[str, Any]) -> str:
    overrun = step.get("overrun_fraction")
    return (
        f"[{index}/{count}] {step['users']} users: connected {_num(step.get('connected'))}, "
        f"{_num(step.get('states_per_second'))} states/s, state latency p50/p95/p99 "
        f"{_num(step.get('latency_p50_ms'))}/{_num(step.get('latency_p95_ms'))}/"
        f"{_num(step.get('latency_p99_ms'))} ms, ping p99 {_num(step.get('ping_p99_ms'))} ms, "
        f"failures {step.get('failures')}, server CPU {_num(step.get('server_cpu_percent'))}% "
        f"RSS {_num(step.get('server_rss_mib'))} MiB, locust CPU "
        f"{_num(step.get('loadgen_cpu_percent'))}%, "
        f"tick p99 {_num(step.get('tick_p99_ms'), 2)} ms, "
        f"overruns {'–' if overrun is None else f'{overrun:.2%}'}, "
        f"{_num(step.get('bytes_per_player_second'))} B/player/s, "
        f"{_num(step.get('cpu_us_per_player_second'))} µs CPU/player-s"
        f"{'' if step.get('holds') else '  [does not hold]'}"
    )


# -- the report ------------------------------------------------------------------------------


def render_markdown(report: Mapping[str, Any]) -> str:
    m = report["machine"]
    c = report["config"]
    lines = [
        f"# Arena capacity, {report['date']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; {m['os']}; "
        f"Python {m['python']}, Tornado {m['tornado']}, locust {m['locust']}.",
        f"Setup: tick {c['tick_rate']} Hz, {c['max_players']} players a room, "
        f"{c['step_seconds']:g} s measured per step after the ramp ({c['spawn_rate']:g} users/s) "
        f"and {c['settle']:g} s settling; {c['pinning']}; locust {_locust_processes(c)}.",
        "",
        "| users | connected | states/s | state latency p50 / p95 / p99 (ms) | ping p99 (ms) "
        "| failures | server CPU % | server RSS (MiB) | locust CPU % | tick work / late p99 (ms) "
        "| ticks overrun | state bytes/player/s | server µs CPU per player-s | holds |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for s in report["steps"]:
        overrun = s.get("overrun_fraction")
        busy = " (busy)" if s.get("loadgen_busy") else ""
        lines.append(
            f"| {s['users']} | {_num(s.get('connected'))} | {_num(s.get('states_per_second'))} "
            f"| {_num(s.get('latency_p50_ms'))} / {_num(s.get('latency_p95_ms'))} / "
            f"{_num(s.get('latency_p99_ms'))} | {_num(s.get('ping_p99_ms'))} | {s['failures']} "
            f"| {_num(s.get('server_cpu_percent'))} | {_num(s.get('server_rss_mib'))} "
            f"| {_num(s.get('loadgen_cpu_percent'))}{busy} | {_num(s.get('tick_p99_ms'), 2)} / "
            f"{_num(s.get('tick_lateness_p99_ms'), 1)} "
            f"| {'–' if overrun is None else f'{overrun:.2%}'} "
            f"| {_num(s.get('bytes_per_player_second'))} "
            f"| {_num(s.get('cpu_us_per_player_second'))} | {'yes' if s.get('holds') else 'no'} |"
        )
    lines += [
        "",
        f"**{headline_text(report['headline'])}**",
        "",
        "A step holds when every user is connected, state latency p99 is under "
        f"{LATENCY_P99_LIMIT_MS:g} ms and fewer than {OVERRUN_LIMIT:.0%} of ticks overran. "
        "CPU % is of one core (the server is one process). State latency is a state's arrival "
        "at the player minus its `ts` (same clock), so it leaves out how late the tick itself "
        "ran (tick late p99); ping round trips include it. Locust CPU is all locust processes; "
        "\"busy\" marks a locust process at ≥ 90% of a core.",
        "",
        f"Reproduce: `{report['command']}`",
    ]
    if report.get("interrupted"):
        lines += ["", "*The run was interrupted; the steps above are the ones that finished.*"]
    return "\n".join(lines) + "\n"


def _locust_processes(config: Mapping[str, Any]) -> str:
    n = config.get("processes")
    return f"with --processes {n}" if n else "in one process"


def plot(report: Mapping[str, Any], path: Path) -> None:
    """State latency p99 and server CPU % against users, on two y axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = report["steps"]
    users = [s["users"] for s in steps]
    p99 = [_nan(s.get("latency_p99_ms")) for s in steps]
    p50 = [_nan(s.get("latency_p50_ms")) for s in steps]
    cpu = [_nan(s.get("server_cpu_percent")) for s in steps]

    fig, left = plt.subplots(figsize=(8, 4.5), dpi=110)
    left.plot(users, p99, "o-", color="tab:red", label="state latency p99")
    left.plot(users, p50, "o:", color="tab:orange", label="state latency p50")
    left.axhline(LATENCY_P99_LIMIT_MS, color="tab:red", linewidth=0.8, linestyle="--",
                 label=f"{LATENCY_P99_LIMIT_MS:g} ms limit")
    if len(users) > 1 and max(users) >= 8 * min(users):  # doubling steps: evenly spaced
        left.set_xscale("log", base=2)
        left.set_xticks(users, [str(u) for u in users])
        left.minorticks_off()
    left.set_xlabel("players (locust users)")
    left.set_ylabel("state latency (ms)", color="tab:red")
    left.set_ylim(bottom=0)
    left.grid(alpha=0.3)
    right = left.twinx()
    right.plot(users, cpu, "s-", color="tab:blue", label="server CPU %")
    right.set_ylabel("server CPU (% of one core)", color="tab:blue")
    right.set_ylim(0, max(100.0, *(c for c in cpu if not math.isnan(c))) * 1.05)
    handles = left.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    left.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8)
    best = report["headline"].get("users")
    title = f"Arena capacity, {report['date']} ({report['machine']['cores']} cores)"
    if best:
        title += f": holds {best} players"
    left.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def write_report(report: dict[str, Any], out: Path) -> list[Path]:
    """Write the JSON, Markdown and PNG; an interrupted run's go to `<date>-capacity-partial.*`
    so they never replace a finished report of the same day."""
    if report.get("interrupted") and not report["steps"]:
        return []
    out.mkdir(parents=True, exist_ok=True)
    partial = "-partial" if report.get("interrupted") else ""
    stem = out / f"{report['date']}-capacity{partial}"
    paths = [stem.with_suffix(".json"), stem.with_suffix(".md"), stem.with_suffix(".png")]
    paths[0].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    paths[1].write_text(render_markdown(report))
    if report["steps"]:
        plot(report, paths[2])
    else:
        paths.pop()
    return paths


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
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results",
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
    now = dt.datetime.now()
    report: dict[str, Any] = {
        "date": now.strftime("%Y-%m-%d"),
        "started_at": now.isoformat(timespec="seconds"),
        "command": command,
        "machine": machine_info(),
        "config": {},
        "steps": [],
        "headline": {},
    }
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for sig in handlers:
        # SIGINT too: a shell starts background jobs with it ignored, and Ctrl-C must still work.
        signal.signal(sig, _raise_interrupted)
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
        try:
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
        except (KeyboardInterrupt, Interrupted):
            report["interrupted"] = True
            print("\ninterrupted: stopping locust and the server", file=sys.stderr, flush=True)
        except RuntimeError as exc:  # the server or locust failed: keep the finished steps
            report["interrupted"] = True
            report["error"] = str(exc)
            print(f"game-bench: {exc}", file=sys.stderr, flush=True)
        finally:
            for sig in handlers:
                signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
            try:
                bench.procs.stop_all()
            finally:
                for sig, handler in handlers.items():
                    signal.signal(sig, handler)
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
    command = "python -m bench.capacity " + " ".join(
        _quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    report = run(options, command.strip())
    paths = write_report(report, options.out)
    if report["steps"]:
        print(report["headline_text"])
    if paths:
        print("wrote " + ", ".join(str(p) for p in paths))
    if report.get("error"):
        return 1
    return 130 if report.get("interrupted") else 0


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w./,=:+-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    sys.exit(main())
