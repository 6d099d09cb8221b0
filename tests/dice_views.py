"""Checks that what a Liar's Dice player receives shows no other player's unrevealed dice.

The check is structural, on the JSON the wire would carry: dice values appear only as a list
of integers under "dice", either the receiver's own hand at the top of a state, or a hand of a
finished round inside a reveal; any other list of integers anywhere fails the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from game_server.games.testing import GameHarness


class RoundHands:
    """Every round's true hands, read from the game at each event (each call of `changes`,
    which the harness makes after every join, message and timer)."""

    def __init__(self, h: GameHarness) -> None:
        self.h = h
        self.rounds: dict[int, dict[int, list[int]]] = {}
        self.record()
        changes = h.game.changes

        def recording_changes() -> Any:
            self.record()
            return changes()

        h.game.changes = recording_changes  # type: ignore[method-assign]

    def record(self) -> None:
        table = self.h.game.table
        if table is not None and table.hands:
            self.rounds[table.round] = {p: list(d) for p, d in table.hands.items()}


def hands_by_round(h: GameHarness) -> RoundHands:
    return RoundHands(h)


def assert_hidden(player: int, obj: Mapping[str, Any] | None, h: GameHarness,
                  history: RoundHands) -> None:
    """Fail if `obj`, received by `player`, shows dice it may not see."""
    if obj is None:
        return
    wire = orjson.dumps(obj)
    data = orjson.loads(wire)
    table = h.game.table
    found: list[tuple[tuple[Any, ...], list[int]]] = []
    _int_lists(data, (), found)
    for path, values in found:
        if path == ("dice",):
            assert table is not None and not table.over, "dice outside a match"
            assert values == table.hands.get(player), f"{player} got dice not its own"
        elif len(path) >= 3 and path[-3] == "hands" and path[-1] == "dice":
            reveal = _at(data, path[:-3])
            done = reveal["round"] != table.round or table.over
            assert done, f"{player} got the hands of the round under way"
            assert [(x["player"], x["dice"]) for x in reveal["hands"]] == \
                list(history.rounds[reveal["round"]].items())
        else:
            raise AssertionError(f"{player} got a list of integers at {path}: {values}")
    # And literally: once the allowed places are cut out, no other player's hand is in the JSON.
    stripped = dict(data)
    stripped.pop("dice", None)
    stripped.pop("reveal", None)
    stripped.pop("hands", None)
    text = orjson.dumps(stripped)
    if table is not None:
        for other, hand in table.hands.items():
            if other != player:
                assert orjson.dumps(hand) not in text


def _int_lists(node: Any, path: tuple[Any, ...], out: list) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _int_lists(value, (*path, key), out)
    elif isinstance(node, list):
        if node and all(type(x) is int for x in node):
            out.append((path, node))
        else:
            for i, value in enumerate(node):
                _int_lists(value, (*path, i), out)


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node
