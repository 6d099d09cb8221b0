"""client.brain: flee, chase, eat pellets, wander; always a unit direction unless dead."""

import math
import random

from client.brain import STOP, Tactics, decide, nearest_pellet
from client.world import World


def make_world(me=(1500, 1500, 10), others=(), pellets=(), alive=True):
    """A joined world: we are player 1 at `me` = (x, y, mass); others are (id, x, y, mass)."""
    players = [[1, "me", me[0], me[1], me[2], 0, alive]]
    players += [[pid, f"p{pid}", x, y, mass, 0, True] for pid, x, y, mass in others]
    world = World()
    world.apply(
        {
            "type": "joined",
            "room": "r",
            "mode": "arena",
            "player": 1,
            "tick_rate": 20,
            "client": {"width": 3000, "height": 3000, "pellet_radius": 5, "radius_factor": 4},
            "state": {
                "tick": 1,
                "players": players,
                "pellets": [[i, x, y] for i, (x, y) in enumerate(pellets)],
                "leaderboard": [],
            },
        }
    )
    return world


def rng():
    return random.Random(1234)


def is_unit(direction):
    return math.isclose(math.hypot(*direction), 1.0, rel_tol=1e-9)


def close_to(direction, expected, tol=1e-6):
    return math.isclose(direction[0], expected[0], abs_tol=tol) and math.isclose(
        direction[1], expected[1], abs_tol=tol
    )


def test_stops_before_joined():
    assert decide(World(), rng()) == STOP


def test_stops_when_dead():
    world = make_world(alive=False, pellets=[(1600, 1500)])
    assert decide(world, rng()) == (0.0, 0.0)


def test_stops_when_our_player_is_not_listed():
    world = make_world(pellets=[(1600, 1500)])
    world.apply({"type": "state", "tick": 2, "ts": 1, "gone": [1]})
    assert decide(world, rng()) == (0.0, 0.0)


def test_goes_for_the_nearest_pellet():
    world = make_world(pellets=[(2500, 2500), (1500, 1400), (100, 100), (1500, 1300)])
    assert close_to(decide(world, rng()), (0.0, -1.0))


def test_nearest_pellet_scans_all():
    world = make_world(pellets=[(0, 0), (10, 10), (3000, 3000)])
    assert nearest_pellet(world, 12, 9) == (10, 10)
    assert nearest_pellet(make_world(), 12, 9) is None


def test_flees_a_bigger_player():
    world = make_world(others=[(2, 1600, 1500, 40)], pellets=[(1700, 1500)])
    assert close_to(decide(world, rng()), (-1.0, 0.0))


def test_flees_the_nearest_of_two_threats():
    world = make_world(others=[(2, 1500, 1300, 40), (3, 1500, 1620, 40)])
    direction = decide(world, rng())
    assert close_to(direction, (0.0, -1.0))


def test_threat_only_just_big_enough_still_counts():
    world = make_world(me=(1500, 1500, 20), others=[(2, 1600, 1500, 25)], pellets=[(1600, 1490)])
    assert decide(world, rng())[0] < 0


def test_ignores_a_threat_out_of_danger_range():
    world = make_world(others=[(2, 2500, 1500, 40)], pellets=[(1500, 1600)])
    assert close_to(decide(world, rng()), (0.0, 1.0))


def test_ignores_dead_threats():
    world = make_world(others=[(2, 1600, 1500, 40)], pellets=[(1700, 1500)])
    world.apply({"type": "state", "tick": 2, "ts": 1, "eaten": [[2, 7]]})
    assert close_to(decide(world, rng()), (1.0, 0.0))


def test_chases_a_smaller_player_over_a_nearer_pellet():
    world = make_world(me=(1500, 1500, 40), others=[(2, 1700, 1500, 10)], pellets=[(1500, 1450)])
    assert close_to(decide(world, rng()), (1.0, 0.0))


def test_chases_the_nearest_prey():
    world = make_world(me=(1500, 1500, 40), others=[(2, 1700, 1500, 10), (3, 1500, 1350, 10)])
    assert close_to(decide(world, rng()), (0.0, -1.0))


def test_does_not_chase_prey_far_away():
    world = make_world(me=(1500, 1500, 40), others=[(2, 2500, 1500, 10)], pellets=[(1400, 1500)])
    assert close_to(decide(world, rng()), (-1.0, 0.0))


def test_ignores_players_of_similar_size():
    world = make_world(me=(1500, 1500, 10), others=[(2, 1550, 1500, 12)], pellets=[(1500, 1600)])
    assert close_to(decide(world, rng()), (0.0, 1.0))


def test_fleeing_beats_chasing():
    world = make_world(me=(1500, 1500, 40), others=[(2, 1700, 1500, 10), (3, 1500, 1700, 200)])
    direction = decide(world, rng())
    assert direction[1] < -0.9


def test_fleeing_along_a_wall_instead_of_into_it():
    world = make_world(me=(2980, 1500, 10), others=[(2, 2800, 1500, 40)])
    dx, dy = decide(world, rng())
    assert is_unit((dx, dy))
    assert abs(dy) > 0.9  # slides along the wall rather than pushing into it


def test_fleeing_out_of_a_corner():
    world = make_world(me=(20, 20, 10), others=[(2, 150, 150, 40)])
    dx, dy = decide(world, rng())
    assert is_unit((dx, dy))
    # Out along one of the two walls, not into either of them.
    assert max(dx, dy) > 0.9


def test_flee_far_from_walls_is_straight_away():
    world = make_world(me=(1500, 1500, 10), others=[(2, 1400, 1400, 40)])
    assert close_to(decide(world, rng()), (math.sqrt(0.5), math.sqrt(0.5)))


def test_wanders_toward_the_middle_when_nothing_is_around():
    world = make_world(me=(100, 100, 10))
    for seed in range(20):
        dx, dy = decide(world, random.Random(seed))
        assert is_unit((dx, dy))
        assert dx > 0 and dy > 0


def test_same_seed_same_decision():
    world = make_world(me=(1500, 1500, 10))
    assert decide(world, random.Random(7)) == decide(world, random.Random(7))


def test_tactics_are_tunable():
    world = make_world(others=[(2, 1900, 1500, 40)], pellets=[(1500, 1600)])
    assert close_to(decide(world, rng()), (0.0, 1.0))
    wary = Tactics(danger_gap=1000.0)
    assert close_to(decide(world, rng(), wary), (-1.0, 0.0))


def test_always_unit_length_while_alive():
    gen = random.Random(99)
    for _ in range(300):
        me = (gen.uniform(0, 3000), gen.uniform(0, 3000), gen.randint(10, 400))
        others = [
            (pid, gen.uniform(0, 3000), gen.uniform(0, 3000), gen.randint(10, 400))
            for pid in range(2, gen.randint(2, 12))
        ]
        pellets = [(gen.randint(0, 3000), gen.randint(0, 3000)) for _ in range(gen.randint(0, 30))]
        direction = decide(make_world(me, others, pellets), gen)
        assert is_unit(direction), (me, others, pellets, direction)


def test_unit_length_when_standing_on_a_pellet_or_player():
    world = make_world(me=(1500, 1500, 40), others=[(2, 1500, 1500, 10)], pellets=[(1500, 1500)])
    assert is_unit(decide(world, rng()))
    world = make_world(me=(1500, 1500, 10), others=[(2, 1500, 1500, 40)])
    assert is_unit(decide(world, rng()))
