"""Decode and validate client frames, encode server messages (orjson). Pure: no I/O.

`decode_client` is on the hot path (about 11 messages per player and second): one `orjson.loads`,
a dict lookup on `type`, and a few exact type checks. Anything wrong raises `ProtocolError` with a
stable code; nothing else escapes for any input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson

from protocol import messages as m
from protocol.errors import ErrorCode, ProtocolError


def encode(message: dict[str, Any]) -> bytes:
    """Serialise one server message to the UTF-8 JSON bytes of a text frame."""
    return orjson.dumps(message)


def encode_error(code: ErrorCode, message: str) -> bytes:
    return orjson.dumps(m.error(code.value, message))


def decode_client(data: str | bytes) -> m.ClientMessage:
    """Turn one text frame into a validated client message, or raise `ProtocolError`."""
    return decode_object(parse(data))


def parse(data: str | bytes) -> Any:
    """The JSON value of one text frame, or `ProtocolError` `bad_json`."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise bad_json() from None


def bad_json() -> ProtocolError:
    """The error for a frame that is not JSON (for callers that inline `parse`)."""
    return ProtocolError(ErrorCode.BAD_JSON, "message is not valid JSON")


_MAX_DIRECTION = float(m.MAX_DIRECTION)
_MIN_DIRECTION = -_MAX_DIRECTION
_MAX_SEQ = m.MAX_SEQ


def plain_input(obj: dict[str, Any]) -> tuple[int, float, float] | None:
    """`(seq, dx, dy)` of an `input` in its usual form (float directions, all in range),
    without building a message: ten of these arrive per player and second. None for any
    other form; `decode_object` then gives the exact answer, an `Input` or the error."""
    try:
        seq = obj["seq"]
        dx = obj["dx"]
        dy = obj["dy"]
    except KeyError:
        return None
    if (
        type(seq) is int and type(dx) is float and type(dy) is float
        and 0 <= seq <= _MAX_SEQ
        # NaN fails every comparison, infinities fail the range.
        and _MIN_DIRECTION <= dx <= _MAX_DIRECTION and _MIN_DIRECTION <= dy <= _MAX_DIRECTION
    ):
        return seq, dx, dy
    return None


def decode_object(obj: Any) -> m.ClientMessage:
    """Validate the JSON value of one frame as a client message, or raise `ProtocolError`."""
    if type(obj) is not dict:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "message must be a JSON object")
    kind = obj.get("type")
    if type(kind) is not str:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, 'message needs a string field "type"')
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind[:32]!r}")
    return parser(obj)


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_FIELD, message)


def _range(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.OUT_OF_RANGE, message)


def _number(obj: dict[str, Any], key: str) -> float:
    value = obj.get(key)
    kind = type(value)
    if kind is float:
        if not math.isfinite(value) or abs(value) > m.MAX_DIRECTION:
            raise _range(f"input.{key} must be a finite number within ±{m.MAX_DIRECTION:g}")
        return value
    if kind is int:
        if abs(value) > m.MAX_DIRECTION:
            raise _range(f"input.{key} must be a finite number within ±{m.MAX_DIRECTION:g}")
        return float(value)
    if value is None and key not in obj:
        raise _bad(f"input needs a number field {key!r}")
    raise _bad(f"input.{key} must be a number")


def _parse_input(obj: dict[str, Any]) -> m.Input:
    seq = obj.get("seq")
    if type(seq) is not int:
        if seq is None and "seq" not in obj:
            raise _bad("input needs an integer field 'seq'")
        raise _bad("input.seq must be an integer")
    if seq < 0 or seq > m.MAX_SEQ:
        raise _range(f"input.seq must be between 0 and {m.MAX_SEQ}")
    return m.Input(seq, _number(obj, "dx"), _number(obj, "dy"))


def _parse_ping(obj: dict[str, Any]) -> m.Ping:
    if "id" not in obj:
        raise _bad("ping needs a field 'id'")
    ping_id = obj["id"]
    kind = type(ping_id)
    if kind is str:
        if len(ping_id) > m.MAX_PING_ID_CHARS:
            raise _range(f"ping.id strings are at most {m.MAX_PING_ID_CHARS} characters")
    elif kind not in (int, float, bool) and ping_id is not None:
        raise _bad("ping.id must be a number, a string, a boolean or null")
    return m.Ping(ping_id)


def _short_name(obj: dict[str, Any], key: str, limit: int = m.MAX_NAME_FIELD_CHARS) -> str:
    value = obj[key]
    if type(value) is not str:
        raise _bad(f"join.{key} must be a string")
    if not 1 <= len(value) <= limit:
        raise _range(f"join.{key} must be 1 to {limit} characters")
    return value


_JOIN_KEYS = ("mode", "room", "resume", "seat")


def _parse_join(obj: dict[str, Any]) -> m.Join:
    given = [key for key in _JOIN_KEYS if obj.get(key) is not None]
    if len(given) != 1:
        raise _bad("join needs exactly one of 'mode', 'room', 'resume' or 'seat'")
    key = given[0]
    if key == "seat":
        return m.Join(mode=None, room=None, seat=_short_name(obj, key, m.MAX_SEAT_CHARS))
    value = _short_name(obj, key)
    return m.Join(mode=value if key == "mode" else None, room=value if key == "room" else None,
                  resume=value if key == "resume" else None)


def _parse_chat(obj: dict[str, Any]) -> m.Chat:
    text = obj.get("text")
    if type(text) is not str:
        raise _bad("chat needs a string field 'text'")
    text = text.strip()
    if not 1 <= len(text) <= m.MAX_CHAT_CHARS:
        raise _range(f"chat.text must be 1 to {m.MAX_CHAT_CHARS} characters")
    if not text.isprintable():
        raise _range("chat.text must not contain control characters")
    scope = obj.get("scope", "room")
    if scope not in m.CHAT_SCOPES:
        raise _bad(f"chat.scope must be one of {', '.join(m.CHAT_SCOPES)}")
    return m.Chat(text, scope)


_LEAVE = m.Leave()

_PARSERS: dict[str, Callable[[dict[str, Any]], m.ClientMessage]] = {
    "input": _parse_input,
    "ping": _parse_ping,
    "join": _parse_join,
    "chat": _parse_chat,
    "leave": lambda obj: _LEAVE,
}
