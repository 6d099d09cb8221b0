"""Bot policies without a server: what each mode's policy sends for the messages it reads, the
real-time base and the rounds a policy counts, and how a policy is found for a mode: Arena's
own, an installed package's `arena.policies` entry point, or `module:attr` (`client.policies`)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from arena_tictactoe.bot import TicTacToePolicy

from client.bots import Bot
from client.policies import (
    BUILT_IN,
    ArenaPolicy,
    DicePolicy,
    Finished,
    Message,
    PolicyError,
    RealtimePolicy,
    Round,
    known_modes,
    load_policy,
    policy_for,
    view_of,
)
from tests.conftest import REPO


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
    assert view_of(state({"full": {"status": "z"}})) == {"status": "z"}  # a resync
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
    policy = policy_for("tictactoe")(random.Random(1))  # the installed package's entry point
    assert isinstance(policy, TicTacToePolicy)
    board = ["X", "X", "", "O", "O", "", "", "", ""]
    view = {"status": "playing", "board": board, "turn": 2, "winner": None,
            "players": [{"player": 1, "mark": "X"}, {"player": 2, "mark": "O"}]}
    assert policy.on_message(joined(view, player=2)) == [{"type": "move", "cell": 5}]
    assert policy.on_message(state(view)) == []
    policy.on_message(state({**view, "status": "finished", "turn": None, "winner": 2}))
    assert policy.finished == Finished(won=True)
    other = TicTacToePolicy(random.Random(1))
    other.on_message(joined({**view, "status": "finished", "turn": None, "winner": None}, 1))
    assert other.finished == Finished(won=False, draw=True)


def test_the_arena_policy_steers_ten_times_a_second_and_says_stop_once() -> None:
    policy = ArenaPolicy(random.Random(1))
    assert isinstance(policy, RealtimePolicy) and policy.interval == 0.1
    assert policy.act() == []  # not seated yet
    policy.on_message({"type": "joined", "room": "r", "mode": "arena", "player": 7,
                       "tick_rate": 20, "world": {}, "state": {"tick": 1, "players": []}})
    assert policy.me == 7 and policy.view is policy.world
    first = policy.act()  # seated, but not in the state yet: (0, 0), said once
    assert first == [{"type": "input", "seq": 1, "dx": 0.0, "dy": 0.0}]
    assert policy.act() == []
    assert policy.finished is None and policy.score is None


class Chaser(RealtimePolicy):
    """A real-time policy of a made-up ticking game: head for the `goal` of the latest view."""

    interval = 0.05

    def steer(self, view: Any) -> list[Message]:
        return [{"type": "input", "to": view["goal"], "me": self.me}]


def test_a_realtime_policy_keeps_the_latest_view_and_steers_on_the_clock() -> None:
    policy = Chaser(random.Random(1))
    assert policy.act() == []  # no seat, no view: nothing to steer
    assert policy.on_message(joined({"goal": 1}, player=4)) == []  # answers come from act
    assert policy.act() == [{"type": "input", "to": 1, "me": 4}]
    policy.on_message(state({"goal": 2}))  # a state: the view it carries
    policy.on_message({"type": "chat", "text": "hi"})  # not a view: kept as it was
    assert policy.view == {"goal": 2} and policy.act()[0]["to"] == 2
    policy.on_message(state({"full": {"goal": 3}}))  # a resync replaces everything
    assert policy.act()[0]["to"] == 3
    assert policy.finished is None and policy.rounds == 0


class Tally(RealtimePolicy):
    """A ticking game whose states carry changes, with rounds and a match that ends."""

    def steer(self, view: Any) -> list[Message]:
        return [{"type": "input"}]

    def update(self, view: Any, msg: Message) -> Any:
        changes = view_of(msg) or {}
        return {**(view or {}), **changes}  # states carry only what changed

    def round_ended(self, view: Any) -> Round | None:
        last = view.get("last_round")
        return None if last is None else Round(last["number"], won=last["winner"] == self.me)

    def outcome(self, view: Any) -> Finished | None:
        return Finished(won=view["champion"] == self.me) if view.get("champion") else None


def test_a_policy_counts_each_round_once_and_the_match_end_stops_steering() -> None:
    policy = Tally(random.Random(1))
    # a round that ended before we came is not ours
    policy.on_message(joined({"score": 0, "last_round": {"number": 4, "winner": 9}}, player=1))
    assert (policy.rounds, policy.rounds_won) == (0, 0)
    policy.on_message(state({"score": 1}))  # a change: the rest of the view stays
    assert policy.view == {"score": 1, "last_round": {"number": 4, "winner": 9}}
    policy.on_message(state({"last_round": {"number": 5, "winner": 1}}))
    policy.on_message(state({"score": 2}))  # the same round still shown: counted once
    policy.on_message(state({"last_round": {"number": 6, "winner": 2}}))
    assert (policy.rounds, policy.rounds_won) == (2, 1)
    assert policy.finished is None and policy.act() == [{"type": "input"}]
    policy.on_message(state({"champion": 1}))
    assert policy.finished == Finished(won=True) and policy.act() == []


def test_the_dice_policy_counts_a_round_per_challenge() -> None:
    policy = DicePolicy(random.Random(1))
    policy.on_message(joined(dice_view(turn=2)))
    hands = [{"player": 1, "dice": [3, 3]}, {"player": 2, "dice": [4]}]
    reveal = {"round": 1, "loser": 2, "hands": hands}
    policy.on_message(state(dice_view(round=2, turn=2, reveal=reveal)))
    policy.on_message(state(dice_view(round=2, turn=2, turn_number=4, reveal=reveal)))
    assert (policy.rounds, policy.rounds_won) == (1, 1)
    policy.on_message(state(dice_view(round=3, turn=2, reveal={**reveal, "round": 2,
                                                                "loser": 1})))
    assert (policy.rounds, policy.rounds_won) == (2, 1)
    # out of dice: a round played by the others is counted, not won
    policy.on_message(state(dice_view(round=4, turn=2, reveal={**reveal, "round": 3,
                                                                "hands": hands[1:]})))
    assert (policy.rounds, policy.rounds_won) == (3, 1)
    assert policy.finished is None


def test_a_bot_counts_the_rounds_its_policy_saw_and_stays_in_the_room() -> None:
    bot = Bot("b", "http://127.0.0.1:1", "dice", policy=DicePolicy(random.Random(1)))
    bot.on_message(joined(dice_view(turn=2)))
    for number in (1, 2, 3):
        bot.on_message(state(dice_view(round=number + 1, turn=2,
                                       reveal={"round": number, "loser": 1 + number % 2,
                                               "hands": [{"player": 1}, {"player": 2}]})))
    assert (bot.stats.rounds, bot.stats.round_wins, bot.stats.matches) == (3, 2, 0)
    assert not bot._leaving  # a round's end is not the match's: no `leave`
    bot.on_message(state(dice_view(status="finished", turn=None, winner=1,
                                   reveal={"round": 4, "loser": 2, "hands": [{"player": 1}]})))
    assert (bot.stats.rounds, bot.stats.matches, bot.stats.wins) == (4, 1, 1)


def test_policies_by_mode_and_by_reference() -> None:
    assert set(BUILT_IN) == {"arena", "dice"}
    assert {"arena", "dice", "tictactoe"} <= set(known_modes())
    assert policy_for("dice") is DicePolicy
    assert policy_for("tictactoe") is TicTacToePolicy  # by its package's entry point
    assert policy_for("anything", "client.policies:DicePolicy") is DicePolicy
    with pytest.raises(PolicyError, match=r"no bot policy for mode 'chess' \(policies: arena, "
                                          r"dice, .*'arena.policies' entry point"):
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


def install_policy(site: Path, dist: str, mode: str, value: str) -> None:
    """An installed distribution declaring `mode`'s policy, as pip leaves it in site-packages:
    its .dist-info with METADATA and entry_points.txt (found once `site` is on sys.path)."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[arena.policies]\n{mode} = {value}\n")


