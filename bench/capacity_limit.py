"""`python -m bench.capacity --find-limit`: search for the player count where the server stops
holding, instead of trying a fixed list of steps.

The search (`bench.capacity_search.LimitSearch`) doubles the players from `--start` while steps
hold, up to `--ceiling`, then bisects between the largest step that held and the smallest that
did not, until the two are within `--resolution` or `--max-steps` steps have run (and never past
`--max-minutes`). Each step is driven by the asyncio load generator (`bench.loadgen`, one process
on raw sockets, which drives thousands of players where one locust process tops out near 500),
or by locust with `--loadgen locust`. The report (`<date>-capacity-limit.json` and `.md`) names
the knee and why its failing step failed: latency, overruns, refusals, or the load generator's
own saturation (then the result is "at least" the step that held).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.capacity_report import progress_line, rule_note, step_table, summarize_step
from bench.capacity_search import (
    CEILING,
    MAX_STEPS,
    NARROW,
    OUT_OF_TIME,
    LimitSearch,
    Resolution,
)
from bench.procs import tail, wait_for_line
from bench.report import machine_line, write_report_files

if TYPE_CHECKING:
    from bench.capacity import Bench

WINDOW_OPEN = re.compile(r"loadgen: window open")
LOADGEN_NAME = "bench.loadgen"
LINGER = 2.0  # seconds the players stay after the load generator's window, so the server's
# window (opened when the load generator says so, a poll later) ends before they leave
LOADGENS = ("asyncio", "locust")


@dataclass
class SearchOptions:
    """`--find-limit`: where the search starts, its bounds, and what drives it."""

    start: int = 50
    ceiling: int = 6400
    max_steps: int = 12
    resolution: Resolution = field(default_factory=Resolution)
    loadgen: str = "asyncio"  # or "locust"
    concurrency: int = 50  # the asyncio load generator's logins in flight during a ramp

    def connect_seconds(self, users: int) -> float:
        """A bound on the asyncio load generator's ramp."""
        return 30.0 + users / 10.0


# -- the command line ----------------------------------------------------------------------------


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "--find-limit", "search for the knee instead of trying --steps: double the players "
                        "from --start while steps hold, then bisect")
    group.add_argument("--find-limit", action="store_true",
                       help="search for the player count where the server stops holding")
    group.add_argument("--start", type=int, default=50, help="first step (default %(default)s)")
    group.add_argument("--ceiling", type=int, default=6400,
                       help="largest step the search tries (default %(default)s)")
    group.add_argument("--max-steps", type=int, default=12,
                       help="steps the search runs at most (default %(default)s)")
    group.add_argument("--resolution", default="10%",
                       help="stop once the step that held and the one that failed are this "
                            "close: a percentage of the failing count or a number of players "
                            "(default %(default)s)")
    group.add_argument("--loadgen", choices=LOADGENS, default="asyncio",
                       help="what drives the players (default %(default)s: bench.loadgen, "
                            "one asyncio process)")


def search_options(parser: argparse.ArgumentParser, args: argparse.Namespace
                   ) -> SearchOptions | None:
    """The search's options from the command line; None without --find-limit."""
    if not args.find_limit:
        return None
    try:
        resolution = Resolution.parse(args.resolution)
    except ValueError as exc:
        parser.error(f"--resolution: {exc}")
    if args.start < 1 or args.ceiling < args.start or args.max_steps < 1:
        parser.error("--find-limit needs 1 <= --start <= --ceiling and --max-steps >= 1")
    return SearchOptions(start=args.start, ceiling=args.ceiling, max_steps=args.max_steps,
                         resolution=resolution, loadgen=args.loadgen)


# -- a step with the asyncio load generator ------------------------------------------------------


def loadgen_rows(result: Mapping[str, Any]) -> tuple[dict[str, dict[str, float]],
                                                      list[dict[str, Any]]]:
    """The load generator's result as the locust rows (`*_stats.csv`) and failures that
    `summarize_step` reads, so both load generators make the same step record."""
    def row(count: float, **values: float | None) -> dict[str, float]:
        out = {"Request Count": float(count)}
        out.update({k: float(v) for k, v in values.items() if v is not None})
        return out

    players, joined = result["players"], result["joined"]
    stats = {
        "state latency": row(
            result.get("state_latency_samples") or 0,
            **{"50%": result.get("state_latency_p50_ms"),
               "95%": result.get("state_latency_p95_ms"),
               "99%": result.get("state_latency_p99_ms"),
               "Max Response Time": result.get("state_latency_max_ms")}),
        "pong": row(result["pongs"], **{"50%": result.get("ping_p50_ms"),
                                        "99%": result.get("ping_p99_ms")}),
        "WS connect+join": row(players, **{"Failure Count": players - joined}),
        "states per user-second": row(
            1 if result.get("states_per_player_second") is not None else 0,
            **{"Average Response Time": result.get("states_per_player_second"),
               "Min Response Time": result.get("states_per_player_second_min")}),
        "Aggregated": row(0, **{"Failure Count": result["failures"]}),
    }
    failures = [{"method": "WS", "name": kind, "error": kind, "occurrences": count}
                for kind, count in result["failure_kinds"].items()]
    return stats, failures


