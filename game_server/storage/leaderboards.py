"""Results per mode, whatever the game: how outcomes fold into standings, and how each
leaderboard rule ranks them. Pure: both storages run their SQL around these.

A standing is one user's row in one mode: best score, wins, games played, rating. Every recorded
match adds to ``played`` and (for a win: ``won``, or else placement 1) to ``wins``, keeps the best
score when the outcome has one, and under the ``rating`` rule moves the ratings of every placed
player (``ratings.updated_ratings``). The rule a mode ranks by picks the order:

- ``best_score``: highest best score first; users without a score are not listed.
- ``wins``: most wins first; users who never played are not listed.
- ``rating``: highest rating first; users without a rating are not listed.

Ties go to the lower user id (the older account), so every rank is distinct and stable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, get_args

from game_server.games.results import LeaderboardRule, Outcome

from .ratings import START, updated_ratings

RULES: frozenset[str] = frozenset(get_args(LeaderboardRule))

# The column each rule ranks by (descending); a NULL or zero-played row is unranked.
RANK_COLUMN: Mapping[str, str] = {"best_score": "best_score", "wins": "wins", "rating": "rating"}
RANKED_WHERE: Mapping[str, str] = {
    "best_score": "scores.best_score IS NOT NULL",
    "wins": "scores.played > 0",
    "rating": "scores.rating IS NOT NULL",
}

MAX_MODE_LENGTH = 64
MAX_MATCH_ID_LENGTH = 200
# Scores are stored as signed 64-bit integers.
_SCORE_RANGE = range(-(2**63), 2**63)


@dataclass(frozen=True)
class Standing:
    """One user's results in one mode."""

    best_score: int | None = None
    wins: int = 0
    played: int = 0
    rating: float | None = None


def check_rule(rule: str) -> str:
    """Return ``rule`` if it is a known leaderboard rule; raise ``ValueError`` otherwise."""
    if rule not in RULES:
        raise ValueError(f"unknown leaderboard rule {rule!r}: use one of {sorted(RULES)}")
    return rule


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is a usable mode name; raise ``ValueError`` otherwise."""
    if not isinstance(mode, str) or not 0 < len(mode) <= MAX_MODE_LENGTH:
        raise ValueError(f"a mode is a name of 1 to {MAX_MODE_LENGTH} characters, got {mode!r}")
    return mode


def check_match(
    mode: str, rule: str, match_id: str | None, outcomes: Iterable[tuple[int, Outcome]]
) -> list[tuple[int, Outcome]]:
    """Validate one match's arguments; return its outcomes as a list, sorted by user id.

    Sorting makes every writer touch rows in the same order (no lock-order deadlocks). Raise
    ``ValueError`` for a bad mode, rule or match id, a user listed twice, or an outcome whose
    score, placement or ``won`` has the wrong type or range.
    """
    check_mode(mode)
    check_rule(rule)
    if match_id is not None and (
        not isinstance(match_id, str) or not 0 < len(match_id) <= MAX_MATCH_ID_LENGTH
    ):
        raise ValueError(f"a match id is None or 1 to {MAX_MATCH_ID_LENGTH} characters, "
                         f"got {match_id!r}")
    checked: dict[int, Outcome] = {}
    for user_id, outcome in outcomes:
        if not _is_int(user_id):
            raise ValueError(f"a user id is an int, got {user_id!r}")
        if not isinstance(outcome, Outcome):
            raise ValueError(f"an outcome is a games.results.Outcome, got {outcome!r}")
        if outcome.score is not None and not (_is_int(outcome.score)
                                              and outcome.score in _SCORE_RANGE):
            raise ValueError(f"a score is a 64-bit int or None, got {outcome.score!r}")
        if outcome.placement is not None and not (_is_int(outcome.placement)
                                                  and outcome.placement >= 1):
            raise ValueError(f"a placement is an int from 1 or None, got {outcome.placement!r}")
        if outcome.won is not None and not isinstance(outcome.won, bool):
            raise ValueError(f"won is a bool or None, got {outcome.won!r}")
        if user_id in checked:
            raise ValueError(f"user {user_id} has two outcomes in one match")
        checked[user_id] = outcome
    return sorted(checked.items(), key=lambda item: item[0])


def is_win(outcome: Outcome) -> bool:
    """A win: ``won`` when the game says (a draw is first place for both, and no win), else
    first place."""
    if outcome.won is not None:
        return outcome.won
    return outcome.placement == 1


def placement_of(outcome: Outcome) -> int | None:
    """The place a rating reads: the placement, else 1 for ``won`` and 2 for a loss."""
    if outcome.placement is not None:
        return outcome.placement
    if outcome.won is not None:
        return 1 if outcome.won else 2
    return None


def apply_outcomes(
    rule: str, before: Mapping[int, Standing], outcomes: Sequence[tuple[int, Outcome]]
) -> dict[int, Standing]:
    """Return the new standing of every user in ``outcomes`` after this one match.

    ``before`` holds their current standings (a user missing from it starts from nothing).
    """
    after = {user: before.get(user, Standing()) for user, _ in outcomes}
    for user, outcome in outcomes:
        old = after[user]
        best = old.best_score
        if outcome.score is not None:
            best = outcome.score if best is None else max(best, outcome.score)
        after[user] = replace(
            old, best_score=best, wins=old.wins + is_win(outcome), played=old.played + 1
        )
    if rule == "rating":
        placed = [(user, place) for user, outcome in outcomes
                  if (place := placement_of(outcome)) is not None]
        if len(placed) >= 2:
            old_ratings = [_rating(after[user]) for user, _ in placed]
            new_ratings = updated_ratings(old_ratings, [place for _, place in placed])
            for (user, _), rating in zip(placed, new_ratings, strict=True):
                after[user] = replace(after[user], rating=rating)
    return after


def entry(rule: str, rank: int, row: Mapping[str, Any]) -> dict[str, Any]:
    """A leaderboard entry from a row with ``display_name``, ``is_guest`` and the standing's
    columns: ``{"rank", "name", "guest"}`` and the rule's figures (``score``; ``wins`` and
    ``played``; or ``rating``, rounded to a whole number)."""
    out: dict[str, Any] = {"rank": rank, "name": row["display_name"],
                           "guest": bool(row["is_guest"])}
    if rule == "best_score":
        out["score"] = row["best_score"]
    elif rule == "wins":
        out["wins"] = row["wins"]
        out["played"] = row["played"]
    else:
        out["rating"] = round(row["rating"])
    return out


def _rating(standing: Standing) -> float:
    return START if standing.rating is None else standing.rating


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
