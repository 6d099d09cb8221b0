"""Timers for the engine: a repeating callback per room, and one-shot delays.

The engine asks a `Scheduler` for timers instead of touching the IOLoop, so tests drive it with a
manual scheduler and a manual clock. `IOLoopScheduler` is the real one: rooms' repeating timers
share `PeriodicCallback`s a few at a time (`group_size`), each started when its first room is
created, so the groups' ticks spread over the period instead of bursting together, while the
rooms of one group tick back to back (docs/tornado-notes.md says what that saves).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from tornado.ioloop import IOLoop, PeriodicCallback

log = logging.getLogger("arena.ticker")

DEFAULT_GROUP_SIZE = 4


class Timer(Protocol):
    """A scheduled callback that can be cancelled (idempotent)."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Creates the engine's timers."""

    def every(self, interval: float, callback: Callable[[], object]) -> Timer:
        """Call `callback` every `interval` seconds until cancelled."""

    def later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Call `callback` once after `delay` seconds unless cancelled."""


class _TickGroup:
    """Up to `size` repeating callbacks of one interval on one `PeriodicCallback`.

    They run back to back in the order they joined. Each is called through a loop here, so
    what it returns is never looked at by Tornado (an `int` would cost an awaitable check per
    call), and one that raises is logged without skipping the others.
    """

    def __init__(self, interval: float, size: int, on_empty: Callable[[_TickGroup], None]) -> None:
        self.size = size
        self.members: list[_GroupTimer] = []
        self._on_empty = on_empty
        # jitter=0: a fixed grid; an overrun skips slots, and rooms catch up by measuring time.
        self._pc = PeriodicCallback(self._run, interval * 1000.0)
        self._pc.start()

    @property
    def full(self) -> bool:
        return len(self.members) >= self.size

    def _run(self) -> None:
        for timer in tuple(self.members):
            if timer.active:  # cancelled by an earlier member of this very run: not called
                try:
                    timer.callback()
                except Exception:
                    log.exception("timer callback %r failed", timer.callback)

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

    Why groups: a room's tick run straight after another's finds the interpreter's caches warm
    and shares one `PeriodicCallback` run (a coroutine and a task each); at 400 players in
    rooms of 20, groups of 4 cost about a tenth less CPU than one callback per room. Why not one
    group for all: every room's sends would land in one burst with every ping waiting behind
    it. A group's burst is `group_size` ticks long.
    """

    def __init__(self, group_size: int = DEFAULT_GROUP_SIZE) -> None:
        if group_size < 1:
            raise ValueError("group_size must be at least 1")
        self.group_size = group_size
        self._groups: dict[float, list[_TickGroup]] = {}

    def every(self, interval: float, callback: Callable[[], object]) -> Timer:
        groups = self._groups.setdefault(interval, [])
        group = next((g for g in groups if not g.full), None)
        if group is None:
            group = _TickGroup(interval, self.group_size, self._forget(interval))
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
