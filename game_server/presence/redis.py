"""Presence shared through Redis: the room registry, seats and pub/sub of several processes.

Keys, under a prefix (``arena`` by default):

* ``arena:room:{id}``: a hash (mode, process, url, players, connected, max_players, locked,
  private, code, metadata as JSON, options key) that expires ``room_ttl`` after the owner's last
  heartbeat;
* ``arena:seats:{id}``: a sorted set of reservations, seat -> expiry in Redis's own clock (ms),
  expiring with the room;
* ``arena:rooms``: the set of room ids; ids whose hash expired are dropped by `rooms()`;
* ``arena:code:{code}``: a private room's id by its code, expiring with the room (taken only
  while no live room holds the code, so a code names one room deployment-wide);
* ``arena:lock:{name}``: a lock (SET NX PX with a random token; deleted only by its holder);
* ``arena:events``: the pub/sub channel, carrying orjson-encoded dicts.

Seat reservations and claims are Lua scripts, so they are atomic across processes, and their
time is Redis's (``TIME``), not the callers'. Any Redis failure becomes `PresenceUnavailable`
within `timeout`; a background task keeps the subscription alive across outages. Messages
published while a process is cut off from Redis are lost to it (pub/sub does not queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from game_server.presence.base import Presence, PresenceUnavailable, RoomRecord

log = logging.getLogger("arena.presence")

T = TypeVar("T")

_BACKOFF_MIN = 0.2  # the subscriber's first wait before reconnecting; doubles up to the max
_BACKOFF_MAX = 2.0
_KEEPALIVE = 5.0  # an idle subscription is PINGed this often; no answer by the next: reconnect

# Milliseconds of Redis's clock; every script that reads seat expiries uses it.
_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"

# KEYS: room, seats. ARGV: seat, ttl (ms). 1 if reserved; 0 if the room is gone or full, or
# the seat is already held.
_RESERVE = _NOW + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
local room = redis.call('HMGET', KEYS[1], 'players', 'max_players', 'locked')
if room[3] == '1' then return 0 end
local players = tonumber(room[1]) or 0
if players + redis.call('ZCARD', KEYS[2]) >= (tonumber(room[2]) or 0) then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
"""

# KEYS: room, seats. ARGV: seat. 1 if the reservation was live (it is now a player), else 0.
_CLAIM = _NOW + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not expiry then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(expiry) <= now then return 0 end
redis.call('HINCRBY', KEYS[1], 'players', 1)
redis.call('HINCRBY', KEYS[1], 'connected', 1)
return 1
"""

# KEYS: room. ARGV: players, connected. Only a live room: a hash created here would never
# expire.
_SET_PLAYERS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'players', ARGV[1], 'connected', ARGV[2])
return 1
"""

# A private room's code key: taken unless another live room holds it. Needs `prefix`.
_TAKE_CODE = """
local function take_code(code, id, ttl)
  local key = prefix .. 'code:' .. code
  local holder = redis.call('GET', key)
  if holder and holder ~= id and redis.call('EXISTS', prefix .. 'room:' .. holder) == 1 then
    return false
  end
  redis.call('SET', key, id, 'PX', ttl)
  return true
end
"""

# KEYS: the rooms set, room, seats. ARGV: ttl (ms), id, key prefix, code ('' if none), then
# the hash's fields and values. 0 (nothing written) if another live room holds the code.
_REGISTER = "local prefix = ARGV[3]\n" + _TAKE_CODE + """
if ARGV[4] ~= '' and not take_code(ARGV[4], ARGV[2], ARGV[1]) then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[1], ARGV[2])
return 1
"""

# KEYS: room. ARGV: fields and values. Only a live room: a hash created here would never expire.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# A record's fields in the order `heartbeat` passes them.
_FIELDS = ("mode", "process", "url", "players", "connected", "max_players", "locked", "private",
           "code", "metadata", "options", "spectators")
_COUNTS = ("players", "connected")  # the owner sets them and claims add to them: never rewritten

