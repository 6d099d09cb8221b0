"""Talking to an Arena server as a client: HTTP login with XSRF, then the game WebSocket.

The login helpers return the `Cookie` header value to open the WebSocket with; `ArenaSocket` wraps
Tornado's client connection into JSON-object `send` / `recv`; `with_seat` / `without_seat` add or
strip a redirect's `seat=` in a socket URL. Joining by mode and following matchmaking's
`redirect`s is `client.joining`.
"""

from __future__ import annotations

import asyncio
from http.cookies import CookieError, Morsel, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import orjson
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.httputil import responses
from tornado.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
    WebSocketError,
    websocket_connect,
)

from protocol.closes import CloseCode

SESSION_COOKIE = "arena_session"
XSRF_COOKIE = "_xsrf"
DEFAULT_TIMEOUT = 20.0
DEFAULT_MAX_MESSAGE_SIZE = 1 << 20


class ArenaError(Exception):
    """A client-side failure whose message is one line a person can act on."""


class LoginError(ArenaError):
    """The server answered a login request with something other than success."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class UnreachableError(ArenaError, ConnectionError):
    """The server could not be reached at all (refused, unresolvable, timed out)."""


class HandshakeError(ArenaError):
    """The server refused to upgrade `/ws` to a WebSocket (e.g. 401 without a valid session)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


# -- HTTP login ----------------------------------------------------------------------------------


async def login_guest(
    base_url: str, name: str, *, http_client: AsyncHTTPClient | None = None
) -> str:
    """Log in as a guest called `name`; return the Cookie header value for the WebSocket."""
    return await _post_for_session(
        base_url, "/api/guest", {"name": name}, "guest login", http_client
    )


async def login_password(
    base_url: str, username: str, password: str, *, http_client: AsyncHTTPClient | None = None
) -> str:
    """Log in with a registered account; return the Cookie header value for the WebSocket."""
    body = {"username": username, "password": password}
    return await _post_for_session(base_url, "/api/login", body, "login", http_client)


async def register(
    base_url: str, username: str, password: str, *, http_client: AsyncHTTPClient | None = None
) -> str:
    """Create an account (which also logs it in); return the Cookie header value."""
    body = {"username": username, "password": password}
    return await _post_for_session(base_url, "/api/register", body, "registration", http_client)


async def _post_for_session(
    base_url: str,
    path: str,
    body: dict[str, Any],
    action: str,
    http_client: AsyncHTTPClient | None,
) -> str:
    base = base_url.rstrip("/")
    client = http_client if http_client is not None else AsyncHTTPClient()
    jar: dict[str, Morsel[str]] = {}

    request = HTTPRequest(base + "/api/xsrf", method="GET", request_timeout=DEFAULT_TIMEOUT)
    response = await _fetch(client, base, request)
    if not 200 <= response.code < 300:
        raise _refusal("XSRF token request", response)
    jar.update(_set_cookies(response))
    if XSRF_COOKIE not in jar or not jar[XSRF_COOKIE].value:
        # PROTOCOL.md promises the cookie; the token in the body works as well if it is missing.
        token = _json_object(response).get("xsrf")
        if not isinstance(token, str) or not token:
            raise LoginError(f"GET {base}/api/xsrf gave no {XSRF_COOKIE} token")
        made: SimpleCookie = SimpleCookie()
        made[XSRF_COOKIE] = token
        jar[XSRF_COOKIE] = made[XSRF_COOKIE]
    xsrf = jar[XSRF_COOKIE]

    request = HTTPRequest(
        base + path,
        method="POST",
        body=orjson.dumps(body),
        headers={
            "Content-Type": "application/json",
            "X-XSRFToken": xsrf.value,
            "Cookie": _cookie_header(jar),
        },
        follow_redirects=False,
        request_timeout=DEFAULT_TIMEOUT,
    )
    response = await _fetch(client, base, request)
    if not 200 <= response.code < 300:
        raise _refusal(action, response)
    jar.update(_set_cookies(response))
    session = jar.get(SESSION_COOKIE)
    if session is None or not session.value:
        raise LoginError(f"{action} at {base} set no {SESSION_COOKIE} cookie")
    return _cookie_header(jar)


async def _fetch(client: AsyncHTTPClient, base: str, request: HTTPRequest) -> HTTPResponse:
    """Fetch without raising on HTTP status; turn transport failures into `UnreachableError`."""
    try:
        return await client.fetch(request, raise_error=False)
    except HTTPClientError as exc:  # 599: timeouts, streams closed before an answer
        raise UnreachableError(f"cannot reach {base}: {exc.message or exc}") from exc
    except OSError as exc:
        raise UnreachableError(f"cannot reach {base}: {exc.strerror or exc}") from exc


def _set_cookies(response: HTTPResponse) -> dict[str, Morsel[str]]:
    """Every cookie the response sets, by name (deleted cookies come back with empty values)."""
    cookies: dict[str, Morsel[str]] = {}
    for header in response.headers.get_list("Set-Cookie"):
        parsed: SimpleCookie = SimpleCookie()
        try:
            parsed.load(header)
        except CookieError:
            continue
        cookies.update(parsed)
    return cookies


def _cookie_header(jar: dict[str, Morsel[str]]) -> str:
    # coded_value is the value exactly as the server sent it (quoted if it needed quotes).
    return "; ".join(f"{name}={m.coded_value}" for name, m in jar.items() if m.value)


def _refusal(action: str, response: HTTPResponse) -> LoginError:
    """A one-line `LoginError` from a non-2xx answer, quoting the server's JSON message."""
    payload = _json_object(response)
    code = payload.get("error") if isinstance(payload.get("error"), str) else None
    detail = str(payload.get("message") or code or "")
    status = f"{response.code} {response.reason or responses.get(response.code, '')}".strip()
    message = f"{action} refused ({status})" + (f": {detail}" if detail else "")
    return LoginError(message, status=response.code, code=code)


