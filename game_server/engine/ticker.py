"""Timers for the engine: a repeating callback per room, and one-shot delays.

The engine asks a `Scheduler` for timers instead of touching the IOLoop, so tests drive it with a
manual scheduler and a manual clock. `IOLoopScheduler` is the real one: rooms' repeating timers
share `PeriodicCallback`s a few at a time (`group_size`), each started when its first room is
created, so the groups' ticks spread over the period instead of bursting together. The rooms
of one group tick a turn of the event loop apart while the process is lightly loaded, and back
to back when it is busy (docs/tornado-notes.md says what each saves).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from tornado.ioloop import IOLoop, PeriodicCallback

log = logging.getLogger("arena.ticker")

DEFAULT_GROUP_SIZE = 4
# Above this share of a core used by the process, a group's rooms tick back to back.
BUSY_SHARE = 0.5
# A group's run that starts later than this share of its period runs its rooms back to back.
LATE_LIMIT = 0.1
LOAD_WINDOW = 0.5  # seconds over which the process's CPU share is measured


class Timer(Protocol):
    """A scheduled callback that can be cancelled (idempotent)."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Creates the engine's timers."""

    def every(self, interval: float, callback: Callable[[], object]) -> Timer:
        """Call `callback` every `interval` seconds until cancelled."""

    def later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Call `callback` once after `delay` seconds unless cancelled."""


class _Load:
    """Whether the process is busy: its CPU time over the last `LOAD_WINDOW` of loop time,
    counted from the first `update`."""

    def __init__(self, cpu_time: Callable[[], float], busy_share: float) -> None:
        self._cpu_time = cpu_time
        self._busy_share = busy_share
        self._since: float | None = None
        self._cpu = 0.0
        self.busy = False

    def update(self, now: float) -> bool:
        if self._since is None:
            self._since, self._cpu = now, self._cpu_time()
            return False
        elapsed = now - self._since
        if elapsed >= LOAD_WINDOW:
            cpu = self._cpu_time()
            self.busy = (cpu - self._cpu) > self._busy_share * elapsed
            self._since, self._cpu = now, cpu
        return self.busy


class _TickGroup:
    """Up to `size` repeating callbacks of one interval on one `PeriodicCallback`.

    They run in the order they joined. While the process is lightly loaded, one per turn of the
    event loop (`call_soon`), so what has arrived on the sockets meanwhile (a ping above all) is
    handled between two rooms rather than after the whole group. When it is busy (over
    `BUSY_SHARE` of a core) or the run starts more than `LATE_LIMIT` of a period late, back to
    back: a busy server that handles its sockets in big batches between whole groups keeps the
    game's code and data in cache, and turns between rooms near capacity cost about a fifth of
    the players a core holds (docs/tornado-notes.md). A run that has not reached its last
    member when the period comes round again is not started twice: the rooms measure time and
    catch up. Each callback is called here, so what it returns is never looked at by Tornado
    (an `int` would cost an awaitable check per call), and one that raises is logged without
    skipping the others.
    """

    def __init__(self, interval: float, size: int, on_empty: Callable[[_TickGroup], None],
                 load: _Load) -> None:
        self.size = size
        self.members: list[_GroupTimer] = []
        self._on_empty = on_empty
        self._interval = interval
        self._running: tuple[_GroupTimer, ...] | None = None
        self._spread = True  # this run gives the loop a turn between two members
        self._load = load
        self._loop = IOLoop.current().asyncio_loop  # type: ignore[attr-defined]
        # jitter=0: a fixed grid; an overrun skips slots, and rooms catch up by measuring time.
        # The grid is followed here too, to tell how late a run starts.
        self._due = self._loop.time() + interval
        self._pc = PeriodicCallback(self._run, interval * 1000.0)
        self._pc.start()

    @property
    def full(self) -> bool:
        return len(self.members) >= self.size

    def _run(self) -> None:
        interval = self._interval
        now = self._loop.time()
        late = now - self._due
        self._due += interval * (1 + int(late // interval)) if late > 0.0 else interval
        if self._running is not None:
            return  # the last run has not reached its end: its rooms catch up by the clock
        self._running = tuple(self.members)
        self._spread = late < LATE_LIMIT * interval and not self._load.update(now)
        self._step(0)

    def _step(self, i: int) -> None:
        run = self._running
        assert run is not None  # set by _run until this run's last step
        while True:
            timer = run[i]
            if timer.active:  # cancelled by an earlier member of this very run: not called
                try:
                    timer.callback()
                except Exception:
                    log.exception("timer callback %r failed", timer.callback)
            i += 1
            if i >= len(run):
                self._running = None
                return
            if self._spread:
                self._loop.call_soon(self._step, i)
                return

    def remove(self, timer: _GroupTimer) -> None:
        self.members.remove(timer)
        if not self.members:
            self._pc.stop()
            self._on_empty(self)


class _GroupTimer:
    __slots__ = ("callback", "active", "_group")

    def __init__(self, group: _TickGroup, callback: Callable[[], object]) -> None:
        self.callback = callback
        self.active = True
        self._group = group
        group.members.append(self)

    def cancel(self) -> None:
        if self.active:
            self.active = False
            self._group.remove(self)


class _Delayed:
    def __init__(self, loop: IOLoop, delay: float, callback: Callable[[], object]) -> None:
        self._loop = loop
        self._handle = loop.call_later(delay, callback)

    def cancel(self) -> None:
        if self._handle is not None:
            self._loop.remove_timeout(self._handle)
            self._handle = None


class IOLoopScheduler:
    """Timers on the current Tornado IOLoop.

    Repeating timers of the same interval share a `PeriodicCallback` up to `group_size` of
    them: a new one joins the oldest group with room, else starts a group (and a phase) of its
    own. `group_size=1` gives every timer its own `PeriodicCallback`.

    Why groups: a room's tick run soon after another's finds the interpreter's caches warm and
    shares one `PeriodicCallback` run (a coroutine and a task each); at 400 players in rooms of
    20, groups of 4 cost about a tenth less CPU than one callback per room. While the process
    uses less than `busy_share` of a core (`cpu_time` against the loop's clock), the event loop
    gets a turn between two rooms of a group, so a ping waits for one room's tick, not the
    group's. Why not one group for all: the server's whole period of work lands in one burst
    at one phase, which saves a few percent of CPU but doubles ping p99 and starves whatever
    shares the core for that long.
    """

    def __init__(self, group_size: int = DEFAULT_GROUP_SIZE, *, busy_share: float = BUSY_SHARE,
                 cpu_time: Callable[[], float] = time.process_time) -> None:
        if group_size < 1:
            raise ValueError("group_size must be at least 1")
        self.group_size = group_size
        self._groups: dict[float, list[_TickGroup]] = {}
        self._load = _Load(cpu_time, busy_share)  # one measure for every group

    def every(self, interval: float, callback: Callable[[], object]) -> Timer:
        groups = self._groups.setdefault(interval, [])
        group = next((g for g in groups if not g.full), None)
        if group is None:
            group = _TickGroup(interval, self.group_size, self._forget(interval), self._load)
            groups.append(group)
        return _GroupTimer(group, callback)

    def _forget(self, interval: float) -> Callable[[_TickGroup], None]:
        def forget(group: _TickGroup) -> None:
            groups = self._groups.get(interval, [])
            if group in groups:
                groups.remove(group)
            if not groups:
                self._groups.pop(interval, None)
        return forget

    def groups(self, interval: float) -> list[int]:
        """How many timers each group of this interval holds (for tests and tools)."""
        return [len(g.members) for g in self._groups.get(interval, [])]

    def later(self, delay: float, callback: Callable[[], object]) -> Timer:
        return _Delayed(IOLoop.current(), delay, callback)
