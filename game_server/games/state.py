"""A game's full state as data, and its hash: what the match journal checks a replay against.

`full_state(game)` is the game's own `state()` when it defines one (games/api.py), else a
generic walk of the game object: plain data as it is, containers recursively (sets sorted, so
that the state does not depend on the order a set happens to iterate in), objects by their
fields, `random.Random` by its state, callables and the game's `RoomHandle` left out, cycles
cut. `state_hash(state)` is a short, stable digest of it (the same on every machine and Python
run for the same data). The journal hashes the state every second of a ticking room and after
every event of an event-driven one, so a game with a large world should define a cheap
`state()` (the arena does).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import numbers
import random
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import orjson

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_MAX_DEPTH = 64  # a deeper structure is cut: state is data, not an arbitrary object graph
_SCALARS = (str, int, float, bool, type(None))
_PLAIN = frozenset(_SCALARS)  # exactly these types, not subclasses: kept as they are


def full_state(game: Any) -> Any:
    """The game's full state, JSON-able: `game.state()` if it has one, else a generic walk."""
    own = getattr(game, "state", None)
    if callable(own):
        return own()
    return _walk(game, set(), 0)


def state_hash(state: Any) -> str:
    """16 hex digits: blake2b (8 bytes) of the state as sorted-key JSON."""
    return hash_json(state_json(state))


def state_json(state: Any) -> bytes:
    """The state as the text its hash is taken of: JSON, keys sorted (non-string keys as
    strings), so the same data gives the same bytes on any machine."""
    return orjson.dumps(state, option=_OPTIONS)


def hash_json(encoded: bytes) -> str:
    """`state_hash` of a state already encoded by `state_json`."""
    return hashlib.blake2b(encoded, digest_size=8).hexdigest()


def normalized(state: Any) -> Any:
    """`state` as it reads back from JSON (tuples as lists, non-string keys as strings): how a
    recorded state compares with a live one. A room's snapshot held in memory (an
    `orjson.Fragment` of its JSON) becomes the data again."""
    return orjson.loads(orjson.dumps(state, option=_OPTIONS))


def differences(recorded: Any, replayed: Any, path: str = "", limit: int = 20) -> list[str]:
    """The paths where two JSON-like states differ ("players.3.x"), at most `limit`."""
    out: list[str] = []
    _diff(recorded, replayed, path, out, limit)
    return out


def _diff(a: Any, b: Any, path: str, out: list[str], limit: int) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(sub)
            else:
                _diff(a[key], b[key], sub, out, limit)
            if len(out) >= limit:
                return
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path} (length {len(a)} != {len(b)})" if path else "(length)")
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}.{i}" if path else str(i), out, limit)
            if len(out) >= limit:
                return
    elif a != b or type(a) is not type(b) and not (
            isinstance(a, int | float) and isinstance(b, int | float)):
        out.append(path or "(root)")


def _is_handle(value: Any) -> bool:
    # The room's handle (the server's or the harness's): the game's link to its room, not its
    # state. Told by the `RoomHandle` protocol's shape rather than a type games/ cannot import.
    return hasattr(value, "schedule") and hasattr(value, "room_id") and hasattr(value, "kick")


def _key(key: Any) -> Any:
    if isinstance(key, _SCALARS):
        return key
    if isinstance(key, enum.Enum):
        return _key(key.value)
    # A tuple or an object as a key: its walked form as JSON text (deterministic, sortable).
    return orjson.dumps(_walk(key, set(), 0), option=_OPTIONS).decode()


