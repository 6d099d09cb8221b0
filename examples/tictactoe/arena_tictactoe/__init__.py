"""Tic-tac-toe for Arena. `spec` is the `GameSpec` the server loads: by the entry point in group
`arena.games`, or by `python -m game_server --game arena_tictactoe:spec`."""

from arena_tictactoe.bot import choose_cell
from arena_tictactoe.game import TicTacToe, spec

__all__ = ["TicTacToe", "choose_cell", "spec"]
