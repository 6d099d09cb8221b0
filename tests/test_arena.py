"""Tests for the Arena game rules in game_server.games.arena."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from game_server.games.arena import ArenaGame, ArenaRules

SPEED_10 = 200.0 / math.sqrt(10)  # full speed of a player of mass 10


def make_game(seed: int = 0, **overrides: Any) -> ArenaGame:
    """A 1000x1000 world without pellets unless asked, at the speed these scenarios were
    written for (speed_factor 200): they test the rules' mechanics, not their tuning."""
    settings: dict[str, Any] = {"world_width": 1000.0, "world_height": 1000.0, "pellet_count": 0,
                                "speed_factor": 200.0}
    settings.update(overrides)
    return ArenaGame(ArenaRules(**settings), seed=seed)


def row(game: ArenaGame, player_id: int) -> list[Any]:
    """The player's full_state row: [id, name, x, y, mass, seq, alive]."""
    (found,) = [r for r in game.full_state()["players"] if r[0] == player_id]
    return found


def pellet(game: ArenaGame, pellet_id: int) -> list[int]:
    return game.full_state()["pellets"][pellet_id]


# -- rules and movement ------------------------------------------------------------------------


def test_rules_radius_and_speed() -> None:
    rules = ArenaRules(speed_factor=200.0)
    assert rules.radius(16) == 16.0
    assert rules.radius(10) == pytest.approx(math.sqrt(10) * 4)
    assert rules.speed(16) == 50.0
    assert rules.speed(10) == pytest.approx(SPEED_10)


def test_rules_are_validated() -> None:
    with pytest.raises(ValueError):
        ArenaRules(world_width=0)
    with pytest.raises(ValueError):
        ArenaRules(eat_ratio=1.0)
    with pytest.raises(ValueError):
        ArenaRules(start_mass=0)


def test_add_player_spawns_alive_with_start_mass() -> None:
    game = make_game()
    game.add_player(1, "ann")
    assert game.has_player(1) and game.is_alive(1)
    assert game.player_count == 1
    assert game.player_name(1) == "ann"
    _, name, x, y, mass, seq, alive = row(game, 1)
    assert (name, mass, seq, alive) == ("ann", 10, 0, True)
    assert 0 <= x <= 1000 and 0 <= y <= 1000
    with pytest.raises(ValueError):
        game.add_player(1, "again")
    assert not game.has_player(2)
    with pytest.raises(KeyError):
        game.player_name(2)


def test_movement_speed_and_direction() -> None:
    game = make_game()
    game.add_player(1, "ann")
    game.place_player(1, 100.0, 100.0)
    assert game.set_input(1, 1, 1.0, 0.0)
    for steps in range(1, 11):
        game.step(0.05)
        assert row(game, 1)[2:4] == [round(100 + steps * SPEED_10 * 0.05), 100]
    assert game.tick == 10
    game.place_player(1, 100.0, 100.0, mass=16)  # speed 50
    game.set_input(1, 2, 0.6, -0.8)
    game.step(1.0)
    assert row(game, 1)[2:4] == [130, 60]


@pytest.mark.parametrize(
    ("dx", "dy", "expected"),
    [
        ((3.0, 4.0, (530, 540))),  # normalised to (0.6, 0.8) at full speed
        ((300.0, 400.0, (530, 540))),
        ((0.3, 0.4, (515, 520))),  # shorter: partial speed
        ((0.0, 0.0, (500, 500))),  # stop
        ((-1.0, 0.0, (450, 500))),
    ],
)
def test_direction_length_is_clamped(dx: float, dy: float, expected: tuple[int, int]) -> None:
    game = make_game()
    game.add_player(1, "ann")
    game.place_player(1, 500.0, 500.0, mass=16)  # speed 50
    game.set_input(1, 1, dx, dy)
    game.step(1.0)
    assert tuple(row(game, 1)[2:4]) == expected


def test_movement_is_clamped_to_the_world() -> None:
    game = make_game()
    game.add_player(1, "ann")
    game.place_player(1, 990.0, 20.0, mass=16)
    game.set_input(1, 1, 1.0, -1.0)
    for _ in range(5):
        game.step(1.0)
    assert row(game, 1)[2:4] == [1000, 0]
    game.set_input(1, 2, -1.0, 1.0)
    game.step(1.0)
    assert row(game, 1)[2:4] == [round(1000 - 50 / math.sqrt(2)), round(50 / math.sqrt(2))]
    game.place_player(1, -50.0, 5000.0)
    assert row(game, 1)[2:4] == [0, 1000]


