"""Where a server stops holding: which player count `bench.capacity --find-limit` tries next
and when it stops, why a step did not hold, and the headline of any capacity run in words
(held every step up to the largest tried, or the knee and why).

The search is pure: `LimitSearch.next_users()` names the next step, `record(users, held)` takes
its outcome. It doubles from `start` while steps hold (up to `ceiling`), then bisects between
the largest step that held and the smallest that did not, until they are within the resolution
or `max_steps` steps have run. When the first step already fails it bisects down towards 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.report import num

# Why a step did not hold, in the order a report names them.
LOADGEN = "load generator saturation"
REFUSALS = "refusals"
LATENCY = "latency"
OVERRUNS = "overruns"

# How a search ended.
NARROW = "narrow"  # a step failed and the interval is within the resolution
CEILING = "ceiling"  # every step held up to the ceiling
MAX_STEPS = "max steps"  # the step budget ran out first
OUT_OF_TIME = "out of time"  # the next step would not fit in --max-minutes


@dataclass(frozen=True)
class Resolution:
    """How narrow the interval must get: a fraction of the failing count ("10%") or a number
    of players ("25"); never finer than one player."""

    fraction: float = 0.10
    players: int = 0

    @classmethod
    def parse(cls, text: str) -> Resolution:
        """"10%" or "25"; ValueError for anything else."""
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", text)
        if not match or float(match.group(1)) <= 0:
            raise ValueError(f"a resolution is a percentage like 10% or a player count, "
                             f"not {text!r}")
        if match.group(2):
            return cls(fraction=float(match.group(1)) / 100.0, players=0)
        return cls(fraction=0.0, players=int(float(match.group(1))))

    def narrow(self, held: int, failed: int) -> bool:
        """Whether `held` (0: none) and `failed` are close enough to stop."""
        width = failed - held
        return width <= 1 or width <= max(self.players, self.fraction * failed)

    def text(self) -> str:
        return f"{self.fraction:.0%}" if self.players == 0 else f"{self.players} players"


@dataclass
class LimitSearch:
    """Doubling, then bisection, over player counts; bounded by `ceiling` and `max_steps`."""

    start: int
    ceiling: int
    max_steps: int
    resolution: Resolution = field(default_factory=Resolution)
    tried: list[tuple[int, bool]] = field(default_factory=list)  # (users, held) in order
    stopped: str | None = None

    def __post_init__(self) -> None:
        if self.start < 1 or self.ceiling < self.start or self.max_steps < 1:
            raise ValueError("need 1 <= start <= ceiling and at least one step")

    @property
    def held(self) -> int | None:
        """The largest count that held below the smallest that failed (all of them if none
        failed); None when none held there."""
        failed = self.failed
        counts = [u for u, ok in self.tried if ok and (failed is None or u < failed)]
        return max(counts, default=None)

    @property
    def failed(self) -> int | None:
        """The smallest count that did not hold; None while every step held."""
        return min((u for u, ok in self.tried if not ok), default=None)

    @property
    def phase(self) -> str:
        """"doubling" until a step fails, then "bisecting"."""
        return "doubling" if self.failed is None else "bisecting"

    def record(self, users: int, held: bool) -> None:
        self.tried.append((users, held))

    def stop(self, why: str) -> None:
        """End the search from outside (the time budget ran out)."""
        self.stopped = why

    def next_users(self) -> int | None:
        """The next count to try; None once the search is over (then `stopped` says why)."""
        if self.stopped is not None:
            return None
        if not self.tried:
            return self.start
        if len(self.tried) >= self.max_steps:
            return self._end(MAX_STEPS)
        failed, held = self.failed, self.held
        if failed is None:
            last = self.tried[-1][0]
            if last >= self.ceiling:
                return self._end(CEILING)
            return min(2 * last, self.ceiling)
        low = held or 0
        if self.resolution.narrow(low, failed):
            return self._end(NARROW)
        return (low + failed) // 2

    def _end(self, why: str) -> None:
        self.stopped = why
        return None


# -- why a step did not hold ---------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """The rule a step is held to: every user connected, state latency p99 under
    `latency_p99_ms`, fewer than `overrun_fraction` of ticks overran; `loadgen_busy_percent`
    of one core marks a load generator process as saturated."""

    latency_p99_ms: float = 100.0
    overrun_fraction: float = 0.01
    loadgen_busy_percent: float = 90.0


DEFAULT_LIMITS = Limits()


def failure_reasons(step: Mapping[str, Any], limits: Limits) -> list[str]:
    """Why `step` did not hold, most telling first: the load generator's saturation (then what
    the players saw may be its doing, not the server's), refusals (users not connected),
    overruns, latency. Empty when it held."""
    reasons = []
    connected, p99, overrun = (step.get("connected"), step.get("latency_p99_ms"),
                               step.get("overrun_fraction"))
    if connected is None or connected < step["users"]:
        reasons.append(REFUSALS)
    if overrun is not None and overrun >= limits.overrun_fraction:
        reasons.append(OVERRUNS)
    if p99 is None or p99 >= limits.latency_p99_ms:
        reasons.append(LATENCY)
    if reasons and step.get("loadgen_busy"):
        reasons.insert(0, LOADGEN)
    return reasons


def reason_text(step: Mapping[str, Any], limits: Limits) -> str:
    """The reasons with the numbers behind them: "latency (state latency p99 130 ms, limit
    100 ms)"."""
    parts = []
    for reason in failure_reasons(step, limits):
        if reason == LOADGEN:
            cpu = step.get("loadgen_max_process_cpu_percent")
            parts.append(f"{LOADGEN} (a load generator process at "
                         f"{'?' if cpu is None else f'{cpu:.0f}'}% of its core)")
        elif reason == REFUSALS:
            kinds = _failure_kinds(step)
            parts.append(f"refusals ({_count(step.get('connected'))} of {step['users']} "
                         f"connected{'; ' + kinds if kinds else ''})")
        elif reason == OVERRUNS:
            parts.append(f"overruns ({step['overrun_fraction']:.1%} of ticks overran, limit "
                         f"{limits.overrun_fraction:.0%})")
        else:
            p99 = step.get("latency_p99_ms")
            parts.append("latency (state latency p99 "
                         + ("unknown" if p99 is None else f"{p99:g} ms")
                         + f", limit {limits.latency_p99_ms:g} ms)")
    return ", ".join(parts)


