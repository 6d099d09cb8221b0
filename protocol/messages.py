"""Message types and limits of the Arena protocol, and builders for server messages.

Client messages become small immutable objects (decoded in `codec`); server messages are plain
dicts built here so their shape lives in one place next to PROTOCOL.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Limits, shared by the server's validation and by clients that want to stay inside them.
MAX_FRAME_BYTES = 16 * 1024
MAX_SEQ = 2**31 - 1
MAX_PING_ID_CHARS = 64
MAX_CHAT_CHARS = 200
MAX_NAME_FIELD_CHARS = 32  # mode and room ids, resume tokens
MAX_SEAT_CHARS = 1024  # signed seat tokens from a `redirect`
MAX_CODE_CHARS = 12  # private room codes as typed (spaces and dashes allowed)
MAX_OPTIONS = 16  # keys in a `join` or `create` options (or fields) object
CHAT_SCOPES = ("room", "global")


@dataclass(frozen=True, slots=True)
class Join:
    """`join`: matchmaking by `mode` (with `options`), a given `room` id, a private room's
    `code`, the `resume` token of a seat held after a dropped connection, or the `seat` token
    of a `redirect` (exactly one of mode, room, code, resume, seat is set). `fields` are the
    player's join fields (a team, a character) for any of them but `resume`. With `spectate`
    (by `room` or `code` only), the client watches the room instead of taking a seat."""

    mode: str | None
    room: str | None
    resume: str | None = None
    seat: str | None = None
    code: str | None = None
    options: dict[str, Any] | None = None
    fields: dict[str, Any] | None = None
    spectate: bool = False


@dataclass(frozen=True, slots=True)
class Create:
    """`create`: a new room of `mode` with `options`; `private` rooms are joined only by the
    code `joined` carries; `fields` are the creator's join fields."""

    mode: str
    options: dict[str, Any] | None = None
    private: bool = False
    fields: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    """`ping`: answered at once by `pong` carrying the same `id`."""

    id: Any


@dataclass(frozen=True, slots=True)
class Chat:
    """`chat`: text for everyone in the sender's room, or with `scope` "global" for every
    player of every process (already trimmed and checked)."""

    text: str
    scope: str = "room"


@dataclass(frozen=True, slots=True)
class Leave:
    """`leave`: quit the current room."""


ClientMessage = Join | Create | Ping | Chat | Leave


def joined(
    *,
    room: str,
    mode: str,
    player: int,
    tick_rate: int,
    client: dict[str, Any],
    options: dict[str, Any],
    state: dict[str, Any],
) -> dict[str, Any]:
    """The answer to a successful `join`: identity in the room, the mode's public `client`
    data, the room's `options`, and a full state."""
    return {
        "type": "joined",
        "room": room,
        "mode": mode,
        "player": player,
        "tick_rate": tick_rate,
        "client": client,
        "options": options,
        "state": state,
    }


def state(*, tick: int, ts: int, changes: dict[str, Any]) -> dict[str, Any]:
    """One tick's `state`: the tick, server time in ms, and what changed since the last one."""
    msg: dict[str, Any] = {"type": "state", "tick": tick, "ts": ts}
    msg.update(changes)
    return msg


def pong(ping_id: Any, ts: int) -> dict[str, Any]:
    return {"type": "pong", "id": ping_id, "ts": ts}


def chat(*, player: int, name: str, text: str, scope: str = "room") -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "chat", "player": player, "name": name, "text": text}
    if scope != "room":
        msg["scope"] = scope
    return msg


def redirect(*, url: str, room: str, seat: str, expires_in: float) -> dict[str, Any]:
    """The room matchmaking picked is on another process: reconnect to `url` with `seat`."""
    return {"type": "redirect", "url": url, "room": room, "seat": seat, "expires_in": expires_in}


def left(*, room: str, reason: str, message: str | None = None) -> dict[str, Any]:
    """Out of the room, and why: `reason` is a stable word; `message`, when the game kicked
    the player or closed the room, is the game's own words for the player to read."""
    msg = {"type": "left", "room": room, "reason": reason}
    if message is not None:
        msg["message"] = message
    return msg


def server_closing(message: str) -> dict[str, Any]:
    return {"type": "server_closing", "message": message}


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}