# KEYS: the rooms set, then room and seats of each record. ARGV: ttl (ms), key prefix, then
# id and the `_FIELDS` of each record. A vanished room is re-created; a live one gets every
# field but `players` and `connected` (its owner sets those, claims add to them). A code is
# taken back unless another live room holds it.
_HEARTBEAT = (
    "local prefix = ARGV[2]\n"
    "local fields = {" + ", ".join(f"'{name}'" for name in _FIELDS) + "}\n"
    + _TAKE_CODE + """
for i = 1, (#KEYS - 1) / 2 do
  local room, seats, a = KEYS[2 * i], KEYS[2 * i + 1], 3 + (i - 1) * (#fields + 1)
  local id, code = ARGV[a], ''
  local fresh = redis.call('EXISTS', room) == 0
  for f, name in ipairs(fields) do
    if fresh or (name ~= 'players' and name ~= 'connected') then
      redis.call('HSET', room, name, ARGV[a + f])
    end
    if name == 'code' then code = ARGV[a + f] end
  end
  redis.call('PEXPIRE', room, ARGV[1])
  redis.call('PEXPIRE', seats, ARGV[1])
  redis.call('SADD', KEYS[1], id)
  if code ~= '' then take_code(code, id, ARGV[1]) end
end
return 1
""")

# KEYS: room, seats, the rooms set. ARGV: id, key prefix. Drops the room, its seats and its
# code (if the code still names it).
_REMOVE = """
local code = redis.call('HGET', KEYS[1], 'code')
if code and code ~= '' then
  local key = ARGV[2] .. 'code:' .. code
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
"""

# KEYS: the code. ARGV: key prefix. {id, hash fields, live seats} of the room, or nil.
_BY_CODE = _NOW + """
local id = redis.call('GET', KEYS[1])
if not id then return nil end
local fields = redis.call('HGETALL', ARGV[1] .. 'room:' .. id)
if #fields == 0 then return nil end
return {id, fields, redis.call('ZCOUNT', ARGV[1] .. 'seats:' .. id, '(' .. now, '+inf')}
"""

# KEYS: the lock. ARGV: the holder's token. Deletes the lock only if that token still holds it.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: the rooms set. ARGV: the key prefix ("arena:"). Each live room as {id, hash fields,
# live seats}; ids whose hash is gone are removed from the set.
_ROOMS = _NOW + """
local found = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local fields = redis.call('HGETALL', ARGV[1] .. 'room:' .. id)
  if #fields == 0 then
    redis.call('SREM', KEYS[1], id)
  else
    local seats = redis.call('ZCOUNT', ARGV[1] .. 'seats:' .. id, '(' .. now, '+inf')
    found[#found + 1] = {id, fields, seats}
  end
end
return found
"""


def _values(record: RoomRecord) -> list[str | int]:
    """`record`'s `_FIELDS` as Redis stores them."""
    return [record.mode, record.process, record.url, record.players, record.connected,
            record.max_players, int(record.locked), int(record.private), record.code or "",
            orjson.dumps(record.metadata).decode(), record.options, record.spectators]


def _record(room_id: str, flat: list[str], reserved: int) -> RoomRecord:
    """A room's hash (flattened field, value, ...) and its live seats as a record."""
    f = dict(zip(flat[::2], flat[1::2], strict=True))
    try:
        metadata = orjson.loads(f.get("metadata") or "{}")
    except orjson.JSONDecodeError:
        metadata = None
    players = int(f.get("players", 0))
    return RoomRecord(
        room_id, f.get("mode", ""), f.get("process", ""), f.get("url", ""),
        players, int(f.get("max_players", 0)), int(reserved),
        # A record written by a release without the count: everyone counts as there.
        connected=int(f["connected"]) if "connected" in f else players,
        locked=f.get("locked") == "1", private=f.get("private") == "1",
        code=f.get("code") or None,
        metadata=metadata if isinstance(metadata, dict) else {},
        options=f.get("options", "{}"),
        spectators=int(f.get("spectators", 0)),
    )