def _json_object(response: HTTPResponse) -> dict[str, Any]:
    """The response body as a JSON object, or {} when it is anything else."""
    try:
        payload = orjson.loads(response.body or b"")
    except orjson.JSONDecodeError:
        return {}
    return payload if isinstance(payload, dict) else {}


# -- the WebSocket -------------------------------------------------------------------------------


def websocket_url(base_url: str) -> str:
    """`http://host:port[/prefix]` → `ws://host:port[/prefix]/ws` (https → wss)."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"not an http(s) URL: {base_url!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))


def with_seat(url: str, token: str) -> str:
    """`url` with `seat=TOKEN` in its query, the token URL-encoded (`+`, `/`, `=` too); any
    `seat` already there is replaced, other fields are kept."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "seat"]
    query.append(("seat", token))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote, safe="")))


def without_seat(url: str) -> str:
    """`url` without its `seat=` query field: the server's own address."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "seat"]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote, safe="")))


class ArenaSocket:
    """One game WebSocket: JSON objects in, JSON objects out, as text frames. `url` is the
    `ws://` URL it was opened on (with a `seat=` query when a redirect's seat opened it)."""

    def __init__(self, connection: WebSocketClientConnection, url: str = "") -> None:
        self._connection = connection
        self._eof = False
        self.url = url

    @classmethod
    async def connect(
        cls,
        base_url: str,
        cookie: str,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        connect_timeout: float = DEFAULT_TIMEOUT,
    ) -> ArenaSocket:
        """Open `/ws` on the server at `base_url` with the session `cookie` from a login."""
        return await cls.connect_url(
            websocket_url(base_url),
            cookie,
            max_message_size=max_message_size,
            connect_timeout=connect_timeout,
            _server=base_url.rstrip("/"),
        )

    @classmethod
    async def connect_url(
        cls,
        url: str,
        cookie: str | None = None,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        connect_timeout: float = DEFAULT_TIMEOUT,
        _server: str | None = None,
    ) -> ArenaSocket:
        """Open the game WebSocket at `url` (`ws://host:port/ws`, maybe with `?seat=`), sending
        the session `cookie` when given: a redirect's URL is opened with both."""
        base = _server or without_seat(url)
        request = HTTPRequest(
            url,
            headers={"Cookie": cookie} if cookie else None,
            connect_timeout=connect_timeout,
            request_timeout=connect_timeout,
        )
        try:
            connection = await websocket_connect(request, max_message_size=max_message_size)
        except HTTPClientError as exc:
            if exc.code == 599:
                raise UnreachableError(f"cannot reach {base}: {exc.message or exc}") from exc
            status = f"{exc.code} {responses.get(exc.code, '')}".strip()
            shown = without_seat(url)  # the seat token is a credential: keep it out of messages
            raise HandshakeError(f"WebSocket {shown} refused ({status})", status=exc.code) from exc
        except WebSocketError as exc:
            raise HandshakeError(f"{without_seat(url)} did not upgrade to a WebSocket") from exc
        except OSError as exc:
            raise UnreachableError(f"cannot reach {base}: {exc.strerror or exc}") from exc
        # Small frames must leave at once, as a browser's would: the HTTP client turns Nagle back
        # on after the handshake, which holds a ping behind an unacknowledged input for ~20 ms.
        if connection.protocol is not None:
            connection.protocol.set_nodelay(True)
        return cls(connection, url)

    @property
    def close_code(self) -> int | None:
        """The close code the server sent, once the socket is closed (None if it sent none)."""
        return self._connection.close_code

    @property
    def close_reason(self) -> str | None:
        return self._connection.close_reason

    @property
    def closed(self) -> bool:
        """True after `close()` or once `recv()` has seen the end of the stream."""
        return self._eof or self._connection.protocol is None

    def send(self, msg: dict[str, Any]) -> bool:
        """Queue `msg` as one text frame; False (nothing sent) when the socket is closed."""
        if self.closed:
            return False
        try:
            future = self._connection.write_message(orjson.dumps(msg).decode())
        except WebSocketClosedError:
            return False
        # A write can still fail once the stream closes; nobody awaits it, so consume the error.
        future.add_done_callback(_consume_exception)
        return True

    async def recv(self) -> dict[str, Any] | None:
        """The next message from the server, or None once the connection is closed.

        Raises `ValueError` for a frame that is not a JSON object.
        """
        if self._eof:
            return None
        raw = await self._connection.read_message()
        if raw is None:
            self._eof = True
            return None
        msg = orjson.loads(raw)
        if not isinstance(msg, dict):
            raise ValueError(f"server sent a {type(msg).__name__}, not an object")
        return msg

    def close(self, code: int = CloseCode.NORMAL, reason: str | None = None) -> None:
        """Start a clean close (send our close frame); safe to call more than once."""
        self._connection.close(code, reason)

    async def aclose(
        self, code: int = CloseCode.NORMAL, reason: str | None = None, *, grace: float = 2.0
    ) -> None:
        """Close and wait up to `grace` seconds for the server's close frame.

        Messages still in flight are discarded. Not to be called while another task is blocked
        in `recv()`: cancel that task first.
        """
        self.close(code, reason)
        try:
            async with asyncio.timeout(grace):
                while not self._eof:
                    if await self._connection.read_message() is None:
                        self._eof = True
        except TimeoutError:
            pass


def _consume_exception(future: Any) -> None:
    if not future.cancelled():
        future.exception()
