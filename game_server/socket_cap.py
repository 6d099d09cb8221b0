"""`--max-connections-per-ip` for a whole deployment: the game sockets one address holds on
every process, not on this one alone.

This process counts its own sockets exactly (`SocketRegistry`); it reports them per address to
the shared counts (Redis) as they change, and all of them every `ttl`/3 seconds, which keeps its
report alive (a dead process's report lapses after `ttl`) and rebuilds it after Redis lost it.
A new socket is admitted while this process's count plus the other processes' is below the cap.
Without shared counts, or while Redis cannot be reached, the cap holds per process, as it did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from game_server.presence.base import PresenceUnavailable
from game_server.presence.counts import SharedCounts

log = logging.getLogger("arena.sockets")


class SocketCap:
    """Admits a new game socket from an address while the deployment holds fewer than `cap`."""

    def __init__(
        self,
        cap: int,
        here: Callable[[str], int],
        everything_here: Callable[[], dict[str, int]],
        counts: SharedCounts | None = None,
    ) -> None:
        """`here(address)`: this process's sockets from it; `everything_here()`: all of them
        by address; `counts`: the deployment's shared counts (none: the cap is per process)."""
        self.cap = cap
        self._here = here
        self._everything_here = everything_here
        self._counts = counts if counts is not None and counts.shared else None
        self._dirty: set[str] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._outage = False
        self._stopped = False

    async def admits(self, address: str) -> bool:
        """Whether one more socket from `address` stays within the cap (0: no cap)."""
        if not self.cap:
            return True
        if self._here(address) >= self.cap:
            return False
        if self._counts is None:
            return True
        try:
            elsewhere = await self._counts.sockets_elsewhere(address)
        except PresenceUnavailable as exc:
            self._down(exc)
            return self._here(address) < self.cap
        self._up()
        return self._here(address) + elsewhere < self.cap

    def changed(self, address: str) -> None:
        """This process's count for `address` changed: report it (soon, in order)."""
        if self._counts is None or self._stopped:
            return
        self._dirty.add(address)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        assert self._counts is not None
        while self._dirty:
            batch = {address: self._here(address) for address in self._dirty}
            self._dirty.clear()
            try:
                await self._counts.report_sockets(batch)
            except PresenceUnavailable as exc:
                self._down(exc)  # the next full report puts it right
                return

    def start(self) -> None:
        """Report this process's sockets every `ttl`/3 seconds (with shared counts)."""
        if self._counts is not None and self._refresher is None:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        assert self._counts is not None
        while True:
            try:
                await self._counts.report_sockets(self._everything_here(), complete=True)
            except PresenceUnavailable as exc:
                self._down(exc)
            await asyncio.sleep(self._counts.ttl / 3.0)

    async def stop(self) -> None:
        """Stop reporting and withdraw this process's counts (best effort)."""
        self._stopped = True
        for task in (self._refresher, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._refresher = self._flusher = None
        if self._counts is not None:
            with contextlib.suppress(PresenceUnavailable):
                await self._counts.report_sockets({}, complete=True)

    def _down(self, exc: PresenceUnavailable) -> None:
        if not self._outage:
            self._outage = True
            log.warning("--max-connections-per-ip holds per process until Redis is back: %s",
                        exc)

    def _up(self) -> None:
        if self._outage:
            self._outage = False
            log.info("--max-connections-per-ip holds across processes again")
