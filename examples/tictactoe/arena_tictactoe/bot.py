"""How a bot plays tic-tac-toe: from the state it was sent to the cell it moves to, and the
policy `python -m client.bots` plays the game with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arena_tictactoe.game import LINES
from client.policies import Finished, Message, TurnPolicy

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


class TicTacToePolicy(TurnPolicy):
    """How `python -m client.bots --mode tictactoe` plays: `choose_cell` on its turn, once per
    board; the match is over when the game says so. The pyproject's `arena.policies` entry
    point names this class, so the bots find it once the package is installed."""

    def decide(self, view: Mapping[str, Any]) -> Message | None:
        assert self.me is not None  # TurnPolicy decides only once seated
        cell = choose_cell(view, self.me)
        return None if cell is None else {"type": "move", "cell": cell}

    def turn_key(self, view: Mapping[str, Any]) -> Any:
        if view.get("status") != "playing" or view.get("turn") != self.me:
            return None
        return tuple(view.get("board", ()))  # one move per board we are to play on

    def outcome(self, view: Mapping[str, Any]) -> Finished | None:
        if view.get("status") != "finished":
            return None
        winner = view.get("winner")
        return Finished(won=winner == self.me, draw=winner is None)
