"""client.world: applying `joined` and `state` messages as PROTOCOL.md describes them."""

import math

from client.world import PlayerView, World


def joined(**overrides):
    msg = {
        "type": "joined",
        "room": "3f9c0a1b",
        "mode": "arena",
        "player": 3,
        "tick_rate": 20,
        "client": {"width": 3000, "height": 3000, "pellet_radius": 5, "radius_factor": 4},
        "state": {
            "tick": 120,
            "players": [[3, "ann", 1503, 871, 10, 0, True], [1, "bot-1", 220, 2990, 31, 88, True]],
            "pellets": [[0, 17, 2201], [1, 2950, 40]],
            "leaderboard": [[1, 31], [3, 10]],
        },
    }
    msg.update(overrides)
    return msg


def joined_world():
    world = World()
    assert world.apply(joined()) is True
    return world


def test_empty_world_knows_nothing():
    world = World()
    assert world.me is None
    assert world.me_view is None
    assert not world.joined
    assert world.players == {}


def test_joined_sets_room_world_and_full_state():
    world = joined_world()
    assert world.joined
    assert (world.room, world.mode, world.me, world.tick_rate) == ("3f9c0a1b", "arena", 3, 20)
    assert (world.width, world.height, world.pellet_radius, world.radius_factor) == (
        3000,
        3000,
        5,
        4,
    )
    assert world.tick == 120
    assert world.ts is None
    assert world.players[3] == PlayerView(3, "ann", 1503, 871, 10, 0, True)
    assert world.players[1] == PlayerView(1, "bot-1", 220, 2990, 31, 88, True)
    assert world.pellets == {0: (17, 2201), 1: (2950, 40)}
    assert world.leaderboard == [(1, 31), (3, 10)]
    assert world.me_view is world.players[3]


def test_joined_keeps_dead_players_dead():
    msg = joined()
    msg["state"]["players"][1][6] = False
    world = World()
    world.apply(msg)
    assert world.players[1].alive is False
    assert [p.id for p in world.alive_players()] == [3]


def test_radius_is_sqrt_mass_times_factor():
    world = joined_world()
    assert world.radius(16) == 16.0
    assert math.isclose(world.radius(10), math.sqrt(10) * 4)
    assert world.radius(0) == 0.0


def test_state_moves_players_and_records_tick_and_ts():
    world = joined_world()
    world.apply({"type": "state", "tick": 121, "ts": 1732480000123, "moved": [3, 3, -2],
                 "mass": [3, 11], "acks": [3, 18]})
    me = world.me_view
    assert (me.x, me.y, me.mass, me.seq, me.alive) == (1506, 869, 11, 18, True)
    world.apply({"type": "state", "tick": 122, "ts": 1732480000173, "moved": [3, 1, 1]})
    assert (me.x, me.y) == (1507, 870)  # deltas accumulate
    assert world.players[1].x == 220  # absent from `moved`: unchanged
    assert (world.tick, world.ts) == (122, 1732480000173)


def test_empty_state_changes_only_the_clock():
    world = joined_world()
    world.apply({"type": "state", "tick": 125, "ts": 5})
    assert world.tick == 125
    assert world.players[3].x == 1503
    assert world.pellets == {0: (17, 2201), 1: (2950, 40)}
    assert world.leaderboard == [(1, 31), (3, 10)]


def test_moved_row_for_unknown_player_is_ignored():
    world = joined_world()
    world.apply({"type": "state", "tick": 121, "ts": 1, "moved": [99, 1, 2],
                 "mass": [99, 3], "acks": [99, 4]})
    assert 99 not in world.players


def test_eaten_marks_victim_dead_until_spawned_again():
    world = joined_world()
    world.apply({"type": "state", "tick": 121, "ts": 1, "eaten": [[3, 1]]})
    assert world.me_view.alive is False
    assert world.players[1].alive is True
    world.apply({"type": "state", "tick": 160, "ts": 2,
                 "spawned": [[3, "ann", 100, 200, 10, 7]]})
    me = world.me_view
    assert (me.x, me.y, me.mass, me.seq, me.alive) == (100, 200, 10, 7, True)


def test_acks_while_dead_and_the_respawn_seq():
    world = joined_world()
    world.apply({"type": "state", "tick": 122, "ts": 2, "eaten": [[3, 1]], "acks": [3, 40]})
    assert world.me_view.seq == 40 and not world.me_view.alive
    world.apply({"type": "state", "tick": 150, "ts": 3, "spawned": [[3, "ann", 5, 6, 10, 41]]})
    assert (world.me_view.seq, world.me_view.alive) == (41, True)


def test_spawned_adds_a_new_player_alive():
    world = joined_world()
    world.apply({"type": "state", "tick": 121, "ts": 1,
                 "spawned": [[4, "bob", 2000, 1000, 10, 0]]})
    assert world.players[4] == PlayerView(4, "bob", 2000, 1000, 10, 0, True)