def test_stale_or_unknown_inputs_are_ignored() -> None:
    game = make_game()
    game.add_player(1, "ann")
    game.place_player(1, 500.0, 500.0, mass=16)
    assert game.set_input(1, 0, 1.0, 0.0)  # the first seq may be 0
    assert game.set_input(1, 5, 1.0, 0.0)
    assert not game.set_input(1, 5, 0.0, 1.0)
    assert not game.set_input(1, 4, 0.0, 1.0)
    assert not game.set_input(1, 6, math.nan, 1.0)
    assert not game.set_input(1, 6, 0.0, math.inf)
    assert not game.set_input(2, 9, 1.0, 0.0)
    game.step(1.0)
    assert row(game, 1)[2:6] == [550, 500, 16, 5]


# -- eating ------------------------------------------------------------------------------------


def test_pellet_is_eaten_and_reappears_with_the_same_id() -> None:
    game = make_game(pellet_count=3)
    game.add_player(1, "ann")
    game.place_player(1, 500.0, 500.0)
    game.place_pellet(0, 100.0, 100.0)
    game.place_pellet(1, 510.0, 500.0)
    game.place_pellet(2, 900.0, 900.0)
    game.take_changes()
    game.step(0.05)
    assert row(game, 1)[4] == 11
    assert game.best_mass(1) == 11
    state = game.full_state()
    assert [p[0] for p in state["pellets"]] == [0, 1, 2]
    assert state["pellets"][0] == [0, 100, 100] and state["pellets"][2] == [2, 900, 900]
    assert state["pellets"][1] != [1, 510, 500]
    changes = game.take_changes()
    assert changes["pellets"] == state["pellets"][1]  # flat: id, x, y
    assert changes["mass"] == [1, 11]
    assert "moved" not in changes  # it stood still
    assert "pellets" not in game.take_changes()


def test_pellet_needs_strict_overlap() -> None:
    game = make_game(pellet_count=1)
    game.add_player(1, "ann")
    game.place_player(1, 500.0, 500.0, mass=16)  # radius 16, reach 16 + 5
    game.place_pellet(0, 521.0, 500.0)
    game.step(0.05)
    assert row(game, 1)[4] == 16
    game.place_pellet(0, 520.9, 500.0)
    game.step(0.05)
    assert row(game, 1)[4] == 17


def test_eat_ratio_threshold() -> None:
    game = make_game()
    game.add_player(1, "big")
    game.add_player(2, "small")
    game.place_player(1, 500.0, 500.0, mass=124)
    game.place_player(2, 510.0, 500.0, mass=100)
    game.take_changes()
    game.step(0.05)  # 124 < 1.25 * 100
    assert row(game, 1)[4] == 124 and row(game, 2)[6] is True
    assert "eaten" not in game.take_changes()
    game.place_player(1, 500.0, 500.0, mass=125)
    game.step(0.05)
    assert row(game, 1)[4] == 225
    assert row(game, 2)[6] is False
    assert not game.is_alive(2)
    changes = game.take_changes()
    assert changes["eaten"] == [[2, 1, 100, 1]]  # mass at death, ticks lived
    assert changes["leaderboard"] == [[1, 225]]
    assert changes["mass"] == [1, 225]  # the dead are never "moved" nor "mass"
    assert "moved" not in changes


def test_eating_needs_overlap() -> None:
    game = make_game()
    game.add_player(1, "big")
    game.add_player(2, "small")
    # radius(400) = 80, radius(100) = 40: they overlap below a distance of 120
    game.place_player(1, 500.0, 500.0, mass=400)
    game.place_player(2, 620.0, 500.0, mass=100)
    game.step(0.05)
    assert game.is_alive(2)
    game.place_player(2, 619.9, 500.0)
    game.step(0.05)
    assert not game.is_alive(2)


