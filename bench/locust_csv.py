"""What locust wrote: the rows of its `*_stats.csv` and `*_failures.csv`, and one percentile of
a stats row."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


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
