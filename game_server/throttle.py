"""Login brute-force protection: failed attempts per username and per address in a window.

The failures are counted in a `SharedCounts`: this process's memory by default, or Redis, so
that every process of a deployment counts the same failures (`--processes 4` gives no more
guesses than one process). While Redis cannot be reached, each process counts on its own, as
without Redis: logins keep working, and the failures this process saw still count.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from game_server.presence.base import PresenceUnavailable
from game_server.presence.counts import LocalCounts, SharedCounts

log = logging.getLogger("arena.throttle")


class LoginThrottle:
    """Refuses logins for a while after too many failures for one username or one address."""

    def __init__(
        self,
        *,
        per_user: int = 5,
        per_address: int = 20,
        window: float = 300.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        counts: SharedCounts | None = None,
    ) -> None:
        """`counts`: the deployment's shared counts (`RedisCounts`), if any; failures are also
        counted in this process's memory, the fallback while the shared ones cannot be
        reached, and the only count without them."""
        self.per_user = per_user
        self.per_address = per_address
        self.window = window
        self.local = LocalCounts(max_keys=max_keys, clock=clock)
        self._shared = counts if counts is not None and counts.shared else None
        self._outage = False

    def _limits(self, username: str, address: str) -> list[tuple[str, int]]:
        return [(f"user:{username.lower()}", self.per_user), (f"address:{address}",
                                                              self.per_address)]

    async def retry_after(self, username: str, address: str) -> int:
        """Seconds to wait before another attempt may be checked; 0 when allowed."""
        wait = 0.0
        for key, limit in self._limits(username, address):
            wait = max(wait, await self._retry_after(key, limit))
        return math.ceil(wait) if wait > 0 else 0

    async def _retry_after(self, key: str, limit: int) -> float:
        if self._shared is not None:
            try:
                wait = await self._shared.retry_after(key, limit, self.window)
            except PresenceUnavailable as exc:
                self._down(exc)
            else:
                self._up()
                return wait
        return await self.local.retry_after(key, limit, self.window)

    async def failed(self, username: str, address: str) -> None:
        for key, limit in self._limits(username, address):
            await self.local.add_failure(key, limit, self.window)
            if self._shared is not None:
                try:
                    await self._shared.add_failure(key, limit, self.window)
                except PresenceUnavailable as exc:
                    self._down(exc)

    async def succeeded(self, username: str) -> None:
        key = f"user:{username.lower()}"
        await self.local.clear_failures(key)
        if self._shared is not None:
            try:
                await self._shared.clear_failures(key)
            except PresenceUnavailable as exc:
                self._down(exc)

    def _down(self, exc: PresenceUnavailable) -> None:
        if not self._outage:
            self._outage = True
            log.warning("login failures are counted per process until Redis is back: %s", exc)

    def _up(self) -> None:
        if self._outage:
            self._outage = False
            log.info("login failures are counted across processes again")