def test_victim_respawns_after_the_delay() -> None:
    game = make_game(respawn_delay=1.0)
    game.add_player(1, "big")
    game.add_player(2, "small")
    game.place_player(1, 500.0, 500.0, mass=100)
    game.place_player(2, 505.0, 500.0, mass=20)
    game.set_input(2, 1, 1.0, 0.0)
    game.step(0.25)
    assert not game.is_alive(2)
    assert game.take_changes()["eaten"] == [[2, 1, 20, 0]]
    dead_spot = row(game, 2)[2:4]
    # A dead player's inputs advance its seq but do not move it.
    assert game.set_input(2, 2, 0.0, 1.0)
    assert not game.set_input(2, 2, 0.0, 1.0)
    for _ in range(3):
        game.step(0.25)
        assert not game.is_alive(2)
        assert row(game, 2)[2:7] == [*dead_spot, 20, 2, False]
    assert game.take_changes() == {"acks": [2, 2]}  # acknowledged while dead, too
    game.step(0.25)
    assert game.is_alive(2)
    _, name, x, y, mass, seq, alive = row(game, 2)
    assert (mass, seq, alive) == (10, 2, True)
    changes = game.take_changes()
    assert changes["spawned"] == [[2, "small", x, y, 10, 2]]
    assert "eaten" not in changes and "moved" not in changes
    game.step(0.25)  # the direction was reset: it stays put
    assert row(game, 2)[2:4] == [x, y]
    assert game.take_changes() == {}


def test_the_dead_neither_eat_nor_are_eaten() -> None:
    game = make_game(respawn_delay=10.0)
    for player_id, mass in ((1, 100), (2, 50), (3, 20)):
        game.add_player(player_id, str(player_id))
        game.place_player(player_id, 500.0, 500.0, mass=mass)
    game.step(0.05)
    # 1 eats 2 then 3, in id order.
    assert game.take_changes()["eaten"] == [[2, 1, 50, 0], [3, 1, 20, 0]]
    assert row(game, 1)[4] == 170
    game.place_player(2, 500.0, 500.0, mass=1)
    game.step(0.05)
    assert row(game, 1)[4] == 170 and not game.is_alive(2)


def test_best_mass() -> None:
    game = make_game(respawn_delay=0.1)
    assert game.best_mass(1) == 0
    game.add_player(1, "ann")
    game.add_player(2, "bob")
    assert game.best_mass(1) == 10
    game.place_player(1, 500.0, 500.0, mass=40)
    game.place_player(2, 500.0, 500.0, mass=80)
    game.step(0.05)
    assert game.best_mass(2) == 120
    for _ in range(3):
        game.step(0.05)
    assert game.is_alive(1) and row(game, 1)[4] == 10
    assert game.best_mass(1) == 40
    game.remove_player(1)
    assert game.best_mass(1) == 0  # forgotten with the player: rooms outlive many players


def test_a_long_lived_game_forgets_the_players_who_left() -> None:
    game = make_game()
    for player_id in range(1, 2001):
        game.add_player(player_id, "churn")
        game.step(0.05)
        game.take_changes()
        game.remove_player(player_id)
    game.take_changes()
    assert game.player_count == 0
    sizes = {name: len(value) for name, value in vars(game).items()
             if isinstance(value, (dict, set, list)) and name not in ("_pellets",)}
    assert all(size <= game.rules.pellet_count for size in sizes.values()), sizes


# -- leaderboard and changes ------------------------------------------------------------------


def test_leaderboard_order_size_and_changes() -> None:
    game = make_game(leaderboard_size=3, respawn_delay=10.0)
    for player_id, mass in ((1, 30), (2, 50), (3, 30), (4, 10), (5, 5)):
        game.add_player(player_id, str(player_id))
        game.place_player(player_id, 100.0 * player_id, 100.0, mass=mass)
    assert game.leaderboard() == [[2, 50], [1, 30], [3, 30]]
    assert game.full_state()["leaderboard"] == [[2, 50], [1, 30], [3, 30]]
    assert game.take_changes()["leaderboard"] == [[2, 50], [1, 30], [3, 30]]
    game.place_player(4, 400.0, 100.0, mass=11)
    assert "leaderboard" not in game.take_changes()  # 4 is still outside the top 3
    game.place_player(3, 300.0, 100.0, mass=31)
    assert game.take_changes()["leaderboard"] == [[2, 50], [3, 31], [1, 30]]
    game.place_player(4, 300.0, 100.0, mass=100)  # eats 3: the dead leave the board
    game.step(0.05)
    assert game.take_changes()["leaderboard"] == [[4, 131], [2, 50], [1, 30]]
    game.remove_player(2)
    assert game.take_changes()["leaderboard"] == [[4, 131], [1, 30], [5, 5]]


