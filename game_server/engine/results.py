"""Saving players' best masses without blocking the tick, and without losing one on shutdown
or to a database outage (a failed save is retried until it succeeds)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("arena.results")


class ResultRecorder:
    """Writes each finished player's best mass through `save` in the background.

    The tick path only schedules a task; `drain()` waits for every pending write, so a clean
    shutdown saves every score that was recorded before it. A write that fails (the database
    is unreachable) is retried with a growing delay, from `retry` up to `max_retry` seconds,
    until it succeeds: players in rooms never notice an outage, and no score is dropped.
    """

    def __init__(
        self,
        save: Callable[[int, int], Awaitable[None]],
        *,
        retry: float = 0.5,
        max_retry: float = 10.0,
    ) -> None:
        self._save = save
        self._retry = retry
        self._max_retry = max_retry
        self._pending: set[asyncio.Task[None]] = set()
        self.retries = 0

    def record(self, user_id: int, mass: int) -> None:
        if mass <= 0:
            return
        task = asyncio.get_running_loop().create_task(self._write(user_id, mass))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _write(self, user_id: int, mass: int) -> None:
        delay = self._retry
        while True:
            try:
                await self._save(user_id, mass)
            except Exception as exc:
                if self.retries == 0 or delay >= self._max_retry:
                    log.warning("could not save best mass %d for user %d (%s); retrying",
                                mass, user_id, exc)
                self.retries += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry)
            else:
                return
