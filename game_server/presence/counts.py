"""Counts that abuse limits are checked against: failures in a sliding window, and game
sockets per address.

One process keeps them in memory (`LocalCounts`); with Redis every process of a deployment
shares them (`RedisCounts`, in presence/redis_counts.py), so `--processes 4` does not give an
address four times the login guesses or four times the sockets. Both pass the same contract
suite (tests/test_counts.py).

Failures: each key (a username, an address) keeps the times of its last `limit` failures;
failures older than `window` seconds no longer count. Sockets: each process reports how many
sockets it holds from each address; a process's report lapses `ttl` seconds after its last
refresh, so a process that dies leaves nothing behind for longer than that.
"""

from __future__ import annotations

import abc
import time
from collections import deque
from collections.abc import Callable, Mapping


class SharedCounts(abc.ABC):
    """Failure windows and per-address socket counts of one process or a whole deployment.

    Every method may raise `PresenceUnavailable` (the shared store cannot be reached now);
    callers then decide with what they counted themselves.
    """

    #: True when other processes count here too (Redis).
    shared: bool = False

    def __init__(self, process_id: str, *, ttl: float = 5.0) -> None:
        self.process_id = process_id
        self.ttl = ttl  # a process's socket counts lapse this long after its last refresh

    # -- failures in a window ------------------------------------------------------------------

    @abc.abstractmethod
    async def retry_after(self, key: str, limit: int, window: float) -> float:
        """Seconds until `key` has fewer than `limit` failures within `window` (0: now)."""

    @abc.abstractmethod
    async def add_failure(self, key: str, limit: int, window: float) -> None:
        """One more failure for `key` now (only the last `limit` are kept, for `window`)."""

    @abc.abstractmethod
    async def clear_failures(self, key: str) -> None:
        """Forget every failure of `key`."""

    # -- sockets per address -------------------------------------------------------------------

    @abc.abstractmethod
    async def report_sockets(self, counts: Mapping[str, int], *, complete: bool = False) -> None:
        """This process now holds `counts[address]` sockets from each address named (0: none);
        `complete`: `counts` is all it holds (addresses not named: none). Either refreshes
        this process's report for another `ttl`; a lapsed report starts again from nothing."""

    @abc.abstractmethod
    async def sockets_elsewhere(self, address: str) -> int:
        """Sockets from `address` held by the other live processes of the deployment."""


class _Windows:
    """Failure times per key, at most `max_keys` keys (the least recently failed go first)."""

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.hits: dict[str, deque[float]] = {}

    def retry_after(self, key: str, limit: int, window: float, now: float) -> float:
        hits = self.hits.get(key)
        if hits is None:
            return 0.0
        while hits and hits[0] <= now - window:
            hits.popleft()
        if not hits:
            del self.hits[key]
            return 0.0
        if len(hits) < limit:
            return 0.0
        return hits[-limit] + window - now

    def add(self, key: str, limit: int, window: float, now: float) -> None:
        hits = self.hits.pop(key, None)
        if hits is None:
            hits = deque(maxlen=limit)
            if len(self.hits) >= self.max_keys:
                self._evict(window, now)
        hits.append(now)
        self.hits[key] = hits  # re-inserted: dict order is least recently failed first

    def _evict(self, window: float, now: float) -> None:
        stale = [k for k, h in self.hits.items() if not h or h[-1] <= now - window]
        for key in stale:
            del self.hits[key]
        while len(self.hits) >= self.max_keys:
            del self.hits[next(iter(self.hits))]


class LocalCounts(SharedCounts):
    """The counts in this process's memory: the default without Redis, and the fallback of
    the Redis counts while Redis cannot be reached."""

    def __init__(
        self,
        process_id: str = "local",
        *,
        ttl: float = 5.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(process_id, ttl=ttl)
        self._clock = clock
        self._windows = _Windows(max_keys)
        # process id -> (address -> sockets, when that report lapses)
        self._sockets: dict[str, tuple[dict[str, int], float]] = {}

    def peer(self, process_id: str) -> LocalCounts:
        """Another server's view of these same counts, as another process sees one Redis
        (several servers in one Python process then count as one deployment)."""
        other = LocalCounts(process_id, ttl=self.ttl, clock=self._clock)
        other._windows, other._sockets = self._windows, self._sockets
        other.shared = self.shared = True
        return other

    @property
    def keys(self) -> int:
        """How many keys have failures remembered (memory stays bounded by `max_keys`)."""
        return len(self._windows.hits)

    async def retry_after(self, key: str, limit: int, window: float) -> float:
        return self._windows.retry_after(key, limit, window, self._clock())

    async def add_failure(self, key: str, limit: int, window: float) -> None:
        self._windows.add(key, limit, window, self._clock())

    async def clear_failures(self, key: str) -> None:
        self._windows.hits.pop(key, None)

    async def report_sockets(self, counts: Mapping[str, int], *, complete: bool = False) -> None:
        now = self._clock()
        held, lapses = self._sockets.get(self.process_id, ({}, 0.0))
        if complete or lapses <= now:
            held = {}
        for address, count in counts.items():
            if count > 0:
                held[address] = count
            else:
                held.pop(address, None)
        self._sockets[self.process_id] = (held, now + self.ttl)

    async def sockets_elsewhere(self, address: str) -> int:
        now = self._clock()
        for process in [p for p, (_, lapses) in self._sockets.items() if lapses <= now]:
            del self._sockets[process]
        return sum(held.get(address, 0) for process, (held, _) in self._sockets.items()
                   if process != self.process_id)
