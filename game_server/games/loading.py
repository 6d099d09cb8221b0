"""Finding games: the ones Arena ships, the ones installed with pip, the ones named on the
command line.

A game is a `GameSpec`, or a callable that takes no arguments and returns one. Installed games
declare it as a Python entry point in the group `arena.games` (`name = "package.module:attr"`);
`--game package.module:attr` names one directly. A game that cannot be loaded stops the server
with a message saying which and why, rather than a server that quietly runs fewer games.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points

from game_server.games.api import GameSpec
from game_server.games.dice import dice_spec
from game_server.games.modes import default_modes

log = logging.getLogger("arena.games")

ENTRY_POINT_GROUP = "arena.games"


class GameLoadError(Exception):
    """A game that was asked for could not be loaded; the message says which and why."""


def spec_of(target: object, where: str) -> GameSpec:
    """`target` as a `GameSpec`: itself, or what calling it with no arguments returns."""
    if not isinstance(target, GameSpec) and callable(target):
        try:
            target = target()
        except Exception as exc:
            raise GameLoadError(f"{where}: making the game failed: {exc!r}") from exc
    if not isinstance(target, GameSpec):
        raise GameLoadError(f"{where} is not a GameSpec (nor makes one): {target!r}")
    return target


def load_game(reference: str) -> GameSpec:
    """The game `package.module:attr` names."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise GameLoadError(f"{reference!r}: expected package.module:attribute")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise GameLoadError(f"{reference}: cannot import {module_name}: {exc}") from exc
    target: object = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise GameLoadError(f"{reference}: {module_name} has no {attr}") from None
    return spec_of(target, reference)


def installed_games() -> list[GameSpec]:
    """Every game installed with pip that declares an `arena.games` entry point."""
    specs = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = entry.load()
        except Exception as exc:
            raise GameLoadError(
                f"installed game {entry.name} ({entry.value}) cannot be loaded: {exc}") from exc
        specs.append(spec_of(target, f"installed game {entry.name} ({entry.value})"))
    return specs


def server_modes(*, max_players: int = 20, tick_rate: int = 20, games: Iterable[str] = (),
                 installed: bool = True) -> dict[str, GameSpec]:
    """The modes one server runs: the shipped games, the installed ones, then `games`.

    `max_players` and `tick_rate` are the arena game's (its flags). Two different games under
    one name are an error; the same game found twice (installed and named) counts once.
    """
    modes = default_modes(max_players=max_players, tick_rate=tick_rate)
    dice = dice_spec()
    modes[dice.name] = dice
    found = list(installed_games()) if installed else []
    found += [load_game(reference) for reference in games]
    for spec in found:
        known = modes.get(spec.name)
        if known is not None and known is not spec:
            raise GameLoadError(f"two games are named {spec.name!r}; names must be unique")
        modes[spec.name] = spec
    return modes
