"""The game modes a server runs by default: name, game factory, and what clients must know."""

from __future__ import annotations

from game_server.games.arena import ArenaGame, ArenaRules
from game_server.games.base import GameMode


def arena_mode(rules: ArenaRules | None = None) -> GameMode:
    """The Agar-like arena: grow by eating pellets and smaller players."""
    rules = rules or ArenaRules()
    return GameMode(
        name="arena",
        make_game=lambda seed: ArenaGame(rules, seed),
        world={
            "width": rules.world_width,
            "height": rules.world_height,
            "pellet_radius": rules.pellet_radius,
            "radius_factor": rules.radius_factor,
        },
    )


def default_modes() -> dict[str, GameMode]:
    mode = arena_mode()
    return {mode.name: mode}
