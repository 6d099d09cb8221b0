"""How a capacity step split across the server's worker processes (`bench.capacity --processes
N`): each worker's reading and samples, its share of players and CPU, where joins were placed
(redirects), and the Markdown columns and per-worker table of the report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.prom import Metrics, metric_total
from bench.report import num, rounded
from bench.sampling import CLK_TCK

if TYPE_CHECKING:
    from bench.capacity_report import Snapshot


# -- readings ------------------------------------------------------------------------------------


@dataclass
class WorkerReading:
    """One server worker process at a snapshot: its own URL, pid, CPU ticks and `/metrics`."""

    url: str
    pid: int | None
    ticks: int | None
    metrics: Metrics | None


@dataclass
class WorkerPoint:
    """One server worker in one sample of the window: its players, rooms and RSS (bytes)."""

    players: int | None
    rooms: int | None
    rss: int | None


def merge_metrics(parts: Sequence[Metrics | None]) -> Metrics | None:
    """Several processes' metrics as one scrape (totals and histogram buckets add up); None if
    any process did not answer, since a delta over a part would be wrong."""
    if not parts or any(m is None for m in parts):
        return None
    merged: Metrics = {}
    for metrics in parts:
        assert metrics is not None
        for name, samples in metrics.items():
            merged.setdefault(name, []).extend(samples)
    return merged


def complete_samples(samples: Sequence[Mapping[str, WorkerPoint]],
                     workers: Sequence[WorkerReading]) -> list[Mapping[str, WorkerPoint]]:
    """The samples in which every worker answered with its players."""
    return [s for s in samples
            if all(w.url in s and s[w.url].players is not None for w in workers)]


# -- one step's split ----------------------------------------------------------------------------


def split_fields(before: Snapshot, after: Snapshot, samples: Sequence[Mapping[str, WorkerPoint]],
                 seconds: float, stats: Mapping[str, Mapping[str, float]],
                 start: Metrics | None) -> dict[str, Any]:
    """A step's fields when the server is several workers (`before.workers`): how many, the
    forking parent's CPU, each worker's share (`workers`, `split`), Redis's CPU and where the
    joins were placed (`redirects`)."""
    parent_cpu = None
    if before.parent_ticks is not None and after.parent_ticks is not None:
        parent_cpu = (after.parent_ticks - before.parent_ticks) / CLK_TCK
    redis_cpu = None
    if before.redis_ticks is not None and after.redis_ticks is not None:
        redis_cpu = (after.redis_ticks - before.redis_ticks) / CLK_TCK
    workers = summarize_workers(before, after, samples, seconds)
    return {
        "server_processes": len(before.workers),
        "server_parent_cpu_seconds": rounded(parent_cpu, 3),
        "server_parent_cpu_percent": rounded(parent_cpu / seconds * 100, 1)
        if parent_cpu is not None else None,
        "workers": workers,
        "split": split_text(workers),
        "redis_cpu_percent": rounded(redis_cpu / seconds * 100, 1)
        if redis_cpu is not None else None,
        **redirects(stats, start, after.metrics),
    }


def summarize_workers(before: Snapshot, after: Snapshot,
                      samples: Sequence[Mapping[str, WorkerPoint]],
                      seconds: float) -> list[dict[str, Any]]:
    """Each worker's share of a step: its players and rooms in the sample where the total of
    players was lowest (so they add up to `connected`) and on average, its CPU over the window
    (None if it was restarted in between) and highest RSS."""
    complete = complete_samples(samples, before.workers)
    lowest = min(complete, key=lambda s: sum(s[w.url].players or 0 for w in before.workers),
                 default=None)
    ends = {w.url: w for w in after.workers}
    out = []
    for w0 in before.workers:
        w1 = ends.get(w0.url)
        cpu = None
        if w1 is not None and w1.pid == w0.pid and w0.ticks is not None and w1.ticks is not None:
            cpu = (w1.ticks - w0.ticks) / CLK_TCK
        points = [s[w0.url] for s in samples if w0.url in s]
        rss = [p.rss for p in points if p.rss is not None]
        players = [s[w0.url].players or 0 for s in complete]
        rooms = [p.rooms for p in points if p.rooms is not None]

        def delta(name: str, w1: WorkerReading | None = w1, w0: WorkerReading = w0) -> float | None:
            a = metric_total(w1.metrics if w1 else None, name)
            b = metric_total(w0.metrics, name)
            return None if a is None or b is None else a - b

        ticks, overruns = delta("arena_ticks_total"), delta("arena_ticks_overrun_total")
        out.append({
            "url": w0.url,
            "pid": w0.pid,
            "players": lowest[w0.url].players if lowest else None,
            "players_avg": round(sum(players) / len(players), 1) if players else None,
            "rooms": lowest[w0.url].rooms if lowest else None,
            "rooms_max": max(rooms) if rooms else None,
            "cpu_seconds": rounded(cpu, 3),
            "cpu_percent": rounded(cpu / seconds * 100, 1) if cpu is not None else None,
            "rss_mib": rounded(max(rss) / 2**20, 1) if rss else None,
            "overrun_fraction": (overruns / ticks) if ticks and overruns is not None else None,
        })
    return out


def split_text(workers: Sequence[Mapping[str, Any]]) -> str:
    """How a step was split across the workers: "412/388 players, 51%/49% CPU" (CPU as each
    worker's share of all workers' CPU)."""
    players = "/".join(num(w.get("players")) for w in workers)
    cpus = [w.get("cpu_seconds") for w in workers]
    total = sum(c for c in cpus if c is not None)
    if total > 0:
        shares = "/".join("–" if c is None else f"{c / total:.0%}" for c in cpus)
    else:
        shares = "/".join("–" for _ in cpus)
    return f"{players} players, {shares} CPU"


PLACEMENTS = ("here", "redirected", "claimed", "local")


def redirects(stats: Mapping[str, Mapping[str, float]], start: Metrics | None,
              end: Metrics | None) -> dict[str, Any]:
    """How the step's joins were placed: the workers' `arena_placements_total` by outcome from
    before locust started to the end of the window (seated here, redirected elsewhere, claimed
    after a redirect, local: Redis unreachable), and what locust saw: `WS redirect` (redirects
    it followed) and `WS seat refused` rows, None when its locustfile has no such row."""
    placements: dict[str, int] | None = None
    if start is not None and end is not None and "arena_placements_total" in end:
        placements = {}
        for outcome in PLACEMENTS:
            a = metric_total(end, "arena_placements_total", outcome=outcome) or 0.0
            b = metric_total(start, "arena_placements_total", outcome=outcome) or 0.0
            placements[outcome] = int(a - b)

    def count(name: str) -> int | None:
        row = stats.get(name)
        return int(row.get("Request Count", 0)) if row else None

    return {
        "placements": placements,
        "joins_redirected": placements["redirected"] if placements else None,
        "locust_redirects": count("WS redirect"),
        "locust_seats_refused": count("WS seat refused"),
    }


def redirect_text(step: Mapping[str, Any]) -> str:
    """"37 of 80 joins (locust followed 37)" for a table cell; "–" when nothing is known."""
    placed = step.get("placements")
    parts = []
    if placed:
        joins = placed.get("here", 0) + placed.get("redirected", 0)
        parts.append(f"{placed.get('redirected', 0)} of {joins} joins")
    followed = step.get("locust_redirects")
    if followed is not None:
        refused = step.get("locust_seats_refused")
        extra = f", {refused} seats refused" if refused else ""
        parts.append(f"(locust followed {followed}{extra})" if parts
                     else f"locust followed {followed}{extra}")
    return " ".join(parts) or "–"


# -- Markdown ------------------------------------------------------------------------------------


SPLIT_COLUMNS = "| split across workers: players, CPU | Redis CPU % | joins redirected "
SPLIT_ALIGN = "---|---:|---|"


def split_cells(step: Mapping[str, Any]) -> str:
    """A step's cells under `SPLIT_COLUMNS`."""
    return (f"| {step.get('split') or '–'} | {num(step.get('redis_cpu_percent'), 1)} "
            f"| {redirect_text(step)} ")


