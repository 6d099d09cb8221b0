"""`python -m bench.floor`: Arena against its bare transport floor, alternating, in one run.

Runs Arena (`python -m game_server`, hardening on, `--max-connections-per-ip 0`) and the floor
(`python -m bench.floor_server`: the same login and messages, no game, no storage) as fresh
processes pinned to CPU 0, one after the other (A F A F ...), and drives each with the same load
generator (`bench.loadgen`) pinned to CPU 1. The floor's states are sized to the average state
Arena sent in the run just before, so both send states of the same size. Per run: server CPU per
player-second over the measured window, ping RTT, states/s per player, RSS growth per player and
bytes sent per player-second; then medians across rounds and the ratio Arena / floor. Writes
`<date>-floor.json` and `.md` into `bench/results/` (or `--out`); `--profile` adds a py-spy flame
graph of one extra Arena run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.capacity import (
    BENCH_DIR,
    REPO_DIR,
    Interrupted,
    Metrics,
    Processes,
    _quote,
    _raise_interrupted,
    http_get,
    machine_info,
    metric_total,
    parse_prometheus,
    pinning,
    proc_rss,
    tail,
    wait_for_line,
)
from bench.floor_server import DEFAULT_STATE_BYTES

SERVERS = ("arena", "floor")
STARTUP_TIMEOUT = 30.0
IDLE_SETTLE = 1.0  # seconds between "listening" and the idle RSS sample
LISTENING = {
    "arena": re.compile(r"Arena listening on (http://\S+)"),
    "floor": re.compile(r"floor listening on (http://\S+)"),
}
WINDOW_OPEN = re.compile(r"loadgen: window open")
WINDOW_CLOSED = re.compile(r"loadgen: window closed")
LOADGEN_BUSY_PERCENT = 80.0  # above this the load generator may be the limit


@dataclass
class Options:
    players: list[int] = field(default_factory=lambda: [400, 800])
    seconds: float = 30.0
    warmup: float = 5.0
    rounds: int = 2
    concurrency: int = 50
    state_bytes: int | None = None  # fixed floor state size; None: Arena's last average
    pin: bool = True
    profile: bool = False
    profile_players: int = 400
    profile_format: str = "flamegraph"
    max_seconds: float = 3600.0
    out: Path = BENCH_DIR / "results"

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
        self.procs = Processes()
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
        proc = self.procs.start([*self.server_prefix, *argv], log)
        match = wait_for_line(log, LISTENING[kind], proc, STARTUP_TIMEOUT)
        if match is None:
            self.procs.stop(proc)
            raise RuntimeError(f"the {kind} server did not start:\n{tail(log)}")
        return proc, match.group(1)

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
            record["profile"] = _display_path(profile) if profile.exists() else None
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


def _display_path(path: Path) -> str:
    """Relative to the repository when inside it, as a report should show it."""
    try:
        return str(path.resolve().relative_to(REPO_DIR))
    except ValueError:
        return str(path)


def summarize_run(
    kind: str,
    players: int,
    round_no: int,
    result: Mapping[str, Any],
    rss_idle: int | None,
    before: Mapping[str, float] | None,
    after: Mapping[str, float] | None,
    seconds: float,
    floor_state_bytes: int | None,
) -> dict[str, Any]:
    """One run's record from the load generator's result and the server's counters."""
    server = result.get("server") or {}
    players_avg = float(result.get("players_avg") or 0.0)
    rss_loaded = server.get("rss_max_bytes")
    rss_kb = None
    if rss_idle is not None and rss_loaded is not None and players_avg > 0:
        rss_kb = (rss_loaded - rss_idle) / 1024.0 / players_avg
    state_avg = sent_rate = None
    if before and after:
        messages = after["messages"] - before["messages"]
        sent = after["bytes"] - before["bytes"]
        if messages > 0:
            state_avg = sent / messages
        if players_avg > 0:
            sent_rate = sent / (players_avg * seconds)
    loadgen_cpu = result.get("cpu_percent")
    return {
        "server": kind,
        "players": players,
        "round": round_no,
        "profiled": False,
        "joined": result.get("joined"),
        "connected": min(result.get("open_at_start") or 0, result.get("open_at_end") or 0),
        "window_seconds": result.get("window_seconds"),
        "cpu_us_per_player_second": server.get("cpu_us_per_player_second"),
        "server_cpu_percent": server.get("cpu_percent"),
        "ping_p50_ms": result.get("ping_p50_ms"),
        "ping_p99_ms": result.get("ping_p99_ms"),
        "pings_sent": result.get("pings_sent"),
        "pongs": result.get("pongs"),
        "states_per_player_second": result.get("states_per_player_second"),
        "states_per_player_second_min": result.get("states_per_player_second_min"),
        "state_bytes": round(state_avg, 1) if state_avg is not None else floor_state_bytes,
        "floor_state_bytes": floor_state_bytes,
        "rss_idle_mib": _round(rss_idle / 2**20 if rss_idle else None, 1),
        "rss_loaded_mib": _round(rss_loaded / 2**20 if rss_loaded else None, 1),
        "rss_kb_per_player": _round(rss_kb, 1),
        "state_bytes_per_player_second": _round(sent_rate, 0),
        "tcp_bytes_per_player_second": result.get("bytes_per_player_second"),
        "loadgen_cpu_percent": loadgen_cpu,
        "loadgen_busy": bool(loadgen_cpu is not None and loadgen_cpu >= LOADGEN_BUSY_PERCENT),
        "loadgen": result.get("loadgen"),
        "failures": result.get("failures", 0),
        "failure_kinds": result.get("failure_kinds", {}),
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# -- medians and ratios ----------------------------------------------------------------------

MEDIAN_FIELDS = (
    "cpu_us_per_player_second", "server_cpu_percent", "ping_p50_ms", "ping_p99_ms",
    "states_per_player_second", "states_per_player_second_min", "rss_kb_per_player",
    "state_bytes", "state_bytes_per_player_second", "tcp_bytes_per_player_second",
    "loadgen_cpu_percent",
)


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per player count: each server's medians across rounds and the ratio Arena / floor."""
    out = []
    for players in sorted({r["players"] for r in runs if not r.get("profiled")}):
        row: dict[str, Any] = {"players": players}
        for kind in SERVERS:
            mine = [r for r in runs if r["players"] == players and r["server"] == kind
                    and not r.get("profiled")]
            row[kind] = {name: _median([r.get(name) for r in mine]) for name in MEDIAN_FIELDS}
            row[kind]["runs"] = len(mine)
            row[kind]["failures"] = sum(r.get("failures") or 0 for r in mine)
        a = row["arena"]["cpu_us_per_player_second"]
        f = row["floor"]["cpu_us_per_player_second"]
        row["ratio"] = round(a / f, 3) if a and f else None
        pairs = []
        for r in runs:
            if r["players"] != players or r["server"] != "arena" or r.get("profiled"):
                continue
            floor = [x for x in runs if x["players"] == players and x["server"] == "floor"
                     and x["round"] == r["round"] and not x.get("profiled")]
            if floor and r.get("cpu_us_per_player_second") and floor[0].get(
                    "cpu_us_per_player_second"):
                pairs.append(round(r["cpu_us_per_player_second"]
                                   / floor[0]["cpu_us_per_player_second"], 3))
        row["round_ratios"] = pairs
        out.append(row)
    return out


# -- text ------------------------------------------------------------------------------------


def _num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def progress_line(record: Mapping[str, Any]) -> str:
    label = f"{record['server']:5} {record['players']:4} players"
    if record.get("profiled"):
        label += " (py-spy attached)"
    else:
        label += f" round {record['round']}"
    return (
        f"[run {record.get('run', '?')}] {label}: "
        f"{_num(record.get('cpu_us_per_player_second'))} µs CPU/player-s "
        f"({_num(record.get('server_cpu_percent'), 1)}% CPU), ping p50/p99 "
        f"{_num(record.get('ping_p50_ms'), 2)}/{_num(record.get('ping_p99_ms'), 2)} ms, "
        f"{_num(record.get('states_per_player_second'), 2)} states/s per player "
        f"(min {_num(record.get('states_per_player_second_min'), 2)}), "
        f"RSS {_num(record.get('rss_kb_per_player'), 1)} KB/player, state "
        f"{_num(record.get('state_bytes'))} B, {_num(record.get('tcp_bytes_per_player_second'))} "
        f"TCP B/player-s, loadgen CPU {_num(record.get('loadgen_cpu_percent'), 1)}%, "
        f"failures {record.get('failures')}"
    )


def headline_lines(summary: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for row in summary:
        a, f = row["arena"], row["floor"]
        lines.append(
            f"{row['players']} players: Arena {_num(a['cpu_us_per_player_second'])} µs CPU per "
            f"player-second, floor {_num(f['cpu_us_per_player_second'])}: "
            f"{_num(row['ratio'], 2)}x the floor (medians of {a['runs']} and {f['runs']} runs; "
            f"ping p99 {_num(a['ping_p99_ms'], 2)} / {_num(f['ping_p99_ms'], 2)} ms, RSS "
            f"{_num(a['rss_kb_per_player'], 1)} / {_num(f['rss_kb_per_player'], 1)} KB per player)"
        )
    return lines


def render_markdown(report: Mapping[str, Any]) -> str:
    m = report["machine"]
    c = report["config"]
    lines = [
        f"# Arena against its transport floor, {report['date']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; {m['os']}; "
        f"Python {m['python']}, Tornado {m['tornado']}, uvloop {m.get('uvloop')}.",
        f"Setup: Arena (`python -m game_server --max-connections-per-ip 0`, every other limit at "
        f"its default) and the floor (`python -m bench.floor_server`, states sized to Arena's "
        f"average in the run before) in fresh processes, alternating A F A F; "
        f"rounds: {c['rounds']}; each run: ramp, {c['warmup']:g} s warm-up, {c['seconds']:g} s "
        f"measured; {c['pinning']}. Load generator: {report.get('loadgen') or 'bench.loadgen'}.",
        "",
        "## Medians across rounds",
        "",
        "| players | server | µs CPU per player-s | Arena / floor | ping p50 / p99 (ms) "
        "| states/s per player (min) | RSS KB per player | state bytes | server state B per "
        "player-s | TCP B per player-s | load generator CPU % |",
        "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["summary"]:
        for kind in SERVERS:
            s = row[kind]
            ratio = f"**{_num(row['ratio'], 2)}x**" if kind == "arena" else ""
            lines.append(
                f"| {row['players']} | {kind} | {_num(s['cpu_us_per_player_second'])} | {ratio} "
                f"| {_num(s['ping_p50_ms'], 2)} / {_num(s['ping_p99_ms'], 2)} "
                f"| {_num(s['states_per_player_second'], 2)} "
                f"({_num(s['states_per_player_second_min'], 2)}) "
                f"| {_num(s['rss_kb_per_player'], 1)} | {_num(s['state_bytes'])} "
                f"| {_num(s['state_bytes_per_player_second'])} "
                f"| {_num(s['tcp_bytes_per_player_second'])} "
                f"| {_num(s['loadgen_cpu_percent'], 1)} |"
            )
    lines += [
        "",
        "## Every run, in order",
        "",
        "| run | server | players | round | µs CPU per player-s | server CPU % "
        "| ping p50 / p99 (ms) | states/s per player (min) | RSS idle → loaded (MiB) "
        "| KB per player | state bytes | TCP B per player-s | load generator CPU % | failures |",
        "|---:|---|---:|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        busy = " (busy)" if r.get("loadgen_busy") else ""
        lines.append(
            f"| {r.get('run')} | {r['server']} | {r['players']} "
            f"| {'py-spy' if r.get('profiled') else r['round']} "
            f"| {_num(r.get('cpu_us_per_player_second'))} | {_num(r.get('server_cpu_percent'), 1)} "
            f"| {_num(r.get('ping_p50_ms'), 2)} / {_num(r.get('ping_p99_ms'), 2)} "
            f"| {_num(r.get('states_per_player_second'), 2)} "
            f"({_num(r.get('states_per_player_second_min'), 2)}) "
            f"| {_num(r.get('rss_idle_mib'), 1)} → {_num(r.get('rss_loaded_mib'), 1)} "
            f"| {_num(r.get('rss_kb_per_player'), 1)} | {_num(r.get('state_bytes'))} "
            f"| {_num(r.get('tcp_bytes_per_player_second'))} "
            f"| {_num(r.get('loadgen_cpu_percent'), 1)}{busy} | {r.get('failures')} |"
        )
    lines += ["", *(f"**{line}**" for line in headline_lines(report["summary"]))]
    lines += [
        "",
        "CPU per player-second is the server process's user + system CPU over the measured "
        "window (`/proc/PID/stat`, read by the load generator at its window's edges) divided by "
        "players x seconds. About 30% of it is loopback kernel time charged to the sender: "
        "compare, don't subtract. Ping RTT is `ping` to `pong` at the load generator. RSS per "
        "player is the growth from the idle server (1 s after start) to its highest sample "
        "under load, over the players connected. State bytes: the average state payload the "
        "server sent (Arena's `/metrics`, the floor's `/healthz`); TCP bytes: every WebSocket "
        "byte the load generator received (states, pongs, frame headers), the fairest common "
        "measure. Runs of one setup vary by about ±10% on a shared 2-core machine; the ratio "
        "compares runs made minutes apart in the same session.",
    ]
    if report.get("profile"):
        lines += ["", f"Flame graph of one extra Arena run at {c['profile_players']} players "
                  f"(py-spy, 200 Hz, not in the medians): `{report['profile']}`"]
    if report.get("interrupted"):
        lines += ["", "*The run was interrupted; the runs above are the ones that finished.*"]
    lines += ["", f"Reproduce: `{report['command']}`"]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> list[Path]:
    if not report["runs"]:
        return []
    out.mkdir(parents=True, exist_ok=True)
    partial = "-partial" if report.get("interrupted") else ""
    stem = out / f"{report['date']}-floor{partial}"
    paths = [stem.with_suffix(".json"), stem.with_suffix(".md")]
    paths[0].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    paths[1].write_text(render_markdown(report))
    return paths


# -- the command -----------------------------------------------------------------------------


def plan(options: Options) -> list[tuple[str, int, int]]:
    """(server, players, round) in order: A F for each player count, round after round."""
    return [
        (kind, players, round_no)
        for round_no in range(1, options.rounds + 1)
        for players in options.players
        for kind in SERVERS
    ]


def run(options: Options, command: str) -> dict[str, Any]:
    started = time.monotonic()
    now = dt.datetime.now()
    machine = machine_info()
    for package in ("uvloop", "orjson", "py-spy"):
        try:
            from importlib.metadata import version

            machine[package] = version(package)
        except Exception:  # noqa: BLE001 - a missing package is just not reported
            machine[package] = None
    report: dict[str, Any] = {
        "date": now.strftime("%Y-%m-%d"),
        "started_at": now.isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "config": {},
        "runs": [],
        "summary": [],
    }
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for sig in handlers:
        signal.signal(sig, _raise_interrupted)
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
            "concurrency": options.concurrency,
            "state_bytes": options.state_bytes,
            "profile_players": options.profile_players if options.profile else None,
            "pinning": bench.pinning_text,
        }
        print(f"floor benchmark: {len(plan(options))} runs, {bench.pinning_text}", flush=True)
        state_bytes = options.state_bytes or DEFAULT_STATE_BYTES
        try:
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
        except (KeyboardInterrupt, Interrupted):
            report["interrupted"] = True
            print("\ninterrupted: stopping the load generator and the servers",
                  file=sys.stderr, flush=True)
        except RuntimeError as exc:
            report["interrupted"] = True
            report["error"] = str(exc)
            print(f"bench.floor: {exc}", file=sys.stderr, flush=True)
        finally:
            for sig in handlers:
                signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
            try:
                bench.procs.stop_all()
            finally:
                for sig, handler in handlers.items():
                    signal.signal(sig, handler)
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
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results",
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
        concurrency=args.concurrency,
        state_bytes=args.state_bytes,
        pin=not args.no_pin,
        profile=args.profile,
        profile_players=args.profile_players,
        profile_format=args.profile_format,
        max_seconds=args.max_minutes * 60.0,
        out=args.out,
    )
    command = "python -m bench.floor " + " ".join(
        _quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    report = run(options, command.strip())
    for line in report["headline"]:
        print(line)
    paths = write_report(report, options.out)
    if paths:
        print("wrote " + ", ".join(str(p) for p in paths))
    if report.get("error"):
        return 1
    return 130 if report.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
