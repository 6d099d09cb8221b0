"""Liar's Dice through the public game API: rules, start and lock, refusals, the turn clock,
challenges both ways, leaving, dropping, results, and hands hidden from everyone else."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from game_server.games.api import GameError, InvalidField, Outcome, Seat
from game_server.games.dice import dice_spec
from game_server.games.dice.rules import (
    Bid,
    count_face,
    face_order,
    is_raise,
    lowest_raise,
)
from game_server.games.testing import GameHarness
from tests.conftest import REPO
from tests.dice_play import play, random_move, seat
from tests.dice_views import assert_hidden, hands_by_round


@contextmanager
def refused(code: str) -> Iterator[None]:
    """Expect a `GameError` with exactly `code`."""
    with pytest.raises(GameError) as info:
        yield
    assert info.value.code == code


# -- the rules alone ----------------------------------------------------------------------------


def test_ones_rank_highest_only_when_wild() -> None:
    assert face_order(True) == (2, 3, 4, 5, 6, 1)
    assert face_order(False) == (1, 2, 3, 4, 5, 6)
    assert is_raise(Bid(3, 1), Bid(3, 6), ones_wild=True)
    assert not is_raise(Bid(3, 1), Bid(3, 6), ones_wild=False)
    assert is_raise(Bid(4, 2), Bid(3, 1), ones_wild=True)
    assert not is_raise(Bid(3, 4), Bid(3, 4), ones_wild=True)
    assert not is_raise(Bid(2, 6), Bid(3, 2), ones_wild=False)
    assert is_raise(Bid(1, 2), None, ones_wild=True)


def test_lowest_raise_steps_faces_then_counts_and_runs_out() -> None:
    assert lowest_raise(None, True, 10) == Bid(1, 2)
    assert lowest_raise(None, False, 10) == Bid(1, 1)
    assert lowest_raise(Bid(3, 5), True, 10) == Bid(3, 6)
    assert lowest_raise(Bid(3, 6), True, 10) == Bid(3, 1)
    assert lowest_raise(Bid(3, 1), True, 10) == Bid(4, 2)
    assert lowest_raise(Bid(3, 6), False, 10) == Bid(4, 1)
    assert lowest_raise(Bid(10, 1), True, 10) is None
    assert lowest_raise(Bid(10, 6), False, 10) is None


def test_counting_with_and_without_wild_ones() -> None:
    hands = [[1, 1, 4], [4, 6], [1, 5]]
    assert count_face(hands, 4, ones_wild=True) == 5
    assert count_face(hands, 4, ones_wild=False) == 2
    assert count_face(hands, 1, ones_wild=True) == 3  # a bid on ones counts only ones
    assert count_face(hands, 2, ones_wild=False) == 0


# -- options and the start ----------------------------------------------------------------------


def test_options_are_validated_and_described() -> None:
    spec = dice_spec()
    assert (spec.min_players, spec.max_players, spec.leaderboard) == (2, 6, "rating")
    assert spec.describe()["clock"] == {"kind": "events"}
    for bad in ({"dice": 0}, {"dice": 7}, {"turn_seconds": 4}, {"turn_seconds": 121},
                {"ones_wild": 1}, {"start_players": 1}, {"start_players": 7}, {"cheat": 1}):
        with pytest.raises(InvalidField):
            GameHarness(spec, options=bad)
    h = GameHarness(spec)
    assert h.room.options == {"dice": 5, "turn_seconds": 30, "ones_wild": True,
                              "start_players": 2}


def test_the_match_starts_at_start_players_and_locks_the_room() -> None:
    h = GameHarness(dice_spec(), seed=5, options={"start_players": 3, "dice": 4})
    a, b = h.join("ann"), h.join("bob")
    assert h.room.metadata["status"] == "waiting" and h.room.metadata["players"] == 2
    assert not h.room.locked and h.pending_timers() == []
    with refused("not_started"):
        h.send(a, "bid", count=1, face=2)
    with refused("not_started"):
        h.send(b, "challenge")
    assert h.last_state_for(a)["status"] == "waiting"
    assert "dice" not in h.last_state_for(a)
    c = h.join("cat")
    assert h.room.locked
    assert h.room.metadata["status"] == "playing" and h.room.metadata["players"] == 3
    state = h.last_state_for(c)
    assert state["status"] == "playing" and len(state["dice"]) == 4
    assert state["turn"] in (a, b, c) and state["total_dice"] == 12
    assert h.pending_timers() == [(30, "turn")]
    assert h.game.on_join_attempt(Seat(9, 9, "late"), False) == "game already started"
    with refused("already_started"):
        h.send(a, "ready")


def test_a_full_table_is_a_started_one() -> None:
    h = GameHarness(dice_spec(), options={"start_players": 6})
    players = [h.join(f"p{i}") for i in range(5)]
    assert h.game.table is None
    players.append(h.join("p5"))
    assert h.game.table is not None and h.room.locked
    with refused("room_full"):
        h.join("p6")
    assert h.game.on_join_attempt(Seat(7, 1007, "p6"), False) == "game already started"
    h.drop(players[0])
    assert h.game.on_join_attempt(Seat(players[0], 1001, "p0"), True) is None  # a resume


def test_everyone_ready_starts_a_match_before_start_players() -> None:
    h = GameHarness(dice_spec(), options={"start_players": 6})
    a = h.join("ann")
    h.send(a, "ready")
    assert h.game.table is None  # one ready player alone is no match
    b, c = h.join("bob"), h.join("cat")
    h.send(b, "ready")
    h.leave(c)  # the one who was not ready goes: everyone left is ready
    assert h.game.table is not None and h.room.locked
    assert h.game.table.order == [a, b]


def test_the_same_seed_deals_the_same_dice() -> None:
    def deal(seed: int) -> list[list[int]]:
        h, players = seat(3, seed=seed)
        return [h.view(p)["dice"] for p in players]
    assert deal(11) == deal(11)
    assert deal(11) != deal(12)


# -- refusals -----------------------------------------------------------------------------------


def test_each_refusal_has_its_code() -> None:
    h, (a, b) = seat(2, seed=3, dice=1)
    first = h.game.table.turn
    other = b if first == a else a
    with refused("not_your_turn"):
        h.send(other, "bid", count=1, face=3)
    with refused("no_bid_to_challenge"):
        h.send(first, "challenge")
    with refused("bid_too_high"):
        h.send(first, "bid", count=3, face=3)
    h.send(first, "bid", count=1, face=5)
    for count, face in ((1, 5), (1, 4), (1, 2)):
        with refused("bid_too_low"):
            h.send(other, "bid", count=count, face=face)
    with pytest.raises(InvalidField):
        h.send(other, "bid", count=1, face=7)
    h.send(other, "challenge")
    loser = h.room.sent[-2].body["loser"] if h.room.sent[-1].kind == "game_over" else None
    assert loser is not None  # one die each: the first challenge ends the match
    winner = a if loser == b else b
    with refused("game_over"):
        h.send(winner, "bid", count=1, face=2)


def test_an_eliminated_player_cannot_act() -> None:
    h, players = seat(3, seed=4, dice=1)
    table = h.game.table
    bidder = table.turn
    h.send(bidder, "bid", count=3, face=1)  # three ones of three dice: almost surely a lie
    challenger = table.turn
    h.send(challenger, "challenge")
    reveal = next(s.body for s in h.room.sent if s.kind == "reveal")
    assert reveal["eliminated"] and not table.alive(reveal["loser"])
    with refused("eliminated"):
        h.send(reveal["loser"], "bid", count=1, face=2)
    assert "dice" not in h.last_state_for(reveal["loser"])  # a spectator sees the shared view


# -- challenges ---------------------------------------------------------------------------------


def _opening(seed: int, **options):
    h, players = seat(3, seed=seed, **options)
    hands = {p: h.view(p)["dice"] for p in players}
    return h, players, hands


@pytest.mark.parametrize("truthful", [True, False])
def test_a_challenge_costs_the_bidder_or_the_challenger_a_die(truthful: bool) -> None:
    h, players, hands = _opening(21)
    table = h.game.table
    bidder = table.turn
    actual = count_face(hands.values(), 3, ones_wild=True)
    count = actual if truthful else actual + 1
    h.send(bidder, "bid", count=count, face=3)
    challenger = table.turn
    h.send(challenger, "challenge")
    loser = challenger if truthful else bidder
    reveal = [s for s in h.room.sent if s.kind == "reveal"]
    assert len(reveal) == 1 and reveal[0].to is None
    assert reveal[0].body == {
        "round": 1, "bid": {"by": bidder, "count": count, "face": 3},
        "challenger": challenger, "hands": [{"player": p, "dice": hands[p]} for p in players],
        "count": actual, "holds": truthful, "loser": loser, "eliminated": False}
    assert {p: table.dice_left[p] for p in players} == {p: 5 - (p == loser) for p in players}
    state = h.last_state_for(bidder)
    assert state["reveal"] == reveal[0].body and state["round"] == 2
    assert state["turn"] == loser and state["bid"] is None and state["total_dice"] == 14
    assert len(h.view(loser)["dice"]) == 4


def test_without_wild_ones_a_one_counts_only_as_a_one() -> None:
    h, players, hands = _opening(8, ones_wild=False)
    table = h.game.table
    plain = count_face(hands.values(), 5, ones_wild=False)
    assert plain < count_face(hands.values(), 5, ones_wild=True)  # this seed deals some ones
    bidder = table.turn
    h.send(bidder, "bid", count=plain + 1, face=5)
    h.send(table.turn, "challenge")
    reveal = [s.body for s in h.room.sent if s.kind == "reveal"][0]
    assert reveal["count"] == plain and reveal["loser"] == bidder


# -- the turn clock -----------------------------------------------------------------------------


def test_a_timeout_makes_the_lowest_legal_move() -> None:
    h, (a, b) = seat(2, seed=6, dice=1, turn_seconds=10)
    table = h.game.table
    first = table.turn
    h.advance(9.9)
    assert table.bid is None and table.turn == first
    h.advance(0.1)
    assert table.bids == [(first, Bid(1, 2))] and table.turn != first
    assert h.room.sent[-1].body == {"player": first, "move": "bid", "count": 1, "face": 2}
    assert h.pending_timers() == [(10, "turn")]
    second = table.turn
    h.send(second, "bid", count=2, face=6)
    h.advance(10)  # 2 sixes -> 2 ones, the last raise with two dice in play
    assert table.bid == Bid(2, 1) and table.bidder == first
    h.advance(10)  # nothing above 2 ones: the only legal move left is a challenge
    reveal = [s for s in h.room.sent if s.kind == "reveal"]
    assert len(reveal) == 1 and reveal[0].body["challenger"] == second
    assert table.over and h.pending_timers() == []


def test_timeouts_without_wild_ones_open_with_one_one() -> None:
    h, players = seat(2, seed=6, ones_wild=False)
    first = h.game.table.turn
    h.advance(30)
    assert h.game.table.bids == [(first, Bid(1, 1))]


def test_a_match_of_timeouts_alone_ends() -> None:
    h, players = seat(3, seed=2, dice=2, turn_seconds=5)
    winner = play(h, {p: (lambda view: None) for p in players})
    assert h.room.outcomes and h.room.outcomes[0][0] == Outcome(winner, placement=1, won=True)


# -- whole matches and results ------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 6])
def test_a_full_match_has_one_winner_and_reports_every_placement_once(n: int) -> None:
    h, players = seat(n, seed=100 + n)
    rngs = {p: random.Random(p) for p in players}
    winner = play(h, {p: (lambda view, r=rngs[p]: random_move(view, r)) for p in players})
    assert len(h.room.outcomes) == 1
    outcomes = h.room.outcomes[0]
    assert sorted(o.player for o in outcomes) == players
    assert sorted(o.placement for o in outcomes) == list(range(1, n + 1))
    assert [o.player for o in outcomes if o.won] == [winner]
    over = [s for s in h.room.sent if s.kind == "game_over"]
    assert len(over) == 1 and over[0].body["winner"] == winner
    assert h.room.metadata["status"] == "finished" and h.room.metadata["winner"] == f"p{winner - 1}"
    assert h.last_state_for(players[0])["status"] == "finished"
    h.advance(600)
    h.leave(winner)
    assert len(h.room.outcomes) == 1


# -- leaving, dropping, resuming ----------------------------------------------------------------


def test_leaving_before_the_match_frees_the_seat() -> None:
    h = GameHarness(dice_spec(), options={"start_players": 3})
    a, b = h.join("ann"), h.join("bob")
    h.leave(a)
    assert h.room.metadata["players"] == 1 and [p["id"] for p in h.view(b)["players"]] == [b]
    h.join("cat")
    assert h.game.table is None
    h.join("dan")
    assert h.game.table.order == [b, 3, 4]


def test_leaving_mid_match_places_last_among_those_left_and_passes_the_turn() -> None:
    h, players = seat(4, seed=9)
    table = h.game.table
    on_turn = table.turn
    h.send(on_turn, "bid", count=2, face=3)
    leaver = table.turn
    before = {p: h.view(p)["dice"] for p in players if p != leaver}
    h.leave(leaver, consented=True)
    assert table.placements == {leaver: 4} and not table.alive(leaver)
    assert table.turn == table.next_alive(leaver)  # the leaver's turn passed on
    assert table.round == 2 and table.bid is None and table.total_dice == 15
    assert {p: len(h.view(p)["dice"]) for p in before} == {p: 5 for p in before}
    assert h.room.sent[-1].body == {"player": leaver, "reason": "left"}
    state = h.last_state_for(on_turn)
    assert [p["left"] for p in state["players"]] == [p == leaver for p in players]
    others = [p for p in players if p != leaver]
    h.leave(others[0], consented=False)  # dropped and never came back: out as well
    assert table.placements[others[0]] == 3
    h.leave(others[1])
    assert table.winner == others[2]
    assert h.room.outcomes == [[Outcome(others[2], placement=1, won=True),
                                Outcome(others[1], placement=2, won=False),
                                Outcome(others[0], placement=3, won=False),
                                Outcome(leaver, placement=4, won=False)]]


def test_a_dropped_player_keeps_the_seat_and_hand_while_the_clock_plays_for_them() -> None:
    h, (a, b) = seat(2, seed=12)
    table = h.game.table
    dropper = table.turn
    hand = list(h.view(dropper)["dice"])
    h.drop(dropper)
    assert [p["connected"] for p in h.last_state_for(b)["players"]] == [p != dropper
                                                                        for p in (a, b)]
    h.advance(30)  # the turn clock plays for the dropped player
    assert table.bids == [(dropper, Bid(1, 2))]
    h.resume(dropper)
    assert h.view(dropper)["dice"] == hand and h.view(dropper)["me"] == dropper
    assert h.last_state_for(dropper)["dice"] == hand
    assert all(p["connected"] for p in h.view(dropper)["players"])


# -- hidden dice --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_no_player_ever_receives_another_players_unrevealed_dice(seed: int) -> None:
    rng = random.Random(seed)
    n = 2 + seed % 5
    h, players = seat(n, seed=seed, dice=1 + seed % 6)
    history = hands_by_round(h)
    table = h.game.table
    sent = 0
    for _ in range(3000):
        if table.over:
            break
        turn = table.turn
        roll = rng.random()
        if roll < 0.05:
            h.advance(30)
        elif roll < 0.07 and len(table.alive_players()) > 2:
            h.leave(rng.choice(table.alive_players()))
        else:
            kind, body = random_move(h.last_state_for(turn), rng)
            h.send(turn, kind, **body)
        for p in players:
            assert_hidden(p, h.last_state_for(p), h, history)
            assert_hidden(p, h.view(p), h, history)
            for message in h.room.sent[sent:]:
                if message.to is None or message.to == p:
                    assert_hidden(p, message.body, h, history)
        sent = len(h.room.sent)
    assert table.over


# -- the documentation ---------------------------------------------------------------------------


def _doc_examples() -> list[dict]:
    text = (REPO / "docs/dice.md").read_text(encoding="utf-8")
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def _shape(value):
    """A JSON value's keys, recursively (lists by their first item): what a client relies on."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [_shape(value[0])]
    return None


def test_the_documented_views_have_the_real_views_shape() -> None:
    examples = {(e.get("status"), "dice" in e): e for e in _doc_examples() if "rules" in e}
    h, (a, b) = seat(2, seed=21)
    table = h.game.table
    h.send(table.turn, "bid", count=1, face=3)
    h.send(table.turn, "challenge")
    h.send(table.turn, "bid", count=1, face=3)
    assert table.bid is not None and table.last_reveal is not None
    assert _shape(examples[("playing", True)]) == _shape(h.last_state_for(a))
    waiting = GameHarness(dice_spec(), options={"start_players": 3})
    w = waiting.join("ann")
    waiting.send(w, "ready")
    assert _shape(examples[("waiting", False)]) == _shape(waiting.last_state_for(w))


def test_every_refusal_code_is_documented() -> None:
    source = "".join(p.read_text() for p in (REPO / "game_server/games/dice").glob("*.py"))
    codes = set(re.findall(r'GameError\("(\w+)"', source))
    text = (REPO / "docs/dice.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(\w+)` \|", text, re.M))
    assert codes and codes - {"unknown_message", "bad_bid"} <= documented
