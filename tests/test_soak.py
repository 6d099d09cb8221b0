"""The soak benchmark's judgement and metric parsing (the run itself is `python -m bench.soak`)."""

from __future__ import annotations

from bench.soak import Sample, SoakReport, histogram_buckets, judge, p99_between

METRICS = """# TYPE arena_tick_duration_seconds histogram
arena_tick_duration_seconds_bucket{le="0.001"} 90.0
arena_tick_duration_seconds_bucket{le="0.005"} 99.0
arena_tick_duration_seconds_bucket{le="+Inf"} 100.0
"""


def test_histogram_parsing_and_p99_of_the_interval() -> None:
    after = histogram_buckets(METRICS, "arena_tick_duration_seconds")
    assert after == [(0.001, 90.0), (0.005, 99.0), (float("inf"), 100.0)]
    before = [(0.001, 0.0), (0.005, 0.0), (float("inf"), 0.0)]
    assert p99_between(before, after) == 0.005
    assert p99_between(after, after) == 0.0


def report(rss: list[float], fds: list[int], ticks: list[float]) -> SoakReport:
    r = SoakReport(minutes=1)
    rows = zip(rss, fds, ticks, strict=True)
    r.samples = [Sample(i, m, f, t, 10) for i, (m, f, t) in enumerate(rows)]
    judge(r)
    return r


def test_flat_runs_pass_and_growth_fails() -> None:
    assert report([50, 51, 50, 52, 51, 50], [40] * 6, [2] * 6).ok
    grew = report([50, 60, 70, 80, 90, 100], [40] * 6, [2] * 6)
    assert not grew.ok and "RSS" in grew.verdict
    leaked = report([50] * 6, [40, 50, 60, 70, 80, 90], [2] * 6)
    assert not leaked.ok and "descriptors" in leaked.verdict
    slow = report([50] * 6, [40] * 6, [1, 1, 5, 10, 20, 20])
    assert not slow.ok and "tick" in slow.verdict
