"""Registering, logging in and guest access: the rules, shared by the JSON API and the form.

No Tornado here: handlers call `Accounts` and turn an `AccountError` into a status code, a JSON
body or an inline form error.
"""

from __future__ import annotations

import re
import unicodedata

from game_server.names import is_reserved
from game_server.storage.base import Storage, User, UsernameTaken
from game_server.storage.passwords import PasswordHasher
from game_server.throttle import LoginThrottle

USERNAME_RE = re.compile(r"[A-Za-z0-9_.\-]{3,20}")
MIN_PASSWORD = 8
MAX_PASSWORD = 256
MAX_GUEST_NAME = 20


class AccountError(Exception):
    """A refused account action: an HTTP status, a stable code and a message for people."""

    def __init__(self, status: int, code: str, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def check_not_reserved(name: str) -> str:
    """Refuse "server" (announcements come from it) and other reserved names, look-alikes
    included (`game_server.names`)."""
    if is_reserved(name):
        raise AccountError(
            400, "reserved_name", "That name is reserved for the server; please pick another.")
    return name


def check_username(username: object) -> str:
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise AccountError(
            400,
            "bad_username",
            "Usernames are 3 to 20 characters: letters, digits, '_', '.' or '-'.",
        )
    return check_not_reserved(username)


def check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(
            400, "bad_password", f"Passwords need at least {MIN_PASSWORD} characters."
        )
    if len(password) > MAX_PASSWORD:
        raise AccountError(
            400, "bad_password", f"Passwords are at most {MAX_PASSWORD} characters."
        )
    return password


def check_guest_name(name: object) -> str:
    if not isinstance(name, str):
        raise AccountError(400, "bad_name", "A guest needs a name.")
    name = " ".join(unicodedata.normalize("NFC", name).split())
    # isprintable() refuses control, format (bidi overrides, zero-width), private-use and
    # unassigned characters, which would let one name pass for another; visible symbols such
    # as < > are fine because every client renders names as text.
    if not 1 <= len(name) <= MAX_GUEST_NAME or not name.isprintable():
        raise AccountError(
            400,
            "bad_name",
            f"Guest names are 1 to {MAX_GUEST_NAME} visible characters"
            " (no control, invisible or direction-changing characters).",
        )
    return check_not_reserved(name)


class Accounts:
    """Account actions over a `Storage`, with passwords hashed off the event loop."""

    def __init__(self, storage: Storage, passwords: PasswordHasher,
                 throttle: LoginThrottle | None = None) -> None:
        self._storage = storage
        self._passwords = passwords
        self._throttle = throttle or LoginThrottle()

    async def register(self, username: object, password: object) -> User:
        name = check_username(username)
        secret = check_password(password)
        encoded = await self._passwords.hash(secret)
        try:
            return await self._storage.create_user(name, encoded)
        except UsernameTaken:
            raise AccountError(409, "username_taken", "That username is already taken.") from None

    async def login(self, username: object, password: object, address: str = "") -> User:
        """Check a username and password; unknown names cost a hash too and fail the same way.

        After too many failures for the username or the address, answer 429 without checking.
        """
        name_key = username if isinstance(username, str) else ""
        wait = await self._throttle.retry_after(name_key, address)
        if wait:
            raise AccountError(
                429, "too_many_attempts",
                f"Too many failed logins. Try again in {wait} seconds.", retry_after=wait)
        found = None
        if isinstance(username, str) and USERNAME_RE.fullmatch(username):
            found = await self._storage.find_login(username)
        ok = await self._passwords.verify(
            password if isinstance(password, str) else "",
            found[1] if found is not None else None,
        )
        if found is None or not ok:
            await self._throttle.failed(name_key, address)
            raise AccountError(401, "bad_credentials", "Wrong username or password.")
        await self._throttle.succeeded(name_key)
        return found[0]

    async def guest(self, name: object) -> User:
        return await self._storage.create_guest(check_guest_name(name))
