"""What a finished match leaves behind: each player's `Outcome`, and the rules a mode's
leaderboard may rank by.

This is the one part of the game API that storage knows. It imports nothing, so storage depends
on results alone and never on the rest of the game API (`games/api.py` re-exports both names for
game authors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LeaderboardRule = Literal["best_score", "wins", "rating"]


@dataclass(frozen=True)
class Outcome:
    """One player's result in a finished match (or a finished life, for endless games).

    `score` for games ranked by best score; `placement` (1 = first) for ranked matches, from
    which wins and ratings follow; `won` when the game has only winners and losers.
    """

    player: int
    score: int | None = None
    placement: int | None = None
    won: bool | None = None