def _walk(value: Any, path: set[int], depth: int) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    # Lists, tuples and dicts of plain items (a maze's cells, a generator's 625 words, a table
    # of scores) are most of a game's state: copied whole, not walked item by item. The result
    # is the same as the walk's (exact types only: a subclass, an enum, takes the walk).
    if kind is list or kind is tuple:
        if depth < _MAX_DEPTH and set(map(type, value)) <= _PLAIN:
            return list(value)
    elif kind is dict and depth < _MAX_DEPTH and set(map(type, value)) <= _PLAIN \
            and set(map(type, value.values())) <= _PLAIN:
        return dict(value)
    elif (kind is set or kind is frozenset) and depth < _MAX_DEPTH \
            and set(map(type, value)) <= _PLAIN:
        try:
            return sorted(value)
        except TypeError:  # mixed types: the walk orders them by their JSON text
            pass
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, enum.Enum):
        return _walk(value.value, path, depth)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, numbers.Number):  # a Fraction, a Decimal: exact as text
        return str(value)
    if depth >= _MAX_DEPTH or id(value) in path:
        return "<cut>"
    if isinstance(value, random.Random):
        return _walk(value.getstate(), path, depth)
    path.add(id(value))
    try:
        depth += 1
        if isinstance(value, Mapping):
            return {_key(k): _walk(v, path, depth) for k, v in value.items()
                    if not callable(v) and not _is_handle(v)}
        if isinstance(value, list | tuple | Sequence):  # a deque, an array too
            return [_walk(v, path, depth) for v in value]
        if isinstance(value, AbstractSet):
            items = [_walk(v, path, depth) for v in value]
            try:
                return sorted(items)
            except TypeError:  # mixed or unorderable items: ordered by their JSON text
                return sorted(items, key=lambda v: orjson.dumps(v, option=_OPTIONS))
        if callable(value) or _is_handle(value):
            return None
        return _walk(_fields(value), path, depth)
    finally:
        path.discard(id(value))


def _fields(obj: Any) -> dict[str, Any]:
    """An object's data attributes: a dataclass's fields, its `__slots__`, its `__dict__`."""
    if dataclasses.is_dataclass(obj):
        names = [f.name for f in dataclasses.fields(obj)]
    else:
        names = []
        for cls in type(obj).__mro__:
            slots = cls.__dict__.get("__slots__", ())
            names.extend([slots] if isinstance(slots, str) else slots)
        names.extend(getattr(obj, "__dict__", {}))
    out: dict[str, Any] = {}
    for name in names:
        if name in ("__dict__", "__weakref__") or name in out:
            continue
        try:
            value = getattr(obj, name)
        except AttributeError:
            continue
        if not callable(value) and not _is_handle(value):
            out[name] = value
    return out


class ListJson:
    """The state JSON of a long list whose items are replaced now and then but never changed
    in place (the arena's 7,200 pellets, a few of them moved each second), for a game's
    `state()`: kept per block of `block` items and encoded again only where an item was
    replaced. Called with the list, it returns an `orjson.Fragment` that encodes as the list
    itself would: the same bytes, so the same hash (`state_json`), at a fraction of the cost.

    A block is reused while its items compare equal to the ones it was encoded from (unchanged
    items are the same objects: a pointer compare), so an item must never be replaced by an
    equal one that encodes differently (0.0 by -0.0, 1 by 1.0), and the items must hold no
    dicts (their keys would not be sorted).
    """

    __slots__ = ("_block", "_kept")

    def __init__(self, block: int = 16) -> None:
        self._block = block
        self._kept: list[tuple[list[Any], bytes]] = []  # per block: its items, their JSON

    def __call__(self, items: list[Any]) -> orjson.Fragment:
        block = self._block
        kept = self._kept
        parts: list[bytes] = []
        n = 0
        for n, start in enumerate(range(0, len(items), block)):  # noqa: B007 (n used after)
            part = items[start:start + block]
            if n < len(kept):
                before, text = kept[n]
                if before != part:
                    text = orjson.dumps(part)[1:-1]
                    kept[n] = (part, text)
            else:
                text = orjson.dumps(part)[1:-1]
                kept.append((part, text))
            parts.append(text)
        del kept[len(parts):]  # the list shrank
        return orjson.Fragment(b"[" + b",".join(parts) + b"]")