def run_loadgen_step(bench: Bench, users: int, search: SearchOptions) -> dict[str, Any]:
    """One step driven by `bench.loadgen`: its ramp, `--settle` seconds, then the window of
    `--step-seconds`, measured on the server's side by `bench.measure` at the same time."""
    opts = bench.options
    window = opts.step_seconds
    result_path = bench.workdir / f"loadgen-{users}.json"
    log = bench.workdir / f"loadgen-{users}.log"
    connect = search.connect_seconds(users)
    argv = [
        *bench.locust_prefix, sys.executable, "-m", "bench.loadgen", "--url", bench.url,
        "--players", str(users), "--seconds", f"{window:g}", "--warmup", f"{opts.settle:g}",
        "--concurrency", str(search.concurrency), "--connect-seconds", f"{connect:g}",
        "--state-latency", "--linger", f"{LINGER:g}", "--json-out", str(result_path),
    ]
    start = bench.metrics() if bench.several else None
    loadgen = bench.procs.start(argv, log)
    try:
        if wait_for_line(log, WINDOW_OPEN, loadgen, connect + opts.settle + 30.0) is None:
            raise RuntimeError(f"the load generator never opened its window:\n{tail(log)}")
        before, after, players, rss, samples = bench.measure(loadgen.pid, time.monotonic(),
                                                             window)
        try:
            loadgen.wait(30.0)
        except subprocess.TimeoutExpired:
            pass
    finally:
        bench.procs.stop(loadgen)
    if not result_path.exists():
        raise RuntimeError(f"the load generator wrote no result:\n{tail(log)}")
    result = json.loads(result_path.read_text())
    stats, failures = loadgen_rows(result)
    step = summarize_step(users, window, stats, failures, before, after, players, rss,
                          samples=samples, start=start, limits=opts.limits)
    step["ramp_seconds"] = result.get("ramp_seconds")
    bench.wait_for_empty()
    return step


# -- the search ----------------------------------------------------------------------------------


def search_limit(bench: Bench, report: dict[str, Any], started: float) -> None:
    """Run the search's steps into `report["steps"]`, keeping `report["search"]` current so an
    interrupted run still says how far it got."""
    opts = bench.options
    search_opts = opts.search
    assert search_opts is not None
    search = LimitSearch(search_opts.start, search_opts.ceiling, search_opts.max_steps,
                         search_opts.resolution)
    while (users := search.next_users()) is not None:
        number = len(search.tried) + 1
        if bench.step_duration(users) + 20 > opts.max_seconds - (time.monotonic() - started):
            print(f"[{number}] {users} users: skipped, it would not finish within "
                  "--max-minutes", flush=True)
            search.stop(OUT_OF_TIME)
            report["truncated"] = True
            break
        phase = search.phase
        if search_opts.loadgen == "asyncio":
            step = run_loadgen_step(bench, users, search_opts)
        else:
            step = bench.run_step(users)
        step["search_step"] = f"{number} {phase}"
        search.record(users, step["holds"])
        report["steps"].append(step)
        report["search"] = search_record(search)
        print(progress_line(number, search_opts.max_steps, step), flush=True)
    report["search"] = search_record(search)


def search_record(search: LimitSearch) -> dict[str, Any]:
    return {
        "tried": [u for u, _ in search.tried],
        "held": search.held,
        "failed": search.failed,
        "stopped": search.stopped,
    }


def search_text(report: Mapping[str, Any]) -> str:
    """Why the search stopped, after the headline."""
    c = report["config"]
    record = report.get("search") or {}
    stopped = record.get("stopped")
    resolution = c.get("resolution")
    steps = len(record.get("tried") or ())
    if stopped == CEILING:
        return f"The search stopped at its ceiling (--ceiling {c['ceiling']})."
    if stopped == NARROW and record.get("held") is None:
        return (f"The search stopped at {record.get('failed')} player"
                f"{'s' if record.get('failed') != 1 else ''}: there is nothing smaller to try.")
    if stopped == NARROW:
        return f"The search stopped with the knee within {resolution}, after {steps} steps."
    if stopped == MAX_STEPS:
        return (f"The search stopped after its {steps} steps (--max-steps) before the knee was "
                f"within {resolution}.")
    if stopped == OUT_OF_TIME:
        return "The search stopped: its next step would not have finished within --max-minutes."
    return "The search did not finish."


# -- the report ----------------------------------------------------------------------------------


def render_limit_markdown(report: Mapping[str, Any]) -> str:
    m = report["machine"]
    c = report["config"]
    processes = c.get("processes") or 1
    several = processes > 1
    asyncio_driven = c.get("loadgen") == "asyncio"
    driver = (f"{LOADGEN_NAME} (one asyncio process, raw sockets)" if asyncio_driven
              else "locust")
    servers = f"{processes} server processes sharing one port (Redis presence); " \
        if several else ""
    lines = [
        f"# Arena capacity limit, {report['date']}",
        "",
        machine_line(m, "uvloop" if asyncio_driven else "locust"),
        f"Search: from {c['start']} players doubling up to {c['ceiling']}, then bisecting "
        f"until within {c['resolution']}; at most {c['max_steps']} steps. "
        f"Setup: {servers}tick {c['tick_rate']} Hz, {c['max_players']} players a room, "
        f"{c['step_seconds']:g} s measured per step after the ramp and {c['settle']:g} s "
        f"settling; {c['pinning']}; players driven by {driver}.",
        "",
        *step_table(report["steps"], several, first=("step", "search_step")),
        "",
        f"**{report.get('headline_text', '')}**",
        "",
        rule_note(report["headline"], processes, LOADGEN_NAME if asyncio_driven else "locust"),
        "",
        f"Reproduce: `{report['command']}`",
    ]
    if report.get("interrupted"):
        lines += ["", "*The run was interrupted; the steps above are the ones that finished.*"]
    return "\n".join(lines) + "\n"


def write_limit_report(report: dict[str, Any], out: Path) -> list[Path]:
    """`<date>-capacity-limit.json` and `.md` (`-partial` when interrupted)."""
    if report.get("interrupted") and not report["steps"]:
        return []
    return write_report_files(report, out, "capacity-limit", render_limit_markdown)