def test_changes_of_a_new_game() -> None:
    game = make_game(pellet_count=50)
    assert game.take_changes() == {}
    game.step(0.05)
    assert game.take_changes() == {}


def test_spawn_is_reported_once_without_moved() -> None:
    game = make_game()
    game.add_player(1, "ann")
    game.place_player(1, 200.0, 300.0, mass=16)
    game.set_input(1, 1, 1.0, 0.0)
    game.step(1.0)  # moves after the spawn, before the take: spawned shows the latest spot
    changes = game.take_changes()
    assert changes == {"spawned": [[1, "ann", 250, 300, 16, 1]], "leaderboard": [[1, 16]]}
    assert game.take_changes() == {}
    game.step(1.0)
    assert game.take_changes() == {"moved": [1, 50, 0]}  # a delta from the spawn spot
    game.set_input(1, 2, 0.0, 0.0)  # a new seq alone is a change
    assert game.take_changes() == {"acks": [1, 2]}
    game.place_player(1, 300.3, 299.8)  # same rounded spot: nothing to report
    assert game.take_changes() == {}


def test_gone_and_add_remove_between_takes() -> None:
    game = make_game()
    game.add_player(1, "ann")
    game.take_changes()
    game.remove_player(1)
    game.remove_player(1)  # unknown: no-op
    game.remove_player(99)
    assert not game.has_player(1)
    assert game.take_changes() == {"gone": [1], "leaderboard": []}
    game.add_player(2, "bob")
    game.set_input(2, 1, 1.0, 1.0)
    game.step(0.05)
    game.remove_player(2)
    assert game.take_changes() == {}
    assert game.player_count == 0


def test_leave_and_come_back_between_takes() -> None:
    game = make_game()
    game.add_player(1, "ann")
    game.take_changes()
    game.remove_player(1)
    game.add_player(1, "ann2")
    _, _, x, y, _, _, _ = row(game, 1)
    game.set_input(1, 3, 0.0, 0.0)
    assert game.take_changes() == {"spawned": [[1, "ann2", x, y, 10, 3]]}


def test_new_player_eaten_before_being_reported() -> None:
    game = make_game(respawn_delay=10.0)
    game.add_player(1, "big")
    game.place_player(1, 500.0, 500.0, mass=100)
    game.take_changes()
    game.add_player(2, "unlucky")
    game.place_player(2, 500.0, 500.0)
    game.step(0.05)
    # Not announced while dead: it shows up in "spawned" when it respawns.
    changes = game.take_changes()
    assert "spawned" not in changes
    assert changes["eaten"] == [[2, 1, 10, 0]]
    assert row(game, 2)[6] is False


# -- whole games -------------------------------------------------------------------------------


class Replica:
    """A client's view rebuilt from full_state and take_changes, applied in a given order."""

    def __init__(self, state: dict[str, Any], order: tuple[str, ...]) -> None:
        self.order = order
        self.players = {r[0]: list(r[1:]) for r in state["players"]}  # name x y mass seq alive
        self.pellets = {r[0]: r[1:] for r in state["pellets"]}
        self.leaderboard = state["leaderboard"]

    def apply(self, changes: dict[str, Any]) -> None:
        # `spawned` (absolute) comes before `moved` (deltas from it), as PROTOCOL.md says; the
        # other kinds are applied in the replica's own order.
        for r in changes.get("spawned", ()):
            self.players[r[0]] = [r[1], r[2], r[3], r[4], r[5], True]
        for kind in self.order:
            rows = changes.get(kind, ())
            if kind == "moved":
                for i in range(0, len(rows), 3):
                    p = self.players[rows[i]]
                    p[1] += rows[i + 1]
                    p[2] += rows[i + 2]
            elif kind == "mass":
                for i in range(0, len(rows), 2):
                    self.players[rows[i]][3] = rows[i + 1]
            elif kind == "acks":
                for i in range(0, len(rows), 2):
                    if rows[i] in self.players:  # a dead player never announced is unknown
                        self.players[rows[i]][4] = rows[i + 1]
            elif kind == "eaten":
                for r in rows:
                    if r[0] in self.players:
                        self.players[r[0]][5] = False
            elif kind == "gone":
                for r in rows:
                    self.players.pop(r, None)
        rows = changes.get("pellets", ())
        for i in range(0, len(rows), 3):
            self.pellets[rows[i]] = [rows[i + 1], rows[i + 2]]
        self.leaderboard = changes.get("leaderboard", self.leaderboard)

    def check(self, state: dict[str, Any], just_spawned: set[int]) -> None:
        alive = {r[0]: r[1:6] for r in state["players"] if r[6]}
        mine = {pid: p[:5] for pid, p in self.players.items() if p[5]}
        assert mine.keys() == alive.keys()
        for pid, expected in alive.items():
            assert mine[pid] == expected
        assert self.pellets == {r[0]: r[1:] for r in state["pellets"]}
        assert self.leaderboard == state["leaderboard"]


