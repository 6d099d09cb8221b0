"""The Elo-style rating update (game_server.storage.ratings) and how outcomes fold into
standings (game_server.storage.leaderboards): pure functions, no database."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from game_server.games.api import Outcome
from game_server.storage.leaderboards import Standing, apply_outcomes, check_match
from game_server.storage.ratings import K_FACTOR, START, expected_score, updated_ratings

ratings_st = st.floats(min_value=100, max_value=3000, allow_nan=False)


def test_equal_ratings_winner_gains_half_k_and_the_loser_loses_it() -> None:
    assert updated_ratings([START, START], [1, 2]) == [START + K_FACTOR / 2,
                                                        START - K_FACTOR / 2]


def test_a_draw_between_equals_changes_nothing() -> None:
    assert updated_ratings([1500.0, 1500.0], [1, 1]) == [1500.0, 1500.0]


def test_an_upset_moves_more_than_an_expected_win() -> None:
    strong, weak = 1900.0, 1500.0
    expected = updated_ratings([strong, weak], [1, 2])
    upset = updated_ratings([strong, weak], [2, 1])
    assert expected[0] - strong < upset[1] - weak
    assert 0 < expected[0] - strong < K_FACTOR / 2 < upset[1] - weak < K_FACTOR


def test_k_is_scaled_by_the_number_of_opponents() -> None:
    # Winning a 4-player match against equals gains K/3 * 3 * 0.5 = K/2, as in a duel.
    after = updated_ratings([START] * 4, [1, 2, 3, 4])
    assert after[0] - START == pytest.approx(K_FACTOR / 2)
    assert after[3] - START == pytest.approx(-K_FACTOR / 2)
    assert after[0] > after[1] > after[2] > after[3]
    assert sum(after) == pytest.approx(4 * START)


def test_fewer_than_two_players_change_nothing() -> None:
    assert updated_ratings([], []) == []
    assert updated_ratings([1234.0], [1]) == [1234.0]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        updated_ratings([1500.0], [1, 2])
    with pytest.raises(ValueError):
        updated_ratings([1500.0, 1500.0], [1, 2], k=-1)


@given(st.lists(st.tuples(ratings_st, st.integers(1, 6)), min_size=2, max_size=6))
def test_zero_sum_and_bounded(players: list[tuple[float, int]]) -> None:
    ratings = [r for r, _ in players]
    after = updated_ratings(ratings, [p for _, p in players])
    assert math.isclose(sum(after), sum(ratings), abs_tol=1e-6)
    assert all(abs(a - r) <= K_FACTOR + 1e-9 for a, r in zip(after, ratings, strict=True))


@given(ratings_st, ratings_st)
def test_symmetric(a: float, b: float) -> None:
    # Swapping the players swaps the results; the winner always gains.
    first = updated_ratings([a, b], [1, 2])
    swapped = updated_ratings([b, a], [2, 1])
    assert first == pytest.approx(swapped[::-1])
    assert first[0] > a and first[1] < b
    assert expected_score(a, b) + expected_score(b, a) == pytest.approx(1.0)


# -- folding outcomes into standings -----------------------------------------------------------


def test_best_score_wins_and_played() -> None:
    before = {1: Standing(best_score=50, wins=2, played=3)}
    after = apply_outcomes("best_score", before, [(1, Outcome(0, score=40, placement=1)),
                                                  (2, Outcome(1, score=10, won=False))])
    assert after == {1: Standing(best_score=50, wins=3, played=4),
                     2: Standing(best_score=10, wins=0, played=1)}


def test_rating_rule_rates_placed_players_only() -> None:
    outcomes = [(1, Outcome(0, placement=2)), (2, Outcome(1, won=True)),
                (3, Outcome(2, score=5))]
    after = apply_outcomes("rating", {1: Standing(rating=1600.0)}, outcomes)
    assert after[3].rating is None  # no placement, no won: not rated
    assert after[2].rating is not None and after[2].rating > START
    assert after[1].rating is not None and after[1].rating < 1600.0
    assert after[1].rating + after[2].rating == pytest.approx(1600.0 + START)
    assert apply_outcomes("wins", {}, outcomes)[2].rating is None  # other rules: no rating


@pytest.mark.parametrize("bad", [
    ("", "wins", None, []),
    ("m", "elo", None, []),
    ("m", "wins", "", []),
    ("m", "wins", None, [(1, Outcome(0)), (1, Outcome(1))]),
    ("m", "wins", None, [(True, Outcome(0))]),
    ("m", "wins", None, [(1, Outcome(0, score=1.5))]),  # type: ignore[arg-type]
    ("m", "wins", None, [(1, Outcome(0, score=2**63))]),
    ("m", "wins", None, [(1, Outcome(0, placement=0))]),
    ("m", "wins", None, [(1, Outcome(0, won=1))]),  # type: ignore[arg-type]
    ("m", "wins", None, [(1, {"score": 3})]),
])
def test_bad_matches_are_refused(bad: tuple) -> None:
    with pytest.raises(ValueError):
        check_match(*bad)


def test_check_match_sorts_by_user() -> None:
    checked = check_match("m", "rating", "id", [(3, Outcome(0)), (1, Outcome(1))])
    assert [user for user, _ in checked] == [1, 3]
