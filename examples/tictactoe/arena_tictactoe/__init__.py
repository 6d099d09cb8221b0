"""Tic-tac-toe for Arena. `spec` is the `GameSpec` the server loads: by the entry point in group
`arena.games`, or by `python -m game_server --game arena_tictactoe:spec`. The bots' policy is
`arena_tictactoe.bot.TicTacToePolicy` (entry point group `arena.policies`); the browser page is
in `web/`, declared on the spec."""

from arena_tictactoe.game import TicTacToe, spec

__all__ = ["TicTacToe", "spec"]
