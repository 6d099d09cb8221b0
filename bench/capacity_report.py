"""What a capacity run's numbers mean: one step's record from locust's CSV and two snapshots,
whether it holds, the headline over all steps, and the report (JSON, Markdown, PNG). How a step
split across several server workers is `bench.capacity_split`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.capacity_search import DEFAULT_LIMITS, Limits, failure_reasons, headline_text
from bench.capacity_split import (
    SPLIT_ALIGN,
    SPLIT_COLUMNS,
    WorkerPoint,
    WorkerReading,
    complete_samples,
    redirect_text,
    split_cells,
    split_fields,
    split_note,
    worker_tables,
)
from bench.locust_csv import percentile
from bench.prom import Metrics, bucket_delta, histogram_buckets, histogram_quantile, metric_total
from bench.report import machine_line, num, rounded, write_report_files
from bench.sampling import CLK_TCK

# The headline rule (`Limits`): a step holds when every user is connected, state latency p99 is
# below this and fewer than this fraction of ticks overran.
LATENCY_P99_LIMIT_MS = DEFAULT_LIMITS.latency_p99_ms
OVERRUN_LIMIT = DEFAULT_LIMITS.overrun_fraction
LOADGEN_BUSY_PERCENT = DEFAULT_LIMITS.loadgen_busy_percent  # a load generator this busy is
# probably the bottleneck


# -- one step ----------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """The server and locust at one edge of the window. With `--processes N` > 1,
    `server_ticks` is the whole server tree (the forking parent and its workers), `metrics`
    the workers' `/metrics` together, and `workers` / `parent_ticks` / `redis_ticks` the parts."""

    at: float
    server_ticks: int | None
    loadgen_ticks: dict[int, int]
    metrics: Metrics | None
    parent_ticks: int | None = None
    workers: list[WorkerReading] = field(default_factory=list)
    redis_ticks: int | None = None