def play(seed: int, steps: int, players: int, **overrides: Any) -> tuple[list[dict], dict]:
    """A scripted game; checks two replicas (opposite orders) against full_state every step."""
    game = ArenaGame(ArenaRules(**overrides), seed=seed)
    script = random.Random(1234)  # the inputs are the same whatever the game's seed
    replicas = [
        Replica(game.full_state(), ("moved", "mass", "acks", "eaten", "gone")),
        Replica(game.full_state(), ("gone", "eaten", "acks", "mass", "moved")),
    ]
    seqs = dict.fromkeys(range(players), 0)
    for player_id in range(players):
        game.add_player(player_id, f"p{player_id}")
        x, y = row(game, player_id)[2:4]
        game.place_player(player_id, x, y, mass=script.choice([10, 10, 20, 40, 80]))
    history = []
    for _ in range(steps):
        for player_id in seqs:
            if game.has_player(player_id) and script.random() < 0.3:
                seqs[player_id] += 1
                angle = script.uniform(0, 2 * math.pi)
                game.set_input(player_id, seqs[player_id], math.cos(angle), math.sin(angle))
        if script.random() < 0.02:
            victim = script.randrange(players)
            game.remove_player(victim)
            game.add_player(victim, f"p{victim}'")
        game.step(0.05)
        changes = game.take_changes()
        history.append(changes)
        state = game.full_state()
        just_spawned = {r[0] for r in changes.get("spawned", ())}
        for replica in replicas:
            replica.apply(changes)
            replica.check(state, just_spawned)
    return history, game.full_state()


def test_same_seed_same_game_and_replicas_agree() -> None:
    small = {"world_width": 500.0, "world_height": 500.0, "pellet_count": 80, "respawn_delay": 0.5}
    first = play(7, 300, 12, **small)
    assert first == play(7, 300, 12, **small)
    history, state = first
    assert state["tick"] == 300
    assert any("eaten" in changes for changes in history)
    assert any("spawned" in changes for changes in history[1:])
    assert play(8, 300, 12, **small) != first


def test_two_hundred_players_stay_consistent() -> None:
    history, state = play(3, 100, 200)
    rules = ArenaRules()
    assert len(state["players"]) == 200
    assert len(state["pellets"]) == rules.pellet_count
    assert [p[0] for p in state["pellets"]] == list(range(rules.pellet_count))
    for _, x, y in state["pellets"]:
        assert 0 <= x <= rules.world_width and 0 <= y <= rules.world_height
    for _, _, x, y, mass, _, alive in state["players"]:
        if alive:
            assert 0 <= x <= rules.world_width and 0 <= y <= rules.world_height
            assert mass >= rules.start_mass
    board = state["leaderboard"]
    assert len(board) == rules.leaderboard_size
    assert board == sorted(board, key=lambda r: (-r[1], r[0]))
    assert any("pellets" in changes for changes in history)


def test_a_full_state_between_takes_is_the_base_of_the_next_deltas() -> None:
    game = make_game()
    game.add_player(1, "ann")
    game.set_input(1, 1, 1.0, 0.0)
    game.take_changes()
    base = row(game, 1)[2]
    game.step(0.5)  # moves about 32 units, not reported yet
    joined_view = row(game, 1)[2]
    assert joined_view == base  # a newcomer gets the reported spot...
    moved = game.take_changes()["moved"]
    assert joined_view + moved[1] == round(game._players[1].x)  # ...and the delta lands exactly


