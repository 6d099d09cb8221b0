"""Timers for the engine: one repeating callback per room, and one-shot delays.

The engine asks a `Scheduler` for timers instead of touching the IOLoop, so tests drive it with a
manual scheduler and a manual clock. `IOLoopScheduler` is the real one: one `PeriodicCallback` per
room, started when the room is created, so rooms' ticks spread over the period instead of
bursting together (docs/tornado-notes.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from tornado.ioloop import IOLoop, PeriodicCallback


class Timer(Protocol):
    """A scheduled callback that can be cancelled (idempotent)."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Creates the engine's timers."""

    def every(self, interval: float, callback: Callable[[], object]) -> Timer:
        """Call `callback` every `interval` seconds until cancelled."""

    def later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Call `callback` once after `delay` seconds unless cancelled."""


class _Periodic:
    def __init__(self, interval: float, callback: Callable[[], object]) -> None:
        # jitter=0: a fixed grid; an overrun skips slots, and rooms catch up by measuring time.
        self._pc = PeriodicCallback(callback, interval * 1000.0)
        self._pc.start()

    def cancel(self) -> None:
        self._pc.stop()


class _Delayed:
    def __init__(self, loop: IOLoop, delay: float, callback: Callable[[], object]) -> None:
        self._loop = loop
        self._handle = loop.call_later(delay, callback)

    def cancel(self) -> None:
        if self._handle is not None:
            self._loop.remove_timeout(self._handle)
            self._handle = None


class IOLoopScheduler:
    """Timers on the current Tornado IOLoop: a `PeriodicCallback` for each repeating timer."""

    def every(self, interval: float, callback: Callable[[], object]) -> Timer:
        return _Periodic(interval, callback)

    def later(self, delay: float, callback: Callable[[], object]) -> Timer:
        return _Delayed(IOLoop.current(), delay, callback)
