"""Per-connection limits: token buckets for messages and chat, and what counts as abuse.

Checked before a frame is even decoded, in O(1) with no allocation, so a flood costs the server
little more than reading it; other players never wait for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """How much one connection may send. Rates are per second; bursts are bucket sizes."""

    messages_per_second: float = 30.0
    message_burst: float = 60.0
    chats_per_second: float = 1.0
    chat_burst: float = 5.0
    # Every refused message is a strike; strikes refill at this rate, and a connection that
    # runs out (keeps flooding after being told) is closed with 1008.
    strikes_per_second: float = 5.0
    strike_burst: float = 100.0


class TokenBucket:
    """A token bucket: `take(now)` is True while tokens last; they refill at `rate` per second."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> bool:
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False