def _redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class RedisPresence(Presence):
    """Presence shared by every process that uses the same Redis `url` and `prefix`."""

    shared = True

    def __init__(
        self,
        url: str,
        process_id: str,
        *,
        room_ttl: float = 5.0,
        prefix: str = "arena",
        timeout: float = 1.0,
    ) -> None:
        super().__init__(process_id, room_ttl=room_ttl)
        parse_url(url)  # a malformed URL is a configuration error: ValueError now
        self.url = url
        self.timeout = timeout  # no Redis call waits longer than this
        self._where = _redact(url)
        self._prefix = f"{prefix}:"
        self._rooms_key = f"{prefix}:rooms"
        self._channel = f"{prefix}:events"
        self._ttl_ms = max(1, round(room_ttl * 1000))
        self._client: aioredis.Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        #: True while the subscription is live (messages published now will arrive).
        self.listening = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and subscribe; with Redis down, warn and keep retrying in the background."""
        if self._client is not None:
            return
        self._client = aioredis.Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            # One retry on a new connection: after a Redis restart every pooled connection is
            # stale and fails once. No more: callers decide what to do without Redis, fast.
            retry=Retry(NoBackoff(), 1),
            decode_responses=True,
        )
        register = self._client.register_script
        self._reserve, self._claim = register(_RESERVE), register(_CLAIM)
        self._set_players, self._heartbeat = register(_SET_PLAYERS), register(_HEARTBEAT)
        self._rooms, self._by_code = register(_ROOMS), register(_BY_CODE)
        self._register, self._update = register(_REGISTER), register(_UPDATE)
        self._remove = register(_REMOVE)
        self._unlock = register(_UNLOCK)
        try:
            await self._call("ping", lambda r: r.ping())
        except PresenceUnavailable as exc:
            log.warning("%s; rooms run locally until it is back", exc)
        self._listener = asyncio.create_task(self._listen(), name="arena-presence-subscriber")

    async def close(self) -> None:
        listener, client = self._listener, self._client
        self._listener = self._client = None
        self._subscribers.clear()
        if listener is not None:
            listener.cancel()
            await asyncio.wait([listener])
        if client is not None:
            with contextlib.suppress(RedisError, OSError):  # a dead socket is closed anyway
                await client.aclose()

    async def _call(self, what: str, op: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """Run `op` on the client within `timeout`; any Redis failure is PresenceUnavailable."""
        client = self._client
        if client is None:
            raise PresenceUnavailable(f"presence on Redis is not started ({what})")
        try:
            async with asyncio.timeout(self.timeout):
                return await op(client)
        except (RedisError, OSError) as exc:  # OSError covers TimeoutError, ConnectionError
            raise PresenceUnavailable(
                f"Redis at {self._where} is unavailable ({what}): {_reason(exc)}"
            ) from exc

    async def call(self, what: str, op: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """Run `op` on this presence's connection, with its timeout and its failure rules
        (`PresenceUnavailable`): for other state the processes share (`RedisCounts`)."""
        return await self._call(what, op)

    def _keys(self, room_id: str) -> list[str]:
        """The room's hash and its seats' sorted set."""
        return [f"{self._prefix}room:{room_id}", f"{self._prefix}seats:{room_id}"]

    # -- registry ------------------------------------------------------------------------------

    async def register_room(self, record: RoomRecord) -> bool:
        room, seats = self._keys(record.id)
        keys = [self._rooms_key, room, seats]
        args: list[Any] = [self._ttl_ms, record.id, self._prefix, record.code or ""]
        for name, value in zip(_FIELDS, _values(record), strict=True):
            args += [name, value]
        return bool(await self._call("register_room", lambda r: self._register(keys, args, r)))

    async def update_room(self, record: RoomRecord) -> None:
        keys, args = self._keys(record.id)[:1], []
        for name, value in zip(_FIELDS, _values(record), strict=True):
            if name not in _COUNTS:
                args += [name, value]
        await self._call("update_room", lambda r: self._update(keys, args, r))

    async def set_players(self, room_id: str, players: int, connected: int) -> None:
        keys = self._keys(room_id)[:1]
        await self._call("set_players",
                         lambda r: self._set_players(keys, [players, connected], r))

    async def heartbeat(self, records: list[RoomRecord]) -> None:
        if not records:
            return
        keys, args = [self._rooms_key], [self._ttl_ms, self._prefix]
        for rec in records:
            keys += self._keys(rec.id)
            args += [rec.id, *_values(rec)]
        await self._call("heartbeat", lambda r: self._heartbeat(keys, args, r))

    async def remove_room(self, room_id: str) -> None:
        keys, args = [*self._keys(room_id), self._rooms_key], [room_id, self._prefix]
        await self._call("remove_room", lambda r: self._remove(keys, args, r))

    async def rooms(self, mode: str | None = None) -> list[RoomRecord]:
        keys, args = [self._rooms_key], [self._prefix]
        rows = await self._call("rooms", lambda r: self._rooms(keys, args, r))
        found = [_record(*row) for row in rows]
        return [r for r in found if mode is None or r.mode == mode]

    async def room_by_code(self, code: str) -> RoomRecord | None:
        keys, args = [f"{self._prefix}code:{code}"], [self._prefix]
        row = await self._call("room_by_code", lambda r: self._by_code(keys, args, r))
        if not row:
            return None
        record = _record(*row)
        return record if record.code == code else None

    # -- seats ---------------------------------------------------------------------------------

    async def reserve(self, room_id: str, seat: str, ttl: float) -> bool:
        keys, args = self._keys(room_id), [seat, max(1, round(ttl * 1000))]
        return bool(await self._call("reserve", lambda r: self._reserve(keys, args, r)))

    async def claim(self, room_id: str, seat: str) -> bool:
        keys = self._keys(room_id)
        return bool(await self._call("claim", lambda r: self._claim(keys, [seat], r)))

    async def release(self, room_id: str, seat: str) -> None:
        seats = self._keys(room_id)[1]
        await self._call("release", lambda r: r.zrem(seats, seat))

    # -- locks ---------------------------------------------------------------------------------

    async def lock(self, name: str, ttl: float) -> str | None:
        key, token = f"{self._prefix}lock:{name}", secrets.token_hex(8)
        ms = max(1, round(ttl * 1000))
        taken = await self._call("lock", lambda r: r.set(key, token, nx=True, px=ms))
        return token if taken else None

    async def unlock(self, name: str, token: str) -> None:
        key = f"{self._prefix}lock:{name}"
        await self._call("unlock", lambda r: self._unlock([key], [token], r))

    # -- messages ------------------------------------------------------------------------------

    async def publish(self, message: dict[str, Any]) -> None:
        data = orjson.dumps(message)
        await self._call("publish", lambda r: r.publish(self._channel, data))

    async def _listen(self) -> None:
        """Keep a subscription to the channel, reconnecting with backoff; never raises."""
        assert self._client is not None
        client, delay, outage = self._client, _BACKOFF_MIN, False
        while True:
            pubsub = client.pubsub()
            try:
                async with asyncio.timeout(self.timeout):
                    await pubsub.subscribe(self._channel)
                if outage:
                    log.warning("Redis at %s is back: receiving messages again", self._where)
                delay, outage, self.listening = _BACKOFF_MIN, False, True
                await self._pump(pubsub)
            except Exception as exc:  # the subscriber must outlive any failure
                if not outage and isinstance(exc, RedisError | OSError):
                    log.warning("Redis at %s is unavailable, messages from other processes are"
                                " lost until it is back: %s", self._where, _reason(exc))
                elif not outage:
                    log.exception("the presence subscriber failed; it starts again")
                outage = True
            finally:
                self.listening = False
                with contextlib.suppress(RedisError, OSError):  # the socket is gone anyway
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)

    async def _pump(self, pubsub: PubSub) -> None:
        """Deliver messages until the connection fails; PING an idle one to notice a dead peer."""
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=_KEEPALIVE)
            if message is None:
                if pinged:
                    raise TimeoutError(f"no answer to PING within {_KEEPALIVE} s")
                async with asyncio.timeout(self.timeout):
                    await pubsub.ping()
                pinged = True
                continue
            pinged = False
            if message["type"] != "message":
                continue
            try:
                decoded = orjson.loads(message["data"])
            except orjson.JSONDecodeError:
                decoded = None
            if not isinstance(decoded, dict):
                log.warning("ignoring a message that is no JSON object on %s", self._channel)
                continue
            try:
                self._deliver(decoded)
            except Exception:  # one bad subscriber must not end the subscription
                log.exception("a presence subscriber failed")
