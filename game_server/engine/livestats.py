"""The console's live figures of one process: what each room costs now, the host's own figures,
and their history over the last hour.

Everything here is read from counters the engine already keeps (each room's `RoomCost`, the
`EngineCounters`, the tick histogram, the process's CPU clock), as differences between two
readings: `rooms()` and `host()` over a window of at least `WINDOW` seconds (however many
consoles ask, a reading is taken at most once per window: `builds` counts them), `history()`
from one sample every `HISTORY_EVERY` seconds kept in a ring of `HISTORY_POINTS` (an hour).
Nothing is done per tick or per player; a process with no console open takes only the history
samples.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from game_server.engine.metrics import EngineCounters, TickHistogram
from game_server.engine.roomcost import RING

if TYPE_CHECKING:
    from game_server.engine.room import Room

WINDOW = 1.0  # seconds: the shortest window the live figures are measured over
HISTORY_EVERY = 10.0  # seconds between two points of the chart
HISTORY_POINTS = 360  # an hour of them


@dataclass
class _Reading:
    """The cumulative counters at one moment."""

    at: float  # monotonic seconds
    cpu: float  # process CPU seconds
    state_bytes: int
    tick_counts: list[int]
    # room id -> game, encode, send (seconds), bytes sent, overruns
    rooms: dict[str, tuple[float, float, float, int, int]]


class LiveStats:
    """This process's live figures for the console (see the module's docstring)."""

    def __init__(self, rooms: Callable[[], list[Room]], counters: EngineCounters, *,
                 players: Callable[[], int], tick_histogram: TickHistogram | None = None,
                 process_time: Callable[[], float] = time.process_time,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._rooms = rooms
        self._counters = counters
        self._players = players
        self._histogram = tick_histogram
        self._process_time = process_time
        self._monotonic = monotonic
        self._wall = wall
        self.builds = 0  # live readings taken (the console's cost, for tests)
        self._base = self._read()
        self._figures: tuple[dict[str, Any], dict[str, dict[str, Any]]] | None = None
        self._history_base = self._base
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY_POINTS)

    def _read(self) -> _Reading:
        rooms = {}
        for room in self._rooms():
            cost = room.cost
            if cost is not None and not room.closed:
                rooms[room.id] = (cost.game, cost.encode, cost.send, cost.bytes_sent,
                                  cost.overruns)
        histogram = self._histogram
        return _Reading(self._monotonic(), self._process_time(), self._counters.state_bytes,
                        list(histogram.counts) if histogram is not None else [], rooms)

    # -- the live view --------------------------------------------------------------------------

    def host(self) -> dict[str, Any]:
        """This process: `cpu` (its CPU time over the window, as a fraction of one core),
        `tick_p99_ms`, `bytes_per_second` (states), `players` (connected, seated) and
        `rooms_accounted` (False when `--no-room-accounting`)."""
        return self._live()[0]

    def rooms(self) -> dict[str, dict[str, Any]]:
        """Each accounted room's costs over the window, by room id: `cpu` (a fraction of one
        core) split into `game`, `encode` and `send`, `share` (of this process's CPU),
        `tick_p99_ms` (its last ticks), `state_bytes` (its last state), `bytes_per_second`,
        `overruns` (ticks longer than the period, ever) and `overrun` (one in the window)."""
        return self._live()[1]

    def _live(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        now = self._monotonic()
        if self._figures is not None and now - self._base.at < WINDOW:
            return self._figures
        reading = self._read()
        self.builds += 1
        base, self._base = self._base, reading
        self._figures = self._compare(base, reading)
        return self._figures

    def _compare(self, base: _Reading, reading: _Reading
                 ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        wall = max(reading.at - base.at, 1e-9)
        process_cpu = max(reading.cpu - base.cpu, 0.0)
        by_id = {room.id: room for room in self._rooms()}
        rooms: dict[str, dict[str, Any]] = {}
        recent: list[float] = []
        accounted = False
        for room_id, (game, encode, send, sent, overruns) in reading.rooms.items():
            accounted = True
            was = base.rooms.get(room_id, (0.0, 0.0, 0.0, 0, 0))
            parts = (game - was[0], encode - was[1], send - was[2])
            spent = sum(parts)
            room = by_id.get(room_id)
            cost = room.cost if room is not None else None
            p99 = cost.tick_p99() if cost is not None else None
            if cost is not None and cost.ticks:
                recent.extend(cost.durations[:min(cost.ticks, RING)])
            rooms[room_id] = {
                "cpu": spent / wall, "game": parts[0] / wall, "encode": parts[1] / wall,
                "send": parts[2] / wall,
                "share": spent / process_cpu if process_cpu > 0 else 0.0,
                "tick_p99_ms": None if p99 is None else p99 * 1000.0,
                "state_bytes": cost.state_size if cost is not None else 0,
                "bytes_per_second": (sent - was[3]) / wall,
                "overruns": overruns, "overrun": overruns > was[4],
            }
        host = {
            "cpu": process_cpu / wall,
            "tick_p99_ms": _ms(self._p99(recent, base, reading)),
            "bytes_per_second": (reading.state_bytes - base.state_bytes) / wall,
            "players": self._players(),
            "rooms_accounted": accounted or self._accounting(),
            "window": wall,
        }
        return host, rooms

    def _accounting(self) -> bool:
        return any(room.cost is not None for room in self._rooms())

    def _p99(self, recent: list[float], base: _Reading, reading: _Reading) -> float | None:
        """The rooms' last ticks when they are accounted, else the tick histogram's window
        (the upper bound of the bucket the 99th percentile falls in)."""
        if recent:
            recent.sort()
            return recent[min(len(recent) - 1, int(len(recent) * 0.99))]
        histogram = self._histogram
        if histogram is None or not reading.tick_counts:
            return None
        counts = [b - a for a, b in zip(base.tick_counts, reading.tick_counts, strict=True)]
        total = sum(counts)
        if not total:
            return None
        running = 0
        for bound, count in zip((*histogram.bounds, None), counts, strict=True):
            running += count
            if running >= total * 0.99:
                return bound if bound is not None else histogram.bounds[-1]
        return None

    # -- the chart ------------------------------------------------------------------------------

    def sample_history(self) -> None:
        """One point of the chart (called every `HISTORY_EVERY` seconds): players, tick p99,
        bytes sent per second and CPU, over the time since the previous point."""
        reading = self._read()
        base, self._history_base = self._history_base, reading
        host, _rooms = self._compare(base, reading)
        self._history.append({"t": int(self._wall() * 1000), "players": host["players"],
                              "tick_p99_ms": host["tick_p99_ms"],
                              "bytes_per_second": round(host["bytes_per_second"]),
                              "cpu": round(host["cpu"], 4)})

    def history(self) -> list[dict[str, Any]]:
        """The chart's points, oldest first (at most an hour)."""
        return list(self._history)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0
