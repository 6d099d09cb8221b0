"""Presence: the room registry, seat reservations and pub/sub shared by Arena's processes."""

from game_server.presence.base import Presence, PresenceUnavailable, RoomRecord
from game_server.presence.counts import LocalCounts, SharedCounts
from game_server.presence.local import LocalPresence
from game_server.presence.redis import RedisPresence
from game_server.presence.redis_counts import RedisCounts

__all__ = [
    "LocalCounts",
    "LocalPresence",
    "Presence",
    "PresenceUnavailable",
    "RedisCounts",
    "RedisPresence",
    "RoomRecord",
    "SharedCounts",
    "open_counts",
    "open_presence",
]


def open_presence(redis_url: str, process_id: str, *, room_ttl: float = 5.0) -> Presence:
    """The presence for this process: in memory without `redis_url`, else shared through Redis.

    Not started yet: the caller awaits `start()` (and `close()` at the end).
    """
    if not redis_url:
        return LocalPresence(process_id, room_ttl=room_ttl)
    return RedisPresence(redis_url, process_id, room_ttl=room_ttl)


def open_counts(presence: Presence) -> SharedCounts:
    """The counts abuse limits use: shared through Redis when `presence` is, else in memory."""
    if isinstance(presence, RedisPresence):
        return RedisCounts(presence)
    return LocalCounts(presence.process_id, ttl=presence.room_ttl)
