"""Login sessions: a random session id in a signed cookie, its row in the database.

The cookie alone proves nothing after logout or expiry: every request looks the session up, so
revoking the row locks the cookie out everywhere, the WebSocket handshake included.
"""

from __future__ import annotations

from collections.abc import Callable

import tornado.web

from game_server.storage.base import Storage, User

SESSION_COOKIE = "arena_session"
MAX_SESSION_ID_CHARS = 128


class SessionAuth:
    """Turns a request's signed session cookie into a user, and starts and ends sessions."""

    def __init__(
        self,
        storage: Storage,
        *,
        ttl_days: float,
        on_end: Callable[[str], None] | None = None,
    ) -> None:
        self._storage = storage
        self.ttl_days = ttl_days
        self._on_end = on_end  # told of every revoked session id (to close its sockets)

    async def resolve(self, handler: tornado.web.RequestHandler) -> tuple[User, str] | None:
        """The logged-in user and session id of this request, or None."""
        raw = handler.get_signed_cookie(SESSION_COOKIE, max_age_days=self.ttl_days)
        if not raw or len(raw) > MAX_SESSION_ID_CHARS:
            return None
        try:
            session_id = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
        user = await self._storage.session_user(session_id)
        if user is None:
            return None
        return user, session_id

    async def start(self, handler: tornado.web.RequestHandler, user: User) -> str:
        """Create a session row for `user` and set its signed cookie; return the session id."""
        session_id = await self._storage.create_session(user.id, self.ttl_days * 86400.0)
        handler.set_signed_cookie(
            SESSION_COOKIE,
            session_id,
            expires_days=self.ttl_days,
            httponly=True,
            samesite="Lax",
            secure=handler.request.protocol == "https",
            path="/",
        )
        return session_id

    async def end(self, handler: tornado.web.RequestHandler, session_id: str | None) -> None:
        """Revoke the session server-side and clear the cookie."""
        if session_id is not None:
            await self._storage.revoke_session(session_id)
            if self._on_end is not None:
                self._on_end(session_id)
        handler.clear_cookie(SESSION_COOKIE, path="/")
