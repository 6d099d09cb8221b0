"""Saving players' best masses without blocking the tick, and without losing one on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("arena.results")


class ResultRecorder:
    """Writes each finished player's best mass through `save` in the background.

    The tick path only schedules a task; `drain()` waits for every pending write, so a clean
    shutdown saves every score that was recorded before it.
    """

    def __init__(self, save: Callable[[int, int], Awaitable[None]]) -> None:
        self._save = save
        self._pending: set[asyncio.Task[None]] = set()

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
        try:
            await self._save(user_id, mass)
        except Exception:
            log.exception("could not save best mass %d for user %d", mass, user_id)
