"""`bench.capacity --find-limit` and the words of every capacity report: the search (doubling,
then bisection, and when it stops) against fake step outcomes, why a step did not hold, the
headline ("held every step up to N (the largest tried)" or the knee and why), the load
generator's state latency, and one small real run against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.capacity_limit import loadgen_rows, render_limit_markdown, search_text
from bench.capacity_report import Snapshot, step_table, summarize_step
from bench.capacity_search import (
    CEILING,
    LATENCY,
    LOADGEN,
    MAX_STEPS,
    NARROW,
    OUT_OF_TIME,
    OVERRUNS,
    REFUSALS,
    Limits,
    LimitSearch,
    Resolution,
    failure_reasons,
    headline,
    headline_text,
    reason_text,
)
from bench.wsframes import (
    LATENCY_STEPS_PER_MS,
    FrameParser,
    histogram_percentile,
    latency_histogram,
)

# Measures rates, timing or memory: runs alone, after the parallel part of `make test`.
pytestmark = pytest.mark.serial

REPO = Path(__file__).resolve().parent.parent


# -- the search, against fake outcomes -------------------------------------------------------------


def drive(search: LimitSearch, holds: Callable[[int], bool]) -> list[int]:
    """Run the search to its end with `holds` deciding each step; the counts tried."""
    tried = []
    while (users := search.next_users()) is not None:
        assert users not in tried, f"{users} tried twice: {tried}"
        tried.append(users)
        search.record(users, holds(users))
        assert len(tried) <= 100
    return tried


def test_the_search_doubles_until_a_step_fails_then_bisects_to_the_resolution():
    search = LimitSearch(start=50, ceiling=6400, max_steps=20)
    assert drive(search, lambda n: n <= 700) == [50, 100, 200, 400, 800, 600, 700, 750]
    # 700 held, 750 did not: 50 players apart, within 10% of 750.
    assert (search.held, search.failed, search.stopped) == (700, 750, NARROW)


def test_the_search_bisects_to_an_absolute_resolution():
    search = LimitSearch(start=50, ceiling=6400, max_steps=20, resolution=Resolution.parse("1"))
    tried = drive(search, lambda n: n <= 700)
    assert tried[:6] == [50, 100, 200, 400, 800, 600]
    assert (search.held, search.failed, search.stopped) == (700, 701, NARROW)


def test_the_search_stops_at_its_ceiling_when_every_step_holds():
    search = LimitSearch(start=50, ceiling=300, max_steps=20)
    assert drive(search, lambda n: True) == [50, 100, 200, 300]  # the ceiling, not 400
    assert (search.held, search.failed, search.stopped) == (300, None, CEILING)


def test_the_search_stops_after_its_steps():
    search = LimitSearch(start=50, ceiling=6400, max_steps=6)
    assert drive(search, lambda n: n <= 700) == [50, 100, 200, 400, 800, 600]
    assert (search.held, search.failed, search.stopped) == (600, 800, MAX_STEPS)
    search = LimitSearch(start=50, ceiling=6400, max_steps=3)
    assert drive(search, lambda n: True) == [50, 100, 200]
    assert (search.held, search.failed, search.stopped) == (200, None, MAX_STEPS)


def test_the_search_goes_down_when_the_first_step_fails():
    search = LimitSearch(start=8, ceiling=64, max_steps=20, resolution=Resolution.parse("1"))
    assert drive(search, lambda n: n <= 2) == [8, 4, 2, 3]
    assert (search.held, search.failed, search.stopped) == (2, 3, NARROW)
    search = LimitSearch(start=4, ceiling=16, max_steps=20)
    assert drive(search, lambda n: False) == [4, 2, 1]  # nothing smaller than 1 to try
    assert (search.held, search.failed, search.stopped) == (None, 1, NARROW)


def test_the_search_can_be_stopped_from_outside_and_checks_its_bounds():
    search = LimitSearch(start=50, ceiling=400, max_steps=5)
    assert search.next_users() == 50 and search.phase == "doubling"
    search.record(50, False)
    assert search.phase == "bisecting"
    search.stop(OUT_OF_TIME)
    assert search.next_users() is None and search.stopped == OUT_OF_TIME
    for start, ceiling, steps in ((0, 10, 5), (20, 10, 5), (10, 20, 0)):
        with pytest.raises(ValueError):
            LimitSearch(start=start, ceiling=ceiling, max_steps=steps)


def test_resolution_is_a_percentage_or_a_player_count():
    assert Resolution.parse("10%") == Resolution(fraction=0.1, players=0)
    assert Resolution.parse("25") == Resolution(fraction=0.0, players=25)
    assert Resolution.parse("10%").text() == "10%" and Resolution.parse("25").text() == "25 players"
    assert Resolution.parse("10%").narrow(700, 750) and not Resolution.parse("10%").narrow(600, 800)
    assert Resolution.parse("25").narrow(700, 725) and not Resolution.parse("25").narrow(700, 726)
    assert Resolution.parse("0.5").narrow(7, 8)  # never finer than one player
    for bad in ("", "ten", "-5", "0", "5%%"):
        with pytest.raises(ValueError):
            Resolution.parse(bad)


# -- why a step did not hold ----------------------------------------------------------------------


def _step(users: int, **values: object) -> dict[str, object]:
    step: dict[str, object] = {
        "users": users, "connected": users, "latency_p99_ms": 20.0, "overrun_fraction": 0.0,
        "server_cpu_percent": 10.0, "cpu_seconds_per_player_second": 0.0008,
        "cpu_us_per_player_second": 800.0, "loadgen_busy": False,
        "loadgen_max_process_cpu_percent": 30.0,
    }
    step.update(values)
    return step


def test_failure_reasons_name_each_rule_a_step_broke():
    limits = Limits()
    assert failure_reasons(_step(50), limits) == []
    assert failure_reasons(_step(50, connected=49), limits) == [REFUSALS]
    assert failure_reasons(_step(50, connected=None), limits) == [REFUSALS]
    assert failure_reasons(_step(50, latency_p99_ms=100.0), limits) == [LATENCY]
    assert failure_reasons(_step(50, latency_p99_ms=None), limits) == [LATENCY]
    assert failure_reasons(_step(50, overrun_fraction=0.01), limits) == [OVERRUNS]
    assert failure_reasons(_step(50, overrun_fraction=None), limits) == []
    assert failure_reasons(_step(50, connected=40, overrun_fraction=0.2, latency_p99_ms=300.0),
                           limits) == [REFUSALS, OVERRUNS, LATENCY]
    # A busy load generator is named first when the step failed, and not at all when it held.
    assert failure_reasons(_step(50, loadgen_busy=True, latency_p99_ms=300.0),
                           limits) == [LOADGEN, LATENCY]
    assert failure_reasons(_step(50, loadgen_busy=True), limits) == []
    # The latency limit is the caller's.
    assert failure_reasons(_step(50, latency_p99_ms=20.0), Limits(latency_p99_ms=10.0)) == [LATENCY]


def test_reason_text_gives_the_numbers():
    limits = Limits()
    step = _step(400, connected=388, failure_kinds=[
        {"name": "x", "error": "join failed: no joined in time", "occurrences": 12}])
    assert reason_text(step, limits) == (
        "refusals (388 of 400 connected; 12 x join failed: no joined in time)")
    assert reason_text(_step(9, overrun_fraction=0.05, latency_p99_ms=130.0), limits) == (
        "overruns (5.0% of ticks overran, limit 1%), "
        "latency (state latency p99 130 ms, limit 100 ms)")
    assert reason_text(_step(9, loadgen_busy=True, loadgen_max_process_cpu_percent=97.4,
                             latency_p99_ms=130.0), limits).startswith(
        "load generator saturation (a load generator process at 97% of its core), latency")


# -- the headline's words -------------------------------------------------------------------------


def test_every_step_held_says_held_every_step_up_to_the_largest_tried():
    text = headline_text(headline([_step(50), _step(100), _step(200)]))
    assert text.startswith("Held every step up to 200 players (the largest tried) on one "
                           "server process"), text
    assert "the limit was not reached" in text and "800 µs" in text
    assert "Capacity" not in text and "holds 200" not in text


def test_a_failed_step_gives_the_knee_and_why():
    head = headline([_step(50), _step(100), _step(200, latency_p99_ms=150.0)])
    assert (head["users"], head["held_below"], head["failed_at"]) == (100, 100, 200)
    assert head["failed_reasons"] == [LATENCY] and not head["all_held"]
    text = headline_text(head)
    assert text.startswith("Knee between 100 and 200 players on one server process: 100 held, "
                           "200 did not — latency (state latency p99 150 ms, limit 100 ms)."), text
    assert "Held every step" not in text and "at least" not in text


def test_a_saturated_load_generator_makes_it_at_least():
    head = headline([_step(400), _step(800, loadgen_busy=True, connected=700,
                                       loadgen_max_process_cpu_percent=99.0)],
                    loadgen="bench.loadgen")
    assert head["failed_reasons"] == [LOADGEN, REFUSALS]
    text = headline_text(head)
    assert "Knee between 400 and 800 players" in text
    assert "load generator saturation (a load generator process at 99% of its core)" in text
    assert ("The load generator (bench.loadgen) was saturated there, so that is its limit, not "
            "the server's: the server holds at least 400 players.") in text


def test_no_step_held_names_the_smallest_and_why():
    text = headline_text(headline([_step(4, latency_p99_ms=2.0), _step(1, latency_p99_ms=1.5)],
                                  limits=Limits(latency_p99_ms=0.5)))
    assert text.startswith("No step held (every user connected, state latency p99 < 0.5 ms"), text
    assert "The smallest, 1 player on one server process, failed: latency (state latency p99 " \
           "1.5 ms, limit 0.5 ms)." in text


def test_the_table_says_why_a_step_did_not_hold():
    steps = [{**_step(50), "holds": True, "why_not": [], "failures": 0},
             {**_step(100, latency_p99_ms=130.0), "holds": False, "why_not": [LATENCY],
              "failures": 0, "search_step": "2 doubling"}]
    rows = step_table(steps, several=False, first=("step", "search_step"))
    assert rows[0].startswith("| step | users |") and rows[-2].endswith("| yes |")
    assert rows[-1].startswith("| 2 doubling | 100 |") and rows[-1].endswith("| no: latency |")


def test_the_limit_report_names_the_knee_and_how_the_search_stopped():
    steps = [_step(50), _step(100), _step(200, connected=150)]
    for step, phase in zip(steps, ("1 doubling", "2 doubling", "3 doubling"), strict=True):
        step.update(failures=0, holds=not failure_reasons(step, Limits()),
                    why_not=failure_reasons(step, Limits()), search_step=phase)
    report = {
        "date": "2026-01-02", "command": "python -m bench.capacity --find-limit",
        "machine": {"cpu": "Test CPU", "cores": 2, "ram_gib": 4.0, "os": "Linux",
                    "python": "3.11", "tornado": "6.6", "uvloop": "0.21"},
        "config": {"tick_rate": 20, "max_players": 20, "step_seconds": 30, "settle": 3,
                   "pinning": "no CPU pinning", "processes": 1, "start": 50, "ceiling": 6400,
                   "max_steps": 3, "resolution": "10%", "loadgen": "asyncio"},
        "steps": steps, "headline": headline(steps, loadgen="bench.loadgen"),
        "search": {"tried": [50, 100, 200], "held": 100, "failed": 200, "stopped": MAX_STEPS},
    }
    assert search_text(report) == ("The search stopped after its 3 steps (--max-steps) before "
                                   "the knee was within 10%.")
    report["headline_text"] = headline_text(report["headline"]) + " " + search_text(report)
    markdown = render_limit_markdown(report)
    assert markdown.startswith("# Arena capacity limit, 2026-01-02")
    assert "bench.loadgen (one asyncio process, raw sockets)" in markdown
    assert "| 3 doubling | 200 | 150 |" in markdown and "| no: refusals |" in markdown
    assert "**Knee between 100 and 200 players on one server process: 100 held, 200 did not — " \
           "refusals (150 of 200 connected)." in markdown
    report["search"] = {"tried": [50, 100], "held": 100, "failed": None, "stopped": CEILING}
    report["config"]["ceiling"] = 100
    assert search_text(report) == "The search stopped at its ceiling (--ceiling 100)."


# -- the load generator's side of a step ----------------------------------------------------------


def test_the_frame_parser_counts_state_latency_from_ts():
    import time

    hist = latency_histogram()
    parser = FrameParser(hist)
    now = int(time.time() * 1000)
    states = [b'{"type":"state","tick":%d,"ts":%d,"players":[]}' % (i, now - 40) for i in range(3)]
    frames = b"".join(bytes((0x81, len(s))) + s for s in states)
    other = b'{"type":"pong","id":1,"ts":1}'  # has a ts, but is no state
    assert parser.feed(frames + bytes((0x81, len(other))) + other) == [(1, other)]
    assert parser.states == 3 and sum(hist) == 3
    p99 = histogram_percentile(hist, 99)
    assert p99 is not None and 40.0 <= p99 < 1000.0, p99
    assert FrameParser().latency is None  # off unless asked for
    assert histogram_percentile(latency_histogram(), 50) is None
    counts = latency_histogram()
    counts[0], counts[25 * LATENCY_STEPS_PER_MS] = 98, 2
    assert histogram_percentile(counts, 50) == 1 / LATENCY_STEPS_PER_MS
    assert histogram_percentile(counts, 99) == pytest.approx(25.1)


def test_a_load_generator_result_makes_the_same_step_record_as_locust():
    result = {
        "players": 40, "joined": 38, "pongs": 400, "ping_p50_ms": 0.4, "ping_p99_ms": 2.5,
        "states_per_player_second": 19.9, "states_per_player_second_min": 18.0,
        "state_latency_samples": 7960, "state_latency_p50_ms": 0.6,
        "state_latency_p95_ms": 1.2, "state_latency_p99_ms": 3.4, "state_latency_max_ms": 9.9,
        "failures": 2, "failure_kinds": {"join failed: no joined in time": 2},
    }
    stats, failures = loadgen_rows(result)
    before = Snapshot(at=0.0, server_ticks=0, loadgen_ticks={1: 0}, metrics=None)
    after = Snapshot(at=10.0, server_ticks=100, loadgen_ticks={1: 50}, metrics=None)
    step = summarize_step(40, 10.0, stats, failures, before, after, [38, 39], [2**20],
                          limits=Limits(latency_p99_ms=3.0))
    assert step["latency_p99_ms"] == 3.4 and step["latency_p50_ms"] == 0.6
    assert step["ping_p99_ms"] == 2.5 and step["joined"] == 38 and step["connected"] == 38
    assert step["states_per_second"] == pytest.approx(796.0)
    assert step["states_per_user_second_min"] == 18.0
    assert step["failures"] == 2 and failures[0]["occurrences"] == 2
    assert step["why_not"] == [REFUSALS, LATENCY] and step["holds"] is False


# -- a real search -------------------------------------------------------------------------------


def test_find_limit_against_a_real_server(tmp_path: Path):
    """Tiny bounds and a state latency limit no step can meet: the search starts at 4 players,
    goes down to 1 and stops there, and the report says no step held and why (latency, with
    the p99 the load generator measured), although every player connected."""
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench.capacity", "--find-limit", "--start", "4",
         "--ceiling", "16", "--max-steps", "4", "--step-seconds", "1", "--settle", "0.5",
         "--latency-limit-ms", "0.01", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    [path] = out.glob("*-capacity-limit.json")
    report = json.loads(path.read_text())
    assert report["search"] == {"tried": [4, 2, 1], "held": None, "failed": 1,
                                "stopped": NARROW}, output
    for step in report["steps"]:
        assert step["connected"] == step["users"], step  # the players were there
        assert step["latency_p99_ms"] is not None and step["latency_p99_ms"] > 0.01, step
        assert LATENCY in step["why_not"] and not step["holds"], step
    assert [s["search_step"] for s in report["steps"]] == ["1 doubling", "2 bisecting",
                                                           "3 bisecting"]
    markdown = path.with_suffix(".md").read_text()
    assert "No step held" in markdown and "The smallest, 1 player on one server process, " \
                                          "failed: latency (state latency p99 " in markdown
    assert "there is nothing smaller to try" in report["headline_text"]
    assert report["headline_text"] in done.stdout
