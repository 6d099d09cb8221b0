"""Operator announcements: global chat from "server" to every player of every process.

`python -m game_server announce TEXT` publishes the announcement on the cluster's pub/sub
channel when it is given the Arena's Redis URL (every process subscribes to it). Without Redis
there is one process, and the command sends it there as `POST /api/announce`, signed with the
cookie secret: only whoever can read the data directory (or `ARENA_COOKIE_SECRET`) can sign one,
and a signed announcement is good once, within `MAX_AGE` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.web import create_signed_value, decode_signed_value

from game_server.config import CookieSecret
from game_server.names import SERVER_NAME
from game_server.presence import RedisPresence
from game_server.presence.base import KIND_CHAT
from protocol.messages import MAX_CHAT_CHARS

SIGNED_NAME = "arena_announce"  # signed into the value: a session cookie never passes for one
MAX_AGE = 60.0  # seconds a signed announcement is accepted


class RecentAnnouncements:
    """The announcements this process heard lately, for pages without a game socket (the
    lobby, the first screen), which ask for them with `GET /api/announcements`: the newest
    `keep`, each for `max_age` seconds. Every process hears every announcement (they come
    over the cluster's pub/sub), so whichever process a page asks knows the same ones."""

    def __init__(self, *, keep: int = 3, max_age: float = 600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._keep = keep
        self._max_age = max_age
        self._clock = clock
        self._items: list[tuple[float, str]] = []

    def add(self, text: str) -> None:
        self._items.append((self._clock(), text))
        del self._items[:-self._keep]

    def recent(self) -> list[dict[str, Any]]:
        """The ones still fresh, oldest first: `{"text", "at"}` (`at` in ms since the epoch)."""
        oldest = self._clock() - self._max_age
        return [{"text": text, "at": int(at * 1000)} for at, text in self._items if at >= oldest]


def check_text(text: object) -> str:
    """The announcement's text as chat carries it, or ValueError saying what is wrong."""
    if not isinstance(text, str) or not 1 <= len(text.strip()) <= MAX_CHAT_CHARS:
        raise ValueError(f"an announcement is 1 to {MAX_CHAT_CHARS} characters")
    if not text.isprintable():
        raise ValueError("an announcement must not contain control or invisible characters")
    return text.strip()


def sign(secret: CookieSecret, text: str, *, clock: Callable[[], float] = time.time) -> str:
    """`text`, signed and timestamped with the newest version of the cookie secret."""
    key_version = max(secret) if isinstance(secret, dict) else None
    return create_signed_value(secret, SIGNED_NAME, text, key_version=key_version,
                               clock=clock).decode("ascii")


class AnnouncementVerifier:
    """Accepts a signed announcement once, while it is fresh; answers its text or None."""

    def __init__(self, secret: CookieSecret, *, max_age: float = MAX_AGE,
                 clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._max_age = max_age
        self._clock = clock
        self._seen: dict[str, float] = {}  # token -> when it stops being fresh anyway

    def verify(self, token: str) -> str | None:
        value = decode_signed_value(self._secret, SIGNED_NAME, token,
                                    max_age_days=self._max_age / 86400.0, clock=self._clock)
        if value is None:
            return None
        now = self._clock()
        self._seen = {t: until for t, until in self._seen.items() if until > now}
        if token in self._seen:
            return None  # a replay
        self._seen[token] = now + self._max_age
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None


async def publish(redis_url: str, text: str) -> None:
    """Publish the announcement to every process of the Arena on `redis_url`; raises
    `PresenceUnavailable` when Redis cannot be reached."""
    presence = RedisPresence(redis_url, f"announce-{socket.gethostname()}-{os.getpid()}")
    await presence.start()
    try:
        # Let the presence's own subscriber settle first: closing it while it subscribes can
        # hang (seen with redis-py 8.2), and a reachable Redis answers within its timeout.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(presence.timeout):
                while not presence.listening:  # noqa: ASYNC110 - a flag, no event to await
                    await asyncio.sleep(0.01)
        await presence.publish({"kind": KIND_CHAT, "name": SERVER_NAME, "text": text})
    finally:
        await presence.close()


async def post(url: str, secret: CookieSecret, text: str) -> dict[str, Any]:
    """Send the announcement to the server at `url`, signed; its JSON answer. Raises OSError
    when nothing answers there, ValueError with the server's message when it refuses."""
    client = AsyncHTTPClient(force_instance=True)
    try:
        response = await client.fetch(
            HTTPRequest(url.rstrip("/") + "/api/announce", method="POST",
                        body=orjson.dumps({"token": sign(secret, text)}),
                        headers={"Content-Type": "application/json"},
                        request_timeout=10.0),
            raise_error=False)
    finally:
        client.close()
    if response.code == 599:
        raise OSError(str(response.error))
    try:
        answer = orjson.loads(response.body or b"{}")
    except orjson.JSONDecodeError:
        answer = {}
    if response.code != 200:
        raise ValueError(f"{response.code} {answer.get('message') or response.reason}")
    return answer  # type: ignore[no-any-return]
