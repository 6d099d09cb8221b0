"""Liar's Dice as pure logic: bids and their order, counting, and one match's table.

Nothing here knows about rooms, seats or timers; `game.py` wires a `Table` to the game API.
The rules themselves are described in the package's docstring (`game_server.games.dice`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from game_server.games.api import GameError

FACES = (1, 2, 3, 4, 5, 6)


@dataclass(frozen=True, slots=True)
class Bid:
    """A claim: at least `count` dice on the whole table show `face`."""

    count: int
    face: int


def face_order(ones_wild: bool) -> tuple[int, ...]:
    """Faces from lowest to highest for bidding: ones rank above sixes when they are wild."""
    return (2, 3, 4, 5, 6, 1) if ones_wild else FACES


def bid_key(bid: Bid, ones_wild: bool) -> tuple[int, int]:
    """Bids compare by this key: count first, then the face's rank."""
    return bid.count, face_order(ones_wild).index(bid.face)


def is_raise(new: Bid, old: Bid | None, ones_wild: bool) -> bool:
    """True when `new` is a legal raise over `old` (any bid opens a round)."""
    return old is None or bid_key(new, ones_wild) > bid_key(old, ones_wild)


def lowest_raise(old: Bid | None, ones_wild: bool, total_dice: int) -> Bid | None:
    """The smallest legal bid over `old` with `total_dice` in play, or None if none is left."""
    order = face_order(ones_wild)
    if old is None:
        return Bid(1, order[0]) if total_dice >= 1 else None
    rank = order.index(old.face)
    if rank + 1 < len(order):
        return Bid(old.count, order[rank + 1])
    if old.count < total_dice:
        return Bid(old.count + 1, order[0])
    return None


def count_face(hands: Iterable[Sequence[int]], face: int, ones_wild: bool) -> int:
    """How many dice count toward `face`: that face, plus ones when wild (unless face is 1)."""
    wild = ones_wild and face != 1
    return sum(1 for hand in hands for d in hand if d == face or (wild and d == 1))


def roll(rng: random.Random, n: int) -> list[int]:
    """`n` dice, sorted (a hand's order carries no information)."""
    return sorted(rng.randint(1, 6) for _ in range(n))


@dataclass(frozen=True, slots=True)
class Reveal:
    """What a challenge showed: every hand of the round, the count, and who lost a die."""

    round: int
    bid: Bid
    bidder: int
    challenger: int
    hands: dict[int, list[int]]
    actual: int
    holds: bool
    loser: int
    eliminated: bool


class Table:
    """One match of Liar's Dice among `players` (in seat order), driven move by move.

    Methods raise `GameError` for moves the rules refuse; they never raise anything else for a
    player id they were given. Randomness comes only from `rng`, so a seed replays a match.
    """

    def __init__(self, players: Sequence[int], dice: int, ones_wild: bool,
                 rng: random.Random) -> None:
        if len(players) < 2:
            raise ValueError("a table needs at least two players")
        self.order = list(players)
        self.ones_wild = ones_wild
        self.rng = rng
        self.dice_left = {p: dice for p in self.order}
        self.hands: dict[int, list[int]] = {}
        self.placements: dict[int, int] = {}
        self.round = 0
        self.turn: int | None = None
        self.turn_number = 0
        self.bid: Bid | None = None
        self.bidder: int | None = None
        self.bids: list[tuple[int, Bid]] = []
        self.winner: int | None = None
        self.last_reveal: Reveal | None = None
        self._new_round(rng.choice(self.order))

    # -- facts ----------------------------------------------------------------------------------

    @property
    def over(self) -> bool:
        return self.winner is not None

    @property
    def total_dice(self) -> int:
        return sum(self.dice_left.values())

    def alive(self, player: int) -> bool:
        return self.dice_left.get(player, 0) > 0

    def alive_players(self) -> list[int]:
        return [p for p in self.order if self.dice_left[p] > 0]

    def next_alive(self, player: int) -> int:
        """The first alive player after `player` in seat order (`player` may be out)."""
        start = self.order.index(player)
        for step in range(1, len(self.order) + 1):
            candidate = self.order[(start + step) % len(self.order)]
            if self.dice_left[candidate] > 0:
                return candidate
        raise RuntimeError("no player left alive")

    def lowest_move(self) -> Bid | None:
        """The lowest legal move for the player on turn: the lowest raise, or None (challenge)
        when no raise is left."""
        return lowest_raise(self.bid, self.ones_wild, self.total_dice)

    # -- moves ----------------------------------------------------------------------------------

    def place_bid(self, player: int, bid: Bid) -> None:
        self._check_turn(player)
        if bid.face not in FACES or bid.count < 1:
            raise GameError("bad_bid", "a bid is a count of at least 1 and a face from 1 to 6")
        if bid.count > self.total_dice:
            raise GameError("bid_too_high",
                            f"only {self.total_dice} dice are in play")
        if not is_raise(bid, self.bid, self.ones_wild):
            raise GameError("bid_too_low", "a bid must raise the count, or keep it and bid a "
                                           "higher face")
        self.bid, self.bidder = bid, player
        self.bids.append((player, bid))
        self._pass_turn(self.next_alive(player))

    def challenge(self, player: int) -> Reveal:
        """Call the current bid a lie: count, take a die from the loser, start a new round."""
        self._check_turn(player)
        if self.bid is None or self.bidder is None:
            raise GameError("no_bid_to_challenge", "there is no bid to challenge yet")
        actual = count_face(self.hands.values(), self.bid.face, self.ones_wild)
        holds = actual >= self.bid.count
        loser = player if holds else self.bidder
        self.dice_left[loser] -= 1
        out = self.dice_left[loser] == 0
        reveal = Reveal(self.round, self.bid, self.bidder, player,
                        {p: list(h) for p, h in self.hands.items()}, actual, holds, loser, out)
        self.last_reveal = reveal
        if out:
            self._eliminate(loser)
        if not self.over:
            self._new_round(loser if not out else self.next_alive(loser))
        return reveal

    def remove(self, player: int) -> None:
        """`player` left the match: out, placed last among those remaining. The round is void
        (no one loses a die) and starts again, the player who was on turn first."""
        if self.over or not self.alive(player):
            return
        on_turn = self.turn
        self.dice_left[player] = 0
        self._eliminate(player)
        if not self.over:
            starter = on_turn if on_turn is not None and self.alive(on_turn) else \
                self.next_alive(player)
            self._new_round(starter)

    # -- helpers --------------------------------------------------------------------------------

    def _check_turn(self, player: int) -> None:
        if self.over:
            raise GameError("game_over", "the match is over")
        if player not in self.dice_left:
            raise GameError("not_playing", "you are not playing in this match")
        if not self.alive(player):
            raise GameError("eliminated", "you are out of this match")
        if player != self.turn:
            raise GameError("not_your_turn", "it is not your turn")

    def _eliminate(self, player: int) -> None:
        self.dice_left[player] = 0
        self.hands.pop(player, None)
        self.placements[player] = len(self.alive_players()) + 1
        alive = self.alive_players()
        if len(alive) == 1:
            self.winner = alive[0]
            self.placements[self.winner] = 1
            self.turn = None
            self.hands = {}

    def _new_round(self, starter: int) -> None:
        self.round += 1
        self.hands = {p: roll(self.rng, n) for p, n in self.dice_left.items() if n > 0}
        self.bid, self.bidder, self.bids = None, None, []
        self._pass_turn(starter)

    def _pass_turn(self, player: int) -> None:
        self.turn = player
        self.turn_number += 1