def _count(value: Any) -> str:
    return "?" if value is None else str(value)


def _failure_kinds(step: Mapping[str, Any]) -> str:
    """The step's commonest failures, "12 x join failed: no joined in time"."""
    kinds = step.get("failure_kinds") or []
    rows = [(k.get("occurrences", 0), k.get("error") or k.get("name", "")) for k in kinds]
    rows.sort(key=lambda r: -r[0])
    return ", ".join(f"{n} x {kind}" for n, kind in rows[:2])


# -- the headline --------------------------------------------------------------------------------


def headline(steps: Sequence[Mapping[str, Any]], processes: int = 1,
             limits: Limits = DEFAULT_LIMITS, loadgen: str = "locust") -> dict[str, Any]:
    """What the steps show: the largest step that holds (`users`) and what a player-second cost
    the server (all its `processes`) there; the largest step tried; and, when a step did not
    hold, the knee: the smallest such step (`failed_at`), why (`failed_reasons`, `why`) and
    the largest step below it that held (`held_below`)."""
    held = [s for s in steps if not failure_reasons(s, limits)]
    failed = [s for s in steps if failure_reasons(s, limits)]
    head: dict[str, Any] = {
        "users": None,
        "server_processes": processes,
        "largest_tried": max((s["users"] for s in steps), default=None),
        "all_held": bool(steps) and not failed,
        "latency_limit_ms": limits.latency_p99_ms,
        "overrun_limit": limits.overrun_fraction,
        "loadgen": loadgen,
        "loadgen_busy_at": sorted({s["users"] for s in steps if s.get("loadgen_busy")}),
    }
    if failed:
        knee = min(failed, key=lambda s: s["users"])
        below = [s["users"] for s in held if s["users"] < knee["users"]]
        head.update({
            "failed_at": knee["users"],
            "failed_reasons": failure_reasons(knee, limits),
            "why": reason_text(knee, limits),
            "held_below": max(below, default=None),
        })
    if held:
        best = max(held, key=lambda s: s["users"])
        head.update({
            "users": best["users"],
            "split": best.get("split"),
            "latency_p99_ms": best.get("latency_p99_ms"),
            "overrun_fraction": best.get("overrun_fraction"),
            "server_cpu_percent": best.get("server_cpu_percent"),
            "cpu_seconds_per_player_second": best.get("cpu_seconds_per_player_second"),
            "cpu_us_per_player_second": best.get("cpu_us_per_player_second"),
        })
    return head