def split_note(processes: int) -> str:
    """What the CPU, RSS and split columns mean for a server of `processes` workers."""
    return (
        f"Server CPU % and RSS are the sum over the server's {processes} worker processes and "
        f"the parent that forked them, CPU in % of one core (so up to {processes * 100}%); the "
        "µs per player-s divide that total by all players. The split gives each worker's "
        "players (in the sample with the fewest players in all) and its share of the workers' "
        "CPU; Redis is the private redis-server they share. Joins redirected: joins the "
        "workers sent to another worker's room (`arena_placements_total`), of all joins by mode."
    )


def worker_tables(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """One row per step and worker: where each worker's numbers came from."""
    lines = [
        "| users | worker | players (avg) | rooms | CPU % | RSS (MiB) | ticks overrun |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for s in steps:
        for w in s.get("workers") or ():
            overrun = w.get("overrun_fraction")
            lines.append(
                f"| {s['users']} | {w['url']} (pid {w.get('pid') or '?'}) "
                f"| {num(w.get('players'))} ({num(w.get('players_avg'), 1)}) "
                f"| {num(w.get('rooms'))} | {num(w.get('cpu_percent'), 1)} "
                f"| {num(w.get('rss_mib'), 1)} | {'–' if overrun is None else f'{overrun:.2%}'} |"
            )
        if s.get("workers"):
            lines.append(
                f"| {s['users']} | parent (forks, waits) | | "
                f"| {num(s.get('server_parent_cpu_percent'), 1)} | | |"
            )
    return lines
