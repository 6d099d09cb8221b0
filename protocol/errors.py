"""Stable error codes sent in `error` messages, and the exception that carries them."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every code a client may receive in an `error` message (documented in PROTOCOL.md)."""

    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    BINARY_FRAME = "binary_frame"
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"
    OUT_OF_RANGE = "out_of_range"
    NOT_IN_ROOM = "not_in_room"
    ALREADY_IN_ROOM = "already_in_room"
    UNKNOWN_MODE = "unknown_mode"
    ROOM_NOT_FOUND = "room_not_found"
    ROOM_FULL = "room_full"
    ROOM_LOCKED = "room_locked"
    JOIN_REFUSED = "join_refused"
    ROOM_CLOSED = "room_closed"
    RATE_LIMITED = "rate_limited"
    RESUME_FAILED = "resume_failed"
    SEAT_INVALID = "seat_invalid"
    UNAVAILABLE = "unavailable"
    SPECTATORS_FULL = "spectators_full"
    NOT_A_PLAYER = "not_a_player"


class ProtocolError(Exception):
    """A message the server cannot accept; becomes an `error` message to its sender."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.value!r}, {self.message!r})"
