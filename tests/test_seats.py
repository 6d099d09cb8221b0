"""engine/seats.py: seat tokens carry a quick play's options, and always fit the protocol."""

from __future__ import annotations

import pytest

from game_server.engine.seats import SeatTokenError, SeatTokens
from protocol.messages import MAX_SEAT_CHARS


def tokens(now: float = 1000.0) -> SeatTokens:
    return SeatTokens({1: "a secret of this arena"}, wall=lambda: now)


def test_a_token_carries_the_quick_plays_options_while_it_stays_short() -> None:
    plain = tokens().verify(tokens().issue(room="r1", seat="s1", user=7, session="h", ttl=5))
    assert (plain.room, plain.seat, plain.user, plain.quick) == ("r1", "s1", 7, None)
    asked = {"min_turn_seconds": 20, "ones_wild": False}
    seat = tokens().verify(tokens().issue(room="r1", seat="s1", user=7, session="h", ttl=5,
                                          quick=asked))
    assert seat.quick == asked
    assert tokens().verify(tokens().issue(room="r", seat="s", user=1, session="h", ttl=5,
                                          quick={})).quick == {}
    # Options too long for a token that must fit a join: no retry rather than a refused join.
    huge = {f"option_{i}": "x" * 60 for i in range(16)}
    token = tokens().issue(room="r" * 32, seat="s" * 16, user=2**31, session="h" * 64, ttl=5,
                           quick=huge)
    assert len(token) <= MAX_SEAT_CHARS and tokens().verify(token).quick is None
    with pytest.raises(SeatTokenError, match="expired"):
        tokens(now=2000.0).verify(token)
