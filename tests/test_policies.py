"""Bot policies without a server: what each mode's policy sends for the messages it reads, and
how a policy is found for a mode (`client.policies`)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from client.policies import (
    POLICIES,
    ArenaPolicy,
    DicePolicy,
    Finished,
    PolicyError,
    load_policy,
    policy_for,
    tictactoe_policy,
    view_of,
)


def dice_view(**overrides: Any) -> dict[str, Any]:
    view = {"status": "playing", "rules": {"dice": 2, "ones_wild": True, "turn_seconds": 30,
                                           "start_players": 2},
            "players": [{"id": 1, "name": "a", "dice_count": 2, "alive": True, "placement": None},
                        {"id": 2, "name": "b", "dice_count": 2, "alive": True, "placement": None}],
            "round": 1, "turn": 1, "turn_number": 1, "total_dice": 4, "bid": None, "bids": [],
            "reveal": None, "winner": None, "me": 1, "dice": [3, 3]}
    view.update(overrides)
    return view


def state(view: dict[str, Any], tick: int = 1) -> dict[str, Any]:
    return {"type": "state", "tick": tick, "ts": 0, **view}


def joined(view: dict[str, Any], player: int = 1) -> dict[str, Any]:
    return {"type": "joined", "room": "r", "mode": "dice", "player": player, "tick_rate": 0,
            "client": {}, "state": view}


def test_view_of_strips_the_envelope() -> None:
    assert view_of(state({"status": "x"}, tick=9)) == {"status": "x"}
    assert view_of(joined({"status": "y"})) == {"status": "y"}
    assert view_of({"type": "reveal", "round": 1}) is None


def test_a_turn_policy_moves_once_per_turn_and_not_for_a_repeated_state() -> None:
    policy = DicePolicy(random.Random(1))
    waiting = {"status": "waiting", "players": [{"id": 1, "ready": False}], "me": 1}
    assert policy.on_message(joined(waiting)) == []  # no `ready` at once
    first = policy.on_message(state(dice_view()))
    assert len(first) == 1 and first[0]["type"] == "bid"
    # the same turn again (a state for another event, before ours was processed): no repeat
    assert policy.on_message(state(dice_view(), tick=2)) == []
    # the other player's turn, then ours again after a bid: one answer
    bid = {"by": 2, "count": 1, "face": 3}
    assert policy.on_message(state(dice_view(turn=2, turn_number=2))) == []
    again = policy.on_message(state(dice_view(turn=1, turn_number=3, bid=bid, bids=[bid])))
    assert len(again) == 1 and again[0]["type"] in ("bid", "challenge")
    # a new round where we open straight after our own challenge: a new turn, a new move
    assert len(policy.on_message(state(dice_view(round=2, turn=1, turn_number=3)))) == 1
    assert policy.finished is None


def test_a_dice_match_is_over_for_a_bot_when_the_table_finishes() -> None:
    policy = DicePolicy(random.Random(1))
    policy.on_message(joined(dice_view()))
    out = dice_view(players=[{"id": 1, "placement": 2}, {"id": 2, "placement": None}],
                    turn=2, turn_number=5)
    del out["me"], out["dice"]
    policy.on_message(state(out))
    assert policy.finished is None  # out of dice, but the match goes on: stay to the end
    policy.on_message(state({**out, "status": "finished", "turn": None, "winner": 2}))
    assert policy.finished == Finished(won=False)
    assert policy.on_message(state(dice_view(turn_number=9))) == []  # nothing after the end
    policy.on_message(joined(dice_view()))
    assert policy.finished is None  # a new room, a new match


def test_a_dice_bot_says_ready_only_after_a_table_waited() -> None:
    policy = DicePolicy(random.Random(1), ready_after=3.0)
    alone = {"status": "waiting", "players": [{"id": 1, "ready": False}], "me": 1}
    policy.on_message(joined(alone))
    assert [policy.act() for _ in range(5)] == [[]] * 5  # alone: never
    two = {**alone, "players": [{"id": 1, "ready": False}, {"id": 2, "ready": False}]}
    policy.on_message(state(two))
    assert [policy.act() for _ in range(3)] == [[], [], [{"type": "ready"}]]
    policy.on_message(state({**two, "players": [{"id": 1, "ready": True}, two["players"][1]]}))
    assert [policy.act() for _ in range(5)] == [[]] * 5  # ready already


def test_the_tictactoe_policy_plays_the_example_bot_and_reports_the_result() -> None:
    policy = tictactoe_policy(random.Random(1))
    board = ["X", "X", "", "O", "O", "", "", "", ""]
    view = {"status": "playing", "board": board, "turn": 2, "winner": None,
            "players": [{"player": 1, "mark": "X"}, {"player": 2, "mark": "O"}]}
    assert policy.on_message(joined(view, player=2)) == [{"type": "move", "cell": 5}]
    assert policy.on_message(state(view)) == []
    policy.on_message(state({**view, "status": "finished", "turn": None, "winner": 2}))
    assert policy.finished == Finished(won=True)
    other = tictactoe_policy(random.Random(1))
    other.on_message(joined({**view, "status": "finished", "turn": None, "winner": None}, 1))
    assert other.finished == Finished(won=False, draw=True)


def test_the_arena_policy_steers_ten_times_a_second_and_says_stop_once() -> None:
    policy = ArenaPolicy(random.Random(1))
    assert policy.interval == 0.1
    first = policy.act()  # not joined yet: (0, 0), said once
    assert first == [{"type": "input", "seq": 1, "dx": 0.0, "dy": 0.0}]
    assert policy.act() == []
    assert policy.finished is None and policy.score is None


def test_policies_by_mode_and_by_reference() -> None:
    assert set(POLICIES) == {"arena", "dice", "tictactoe"}
    assert policy_for("dice") is DicePolicy
    assert policy_for("anything", "client.policies:DicePolicy") is DicePolicy
    with pytest.raises(PolicyError, match=r"no bot policy for mode 'chess' \(policies: arena, "
                                          r"dice, tictactoe\)"):
        policy_for("chess")
    with pytest.raises(PolicyError, match="expected package.module:attribute"):
        load_policy("client.policies")
    with pytest.raises(PolicyError, match="cannot import no_such_module"):
        load_policy("no_such_module:x")
    with pytest.raises(PolicyError, match="is not callable"):
        load_policy("client.policies:ArenaPolicy.interval")
    with pytest.raises(PolicyError, match="is not a Policy"):
        policy_for("x", "builtins:repr")
    with pytest.raises(PolicyError, match="making the policy for mode 'x' failed"):
        policy_for("x", "client.policies:view_of")


def test_the_tictactoe_policy_without_its_package_says_how_to_install_it(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "arena_tictactoe.bot", None)  # as if not installed
    with pytest.raises(PolicyError, match="pip install -e examples/tictactoe"):
        policy_for("tictactoe")
