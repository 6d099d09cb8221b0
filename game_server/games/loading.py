"""Finding games: the ones installed with pip (Arena's own among them), the ones named on the
command line, and the option defaults an operator gives them.

A game is a `GameSpec`, or a callable that takes no arguments and returns one. Installed games
declare it as a Python entry point in the group `arena.games` (`name = "package.module:attr"`);
Arena's own arena and dice are declared the same way, in Arena's pyproject.toml, so every game
is found by one path. `--game package.module:attr` names one directly.

A game named with `--game` that cannot be loaded stops the server: it was asked for. An
installed one that cannot be loaded is skipped with one line in the log, so one broken package
does not take every other game down; `strict` (`--strict-games`, for CI) makes it stop the
server too.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from game_server.games.api import GameSpec, InvalidField, with_option_defaults

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


def _load_entry(entry: EntryPoint) -> GameSpec:
    where = f"installed game {entry.name} ({entry.value})"
    try:
        target = entry.load()
    except Exception as exc:
        raise GameLoadError(f"{where} cannot be loaded: {exc!r}") from exc
    return spec_of(target, where)


def _entries() -> list[EntryPoint]:
    # Sorted by package (Arena's own first), each package's games in its own order: the order
    # modes are listed in, whatever order the packages were installed in.
    def package(entry: EntryPoint) -> str:
        return entry.dist.name.lower() if entry.dist is not None else ""

    found = list(entry_points(group=ENTRY_POINT_GROUP))
    return sorted(found, key=lambda e: (package(e) != "arena", package(e)))


def installed_games(*, strict: bool = False) -> list[GameSpec]:
    """Every game installed with pip that declares an `arena.games` entry point.

    One that cannot be loaded is skipped with a warning naming it and why, unless `strict`:
    then it raises `GameLoadError`.
    """
    return _installed(strict)[0]


def _installed(strict: bool) -> tuple[list[GameSpec], int]:
    specs, skipped = [], 0
    for entry in _entries():
        try:
            specs.append(_load_entry(entry))
        except GameLoadError as exc:
            if strict:
                raise
            log.warning("%s; skipped, the other games run (--strict-games makes this fatal)",
                        exc)
            skipped += 1
    return specs, skipped


def parse_mode_options(settings: Iterable[str]) -> dict[str, dict[str, str]]:
    """`MODE.OPTION=VALUE` settings (`--mode-option`) by mode, then option; values as text."""
    by_mode: dict[str, dict[str, str]] = {}
    for setting in settings:
        key, equals, value = setting.partition("=")
        mode, dot, option = key.strip().partition(".")
        if not equals or not dot or not mode or not option:
            raise GameLoadError(f"--mode-option {setting!r}: expected MODE.OPTION=VALUE, "
                                "e.g. arena.tick_rate=30")
        by_mode.setdefault(mode, {})[option] = value.strip()
    return by_mode


_KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false"}


def _typed(spec: GameSpec, option: str, text: str, where: str) -> Any:
    field = spec.options[option]
    try:
        if field.kind == "int":
            return int(text)
        if field.kind == "float":
            return float(text)
        if field.kind == "bool":
            return {"true": True, "1": True, "false": False, "0": False}[text.lower()]
    except (ValueError, KeyError):
        raise GameLoadError(f"{where}: {_KIND_WORDS[field.kind]} expected") from None
    return text


def apply_mode_options(modes: dict[str, GameSpec], settings: Iterable[str]) -> None:
    """Give each mode the option defaults `settings` set (`MODE.OPTION=VALUE`), each checked
    against the option's declaration; a `GameLoadError` says which setting is wrong and why."""
    for mode, values in parse_mode_options(settings).items():
        spec = modes.get(mode)
        for option, text in values.items():
            where = f"--mode-option {mode}.{option}={text}"
            if spec is None:
                raise GameLoadError(f"{where}: no mode {mode!r}; this server runs: "
                                    + ", ".join(modes))
            if option not in spec.options:
                declared = ", ".join(spec.options) or "none"
                raise GameLoadError(f"{where}: {mode} has no option {option!r} (its options: "
                                    f"{declared})")
            try:
                spec = with_option_defaults(spec, {option: _typed(spec, option, text, where)})
            except (InvalidField, ValueError) as exc:
                raise GameLoadError(f"{where}: {exc}") from None
        if spec is not None:
            modes[mode] = spec


def server_modes(*, games: Iterable[str] = (), mode_options: Iterable[str] = (),
                 strict: bool = False, installed: bool = True) -> dict[str, GameSpec]:
    """The modes one server runs: the installed games, then `games`, with `mode_options`
    (`MODE.OPTION=VALUE`) as their option defaults.

    Two different games under one name are an error; the same game found twice (installed and
    named) counts once. No game at all is an error too: a server with nothing to play.
    """
    found, skipped = _installed(strict) if installed else ([], 0)
    found += [load_game(reference) for reference in games]
    modes: dict[str, GameSpec] = {}
    for spec in found:
        known = modes.get(spec.name)
        if known is not None and known is not spec:
            raise GameLoadError(f"two games are named {spec.name!r}; names must be unique")
        modes[spec.name] = spec
    if skipped and not modes:
        raise GameLoadError(f"no game to run: the {skipped} installed under the "
                            f"{ENTRY_POINT_GROUP} entry point cannot be loaded (see above)")
    if not modes:
        raise GameLoadError(
            f"no game found: none is installed under the {ENTRY_POINT_GROUP} entry point (Arena's "
            "own arena and dice are, when Arena is installed: pip install -e .) and none is "
            "named with --game")
    apply_mode_options(modes, mode_options)
    return modes
