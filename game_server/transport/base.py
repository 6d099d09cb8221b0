"""What every handler shares: the injected services, the resolved user, JSON in and out."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import tornado.web

from game_server.accounts import AccountError, Accounts
from game_server.config import Config
from game_server.engine.limits import Limits
from game_server.engine.matchmaker import Matchmaker
from game_server.engine.metrics import Metrics
from game_server.storage.base import Storage, StorageError, User
from game_server.transport.auth import SessionAuth

log = logging.getLogger("arena.http")

if TYPE_CHECKING:
    from game_server.bans import BanList
    from game_server.console_bus import ConsoleBus
    from game_server.engine.cluster import Cluster
    from game_server.socket_cap import SocketCap
    from game_server.transport.events import SocketEvents
    from game_server.transport.ws import SocketRegistry


@dataclass
class Services:
    """The server's parts, built once by `ArenaServer` and handed to every handler."""

    config: Config
    storage: Storage
    accounts: Accounts
    auth: SessionAuth
    matchmaker: Matchmaker
    metrics: Metrics
    sockets: SocketRegistry
    cluster: Cluster
    events: SocketEvents
    limits: Limits = field(default_factory=Limits)
    socket_cap: SocketCap | None = None  # --max-connections-per-ip (None: no cap)
    bans: BanList | None = None  # bans in force, checked at login and at the handshake
    console: ConsoleBus | None = None  # the operator console's messages between processes


class BaseHandler(tornado.web.RequestHandler):
    """Resolves `current_user` from the session cookie before any verb runs."""

    services: Services
    session_id: str | None = None

    def initialize(self, services: Services) -> None:
        self.services = services

    async def prepare(self) -> None:
        resolved = await self.services.auth.resolve(self)
        if resolved is not None:
            self.current_user, self.session_id = resolved

    @property
    def user(self) -> User | None:
        return self.current_user  # type: ignore[no-any-return]

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, StorageError):
            # An outage, not a bug: one line, no traceback per request.
            log.warning("%s %s: storage unavailable: %s", self.request.method,
                        self.request.path, value)
            return
        super().log_exception(typ, value, tb)

    def check_ban(self, user_id: int | None) -> None:
        """`AccountError` 403 "banned" when the account or this address is banned now."""
        bans = self.services.bans
        if bans is None:
            return
        ban = bans.of(user_id, self.request.remote_ip)
        if ban is not None:
            raise AccountError(403, "banned", "You are " + ban.message(time.time()) + ".")

    async def start_session(self, user: User) -> None:
        """Log `user` in here (a session row, its cookie); `AccountError` when banned."""
        self.check_ban(user.id)
        self.session_id = await self.services.auth.start(self, user)
        self.current_user = user


class ApiError(tornado.web.HTTPError):
    """An API refusal with a stable code and a message, written as JSON."""

    def __init__(self, status: int, code: str, message: str, retry_after: int = 0) -> None:
        super().__init__(status, reason=None, log_message=None)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def from_account(cls, exc: AccountError) -> ApiError:
        return cls(exc.status, exc.code, exc.message, exc.retry_after)


class JsonHandler(BaseHandler):
    """A JSON API endpoint: bodies in and out are JSON, errors too."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")

    def json_body(self) -> dict[str, Any]:
        try:
            body = orjson.loads(self.request.body or b"{}")
        except orjson.JSONDecodeError:
            raise ApiError(400, "bad_json", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json", "The request body must be a JSON object.")
        return body

    def send_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(orjson.dumps(payload))

    def require_user(self) -> User:
        if self.current_user is None:
            raise ApiError(401, "not_logged_in", "Log in first.")
        return self.current_user  # type: ignore[no-any-return]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, StorageError):
            # The database is unreachable: a clear, retryable answer instead of a bare 500.
            self.set_status(503)
            self.set_header("Retry-After", "5")
            code, message = "unavailable", "The account service is unavailable; try again soon."
        elif isinstance(exc, ApiError):
            code, message = exc.code, exc.message
            if exc.retry_after:
                self.set_header("Retry-After", str(exc.retry_after))
        elif isinstance(exc, tornado.web.HTTPError) and "xsrf" in (exc.log_message or "").lower():
            code = "xsrf"
            message = "Missing or wrong XSRF token: send the _xsrf cookie and X-XSRFToken header."
        else:
            code, message = f"http_{status_code}", self._reason
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(orjson.dumps({"error": code, "message": message}))
