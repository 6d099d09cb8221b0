"""Joining a game by mode, following matchmaking's `redirect`s across processes (PROTOCOL.md,
section 4) to the socket that got `joined`.

`join_following` works on any `GameSocket` (an `ArenaSocket` from `client.session`, or a test's
fake); `connect_and_join` opens the socket from a login's cookie and joins on it; `resume_seat`
takes a held seat back after a dropped connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from client.session import (
    DEFAULT_TIMEOUT,
    ArenaError,
    ArenaSocket,
    with_seat,
    without_seat,
)
from protocol.closes import CloseCode

MAX_REDIRECTS = 3  # redirects followed in one join attempt; one more is a JoinError
DEFAULT_SEAT_SECONDS = 5.0  # a redirect's seat is held this long when it does not say


class JoinError(ArenaError):
    """`join_following` got no `joined`. `code` is the server's error code (`unknown_mode`,
    `unavailable`, ...), or `too_many_redirects`, `closed`, `session_ended` (closed with 4003)
    or `timeout`."""

    def __init__(self, message: str, *, code: str, close_code: int | None = None):
        super().__init__(message)
        self.code = code
        self.close_code = close_code


@dataclass(frozen=True, slots=True)
class Redirect:
    """A `redirect`: the room matchmaking picked is on the server at `url` (a `ws://` URL),
    where `seat` is reserved for `expires_in` seconds."""

    url: str
    seat: str
    room: str | None = None
    expires_in: float = DEFAULT_SEAT_SECONDS

    @classmethod
    def from_message(cls, msg: dict[str, Any]) -> Redirect | None:
        """The redirect in `msg`, or None when it is not one that can be followed."""
        url, seat, room = msg.get("url"), msg.get("seat"), msg.get("room")
        if msg.get("type") != "redirect" or not isinstance(url, str) or not seat:
            return None
        if urlsplit(url).scheme not in ("ws", "wss") or not isinstance(seat, str):
            return None
        expires = msg.get("expires_in")
        ok = isinstance(expires, int | float) and not isinstance(expires, bool) and expires > 0
        return cls(url, seat, room if isinstance(room, str) else None,
                   float(expires) if ok else DEFAULT_SEAT_SECONDS)

    @property
    def seat_url(self) -> str:
        """The URL to open: `url?seat=TOKEN`."""
        return with_seat(self.url, self.seat)


class GameSocket(Protocol):
    """What `join_following` needs of a socket (`ArenaSocket`, or a test's fake)."""

    url: str

    @property
    def close_code(self) -> int | None: ...

    def send(self, msg: dict[str, Any]) -> bool: ...

    async def recv(self) -> dict[str, Any] | None: ...

    async def aclose(
        self, code: int = CloseCode.NORMAL, reason: str | None = None, *, grace: float = 2.0
    ) -> None: ...


# Opens the game socket at a ws:// URL (with `?seat=` after a redirect).
Connector = Callable[[str], Awaitable[GameSocket]]


@dataclass
class Joined:
    """What `join_following` got: the socket now seated (the one passed in, or a new one on
    another server), its `joined` message, and how it got there."""

    socket: GameSocket
    message: dict[str, Any]
    url: str  # the seated server's ws:// URL, without a seat: reconnect and resume here
    redirects: int = 0  # redirects followed
    fallbacks: int = 0  # seats refused (or sockets that would not open): matchmade again
    errors: list[str] = field(default_factory=list)  # error codes answered on the way


async def join_following(
    sock: GameSocket,
    cookie: str | None = None,
    *,
    mode: str = "arena",
    options: dict[str, Any] | None = None,
    connect: Connector | None = None,
    max_redirects: int = MAX_REDIRECTS,
    join_timeout: float = DEFAULT_TIMEOUT,
    on_message: Callable[[dict[str, Any]], None] | None = None,
    unavailable_retries: int = 2,
    retry_delay: float = 2.0,
    close_grace: float = 1.0,
) -> Joined:
    """Join by `mode` (quick play among rooms with these `options`, if given) on `sock` and
    follow `redirect`s until `joined`.

    A redirect closes the current socket (1000), opens the redirect's URL with `?seat=` (and
    the `cookie`, via `connect`, default `ArenaSocket.connect_url`) and sends `join` with the
    seat. A refused seat (`seat_invalid`), or a socket that does not open within the seat's
    `expires_in` or closes before `joined`, goes back to the server that sent the redirect to
    join by mode again. At most `max_redirects` redirects are followed. `unavailable` is asked
    again after `retry_delay`, `unavailable_retries` times. The whole attempt is bounded by
    `join_timeout` seconds. Every other message read before `joined` (pongs, chat) goes to
    `on_message`.

    Returns `Joined`: `Joined.socket` may be another socket than `sock`, which is then closed;
    reading from it is up to the caller. Raises `JoinError` (an `ArenaError`), or the
    `ArenaError` of a connect that failed; a socket opened here is closed on any failure.
    """
    if connect is None:
        async def connect(url: str) -> GameSocket:
            return await ArenaSocket.connect_url(url, cookie)

    by_mode: dict[str, Any] = {"type": "join", "mode": mode}
    if options:
        by_mode["options"] = options
    current: GameSocket | None = sock
    claiming_from: str | None = None  # the server to go back to while a seat is claimed
    redirects = fallbacks = 0
    errors: list[str] = []
    unavailable_left = unavailable_retries
    request = by_mode

    async def reopen(url: str) -> GameSocket:
        nonlocal current
        old, current = current, None
        if old is not None:
            await old.aclose(CloseCode.NORMAL, grace=close_grace)
        current = await connect(url)
        return current

    try:
        async with asyncio.timeout(join_timeout):
            while True:
                assert current is not None
                current.send(request)
                msg = await _join_answer(current, on_message)
                kind = msg.get("type") if msg is not None else None
                if kind == "joined":
                    assert msg is not None
                    return Joined(current, msg, without_seat(current.url), redirects, fallbacks,
                                  errors)
                code = str(msg.get("code")) if msg is not None and kind == "error" else None
                if msg is None and current.close_code == CloseCode.SESSION_ENDED:
                    raise JoinError("the login session was ended (close code 4003)",
                                    code="session_ended", close_code=CloseCode.SESSION_ENDED)
                if claiming_from is not None and (msg is None or code in _SEAT_REFUSALS):
                    # The seat was not had: matchmake again on the server that sent us.
                    if code is not None:
                        errors.append(code)
                    fallbacks += 1
                    origin, claiming_from = claiming_from, None
                    await reopen(origin)
                    request = by_mode
                    continue
                if msg is None:
                    close = current.close_code
                    raise JoinError(f"connection closed before joined (close code {close})",
                                    code="closed", close_code=close)
                if kind == "redirect":
                    if redirects >= max_redirects:
                        raise JoinError(f"gave up joining after {redirects} redirects",
                                        code="too_many_redirects")
                    redirects += 1
                    target = Redirect.from_message(msg)
                    if target is None:  # cannot be followed: matchmake here again (counted)
                        request = by_mode
                        continue
                    origin = claiming_from or without_seat(current.url)
                    try:
                        async with asyncio.timeout(max(target.expires_in, 1.0)):
                            await reopen(target.seat_url)
                    except (ArenaError, OSError, TimeoutError):
                        fallbacks += 1
                        claiming_from = None
                        await reopen(origin)
                        request = by_mode
                        continue
                    claiming_from = origin
                    request = {"type": "join", "seat": target.seat}
                    continue
                assert code is not None
                errors.append(code)
                if code == "unavailable" and unavailable_left > 0:
                    unavailable_left -= 1
                    await asyncio.sleep(retry_delay)
                    continue
                raise JoinError(f"join refused ({code}): {msg.get('message', '')}", code=code)
    except TimeoutError:
        await _close_unless(current, sock, close_grace)
        raise JoinError(f"not joined within {join_timeout:g} s", code="timeout") from None
    except BaseException:
        await _close_unless(current, sock, close_grace)
        raise


_SEAT_REFUSALS = ("seat_invalid", "unavailable")
_JOIN_ANSWERS = ("joined", "redirect", "error")


async def _join_answer(
    sock: GameSocket, on_message: Callable[[dict[str, Any]], None] | None
) -> dict[str, Any] | None:
    """The next `joined`, `redirect` or `error`; None once the socket closed. Other messages
    (and frames that are not JSON objects) go to `on_message` or are dropped."""
    while True:
        try:
            msg = await sock.recv()
        except ValueError:
            continue
        if msg is None or msg.get("type") in _JOIN_ANSWERS:
            return msg
        if on_message is not None:
            on_message(msg)


async def _close_unless(current: GameSocket | None, given: GameSocket, grace: float) -> None:
    """Close `current` when `join_following` opened it (the caller's own socket is theirs)."""
    if current is not None and current is not given:
        try:
            await asyncio.shield(current.aclose(CloseCode.NORMAL, grace=grace))
        except (asyncio.CancelledError, Exception):  # a best-effort close
            pass


async def connect_and_join(
    base_url: str, cookie: str, *, mode: str = "arena", **options: Any
) -> Joined:
    """Open `/ws` at `base_url` with `cookie` and `join_following` there (`options` are its
    keyword arguments)."""
    sock = await ArenaSocket.connect(base_url, cookie)
    try:
        return await join_following(sock, cookie, mode=mode, **options)
    except BaseException:
        await sock.aclose(grace=0.5)
        raise


async def resume_seat(
    sock: GameSocket,
    token: str,
    *,
    join_timeout: float = DEFAULT_TIMEOUT,
    on_message: Callable[[dict[str, Any]], None] | None = None,
) -> Joined:
    """Take back a held seat after a dropped connection: `join` with the `resume` token of the
    last `joined`, on `sock` opened at the server that seated us (`Joined.url`). Raises
    `JoinError` (`resume_failed` once the seat is gone: join by mode instead)."""
    try:
        async with asyncio.timeout(join_timeout):
            sock.send({"type": "join", "resume": token})
            msg = await _join_answer(sock, on_message)
    except TimeoutError:
        raise JoinError(f"not resumed within {join_timeout:g} s", code="timeout") from None
    if msg is None:
        close = sock.close_code
        raise JoinError(f"connection closed before joined (close code {close})",
                        code="closed", close_code=close)
    if msg.get("type") != "joined":
        code = str(msg.get("code")) if msg.get("type") == "error" else "unexpected"
        raise JoinError(f"resume refused ({code}): {msg.get('message', '')}", code=code)
    return Joined(sock, msg, without_seat(sock.url))
