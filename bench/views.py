"""`python -m bench.views`: what per-player views cost a ticking room, in bytes and CPU.

Runs a real `Room` of the example game Lantern (examples/lantern: fog of war, each player sent
what its lantern lights) with N players steering at random, and times its ticks as the server
runs them: the waiting inputs handed over, the game's step, `changes()`, and the state fan-out
encoding each distinct view once and writing it to every member (in-memory connections that
accept everything). The same room with the lights on (`fog` off: one view shared by everyone,
encoded once) is the baseline, in the same run. Maps grow with the players, about 80 cells each,
so a lantern lights about as many players at every size.

    python -m bench.views --players 8,50,200 --out bench/results/2026-12-06-views.md
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.tick import Member
from game_server.engine.room import Room

CELLS_PER_PLAYER = 80


class IdleTimer:
    def cancel(self) -> None:
        pass


class IdleScheduler:
    """Timers that never fire: a run is shorter than a round."""

    def every(self, interval: float, callback: Callable[[], object]) -> IdleTimer:
        return IdleTimer()

    def later(self, delay: float, callback: Callable[[], object]) -> IdleTimer:
        return IdleTimer()


@dataclass(frozen=True)
class Cost:
    """One room's ticks: per tick, and per player and tick."""

    players: int
    fog: bool
    size: int
    views: float  # distinct encoded views per tick, on average
    bytes_per_player: float  # state bytes sent per player per tick
    us_per_player: float  # CPU µs per player per tick (median tick / players)
    tick_us: float  # CPU µs of the median tick


def map_size(players: int) -> int:
    """The maze's side for `players`: about `CELLS_PER_PLAYER` cells each, within the game's
    bounds (16 to 128)."""
    return max(16, min(128, round(math.sqrt(players * CELLS_PER_PLAYER)) + 2))


def measure(players: int, fog: bool, *, ticks: int, warmup: int, seed: int = 1) -> Cost:
    """Tick a room of `players` steering players `warmup + ticks` times; the last `ticks` count."""
    from arena_lantern import spec  # the example game: pip install -e examples/lantern

    clock = [0.0]
    size = map_size(players)
    room = Room("bench", spec, seed=seed, options={"size": size, "round_seconds": 600,
                                                   "fog": fog},
                scheduler=IdleScheduler(), max_players=players, monotonic=lambda: clock[0],
                wall=lambda: 1.7e9)
    members = [Member(i) for i in range(players)]
    ids = [room.join(member) for member in members]
    rng = random.Random(seed)
    headings = [(-1, 0, 1)[i % 3] for i in range(players)]
    samples: list[float] = []
    views = 0
    sent_before = 0
    for t in range(warmup + ticks):
        if t == warmup:
            sent_before = sum(m.connection.sent for m in members)
        for pid in ids:
            if rng.random() < 0.1:  # each player turns about once a second
                headings[pid - 1] = rng.choice((-1, 0, 1))
                room.message(pid, "steer", {"type": "steer", "dx": headings[pid - 1],
                                            "dy": rng.choice((-1, 0, 1))})
        clock[0] += room.dt
        start = time.process_time()
        room.tick()
        elapsed = time.process_time() - start
        if t >= warmup:
            samples.append(elapsed)
            views += len({id(m.connection.last) for m in members})
    sent = sum(m.connection.sent for m in members) - sent_before
    samples.sort()
    median = samples[len(samples) // 2]
    return Cost(players, fog, size, views / ticks, sent / ticks / players,
                median / players * 1e6, median * 1e6)


def table(costs: list[Cost]) -> str:
    lines = [
        "| players | maze | views | distinct views / tick | bytes / player / tick "
        "| µs / player / tick | tick (µs, median) |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for c in costs:
        kind = "per player (fog)" if c.fog else "one shared (lights on)"
        lines.append(f"| {c.players} | {c.size}x{c.size} | {kind} | {c.views:.1f} "
                     f"| {c.bytes_per_player:.0f} | {c.us_per_player:.1f} | {c.tick_us:.0f} |")
    return "\n".join(lines)


def machine() -> str:
    """The CPU model and core count, and Python's version."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next((line.split(":", 1)[1].strip() for line in info
                          if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.views", description=__doc__.split("\n")[0])
    parser.add_argument("--players", default="8,50,200",
                        help="room sizes, comma-separated (default 8,50,200)")
    parser.add_argument("--ticks", type=int, default=300, help="ticks measured (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="ticks first run unmeasured")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    try:
        sizes = [int(n) for n in args.players.split(",")]
    except ValueError:
        parser.error(f"--players must be integers separated by commas, not {args.players!r}")
    if not sizes or min(sizes) < 1 or args.ticks < 1 or args.warmup < 0:
        parser.error("--players and --ticks must be at least 1, --warmup at least 0")
    costs = [measure(n, fog, ticks=args.ticks, warmup=args.warmup)
             for n in sizes for fog in (True, False)]
    result = table(costs)
    print(result)
    if args.out is not None:
        command = " ".join(["python -m bench.views", *(argv if argv is not None else sys.argv[1:])])
        args.out.write_text(
            f"# Per-player views: bytes and CPU per player per tick\n\n"
            f"`{command}` on {machine()}: {args.ticks} ticks measured after {args.warmup}, "
            f"CPU time (process_time) per tick.\n\n{result}\n",
            encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
