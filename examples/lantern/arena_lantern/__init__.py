"""Lantern for Arena: collect gems in a dark maze. `spec` is the `GameSpec` the server loads: by
the entry point in group `arena.games`, or by `python -m game_server --game arena_lantern:spec`."""

from arena_lantern.game import Lantern, spec
from arena_lantern.maze import Maze

__all__ = ["Lantern", "Maze", "spec"]
