"""The game modes a server runs by default."""

from __future__ import annotations

from game_server.games.api import GameSpec
from game_server.games.arena_mode import arena_spec


def default_modes(*, max_players: int = 20, tick_rate: int = 20) -> dict[str, GameSpec]:
    """The modes shipped with Arena, keyed by name."""
    spec = arena_spec(max_players=max_players, tick_rate=tick_rate)
    return {spec.name: spec}
