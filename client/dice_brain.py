"""Liar's Dice bot logic: the message to send, from the player's own view alone (pure, no I/O).

The brain knows its own dice and how many others are in play. For any bid it estimates the
chance that the table holds it: its own matching dice are certain, each unknown die matches
with probability 1/6 (1/3 for a face other than one when ones are wild), so the rest is a
binomial tail. On its turn it weighs calling the current bid a lie (it wins that with the
chance the bid fails) against its best raise: the smallest legal bid on the face most likely to
hold. Ties, and a little bluffing, are broken by the seeded `rng`, so bots vary but replay.

It speaks the view format of the "dice" mode (see docs/dice.md) and imports nothing of the
server: bids are ordered here the way the server orders them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Move = tuple[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class Temperament:
    """Tunable habits. `caution` is how much likelier the challenge must be to win than the
    best raise is to hold before the brain challenges (negative: challenges more readily);
    `bluff` the chance of bidding a face nearly as good as the best instead of the best."""

    caution: float = 0.0
    bluff: float = 0.15
    bluff_window: float = 0.1


DEFAULT_TEMPERAMENT = Temperament()


def decide(view: Mapping[str, Any], rng: random.Random,
           temperament: Temperament = DEFAULT_TEMPERAMENT) -> Move | None:
    """The (type, body) to send now, or None when there is nothing to do (not our turn)."""
    me = view.get("me")
    status = view.get("status")
    if me is None:
        return None
    if status == "waiting":
        mine = next((p for p in view.get("players", ()) if p.get("id") == me), None)
        return ("ready", {}) if mine is not None and not mine.get("ready") else None
    if status != "playing" or view.get("turn") != me or "dice" not in view:
        return None
    dice: Sequence[int] = view["dice"]
    total: int = view["total_dice"]
    ones_wild: bool = view["rules"]["ones_wild"]
    unknown = total - len(dice)
    bid = view.get("bid")
    current = (bid["count"], bid["face"]) if bid else None
    options = [(holds_probability(dice, unknown, ones_wild, count, face),
                expected_count(dice, unknown, ones_wild, face), count, face)
               for count, face in minimal_raises(current, ones_wild, total)]
    best = _choose(options, rng, temperament)
    if current is not None:
        fails = 1.0 - holds_probability(dice, unknown, ones_wild, *current)
        if best is None or fails > best[0] + temperament.caution:
            return ("challenge", {})
    if best is None:  # no bid yet and no dice in play: cannot happen in a live round
        return None
    return ("bid", {"count": best[2], "face": best[3]})


def face_order(ones_wild: bool) -> tuple[int, ...]:
    """Faces from lowest to highest for bidding (ones highest when wild), as the server ranks."""
    return (2, 3, 4, 5, 6, 1) if ones_wild else (1, 2, 3, 4, 5, 6)


def minimal_raises(current: tuple[int, int] | None, ones_wild: bool,
                   total: int) -> list[tuple[int, int]]:
    """For each face, the smallest legal (count, face) over `current`, within `total` dice."""
    order = face_order(ones_wild)
    out = []
    for rank, face in enumerate(order):
        if current is None:
            count = 1
        else:
            count = current[0] if rank > order.index(current[1]) else current[0] + 1
        if count <= total:
            out.append((count, face))
    return out


def expected_count(dice: Sequence[int], unknown: int, ones_wild: bool, face: int) -> float:
    """How many dice on the table count toward `face`, on average, given our own."""
    wild = ones_wild and face != 1
    mine = sum(1 for d in dice if d == face or (wild and d == 1))
    return mine + unknown * (1 / 3 if wild else 1 / 6)


def holds_probability(dice: Sequence[int], unknown: int, ones_wild: bool,
                      count: int, face: int) -> float:
    """The chance that at least `count` dice on the table count toward `face`."""
    wild = ones_wild and face != 1
    mine = sum(1 for d in dice if d == face or (wild and d == 1))
    need = count - mine
    if need <= 0:
        return 1.0
    if need > unknown:
        return 0.0
    p = 1 / 3 if wild else 1 / 6
    return sum(math.comb(unknown, k) * p ** k * (1 - p) ** (unknown - k)
               for k in range(need, unknown + 1))


Option = tuple[float, float, int, int]  # (chance it holds, expected count, count, face)


def _choose(options: list[Option], rng: random.Random,
            temperament: Temperament) -> Option | None:
    if not options:
        return None
    # the likeliest bid; among equally likely ones (sure bids, early on) the face the table
    # most likely holds, so that later raises on it stay safe
    ranked = sorted(options, key=lambda o: (-o[0], -o[1], o[2]))
    best = ranked[0]
    if rng.random() < temperament.bluff:
        near = [o for o in ranked if o[0] >= best[0] - temperament.bluff_window]
        return rng.choice(near)
    return best
