"""The interface between the engine and a game's rules, and the description of a game mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Game(Protocol):
    """What a room needs from a game: pure, synchronous, deterministic for a seed and inputs.

    Positions and masses in the returned dicts are already quantised for the wire.
    """

    tick: int

    def add_player(self, player_id: int, name: str) -> None: ...

    def remove_player(self, player_id: int) -> None: ...

    def set_input(self, player_id: int, seq: int, dx: float, dy: float) -> bool: ...

    def halt(self, player_id: int) -> None:
        """Stop a player's own motion (its connection dropped and its seat is held)."""

    def step(self, dt: float) -> None:
        """Advance the simulation by one fixed step of `dt` seconds."""

    def full_state(self) -> dict[str, Any]:
        """Everything a newcomer needs: sent in `joined`."""

    def take_changes(self) -> dict[str, Any]:
        """What changed since the previous call; empty kinds are left out."""

    def best_mass(self, player_id: int) -> int: ...


@dataclass(frozen=True)
class GameMode:
    """A playable mode: its name, how to make a game from a seed, and what clients must know."""

    name: str
    make_game: Callable[[int], Game]
    world: dict[str, Any] = field(default_factory=dict)
