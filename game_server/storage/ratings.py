"""Elo-style ratings from the placements of one match, as a pure function.

A match of n players counts as the pairwise games between every two of them: the better placed
player of a pair scored 1, the other 0, equal placements 0.5 each. Each pair moves both ratings
by ``k / (n - 1)`` times (actual - expected), so a player's whole change in one match is bounded
by ``k`` however many played, and every pair's changes cancel: a match never creates or destroys
rating points.
"""

from __future__ import annotations

from collections.abc import Sequence

# Where a player's rating starts in each mode, and the most it can move in one match.
START = 1500.0
K_FACTOR = 32.0
# Rating points that make the expected score 10 times the opponent's: Elo's scale.
SCALE = 400.0


def expected_score(rating: float, opponent: float) -> float:
    """The score (0 to 1) a player rated ``rating`` is expected to make against ``opponent``."""
    return 1.0 / (1.0 + 10.0 ** ((opponent - rating) / SCALE))


def updated_ratings(
    ratings: Sequence[float], placements: Sequence[int], *, k: float = K_FACTOR
) -> list[float]:
    """Return each player's new rating after one match, in the order given.

    ``placements[i]`` is player i's place (1 = first; equal numbers are ties). Fewer than two
    players change nothing. Raise ``ValueError`` when the lengths differ or ``k`` is negative.
    """
    if len(ratings) != len(placements):
        raise ValueError(f"{len(ratings)} ratings for {len(placements)} placements")
    if k < 0:
        raise ValueError(f"the K-factor must not be negative, got {k!r}")
    n = len(ratings)
    if n < 2:
        return [float(r) for r in ratings]
    per_pair = k / (n - 1)
    deltas = [0.0] * n
    for i in range(n):
        for j in range(i + 1, n):
            if placements[i] < placements[j]:
                actual = 1.0
            elif placements[i] > placements[j]:
                actual = 0.0
            else:
                actual = 0.5
            change = per_pair * (actual - expected_score(ratings[i], ratings[j]))
            deltas[i] += change
            deltas[j] -= change
    return [float(r) + d for r, d in zip(ratings, deltas, strict=True)]
