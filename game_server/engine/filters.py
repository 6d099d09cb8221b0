"""Which rooms a player asks for: quick play's options filter, and the lobby's room filter.

Both speak one syntax (PROTOCOL.md): `KEY` equal to a value, `min_KEY` and `max_KEY` for a
number at least or at most a bound. Quick play (`join` by mode with `options`) filters on the
mode's declared options, and only on those the player names, as Colyseus' `filterBy` does: a
player who cares about the turn clock alone joins any open table with that clock, and a player
who names nothing joins the fullest open room of the mode. A room made when none matches takes
the values named, and for a range the option's default kept inside it. The lobby
(`GET /api/rooms`) filters on what it lists of a room: its player count, the game's public
metadata and the room's options, compared as text for equality.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from game_server.games.api import Field, InvalidField, check_fields

_PREFIXES = ("min_", "max_")


@dataclass(frozen=True)
class OptionFilter:
    """What quick play asks of a room's options: values to equal, and bounds on numbers."""

    equal: Mapping[str, Any]
    low: Mapping[str, float]
    high: Mapping[str, float]
    options: Mapping[str, Field]  # the mode's declared options, for `create_options`

    def matches(self, options: Mapping[str, Any]) -> bool:
        """Whether a room with these (validated, complete) options is one the player asks for."""
        for key, value in self.equal.items():
            if key not in options or not _same(options[key], value):
                return False
        for key, bound in self.low.items():
            if not _number(options.get(key)) or options[key] < bound:
                return False
        for key, bound in self.high.items():
            if not _number(options.get(key)) or options[key] > bound:
                return False
        return True

    def create_options(self) -> dict[str, Any]:
        """The options of a new room for this filter: the values named, each ranged option's
        default kept within its bounds, every other option its default. `InvalidField` when
        a bound leaves no value the option accepts."""
        chosen = dict(self.equal)
        for key in {*self.low, *self.high}:
            spec = self.options[key]
            low, high = self.low.get(key), self.high.get(key)
            if spec.kind == "int":  # a bound such as 7.5: the integers inside it
                low = math.ceil(low) if low is not None else None
                high = math.floor(high) if high is not None else None
            value = spec.default
            if value is None:
                value = low if low is not None else high
            if low is not None and value < low:
                value = low
            if high is not None and value > high:
                value = high
            chosen[key] = value
        created = check_fields(self.options, chosen)
        if not self.matches(created):
            raise InvalidField("no value of the options fits the ranges asked for",
                               "out_of_range")
        return created

    def key(self) -> str:
        """The filter as one canonical string (the cluster's lock name for creating a room)."""
        return orjson.dumps({"=": dict(self.equal), "min": dict(self.low),
                             "max": dict(self.high)}, option=orjson.OPT_SORT_KEYS).decode()


def option_filter(options: Mapping[str, Field], given: Mapping[str, Any] | None
                  ) -> OptionFilter:
    """The quick-play filter for `given` against a mode's declared `options`: each name is a
    declared option (its value checked as `create` checks it) or `min_`/`max_` and a declared
    number option (its bound a finite number). `InvalidField` otherwise, with the protocol's
    code ("bad_field", or "out_of_range" for bounds that cross)."""
    equal: dict[str, Any] = {}
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    for name, value in (given or {}).items():
        if name in options:
            equal[name] = options[name].check(name, value)
            continue
        prefix, target = name[:4], name[4:]
        spec = options.get(target) if prefix in _PREFIXES else None
        if spec is None:
            raise InvalidField(f'unknown option "{name}"')
        if spec.kind not in ("int", "float"):
            raise InvalidField(f'"{name}": {target} is not a number, so it has no range')
        if not _number(value):
            raise InvalidField(f'"{name}" must be a number')
        (low if prefix == "min_" else high)[target] = value
    for key in low.keys() & high.keys():
        if low[key] > high[key]:
            raise InvalidField(f'"min_{key}" is above "max_{key}"', "out_of_range")
    for key in equal.keys() & (low.keys() | high.keys()):
        raise InvalidField(f'"{key}" is given both as a value and as a range')
    return OptionFilter(equal, low, high, options)


class BadFilter(ValueError):
    """A lobby filter that cannot be applied (a range bound that is not a number)."""


def lobby_filter(query: Mapping[str, str]) -> list[tuple[str, str, Any]]:
    """The lobby's filter for the query `?KEY=VALUE&min_KEY=N...` (mode aside): a list of
    (op, key, operand) with op "=", ">=" or "<="; `BadFilter` for a bound that is not a
    number."""
    checks: list[tuple[str, str, Any]] = []
    for name, value in query.items():
        prefix = name[:4]
        if prefix in _PREFIXES and len(name) > 4:
            try:
                bound = float(value)
            except ValueError:
                raise BadFilter(f"{name} takes a number, not {value[:32]!r}") from None
            if not math.isfinite(bound):
                raise BadFilter(f"{name} takes a finite number")
            checks.append((">=" if prefix == "min_" else "<=", name[4:], bound))
        else:
            checks.append(("=", name, value))
    return checks


def lobby_match(room: Mapping[str, Any], checks: list[tuple[str, str, Any]]) -> bool:
    """Whether the lobby's `room` (as `GET /api/rooms` lists it) passes every check: a key is
    looked up in the room's own `players`, then its metadata, then its options."""
    for op, key, operand in checks:
        value = _lookup(room, key)
        if op == "=":
            if _as_text(value) != operand:
                return False
        elif not _number(value) or (value < operand if op == ">=" else value > operand):
            return False
    return True


def _lookup(room: Mapping[str, Any], key: str) -> Any:
    if key == "players":
        return room.get("players")
    metadata = room.get("metadata") or {}
    if key in metadata:
        return metadata[key]
    return (room.get("options") or {}).get(key)


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


def _same(a: object, b: object) -> bool:
    """Equal as JSON values: True is not 1 (Python says it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b
