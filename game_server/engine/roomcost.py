"""What each room costs its process: CPU time in its game, in encoding and in sending, its tick
times, the size of its states and the bytes it sends.

A room that is accounted holds one `RoomCost` (made by the process's `CostBook`): plain
counters bumped where the room already measures time (its tick; `StateFanout.send` around the
encode and the writes), never an object per player or per message. The tick's own duration is
split: what the fanout spent encoding and sending is taken out, the rest is the game's (its
steps, the inputs handed to it, building its changes). A room's events (messages, timers,
joins, leaves, resumes, signals) are timed by wrapping the room's entry points once, when the
room is made, so a room that is not accounted runs the class's own methods untouched.

The console reads these counters (engine/livestats.py) at most once a second; `/metrics` adds
them up by mode when it is scraped (`ModeCostCollector`), rooms that closed included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from time import perf_counter
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

RING = 128  # the last tick durations kept per room, for its p99 (a power of two)
PARTS = ("game", "encode", "send")
# Room entry points other than the tick, timed as the game's part (with what they send).
EVENTS = ("join", "hold", "resume", "remove", "kick", "fire", "signal")


class RoomCost:
    """One room's accumulated costs (seconds, bytes, counts), bumped from the event loop."""

    __slots__ = ("mode", "game", "encode", "send", "bytes_sent", "state_size", "ticks",
                 "overruns", "durations", "at", "io", "mark", "depth", "closed")

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.game = 0.0  # seconds in the game's hooks (and the room's own handling of them)
        self.encode = 0.0  # seconds encoding states
        self.send = 0.0  # seconds writing them to the members' connections
        self.bytes_sent = 0  # state bytes written, summed over recipients
        self.state_size = 0  # bytes of the last state encoded (the shared view)
        self.ticks = 0
        self.overruns = 0  # ticks whose own work took longer than the tick's period
        self.durations = [0.0] * RING  # the last ticks' durations, a ring
        self.at = 0  # where the next duration goes in the ring
        self.io = 0.0  # encode + send time not yet taken out of a tick's or event's duration
        self.mark = 0.0  # perf_counter when the last encode ended (the sends start there)
        self.depth = 0  # nested timed entry points: only the outermost is timed
        self.closed = False

    @property
    def cpu(self) -> float:
        """Seconds of CPU this room has cost, all parts."""
        return self.game + self.encode + self.send

    # -- bumped by the fanout (engine/fanout.py) ----------------------------------------------

    def encoded(self, started: float, size: int) -> None:
        """A state of `size` bytes was encoded from `started` (perf_counter) until now."""
        now = perf_counter()
        spent = now - started
        self.encode += spent
        self.io += spent
        self.state_size = size
        self.mark = now

    def view_encoded(self, started: float) -> None:
        """A private view was encoded, from `started` until now, among the sends: the encode
        part, not the send part."""
        spent = perf_counter() - started
        self.encode += spent
        self.io += spent
        self.mark += spent

    def sent(self, sent_bytes: int) -> None:
        """The state's writes, since the encode ended, are done (`sent_bytes` in all)."""
        spent = perf_counter() - self.mark
        self.send += spent
        self.io += spent
        self.bytes_sent += sent_bytes

    # -- bumped by the room (engine/room.py) ---------------------------------------------------

    def ticked(self, elapsed: float, period: float) -> None:
        """One tick took `elapsed` seconds, encoding and sending included."""
        self.game += elapsed - self.io
        self.io = 0.0
        self.ticks += 1
        if elapsed > period:
            self.overruns += 1
        at = self.at
        self.durations[at] = elapsed
        self.at = (at + 1) & (RING - 1)

    def tick_p99(self) -> float | None:
        """The 99th percentile of the last `RING` ticks' durations (None before a tick)."""
        n = min(self.ticks, RING)
        if not n:
            return None
        kept = sorted(self.durations if n == RING else self.durations[:n])
        return kept[min(n - 1, int(n * 0.99))]

    def watch(self, room: Any) -> None:
        """Time `room`'s entry points besides its tick: each is replaced, on this room only,
        by a wrapper that adds its duration (less what the fanout counted) to the game's part.
        Messages are not timed where the tick hands every one of them to the game."""
        # A ticking room whose inputs all wait for the next step (`latest_only`) hands them
        # to its game inside the tick, which is timed: receiving one only stores it, and
        # timing that would cost more than it does (ten inputs per player and second).
        specs = room._messages.values()
        if not (room.ticking and all(spec.latest_only for spec in specs)):
            room.message = self._timed_message(room.message)
        for name in EVENTS:
            setattr(room, name, self._timed(getattr(room, name)))

    def _timed_message(self, message: Callable[..., None]) -> Callable[..., None]:
        # Fixed arguments: the wrapper makes no tuple per message.
        def timed(player_id: int, kind: str, obj: dict[str, Any],
                  text: str | bytes | None = None) -> None:
            if self.depth:
                return message(player_id, kind, obj, text)
            self.depth = 1
            started = perf_counter()
            try:
                message(player_id, kind, obj, text)
            finally:
                self._event(started)
        return timed

    def _timed(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self.depth:
                return call(*args, **kwargs)
            self.depth = 1
            started = perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self._event(started)
        return timed

    def _event(self, started: float) -> None:
        self.game += perf_counter() - started - self.io
        self.io = 0.0
        self.depth = 0


class ModeTotals:
    """Costs summed over rooms of one mode."""

    __slots__ = ("game", "encode", "send", "bytes_sent", "ticks", "overruns")

    def __init__(self) -> None:
        self.game = self.encode = self.send = 0.0
        self.bytes_sent = self.ticks = self.overruns = 0

    def add(self, cost: RoomCost | ModeTotals) -> None:
        self.game += cost.game
        self.encode += cost.encode
        self.send += cost.send
        self.bytes_sent += cost.bytes_sent
        self.ticks += cost.ticks
        self.overruns += cost.overruns


class CostBook:
    """The process's room accounting: makes each room's `RoomCost`, keeps the live ones, and
    folds a closed room's into its mode's totals (so `/metrics` counters never go back)."""

    def __init__(self) -> None:
        self.live: set[RoomCost] = set()
        self._retired: dict[str, ModeTotals] = {}

    def open(self, mode: str) -> RoomCost:
        cost = RoomCost(mode)
        self.live.add(cost)
        return cost

    def retire(self, cost: RoomCost | None) -> None:
        """The room closed: its costs stay in its mode's totals."""
        if cost is None or cost not in self.live:
            return
        self.live.discard(cost)
        cost.closed = True
        self._retired.setdefault(cost.mode, ModeTotals()).add(cost)

    def by_mode(self) -> dict[str, tuple[ModeTotals, float | None]]:
        """Each mode's totals (live and closed rooms) and the p99 tick time of its live rooms'
        recent ticks (None without a ticking room)."""
        totals: dict[str, ModeTotals] = {}
        for mode, retired in self._retired.items():
            totals.setdefault(mode, ModeTotals()).add(retired)
        recent: dict[str, list[float]] = {}
        for cost in self.live:
            totals.setdefault(cost.mode, ModeTotals()).add(cost)
            n = min(cost.ticks, RING)
            if n:
                recent.setdefault(cost.mode, []).extend(cost.durations[:n])
        out: dict[str, tuple[ModeTotals, float | None]] = {}
        for mode, total in sorted(totals.items()):
            kept = sorted(recent.get(mode, ()))
            p99 = kept[min(len(kept) - 1, int(len(kept) * 0.99))] if kept else None
            out[mode] = (total, p99)
        return out


class ModeCostCollector(Collector):
    """`/metrics`: the rooms' costs by mode (a label set bounded by the modes a server runs,
    never by room)."""

    def __init__(self, book: CostBook) -> None:
        self._book = book

    def collect(self) -> Iterator[Metric]:
        cpu = CounterMetricFamily(
            "arena_mode_cpu_seconds", "CPU seconds rooms of a mode spent, by part: game (its "
            "hooks: steps, messages, timers, joins), encode (states), send (writes)",
            labels=["mode", "part"])
        sent = CounterMetricFamily("arena_mode_bytes_sent", "State bytes rooms of a mode sent "
                                   "(per recipient)", labels=["mode"])
        ticks = CounterMetricFamily("arena_mode_ticks", "Ticks rooms of a mode ran",
                                    labels=["mode"])
        overruns = CounterMetricFamily("arena_mode_ticks_overrun", "Ticks of a mode whose own "
                                       "work took longer than the tick's period",
                                       labels=["mode"])
        p99 = GaugeMetricFamily("arena_mode_tick_p99_seconds", "99th percentile of the recent "
                                "tick durations of a mode's live rooms (the last ticks of each)",
                                labels=["mode"])
        for mode, (total, tick_p99) in self._book.by_mode().items():
            for part in PARTS:
                cpu.add_metric([mode, part], getattr(total, part))
            sent.add_metric([mode], total.bytes_sent)
            ticks.add_metric([mode], total.ticks)
            overruns.add_metric([mode], total.overruns)
            if tick_p99 is not None:
                p99.add_metric([mode], tick_p99)
        yield from (cpu, sent, ticks, overruns, p99)
