"""The Liar's Dice bot brain: its odds, its bid order (the server's), legal play only, and
clearly better play than chance."""

from __future__ import annotations

import itertools
import random

import pytest

from client.dice_brain import (
    Temperament,
    decide,
    face_order,
    holds_probability,
    minimal_raises,
)
from game_server.games.dice.rules import Bid, is_raise, lowest_raise
from game_server.games.dice.rules import face_order as server_face_order
from tests.dice_play import play, random_move, seat


def test_odds_are_certain_impossible_or_binomial() -> None:
    assert holds_probability([4, 4, 1], 5, True, 3, 4) == 1.0  # two fours and a wild one
    assert holds_probability([4, 4, 1], 5, False, 3, 4) == pytest.approx(1 - (5 / 6) ** 5)
    assert holds_probability([2], 2, True, 4, 3) == 0.0  # needs four of three dice
    assert holds_probability([], 1, True, 1, 3) == pytest.approx(1 / 3)
    assert holds_probability([], 1, True, 1, 1) == pytest.approx(1 / 6)  # ones count as ones
    assert holds_probability([], 2, False, 2, 6) == pytest.approx(1 / 36)


@pytest.mark.parametrize("ones_wild", [True, False])
def test_the_brain_orders_bids_as_the_server_does(ones_wild: bool) -> None:
    assert face_order(ones_wild) == server_face_order(ones_wild)
    total = 8
    bids = [None] + [(c, f) for c, f in itertools.product(range(1, total + 1), range(1, 7))]
    for current in bids:
        old = Bid(*current) if current else None
        raises = minimal_raises(current, ones_wild, total)
        for count, face in raises:
            assert is_raise(Bid(count, face), old, ones_wild)
            assert not is_raise(Bid(count - 1, face), old, ones_wild) or count == 1
        lowest = lowest_raise(old, ones_wild, total)
        assert (lowest is None) == (not raises)
        if lowest is not None:
            assert (lowest.count, lowest.face) == min(
                raises, key=lambda b: (b[0], face_order(ones_wild).index(b[1])))


def _view(**over):
    view = {"status": "playing", "me": 1, "turn": 1, "dice": [5, 5, 5, 1, 2],
            "total_dice": 10, "rules": {"ones_wild": True}, "bid": None,
            "players": [{"id": 1, "ready": False}]}
    view.update(over)
    return view


def test_the_brain_bids_its_strongest_face_and_calls_an_unlikely_bid() -> None:
    quiet = random.Random(1)
    plain = Temperament(bluff=0.0)
    assert decide(_view(), quiet, plain) == ("bid", {"count": 1, "face": 5})
    # four fives (with the wild one) are certain: a sure raise beats calling a true bid
    assert decide(_view(bid={"by": 2, "count": 3, "face": 5}), quiet, plain) == (
        "bid", {"count": 4, "face": 5})
    assert decide(_view(bid={"by": 2, "count": 9, "face": 3}), quiet, plain) == ("challenge", {})
    assert decide(_view(bid={"by": 2, "count": 10, "face": 1}), quiet, plain) == (
        "challenge", {})  # nothing above it is left


def test_the_brain_waits_its_turn_and_readies_up() -> None:
    rng = random.Random(1)
    assert decide(_view(turn=2), rng) is None
    assert decide(_view(status="finished"), rng) is None
    assert decide({"status": "playing", "turn": 1}, rng) is None  # a spectator's view
    waiting = {"status": "waiting", "me": 1, "players": [{"id": 1, "ready": False}]}
    assert decide(waiting, rng) == ("ready", {})
    waiting["players"][0]["ready"] = True
    assert decide(waiting, rng) is None


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_brains_only_ever_send_legal_moves(n: int) -> None:
    for game in range(20):
        ones_wild = game % 2 == 0
        h, players = seat(n, seed=1000 * n + game, dice=1 + game % 6, ones_wild=ones_wild)
        rngs = {p: random.Random(game * 10 + p) for p in players}
        # play() sends each move through the harness, so an illegal one raises GameError
        winner = play(h, {p: (lambda view, r=rngs[p]: decide(view, r)) for p in players})
        assert winner in players and len(h.room.outcomes) == 1
        assert not any(s.kind == "timed_out" for s in h.room.sent)


def test_the_brain_beats_a_random_player_heads_up() -> None:
    games, wins = 200, 0
    for game in range(games):
        h, (a, b) = seat(2, seed=game)
        brain, other = (a, b) if game % 2 == 0 else (b, a)  # each seat opens half the time
        brain_rng, other_rng = random.Random(game), random.Random(-game - 1)
        policies = {brain: lambda view, r=brain_rng: decide(view, r),
                    other: lambda view, r=other_rng: random_move(view, r)}
        wins += play(h, policies) == brain
    assert wins / games > 0.8, f"the brain won {wins} of {games}"
