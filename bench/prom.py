"""The Prometheus text format as the benchmarks read it: samples by name, totals over labels,
histogram buckets, their difference between two scrapes, and quantiles of it."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

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