def steer(games: tuple[ArenaGame, ...], player_ids: range, rng: random.Random, seq: int) -> None:
    """Give each player the same new random direction in every one of `games`."""
    for player_id in player_ids:
        angle = rng.uniform(0.0, 2 * math.pi)
        for game in games:
            game.set_input(player_id, seq, math.cos(angle), math.sin(angle))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pellet_neighbourhoods_change_nothing(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Players look for pellets only when their reach leaves the circle they last looked at;
    a game that looks again at every step (the plain rule) must play out identically."""
    import game_server.games.arena as arena

    rules = dict(world_width=800.0, world_height=800.0, pellet_count=400, respawn_delay=0.5)
    cached = ArenaGame(ArenaRules(**rules), seed=seed)
    plain = ArenaGame(ArenaRules(**rules), seed=seed)
    rng = random.Random(seed)
    for player_id in range(1, 31):
        cached.add_player(player_id, f"p{player_id}")
        plain.add_player(player_id, f"p{player_id}")
    eaten = 0
    for step in range(600):
        if step % 3 == 0:
            steer((cached, plain), range(1, 31), rng, step + 1)
        if step == 300:  # a teleport and a new mass: the circle looked at no longer fits
            for game in (cached, plain):
                game.place_player(5, 10.0, 10.0, mass=60)
        if step in (150, 450):  # a teleport alone, next to pellets
            x, y = cached._pellets[7]
            for game in (cached, plain):
                game.place_player(6, x + 3.0, y)
        cached.step(0.05)
        with monkeypatch.context() as patched:
            patched.setattr(arena, "_NEAR_MARGIN", 0.0)
            for p in plain._players.values():
                p.near = None  # look again, exactly as far as the reach
            plain.step(0.05)
        changes = cached.take_changes()
        assert changes == plain.take_changes(), f"step {step}"
        eaten += len(changes.get("pellets", [])) // 3
    assert cached.full_state() == plain.full_state()
    assert eaten > 100  # pellets were eaten all along: the rule was exercised


def test_skipping_the_eat_phase_while_calm_changes_nothing() -> None:
    """The eat phase runs only when two players could touch; a game that runs it at every
    step (the plain rule) must play out identically: same kills, same masses, same states."""
    rules = dict(world_width=1000.0, world_height=1000.0, pellet_count=150, respawn_delay=0.3)
    kills = skipped = 0
    for seed in (1, 2, 3, 4):
        calm = ArenaGame(ArenaRules(**rules), seed=seed)
        plain = ArenaGame(ArenaRules(**rules), seed=seed)
        rng = random.Random(seed)
        for player_id in range(1, 21):
            mass = rng.choice([10, 10, 20, 40, 80])
            for game in (calm, plain):
                game.add_player(player_id, f"p{player_id}")
                x, y = row(game, player_id)[2:4]
                game.place_player(player_id, x, y, mass=mass)
        for step in range(900):
            if step % 4 == 0:
                steer((calm, plain), range(1, 21), rng, step + 1)
            if step in (200, 500):  # a teleport and a new mass reset what was measured
                for game in (calm, plain):
                    game.place_player(3, 300.0, 300.0, mass=90)
                    game.place_player(4, 330.0, 300.0)
            if step == 650:  # a newcomer lands somewhere
                for game in (calm, plain):
                    game.remove_player(7)
                    game.add_player(7, "again")
            skipped += calm._calm >= 0.0
            calm.step(0.05)
            plain._calm = -1.0  # measure again at every step: the phase is never skipped
            plain.step(0.05)
            changes = calm.take_changes()
            assert changes == plain.take_changes(), f"seed {seed}, step {step}"
            kills += len(changes.get("eaten", []))
        assert calm.full_state() == plain.full_state()
    assert kills > 20  # players were eaten all along: the rule was exercised
    assert skipped > 300  # and the phase was skipped often: the shortcut was exercised


@pytest.mark.parametrize("speed", [1.0, 0.5])
def test_players_closing_in_from_afar_are_eaten_on_time(speed: float) -> None:
    """Head on from far apart (the phase is skipped for many steps), then a teleport: each kill
    comes at the very step the plain rule has it."""
    kills = []
    for skip in (True, False):
        game = make_game(world_width=3000.0, world_height=3000.0)
        for player_id, x, y, mass in ((1, 1000.0, 1500.0, 40), (2, 2000.0, 1500.0, 10),
                                      (3, 2900.0, 100.0, 10)):
            game.add_player(player_id, f"p{player_id}")
            game.place_player(player_id, x, y, mass=mass)
        game.set_input(1, 1, speed, 0.0)
        game.set_input(2, 1, -speed, 0.0)
        eaten = []
        for step in range(600):
            if not skip:
                game._calm = -1.0
            if eaten and step == eaten[0][0] + 10:
                x, y = row(game, 1)[2:4]
                game.place_player(3, x + 5.0, y)  # right onto the big one
            game.step(0.05)
            eaten += [(step, row) for row in game.take_changes().get("eaten", [])]
        kills.append(eaten)
    assert kills[0] == kills[1]
    assert [row[:2] for _, row in kills[0]] == [[2, 1], [3, 1]]
    assert kills[0][0][0] > 20


def test_the_calm_is_the_soonest_touch_of_any_pair_that_could_eat() -> None:
    """The sweep finds what checking every pair finds: the time before the first two players
    who could eat one another (mass ratio) could touch, closing at full speed."""
    rng = random.Random(5)
    for case in range(300):
        game = make_game(seed=case, world_width=3000.0, world_height=3000.0)
        for player_id in range(1, rng.randint(2, 25)):
            game.add_player(player_id, f"p{player_id}")
            spread = rng.choice([100.0, 600.0, 3000.0])
            game.place_player(player_id, rng.uniform(0.0, spread), rng.uniform(0.0, spread),
                              mass=rng.choice([10, 11, 13, 20, 45, 90]))
        players = list(game._players.values())
        expected = math.inf
        for i, a in enumerate(players):
            for b in players[i + 1:]:
                if a.mass >= 1.25 * b.mass or b.mass >= 1.25 * a.mass:
                    gap = math.dist((a.x, a.y), (b.x, b.y)) - (game.rules.radius(a.mass)
                                                               + game.rules.radius(b.mass))
                    expected = min(expected, gap / (a.speed + b.speed))
        game._measure_calm(players)
        if expected < 0:  # two are touching already: the phase must run at once
            assert game._calm < 0, case
        else:
            assert game._calm == pytest.approx(expected, abs=1e-6), case


def test_a_player_grown_by_pellets_on_the_way_eats_on_time() -> None:
    """Two equals (neither can eat the other) until one eats pellets on its way: from then on
    it can, and the kill comes at the very step the plain rule has it."""
    kills = []
    for skip in (True, False):
        game = make_game(pellet_count=3)
        game.add_player(1, "grower")
        game.add_player(2, "sitter")
        game.place_player(1, 100.0, 500.0, mass=10)
        game.place_player(2, 400.0, 500.0, mass=10)
        game.add_player(3, "far")  # could eat both, but far away: the phase is skipped
        game.place_player(3, 950.0, 950.0, mass=50)
        for pellet_id, x in enumerate((150.0, 200.0, 250.0)):
            game.place_pellet(pellet_id, x, 500.0)
        game.set_input(1, 1, 1.0, 0.0)
        eaten = []
        for step in range(200):
            if not skip:
                game._calm = -1.0
            game.step(0.05)
            eaten += [(step, row) for row in game.take_changes().get("eaten", [])]
        kills.append(eaten)
    assert kills[0] == kills[1]
    assert [row[:2] for _, row in kills[0]] == [[2, 1]]


def test_an_eaten_row_tells_the_victim_its_mass_and_ticks_alive_counted_from_its_respawn() -> None:
    game = make_game(respawn_delay=0.1)
    game.add_player(1, "big")
    game.add_player(2, "small")
    game.place_player(1, 100.0, 100.0, mass=100)
    game.place_player(2, 2000.0, 2000.0, mass=30)
    for _ in range(5):
        game.step(0.05)
    game.place_player(2, 100.0, 100.0)
    game.step(0.05)
    assert game.take_changes()["eaten"] == [[2, 1, 30, 5]]
    while not game.is_alive(2):
        game.step(0.05)
    for _ in range(3):
        game.step(0.05)
    game.place_player(2, game.full_state()["players"][0][2], game.full_state()["players"][0][3])
    game.step(0.05)
    # It respawned at the start of a step: that step and three more before the one it died in.
    assert game.take_changes()["eaten"] == [[2, 1, 10, 4]]


def test_a_room_of_more_seats_gets_a_world_as_roomy_per_seat() -> None:
    rules = ArenaRules()
    assert rules.for_seats(rules.seats) is rules
    big = rules.for_seats(rules.seats * 4)
    assert (big.world_width, big.world_height) == (rules.world_width * 2, rules.world_height * 2)
    assert big.pellet_count == rules.pellet_count * 4
    small = rules.for_seats(1)  # never below half the side
    assert small.world_width == rules.world_width / 2
