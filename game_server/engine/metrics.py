"""What the engine measures, cheaply, and how it is exported in Prometheus text format.

The hot counters (messages received, states and bytes sent, errors) are plain integers on one
`EngineCounters` object that sessions and rooms bump; a collector turns them into Prometheus
counters only when `/metrics` is scraped. Histograms are observed once per room tick.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

TICK_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
LATENESS_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class EngineCounters:
    """Monotonic counts bumped on the hot path: attribute increments, nothing else."""

    __slots__ = ("messages_received", "state_messages", "state_bytes", "ticks", "ticks_overrun",
                 "steps_caught_up", "steps_dropped", "errors")

    def __init__(self) -> None:
        self.messages_received = 0
        self.state_messages = 0
        self.state_bytes = 0
        self.ticks = 0
        self.ticks_overrun = 0
        self.steps_caught_up = 0
        self.steps_dropped = 0
        self.errors: dict[str, int] = {}

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1


class TickHistogram:
    """A histogram observed from the event loop only: a bisect and two additions, no lock.

    prometheus_client's Histogram takes a lock per observation; rooms observe once per tick on
    the IOLoop thread, so plain counts turned into a family at scrape time are enough.
    """

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        cumulative, running = [], 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            cumulative.append((floatToGoString(bound), running))
        return HistogramMetricFamily(name, doc, buckets=cumulative, sum_value=self.total)


class TickObserver:
    """Receives one call per room tick; the default does nothing (tests, tools)."""

    counters: EngineCounters

    def __init__(self, counters: EngineCounters | None = None) -> None:
        self.counters = counters or EngineCounters()

    def tick(self, *, duration: float, lateness: float, overrun: bool) -> None:
        """Called after each tick with its work time and how late it started (seconds)."""


# The gauges `/metrics` and `/healthz` share: healthz field -> (Prometheus name, help).
GAUGES = {
    "rooms": ("arena_rooms", "Live rooms in this process"),
    "players_connected": ("arena_players_connected",
                          "Open game sockets (connected players, in a room or not)"),
    "seats_held": ("arena_seats_held", "Seats taken in this process's rooms: players in them "
                   "plus dropped players whose seat waits --resume-grace for a resume"),
    "seats_connected": ("arena_seats_connected", "Seats in this process's rooms whose player "
                        "is connected"),
    "seats_away": ("arena_seats_away", "Seats in this process's rooms whose player dropped "
                   "and may resume within --resume-grace"),
    "spectators": ("arena_spectators", "Spectators watching this process's rooms (in no seat "
                   "count: a spectator is not a player)"),
}


class _CounterCollector(Collector):
    def __init__(self, counters: EngineCounters, gauges: Callable[[], dict[str, int]],
                 histograms: list[tuple[str, str, TickHistogram]]) -> None:
        self._c = counters
        self._gauges = gauges
        self._histograms = histograms

    def collect(self) -> Iterator[Metric]:
        c = self._c
        for key, value in self._gauges().items():
            name, doc = GAUGES[key]
            yield GaugeMetricFamily(name, doc, value)
        for name, doc, value in (
            ("arena_messages_received", "WebSocket messages received", c.messages_received),
            ("arena_state_messages_sent", "State messages sent (per recipient)", c.state_messages),
            ("arena_state_bytes_sent", "State frame payload bytes sent (per recipient)",
             c.state_bytes),
            ("arena_ticks", "Room ticks run", c.ticks),
            ("arena_ticks_overrun", "Ticks that took longer than a period or started a "
             "period late", c.ticks_overrun),
            ("arena_steps_caught_up", "Extra simulation steps run to catch up", c.steps_caught_up),
            ("arena_steps_dropped", "Simulation steps skipped after a stall", c.steps_dropped),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        errors = CounterMetricFamily("arena_errors", "Error messages sent, by code",
                                     labels=["code"])
        for code, count in sorted(c.errors.items()):
            errors.add_metric([code], count)
        yield errors
        for name, doc, histogram in self._histograms:
            yield histogram.family(name, doc)


class Metrics(TickObserver):
    """The server's metrics, in their own registry (never the process-global one).

    Two counts of players, never to be confused: `players_connected` counts open game sockets,
    `seats_held` counts seats in rooms, a dropped player's seat included while it waits for a
    resume; it splits into `seats_connected` (the player is there) and `seats_away` (dropped,
    may resume). `counts()` gives them (and the rooms) to `/healthz`; `/metrics` exports the
    same.
    """

    def __init__(self, *, players_connected: Callable[[], int], seats_held: Callable[[], int],
                 rooms: Callable[[], int], seats_away: Callable[[], int],
                 spectators: Callable[[], int]) -> None:
        super().__init__()
        self.registry = CollectorRegistry()
        self._players_connected = players_connected
        self._seats_held = seats_held
        self._seats_away = seats_away
        self._rooms = rooms
        self._spectators = spectators
        self.tick_duration = TickHistogram(TICK_BUCKETS)
        self.tick_lateness = TickHistogram(LATENESS_BUCKETS)
        self.registry.register(_CounterCollector(self.counters, self.counts, [
            ("arena_tick_duration_seconds", "Work time of one room tick", self.tick_duration),
            ("arena_tick_lateness_seconds", "Actual minus scheduled start of a room tick",
             self.tick_lateness),
        ]))
        self.refused = Counter(
            "arena_connections_refused", "WebSocket handshakes refused, by reason",
            ["reason"], registry=self.registry)
        self.placements = Counter(
            "arena_placements", "Joins placed through the presence, by outcome: seated here, "
            "redirected elsewhere, claimed (a redirected player arrived), local (the presence "
            "was unreachable)", ["outcome"], registry=self.registry)
        self.http = Histogram(
            "arena_http_request_duration_seconds", "HTTP request durations, by route",
            ["route"], buckets=HTTP_BUCKETS, registry=self.registry)

    def counts(self) -> dict[str, int]:
        """Rooms, connected players, seats (taken, connected, away) and spectators now (the
        keys of `GAUGES`)."""
        held, away = self._seats_held(), self._seats_away()
        return {"rooms": self._rooms(), "players_connected": self._players_connected(),
                "seats_held": held, "seats_connected": held - away, "seats_away": away,
                "spectators": self._spectators()}

    def tick(self, *, duration: float, lateness: float, overrun: bool) -> None:
        self.tick_duration.observe(duration)
        self.tick_lateness.observe(lateness if lateness > 0.0 else 0.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
