"""How a bot plays tic-tac-toe: from the state it was sent to the cell it moves to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arena_tictactoe.game import LINES

PREFERENCE = (4, 0, 2, 6, 8, 1, 3, 5, 7)  # centre, corners, edges


def choose_cell(state: Mapping[str, Any], me: int) -> int | None:
    """The cell player `me` moves to in `state` (the game's view), or None if it is not its
    turn. Wins when it can, else blocks the opponent's row, else takes the best free cell."""
    if state["status"] != "playing" or state["turn"] != me:
        return None
    board = state["board"]
    mine = next(p["mark"] for p in state["players"] if p["player"] == me)
    theirs = "O" if mine == "X" else "X"
    for mark in (mine, theirs):
        for line in LINES:
            marks = [board[cell] for cell in line]
            if marks.count(mark) == 2 and marks.count("") == 1:
                return line[marks.index("")]
    return next(cell for cell in PREFERENCE if board[cell] == "")
