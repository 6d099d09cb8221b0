"""Seat tokens: a signed, short-lived pass into a seat reserved on another process.

Matchmaking on one process reserves a seat in a room that another process holds and hands the
player a token for it (the `redirect` message). The token names the room, the reservation, the
account and its login session (by the session's hash: tokens travel in URLs, which end up in
proxies' logs), and when it expires; it is signed with the cookie secret every
process of one Arena shares, so the holder's process can check it without asking anyone. It is
single-use because the reservation it names can be claimed only once (`Presence.claim`). A
seat found by quick play also carries the options the player asked for, so that if the room's
game refuses the player there, quick play goes on from that process. A spectator's pass
(`spectate`) names no reservation: spectators take no seat, and the room's process counts them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

_CONTEXT = b"arena-seat-v1|"
# A token's body with a quick play's options stays under this many bytes of JSON, so the whole
# token (base64, version and signature) fits the protocol's MAX_SEAT_CHARS (1024).
MAX_QUICK_BYTES = 600


@dataclass(frozen=True, slots=True)
class SeatPass:
    """What a valid seat token says."""

    room: str
    seat: str
    user: int
    session: str  # the login session's hash (never its id): the seat is good while it is live
    expires: float  # wall-clock seconds
    # The options of the quick play that found the seat: where the room's game refuses the
    # player, the process that holds it tries quick play once more with them (None: no retry).
    quick: dict[str, Any] | None = None
    # A pass to watch the room as a spectator (no seat was reserved: `seat` is empty).
    spectate: bool = False


class SeatTokenError(ValueError):
    """The token is malformed, forged, or expired (the message says which, for logs)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SeatTokens:
    """Issues and checks seat tokens with versioned secrets (the newest version signs)."""

    def __init__(
        self, secrets: dict[int, str], *, wall: Callable[[], float] = time.time
    ) -> None:
        if not secrets:
            raise ValueError("seat tokens need at least one secret")
        self._keys = {v: hashlib.sha256(_CONTEXT + s.encode()).digest() for v, s in secrets.items()}
        self._version = max(secrets)
        self._wall = wall

    def _mac(self, version: int, body: str) -> str:
        digest = hmac.new(self._keys[version], body.encode("ascii"), hashlib.sha256).digest()
        return _b64(digest)

    def issue(self, *, room: str, seat: str, user: int, session: str, ttl: float,
              quick: Mapping[str, Any] | None = None, spectate: bool = False) -> str:
        """A token for `seat` in `room`, good for `ttl` seconds; `quick`: the options of the
        quick play that found it, carried while the token stays short (else left out)."""
        fields: dict[str, Any] = {
            "r": room, "s": seat, "u": user, "k": session, "x": round(self._wall() + ttl, 3)}
        if quick is not None:
            with_quick = orjson.dumps({**fields, "q": dict(quick)})
            if len(with_quick) <= MAX_QUICK_BYTES:
                fields["q"] = dict(quick)
        if spectate:
            fields["w"] = 1
        body = _b64(orjson.dumps(fields))
        return f"{self._version}.{body}.{self._mac(self._version, body)}"

    def verify(self, token: str) -> SeatPass:
        """The pass a token carries; raises `SeatTokenError` unless it is genuine and live."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit():
            raise SeatTokenError("not a seat token")
        version, body, mac = int(parts[0]), parts[1], parts[2]
        if version not in self._keys:
            raise SeatTokenError("signed with an unknown key version")
        try:
            genuine = hmac.compare_digest(self._mac(version, body), mac)
        except (UnicodeEncodeError, TypeError):
            genuine = False
        if not genuine:
            raise SeatTokenError("bad signature")
        try:
            data = orjson.loads(_unb64(body))
            quick = data.get("q")
            seat = SeatPass(str(data["r"]), str(data["s"]), int(data["u"]), str(data["k"]),
                            float(data["x"]), quick if isinstance(quick, dict) else None,
                            data.get("w") == 1)
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            raise SeatTokenError(f"unreadable body: {exc}") from None
        if seat.expires <= self._wall():
            raise SeatTokenError("expired")
        return seat
