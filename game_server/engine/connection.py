"""What the engine sees of a player's socket, and who a player is.

The transport adapts a real WebSocket to `Connection`; tests use an in-memory one. The engine
never touches a socket.
"""

from __future__ import annotations

from typing import Protocol

from protocol.closes import CloseCode


class Connection(Protocol):
    """One player's link: the engine writes encoded frames and may close it."""

    def send(self, data: bytes) -> None:
        """Queue one text frame (UTF-8 JSON bytes). Never raises for a closed link."""

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Close the link with a WebSocket close code."""

    def send_state(self, data: bytes, limit: int) -> bool:
        """Send like `send` unless more than `limit` bytes are still waiting: then skip it and
        return False (the room then treats the reader as lagging)."""

    def backlog(self) -> int:
        """Bytes accepted by `send` that the client has not received yet (queued in the
        process or in the kernel)."""

    def lag(self, now: float) -> float:
        """Seconds the oldest byte the client has not received has waited (0: it has all).
        `now` is the room's monotonic clock; called a few times a second."""


class Identity(Protocol):
    """Who is playing: an account id and the name shown to others."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...