def test_an_installed_package_ships_its_policy_by_entry_point(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rps_game.py").write_text(
        "from client.policies import TurnPolicy\n\n\n"
        "class Rock(TurnPolicy):\n"
        "    def decide(self, view):\n        return {'type': 'throw', 'hand': 'rock'}\n\n"
        "    def outcome(self, view):\n        return None\n")
    install_policy(tmp_path, "rps_game", "rps", "rps_game:Rock")
    install_policy(tmp_path, "broken_game", "broken", "no_such_module_here:Policy")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "rps" in known_modes()
    rock = policy_for("rps")(random.Random(1))
    assert rock.on_message(joined({"round": 1})) == [{"type": "throw", "hand": "rock"}]
    with pytest.raises(PolicyError, match=r"the broken policy \(no_such_module_here:Policy, an "
                                          r"'arena.policies' entry point\) cannot be loaded"):
        policy_for("broken")
    install_policy(tmp_path, "rps_rival", "rps", "rps_rival:Paper")
    with pytest.raises(PolicyError, match="two installed policies for mode 'rps': "
                                          "rps_game:Rock, rps_rival:Paper"):
        policy_for("rps")


def test_the_bots_know_no_installed_game_by_name() -> None:
    # tic-tac-toe is found by its package's entry point, like any pip-installed game
    source = "".join((REPO / "client" / name).read_text() for name in ("policies.py", "bots.py"))
    assert "arena_tictactoe" not in source and "tictactoe" not in source
    done = subprocess.run([sys.executable, "-c", "import sys, client.bots, client.policies; "
                           "print('arena_tictactoe' in sys.modules)"], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"


def test_every_mode_the_server_runs_has_a_bot_policy_found_by_name() -> None:
    """`python -m client.bots --mode M` can play every game this server loads (the shipped
    ones and those installed by entry point), each with a policy of its own."""
    from game_server.games.loading import server_modes

    modes = server_modes()
    assert {"arena", "dice", "tictactoe", "lantern"} <= set(modes)
    for mode in modes:
        policy = policy_for(mode)(random.Random(1))
        assert callable(policy.on_message) and callable(policy.act), mode
        joined = {"type": "joined", "room": "r", "mode": mode, "player": 1, "tick_rate": 0,
                  "client": {}, "options": {}, "state": {}}
        assert isinstance(policy.on_message(joined), list), mode
