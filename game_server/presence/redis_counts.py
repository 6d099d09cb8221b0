"""Counts shared through Redis: login failures and sockets per address, for every process.

Keys, under the presence's prefix (``arena`` by default):

* ``arena:failures:{sha256 of the key}``: a sorted set of failure times (Redis's clock, ms),
  at most `limit` of them, expiring `window` after the last failure;
* ``arena:sockets:{process}``: a hash address -> sockets that process holds, expiring `ttl`
  after its last report;
* ``arena:socket-processes``: a sorted set process -> when its report lapses (ms); lapsed ones
  are dropped, so a process that died stops counting after `ttl`.

Every change is one Lua script (atomic, timed by Redis's own ``TIME``). Calls go through the
`RedisPresence`'s connection and fail as it does: `PresenceUnavailable` within its timeout.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from game_server.presence.counts import SharedCounts
from game_server.presence.redis import _NOW, RedisPresence

# KEYS: failures. ARGV: window (ms), limit, a unique member. Adds a failure now, keeps the
# last `limit` within the window.
_ADD_FAILURE = _NOW + """
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
if n > limit then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - limit - 1) end
redis.call('PEXPIRE', KEYS[1], window)
return n
"""

# KEYS: failures. ARGV: window (ms), limit. Milliseconds until fewer than `limit` failures
# are within the window (0: now).
_RETRY_AFTER = _NOW + """
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n < limit then return 0 end
local oldest = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""

# KEYS: this process's sockets hash, the processes set. ARGV: ttl (ms), process, complete
# ("1" or "0"), then address, count pairs.
_REPORT = _NOW + """
local ttl = tonumber(ARGV[1])
if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end
for i = 4, #ARGV, 2 do
  if tonumber(ARGV[i + 1]) > 0 then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  else
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
return 1
"""

# KEYS: the processes set. ARGV: the key prefix ("arena:"), this process, address. The sockets
# from `address` held by every other live process.
_ELSEWHERE = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = 0
for _, p in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if p ~= ARGV[2] then
    n = n + (tonumber(redis.call('HGET', ARGV[1] .. 'sockets:' .. p, ARGV[3])) or 0)
  end
end
return n
"""


class RedisCounts(SharedCounts):
    """Counts shared by every process on the same Redis (and prefix) as `presence`."""

    shared = True

    def __init__(self, presence: RedisPresence, *, ttl: float | None = None,
                 prefix: str = "arena") -> None:
        super().__init__(presence.process_id, ttl=presence.room_ttl if ttl is None else ttl)
        self._presence = presence
        self._prefix = f"{prefix}:"
        self._processes = f"{prefix}:socket-processes"
        self._own = f"{prefix}:sockets:{presence.process_id}"
        self._ttl_ms = max(1, round(self.ttl * 1000))
        self._scripts: dict[str, AsyncScript] = {}

    async def _run(self, what: str, source: str, keys: list[str], args: list[Any]) -> Any:
        def op(client: aioredis.Redis) -> Any:
            script = self._scripts.get(source)
            if script is None:
                script = self._scripts[source] = client.register_script(source)
            return script(keys, args, client)

        return await self._presence.call(what, op)

    def _failures(self, key: str) -> str:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return f"{self._prefix}failures:{digest}"

    async def retry_after(self, key: str, limit: int, window: float) -> float:
        ms = await self._run("retry_after", _RETRY_AFTER, [self._failures(key)],
                             [max(1, round(window * 1000)), limit])
        return int(ms) / 1000.0

    async def add_failure(self, key: str, limit: int, window: float) -> None:
        await self._run("add_failure", _ADD_FAILURE, [self._failures(key)],
                        [max(1, round(window * 1000)), limit, secrets.token_hex(8)])

    async def clear_failures(self, key: str) -> None:
        await self._presence.call("clear_failures", lambda r: r.delete(self._failures(key)))

    async def report_sockets(self, counts: Mapping[str, int], *, complete: bool = False) -> None:
        args: list[Any] = [self._ttl_ms, self.process_id, "1" if complete else "0"]
        for address, count in counts.items():
            args += [address, count]
        await self._run("report_sockets", _REPORT, [self._own, self._processes], args)

    async def sockets_elsewhere(self, address: str) -> int:
        return int(await self._run("sockets_elsewhere", _ELSEWHERE, [self._processes],
                                   [self._prefix, self.process_id, address]))