def test_spawned_then_eaten_in_the_same_tick_is_dead():
    world = joined_world()
    world.apply(
        {
            "type": "state",
            "tick": 121,
            "ts": 1,
            "spawned": [[4, "bob", 5, 5, 10, 0]],
            "eaten": [[4, 1]],
        }
    )
    assert world.players[4].alive is False


def test_spawned_moves_first_so_moved_deltas_build_on_it():
    world = joined_world()
    world.apply({"type": "state", "tick": 121, "ts": 1, "spawned": [[4, "bob", 50, 60, 10, 0]],
                 "moved": [1, 5, 5]})
    assert (world.players[4].x, world.players[1].x) == (50, 225)


def test_eaten_for_unknown_player_is_ignored():
    world = joined_world()
    world.apply({"type": "state", "tick": 121, "ts": 1, "eaten": [[42, 1]]})
    assert 42 not in world.players


def test_gone_deletes_players_and_tolerates_unknown_ids():
    world = joined_world()
    world.apply({"type": "state", "tick": 121, "ts": 1, "gone": [1, 77]})
    assert list(world.players) == [3]


def test_pellets_move_to_new_spots_under_the_same_id():
    world = joined_world()
    world.apply({"type": "state", "tick": 121, "ts": 1, "pellets": [1, 1200, 33]})
    assert world.pellets == {0: (17, 2201), 1: (1200, 33)}


def test_leaderboard_is_replaced_when_present():
    world = joined_world()
    board = [[1, 31], [3, 10], [4, 10]]
    world.apply({"type": "state", "tick": 121, "ts": 1, "leaderboard": board})
    assert world.leaderboard == [(1, 31), (3, 10), (4, 10)]


def test_full_example_state_from_protocol():
    world = joined_world()
    world.apply(
        {
            "type": "state",
            "tick": 121,
            "ts": 1732480000123,
            "spawned": [[4, "bob", 2000, 1000, 10, 0]],
            "moved": [3, 3, -2, 1, 1, -3],
            "mass": [1, 32],
            "acks": [3, 18, 1, 90],
            "eaten": [[2, 1]],
            "gone": [5],
            "pellets": [17, 1200, 33],
            "leaderboard": [[1, 31], [3, 10], [4, 10]],
        }
    )
    assert sorted(world.players) == [1, 3, 4]
    assert (world.players[1].x, world.players[1].mass, world.players[1].seq) == (221, 32, 90)
    assert world.pellets[17] == (1200, 33)


def test_a_second_joined_starts_over():
    world = joined_world()
    world.apply({"type": "state", "tick": 121, "ts": 1, "spawned": [[4, "bob", 5, 5, 10, 0]]})
    rejoin = joined(room="77aa", player=9)
    rejoin["state"] = {"tick": 5, "players": [[9, "ann", 1, 2, 10, 0, True]], "pellets": []}
    world.apply(rejoin)
    assert (world.room, world.me, world.tick) == ("77aa", 9, 5)
    assert list(world.players) == [9]
    assert world.pellets == {}
    assert world.leaderboard == []


def test_other_message_types_are_ignored():
    world = joined_world()
    for msg in (
        {"type": "pong", "id": 1, "ts": 5},
        {"type": "chat", "player": 3, "name": "ann", "text": "gg"},
        {"type": "error", "code": "bad_field", "message": "x"},
        {"type": "left", "room": "3f9c0a1b", "reason": "leave"},
        {"no": "type"},
    ):
        assert world.apply(msg) is False
    assert world.tick == 120
    assert len(world.players) == 2


def test_a_full_state_resync_replaces_everything() -> None:
    world = World()
    world.apply({"type": "joined", "room": "r", "mode": "arena", "player": 1, "tick_rate": 20,
                 "client": {"width": 3000, "height": 3000},
                 "state": {"tick": 5, "players": [[1, "me", 10, 10, 10, 0, True],
                                                  [2, "old", 50, 50, 10, 0, True]],
                           "pellets": [[0, 1, 1]], "leaderboard": [[1, 10]]}})
    world.apply({"type": "state", "tick": 90, "ts": 1000,
                 "full": {"tick": 90, "players": [[1, "me", 500, 600, 14, 33, True],
                                                  [3, "new", 7, 8, 12, 4, False]],
                          "pellets": [[0, 9, 9], [1, 2, 2]], "leaderboard": [[1, 14]]}})
    assert world.tick == 90 and world.ts == 1000
    assert sorted(world.players) == [1, 3]
    assert (world.players[1].x, world.players[1].mass, world.players[1].seq) == (500, 14, 33)
    assert world.players[3].alive is False
    assert world.pellets == {0: (9, 9), 1: (2, 2)}
    assert world.me == 1


def test_a_rooms_own_world_size_wins_over_the_modes() -> None:
    msg = joined()
    msg["state"] = {**msg["state"], "size": [5060.0, 5060.0]}  # a 200-seat arena room
    world = World()
    world.apply(msg)
    assert (world.width, world.height) == (5060.0, 5060.0)
    assert joined_world().width == 3000  # without it, the mode's `client` size