def step_holds(step: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> bool:
    """Every user connected, state latency p99 under 100 ms, fewer than 1% of ticks overran
    (or `limits`).

    An overrun fraction the server did not report (no /metrics) is not held against a step.
    """
    return not failure_reasons(step, limits)


def summarize_step(
    users: int,
    window: float,
    stats: Mapping[str, Mapping[str, float]],
    failures: list[dict[str, Any]],
    before: Snapshot,
    after: Snapshot,
    players: Sequence[int],
    rss: Sequence[int],
    *,
    samples: Sequence[Mapping[str, WorkerPoint]] = (),
    start: Metrics | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """One step's record from locust's CSV, two snapshots and the samples between them.

    With several server workers (`before.workers`), `samples` holds each second's reading of
    every worker by its URL: `players` is then their total in the samples where every worker
    answered, and the step gets a `workers` list and a `split`. `start`: the server's metrics
    before locust started, for the joins of the whole step (`placements`).
    """
    seconds = max(1e-9, after.at - before.at)
    if before.workers:
        complete = complete_samples(samples, before.workers)
        players = [sum(s[w.url].players or 0 for w in before.workers) for s in complete]
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
        "states_per_user_second": rounded(per_user.get("Average Response Time") if per_user
                                          else None, 2),
        "states_per_user_second_min": rounded(per_user.get("Min Response Time") if per_user
                                              else None, 2),
        "latency_p50_ms": percentile(latency, "50%"),
        "latency_p95_ms": percentile(latency, "95%"),
        "latency_p99_ms": percentile(latency, "99%"),
        "latency_max_ms": rounded(latency.get("Max Response Time") if latency else None, 1),
        "ping_p50_ms": percentile(pong, "50%"),
        "ping_p99_ms": percentile(pong, "99%"),
        "join_p95_ms": percentile(join, "95%"),
        "failures": int(total.get("Failure Count", 0)),
        "failure_kinds": failures,
        "server_cpu_percent": rounded(server_cpu / seconds * 100, 1) if server_cpu is not None
        else None,
        "server_rss_mib": rounded(max(rss) / 2**20, 1) if rss else None,
        "loadgen_cpu_percent": rounded(sum(loadgen) / seconds * 100, 1) if loadgen else None,
        "loadgen_max_process_cpu_percent": rounded(loadgen_max, 1),
        "loadgen_processes": len(loadgen),
        "loadgen_busy": bool(loadgen_max is not None and loadgen_max >= LOADGEN_BUSY_PERCENT),
        "ticks": ticks,
        "ticks_overrun": overruns,
        "overrun_fraction": (overruns / ticks) if ticks and overruns is not None else None,
        "tick_p99_ms": rounded(tick_p99 * 1000, 2) if tick_p99 is not None else None,
        "tick_lateness_p99_ms": rounded(late_p99 * 1000, 2) if late_p99 is not None else None,
        "states_sent_per_second": rounded(states_sent / seconds, 1) if states_sent is not None
        else None,
        "bytes_per_player_second": rounded(state_bytes / player_seconds, 1)
        if state_bytes is not None and player_seconds > 0 else None,
        "cpu_seconds_per_player_second": (server_cpu / player_seconds)
        if server_cpu is not None and player_seconds > 0 else None,
    }
    cps = step["cpu_seconds_per_player_second"]
    step["cpu_us_per_player_second"] = rounded(cps * 1e6, 1) if cps is not None else None
    step["server_cpu_seconds"] = rounded(server_cpu, 3)
    if before.workers:
        step.update(split_fields(before, after, samples, seconds, stats, start))
    step["why_not"] = failure_reasons(step, limits)
    step["holds"] = not step["why_not"]
    return step


def progress_line(index: int, count: int, step: Mapping[str, Any]) -> str:
    overrun = step.get("overrun_fraction")
    return (
        f"[{index}/{count}] {step['users']} users: connected {num(step.get('connected'))}, "
        f"{num(step.get('states_per_second'))} states/s, state latency p50/p95/p99 "
        f"{num(step.get('latency_p50_ms'))}/{num(step.get('latency_p95_ms'))}/"
        f"{num(step.get('latency_p99_ms'))} ms, ping p99 {num(step.get('ping_p99_ms'))} ms, "
        f"failures {step.get('failures')}, server CPU {num(step.get('server_cpu_percent'))}% "
        f"RSS {num(step.get('server_rss_mib'))} MiB, load generator CPU "
        f"{num(step.get('loadgen_cpu_percent'))}%, "
        f"tick p99 {num(step.get('tick_p99_ms'), 2)} ms, "
        f"overruns {'–' if overrun is None else f'{overrun:.2%}'}, "
        f"{num(step.get('bytes_per_player_second'))} B/player/s, "
        f"{num(step.get('cpu_us_per_player_second'))} µs CPU/player-s"
        + (f"; split {step['split']}, redirects {redirect_text(step)}" if step.get("split")
           else "")
        + ("" if step.get("holds")
           else f"  [does not hold: {', '.join(step.get('why_not') or ['?'])}]")
    )


# -- the headline --------------------------------------------------------------------------------


# -- the report ------------------------------------------------------------------------------


def render_markdown(report: Mapping[str, Any]) -> str:
    m = report["machine"]
    c = report["config"]
    processes = c.get("processes") or 1
    several = processes > 1
    servers = (f"{processes} server processes sharing one port (Redis presence, "
               f"{c.get('redis') or 'redis-server'}); " if several else "")
    lines = [
        f"# Arena capacity, {report['date']}",
        "",
        machine_line(m, "locust"),
        f"Setup: {servers}tick {c['tick_rate']} Hz, {c['max_players']} players a room, "
        f"{c['step_seconds']:g} s measured per step after the ramp ({c['spawn_rate']:g} users/s) "
        f"and {c['settle']:g} s settling; {c['pinning']}; locust {_locust_processes(c)}.",
        "",
        *step_table(report["steps"], several),
        "",
        f"**{headline_text(report['headline'])}**",
        "",
        rule_note(report["headline"], processes, "locust"),
        "",
    ]
    if several:
        lines += worker_tables(report["steps"]) + [""]
    lines += [f"Reproduce: `{report['command']}`"]
    if report.get("interrupted"):
        lines += ["", "*The run was interrupted; the steps above are the ones that finished.*"]
    return "\n".join(lines) + "\n"


def step_table(steps: Sequence[Mapping[str, Any]], several: bool,
               first: tuple[str, str] | None = None) -> list[str]:
    """The Markdown table of `steps`, one row each in the order given; `first`: an extra first
    column (its header, and the step field it shows)."""
    lead = f"| {first[0]} " if first else ""
    lines = [
        lead + "| users | connected | states/s | state latency p50 / p95 / p99 (ms) "
        "| ping p99 (ms) | failures | server CPU % | server RSS (MiB) | load generator CPU % "
        "| tick work / late p99 (ms) | ticks overrun | state bytes/player/s "
        "| server µs CPU per player-s "
        + (SPLIT_COLUMNS if several else "")
        + "| holds |",
        ("|---" if first else "")
        + "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        + (SPLIT_ALIGN if several else "") + ":---:|",
    ]
    for s in steps:
        overrun = s.get("overrun_fraction")
        busy = " (busy)" if s.get("loadgen_busy") else ""
        extra = split_cells(s) if several else ""
        holds = "yes" if s.get("holds") else f"no: {', '.join(s.get('why_not') or ['?'])}"
        lines.append(
            (f"| {s.get(first[1], '')} " if first else "")
            + f"| {s['users']} | {num(s.get('connected'))} | {num(s.get('states_per_second'))} "
            f"| {num(s.get('latency_p50_ms'))} / {num(s.get('latency_p95_ms'))} / "
            f"{num(s.get('latency_p99_ms'))} | {num(s.get('ping_p99_ms'))} | {s['failures']} "
            f"| {num(s.get('server_cpu_percent'))} | {num(s.get('server_rss_mib'))} "
            f"| {num(s.get('loadgen_cpu_percent'))}{busy} | {num(s.get('tick_p99_ms'), 2)} / "
            f"{num(s.get('tick_lateness_p99_ms'), 1)} "
            f"| {'–' if overrun is None else f'{overrun:.2%}'} "
            f"| {num(s.get('bytes_per_player_second'))} "
            f"| {num(s.get('cpu_us_per_player_second'))} "
            f"{extra}| {holds} |"
        )
    return lines


def rule_note(head: Mapping[str, Any], processes: int, loadgen: str) -> str:
    """The paragraph under a table: the rule a step is held to, and how to read the columns."""
    cpu_note = (split_note(processes) if processes > 1
                else "CPU % is of one core (the server is one process).")
    limit = head.get("latency_limit_ms", LATENCY_P99_LIMIT_MS)
    overrun = head.get("overrun_limit", OVERRUN_LIMIT)
    return (
        "A step holds when every user is connected, state latency p99 is under "
        f"{limit:g} ms and fewer than {overrun:.0%} of ticks overran; \"no\" says which failed "
        "(refusals: users not connected; load generator saturation: the load generator was "
        f"busy too, so the failure may be its own). {cpu_note} State latency is a state's "
        "arrival at the player minus its `ts` (same clock), so it leaves out how late the tick "
        "itself ran (tick late p99); ping round trips include it. Load generator CPU is all of "
        f"{loadgen}'s processes; \"busy\" marks one at ≥ {LOADGEN_BUSY_PERCENT:g}% of a core."
    )


def _locust_processes(config: Mapping[str, Any]) -> str:
    n = config.get("locust_workers")
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
    limit = report["headline"].get("latency_limit_ms", LATENCY_P99_LIMIT_MS)
    left.axhline(limit, color="tab:red", linewidth=0.8, linestyle="--",
                 label=f"{limit:g} ms limit")
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
    workers = max((len(s.get("workers") or ()) for s in steps), default=0)
    for index in range(workers):
        share = [_nan(_worker(s, index).get("cpu_percent")) for s in steps]
        right.plot(users, share, "s--", color="tab:blue", alpha=0.5, linewidth=0.8,
                   label="one worker's CPU %" if index == 0 else None)
    right.set_ylabel("server CPU (% of one core)", color="tab:blue")
    right.set_ylim(0, max(100.0, *(c for c in cpu if not math.isnan(c))) * 1.05)
    handles = left.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    left.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8)
    head = report["headline"]
    title = f"Arena capacity, {report['date']} ({report['machine']['cores']} cores)"
    if head.get("failed_at") is not None:
        title += f": knee between {head.get('held_below') or 0} and {head['failed_at']} players"
    elif head.get("users"):
        title += f": held every step up to {head['users']} players (the largest tried)"
    left.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _worker(step: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    workers = step.get("workers") or ()
    return workers[index] if index < len(workers) else {}


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def write_report(report: dict[str, Any], out: Path) -> list[Path]:
    """Write the JSON, Markdown and PNG; an interrupted run's go to `<date>-capacity-partial.*`
    so they never replace a finished report of the same day."""
    if report.get("interrupted") and not report["steps"]:
        return []
    paths = write_report_files(report, out, "capacity", render_markdown)
    if report["steps"]:
        png = paths[0].with_suffix(".png")
        plot(report, png)
        paths.append(png)
    return paths
