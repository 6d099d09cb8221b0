"""What the capacity and floor reports share: where they go, how a run is recorded and repeated,
how numbers print, and writing the JSON and Markdown files."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


def new_report(command: str, machine: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """A run's report as it starts: when, how to repeat it, where, then `config` and `sections`
    (each filled in as the run goes)."""
    now = dt.datetime.now()
    return {
        "date": now.strftime("%Y-%m-%d"),
        "started_at": now.isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "config": {},
        **sections,
    }


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """`python -m <module>` with this run's arguments, quoted for a shell: how to repeat it."""
    args = sys.argv[1:] if argv is None else argv
    return ("python -m " + module + " " + " ".join(_quote(a) for a in args)).strip()


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w./,=:+-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def exit_status(report: Mapping[str, Any]) -> int:
    """1 when a server or load generator failed, 130 when interrupted, else 0."""
    if report.get("error"):
        return 1
    return 130 if report.get("interrupted") else 0


def display_path(path: Path) -> str:
    """Relative to the repository when inside it, as a report should show it."""
    try:
        return str(path.resolve().relative_to(REPO_DIR))
    except ValueError:
        return str(path)


# -- numbers -----------------------------------------------------------------------------------


def num(value: Any, digits: int = 0) -> str:
    """A number for a table: thousands separated, `digits` decimals, "–" when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# -- files -------------------------------------------------------------------------------------


def machine_line(machine: Mapping[str, Any], package: str) -> str:
    """The Markdown line that says what the numbers were measured on, naming `package`'s
    version after Python's and Tornado's."""
    m = machine
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; {m['os']}; "
        f"Python {m['python']}, Tornado {m['tornado']}, {package} {m.get(package)}."
    )


def write_report_files(report: Mapping[str, Any], out: Path, kind: str,
                       render_markdown: Callable[[Mapping[str, Any]], str]) -> list[Path]:
    """Write `<date>-<kind>.json` and `.md` into `out`. An interrupted run's go to
    `<date>-<kind>-partial.*`, so they never replace a finished report of the same day."""
    out.mkdir(parents=True, exist_ok=True)
    partial = "-partial" if report.get("interrupted") else ""
    stem = out / f"{report['date']}-{kind}{partial}"
    paths = [stem.with_suffix(".json"), stem.with_suffix(".md")]
    paths[0].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    paths[1].write_text(render_markdown(report))
    return paths
