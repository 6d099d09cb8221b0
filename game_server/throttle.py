"""Login brute-force protection: failed attempts per username and per address in a window.

In-process (one server); each key keeps the times of its recent failures. Memory is bounded: old
failures fall out of the window, and past `max_keys` the stalest keys are forgotten first.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class _Window:
    """Failure times per key within `window` seconds, at most `limit` kept per key."""

    def __init__(self, limit: int, window: float, max_keys: int) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def retry_after(self, key: str, now: float) -> float:
        hits = self._hits.get(key)
        if hits is None:
            return 0.0
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            del self._hits[key]
            return 0.0
        if len(hits) < self.limit:
            return 0.0
        return hits[0] + self.window - now

    def add(self, key: str, now: float) -> None:
        hits = self._hits.pop(key, None)
        if hits is None:
            hits = deque(maxlen=self.limit)
            if len(self._hits) >= self.max_keys:
                self._evict(now)
        hits.append(now)
        self._hits[key] = hits  # re-inserted: dict order is least recently failed first

    def clear(self, key: str) -> None:
        self._hits.pop(key, None)

    def _evict(self, now: float) -> None:
        stale = [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]
        for key in stale:
            del self._hits[key]
        while len(self._hits) >= self.max_keys:
            del self._hits[next(iter(self._hits))]

    def __len__(self) -> int:
        return len(self._hits)


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
    ) -> None:
        self._users = _Window(per_user, window, max_keys)
        self._addresses = _Window(per_address, window, max_keys)
        self._clock = clock

    def retry_after(self, username: str, address: str) -> int:
        """Seconds to wait before another attempt may be checked; 0 when allowed."""
        now = self._clock()
        wait = max(self._users.retry_after(username.lower(), now),
                   self._addresses.retry_after(address, now))
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        self._users.add(username.lower(), now)
        self._addresses.add(address, now)

    def succeeded(self, username: str) -> None:
        self._users.clear(username.lower())