def headline_text(head: Mapping[str, Any]) -> str:
    """The headline in words. Every step held: "held every step up to N (the largest tried)",
    never a capacity, since the limit was not reached. A step failed: the knee (the largest
    step that held below the smallest that failed) and why it failed; a saturated load
    generator makes it "at least" the step that held."""
    processes = head.get("server_processes") or 1
    where = "one server process" if processes == 1 else f"{processes} server processes"
    limit = head.get("latency_limit_ms", DEFAULT_LIMITS.latency_p99_ms)
    overrun_limit = head.get("overrun_limit", DEFAULT_LIMITS.overrun_fraction)
    rule = (f"every user connected, state latency p99 < {limit:g} ms, "
            f"< {overrun_limit:.0%} of ticks overran")
    loadgen = head.get("loadgen") or "locust"
    failed = head.get("failed_at")
    if head.get("users") is None:
        text = f"No step held ({rule})."
        if failed is not None:
            text += (f" The smallest, {failed} player{'s' if failed != 1 else ''} on {where}, "
                     f"failed: {head.get('why')}.")
    else:
        users = head["users"]
        overrun = head.get("overrun_fraction")
        overrun_text = "overruns unknown" if overrun is None else f"{overrun:.2%} of ticks overran"
        split = f"; split {head['split']}" if head.get("split") and processes > 1 else ""
        seen = (f"every user connected, state latency p99 {num(head.get('latency_p99_ms'))} "
                f"ms, {overrun_text}{split}")
        if failed is None:
            text = (f"Held every step up to {users} players (the largest tried) on {where} "
                    f"({seen}): the limit was not reached.")
        else:
            below = head.get("held_below") or 0
            text = (f"Knee between {below} and {failed} players on {where}: {below} held, "
                    f"{failed} did not — {head.get('why')}.")
            if LOADGEN in (head.get("failed_reasons") or ()):
                text += (f" The load generator ({loadgen}) was saturated there, so that is its "
                         f"limit, not the server's: the server holds at least {below} players.")
            if users > failed:
                text += (f" {users} players held as well, above the knee: the limit is not "
                         "sharp on this machine.")
            text += f" At {users} players: {seen}."
        text += (f" Server CPU per player-second at {users}: "
                 f"{num(head.get('cpu_seconds_per_player_second'), 6)} "
                 f"CPU-s ({num(head.get('cpu_us_per_player_second'))} µs).")
    if head.get("loadgen_busy_at"):
        steps = ", ".join(str(u) for u in head["loadgen_busy_at"])
        hint = " (try --locust-workers)" if loadgen == "locust" else ""
        text += (
            f" The load generator ({loadgen}) was near 100% of a core at {steps} players: "
            f"there, it may be the bottleneck{hint}."
        )
    return text
