"""Lantern played through GameHarness: the maze, walking and gems, rounds and their timers,
flares and their refusals, fog (nobody is ever sent a player or a gem out of its sight), shared
view objects, determinism for a seed, and the bot."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import Any

import pytest
from arena_lantern import Lantern, Maze, spec
from arena_lantern.bot import Brain, policy
from arena_lantern.game import BREAK_SECONDS, FLARE_RADIUS, FLARE_SECONDS, FLARES, RADIUS, STEER
from arena_lantern.maze import line_between

from game_server.games.api import SPECTATOR, InvalidField, Outcome
from game_server.games.testing import GameHarness

# Two halves split by a wall with one gap at the bottom row.
SPLIT = [
    "###########",
    "#....#....#",
    "#....#....#",
    "#....#....#",
    "#.........#",
    "###########",
]


def harness(rows: list[str] | None = None, **options: Any) -> GameHarness:
    """A room of the lantern spec, on the maze `rows` if given (else one made from the seed)."""
    made = spec if rows is None else dataclasses.replace(
        spec, factory=lambda room: Lantern(room, Maze(rows)))
    return GameHarness(made, options=options)


def place(h: GameHarness, player: int, x: int, y: int) -> None:
    walker = h.game.walkers[player]
    walker.x, walker.y = x, y


def step(h: GameHarness, ticks: int = 1) -> None:
    """Exactly `ticks` steps (one advance of a period each: a sum of periods drifts)."""
    for _ in range(ticks):
        h.advance(1 / spec.clock.rate)


def seen_players(view: Mapping[str, Any]) -> dict[int, tuple[int, int]]:
    return {p[0]: (p[1], p[2]) for p in view["players"]}


# -- the maze ------------------------------------------------------------------------------------


def test_lines_pass_the_cells_between_their_ends() -> None:
    assert line_between(0, 0) == () and line_between(1, 0) == () and line_between(1, 1) == ()
    assert line_between(3, 0) == ((1, 0), (2, 0))
    assert line_between(0, -3) == ((0, -1), (0, -2))
    assert line_between(2, 2) == ((1, 1),)
    assert line_between(4, 2) == ((1, 0), (2, 1), (3, 1))


def test_a_wall_blocks_the_line_of_sight() -> None:
    maze = Maze(SPLIT)
    assert not maze.clear(3, 2, 4, 0)  # through the wall at x=5
    assert maze.clear(3, 4, 4, 0)  # along the open bottom row
    assert maze.clear(1, 1, 3, 2)


@pytest.mark.parametrize("rows", [["###", "#.#"], ["####", "#.#", "####"], ["###", "#.#", "#x#"],
                                  ["#####", "#....", "#####"]])
def test_a_maze_must_be_walled_rows_of_equal_length(rows: list[str]) -> None:
    with pytest.raises(ValueError):
        Maze(rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_generated_maze_is_one_walled_place_and_the_same_for_a_seed(seed: int) -> None:
    maze = Maze.generate(24, random.Random(seed))
    assert Maze.generate(24, random.Random(seed)).rows == maze.rows
    assert Maze.generate(24, random.Random(seed + 100)).rows != maze.rows
    assert len(maze.rows) == 24 and all(len(row) == 24 for row in maze.rows)
    assert 0.6 < len(maze.floor) / (22 * 22) < 0.95
    reached, frontier = {maze.floor[0]}, [maze.floor[0]]
    while frontier:
        cell = frontier.pop()
        for nxt in (cell + 1, cell - 1, cell + 24, cell - 24):
            if not maze.wall[nxt] and nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert reached == set(maze.floor)


# -- rounds, walking, gems -------------------------------------------------------------------------


def test_the_first_player_starts_a_round_that_ends_on_its_timer() -> None:
    h = harness(round_seconds=20)
    assert h.room.metadata == {"status": "waiting"}
    a = h.join("ann")
    assert h.room.metadata == {"status": "playing", "round": 1}
    assert h.pending_timers() == [(20.0, "round_end")]
    b = h.join("bob")
    h.game.walkers[a].gems = 3
    h.advance(19.95)
    assert h.room.outcomes == [] and h.last_state_for(a)["status"] == "playing"
    h.advance(0.05)
    assert h.room.outcomes == [[Outcome(player=a, score=3, placement=1),
                                Outcome(player=b, score=0, placement=2)]]
    assert h.pending_timers() == [(BREAK_SECONDS, "next_round")]
    step(h)
    shared = h.states[-1]
    assert shared.private is None  # between rounds everyone sees everything: one view
    assert shared.shared["status"] == "break" and shared.shared["results"] == [[a, 3], [b, 0]]
    assert len(shared.shared["players"]) == 2 and len(shared.shared["gems"]) == h.game.gem_count
    h.advance(BREAK_SECONDS - 0.1)
    assert h.room.metadata == {"status": "playing", "round": 2}
    assert h.game.walkers[a].gems == 0 and h.pending_timers() == [(20.0, "round_end")]


def test_ties_share_a_place() -> None:
    h = harness(round_seconds=10)
    a, b, c = h.join("ann"), h.join("bob"), h.join("cat")
    for player, gems in ((a, 2), (b, 5), (c, 2)):
        h.game.walkers[player].gems = gems
    h.advance(10)
    assert h.room.outcomes == [[Outcome(player=b, score=5, placement=1),
                                Outcome(player=a, score=2, placement=2),
                                Outcome(player=c, score=2, placement=2)]]


def test_an_empty_room_waits_after_its_break() -> None:
    h = harness(round_seconds=10)
    a = h.join("ann")
    h.advance(10)
    h.leave(a)
    h.advance(BREAK_SECONDS)
    assert h.game.status == "waiting" and h.room.metadata["status"] == "waiting"
    assert h.pending_timers() == []


def test_walking_four_cells_a_second_picks_gems_up_and_walls_stop_it() -> None:
    h = harness(SPLIT)
    a = h.join("ann")
    place(h, a, 1, 1)
    h.game.gems.clear()
    h.game.gems.add(1 * 11 + 3)  # a gem at (3, 1)
    h.send(a, "steer", dx=1, dy=0)
    step(h, 5)  # 0.5 s: two cells
    assert (h.game.walkers[a].x, h.game.walkers[a].gems) == (3, 1)
    assert len(h.game.gems) == 1 and (1 * 11 + 3) not in h.game.gems  # another one, elsewhere
    step(h, 20)
    assert h.game.walkers[a].x == 4  # the wall at x=5
    place(h, a, 4, 3)
    h.send(a, "steer", dx=1, dy=1)  # (5, 4) is open, but (5, 3) beside it is wall
    step(h, 10)
    assert (h.game.walkers[a].x, h.game.walkers[a].y) == (4, 3)
    h.send(a, "steer", dx=0, dy=0)
    place(h, a, 4, 4)
    step(h, 10)
    assert (h.game.walkers[a].x, h.game.walkers[a].y) == (4, 4)


def test_a_dropped_player_stands_still_and_a_leaver_leaves_the_roster() -> None:
    h = harness(SPLIT)
    a, b = h.join("ann"), h.join("bob")
    place(h, a, 1, 4)
    h.send(a, "steer", dx=1, dy=0)
    h.drop(a)
    step(h, 10)
    assert h.game.walkers[a].x == 1 and h.game.walkers[a].away
    h.resume(a)
    h.leave(b)
    step(h)
    assert h.last_state_for(a)["roster"] == {str(a): "ann"}
    step(h)
    assert "roster" not in h.last_state_for(a)  # said once, when it changed


# -- steering and flares ---------------------------------------------------------------------------


def test_a_flare_lights_further_for_a_while_and_runs_out() -> None:
    h = harness(SPLIT)
    a, b = h.join("ann"), h.join("bob")
    place(h, a, 1, 4)
    place(h, b, 7, 4)  # 6 cells along the open bottom row: beyond the lantern, within a flare
    step(h)
    assert list(seen_players(h.last_state_for(a))) == [a]
    h.send(a, "steer", dx=0, dy=0, flare=True)
    step(h)
    assert seen_players(h.last_state_for(a)) == {a: (1, 4), b: (7, 4)}
    assert h.last_state_for(a)["players"][0][4:] == [FLARES - 1, 1]
    step(h, int(FLARE_SECONDS * 10) - 1)
    assert list(seen_players(h.last_state_for(a))) == [a]
    h.send(a, "steer", dx=0, dy=0, flare=True)
    step(h)  # the second and last flare
    h.send(a, "steer", dx=1, dy=0, flare=True)
    step(h)  # a steer waits for the tick, as in a real room: refused there, to the sender alone
    assert [m["code"] for m in h.received(a) if m["type"] == "error"] == ["no_flares"]
    assert not [m for m in h.received(b) if m["type"] == "error"]
    assert h.game.walkers[a].dx == 0  # a refused steer changes nothing


def test_flares_burn_only_during_a_round() -> None:
    h = harness(round_seconds=10)
    a = h.join("ann")
    h.advance(10)
    h.send(a, "steer", dx=0, dy=1, flare=True)
    step(h)
    assert [m["code"] for m in h.received(a) if m["type"] == "error"] == ["not_playing"]
    h.send(a, "steer", dx=0, dy=1)  # a heading is fine: it waits for the next round
    step(h)
    assert [m["code"] for m in h.received(a) if m["type"] == "error"] == ["not_playing"]


def test_a_flare_waiting_for_the_tick_is_not_lost_to_a_plain_steer() -> None:
    plain, flare = {"dx": 1, "dy": 0, "flare": False}, {"dx": 0, "dy": 1, "flare": True}
    assert STEER.latest_only
    assert STEER.supersedes(plain, {**plain, "dx": -1})  # the newer heading counts
    assert not STEER.supersedes(plain, flare)  # but a waiting flare stays
    assert STEER.supersedes(flare, plain) and STEER.supersedes(flare, flare)


@pytest.mark.parametrize("body", [{"dx": 2, "dy": 0}, {"dx": 0}, {"dx": 0.5, "dy": 0},
                                  {"dx": 0, "dy": 0, "flare": 1}, {"dx": 0, "dy": 0, "x": 3}])
def test_malformed_steers_never_reach_the_game(body: dict[str, Any]) -> None:
    h = harness()
    a = h.join("ann")
    with pytest.raises(InvalidField):
        h.send(a, "steer", **body)


@pytest.mark.parametrize(("options", "word"), [({"size": 8}, "size"), ({"fog": "no"}, "fog"),
                                               ({"round_seconds": 4}, "round_seconds")])
def test_bad_options_are_refused(options: dict[str, Any], word: str) -> None:
    with pytest.raises(InvalidField, match=word):
        harness(**options)


# -- fog -------------------------------------------------------------------------------------------


def test_a_wall_hides_a_player_until_it_comes_round_the_corner() -> None:
    h = harness(SPLIT)
    a, b = h.join("ann"), h.join("bob")
    place(h, a, 3, 2)
    place(h, b, 6, 2)  # 3 cells away, behind the wall
    step(h)
    assert seen_players(h.last_state_for(a)) == {a: (3, 2)}
    assert seen_players(h.view(b)) == {b: (6, 2)}  # a join or resync shows no more
    place(h, b, 6, 4)
    place(h, a, 3, 4)
    step(h)
    assert seen_players(h.last_state_for(a)) == {a: (3, 4), b: (6, 4)}
    assert seen_players(h.last_state_for(b)) == {a: (3, 4), b: (6, 4)}


def check_fog(h: GameHarness, view: Mapping[str, Any], player: int) -> None:
    """`view` (sent to `player`) lists exactly the players and gems its light reaches."""
    game = h.game
    maze = game.maze
    me = game.walkers[player]
    radius = FLARE_RADIUS if me.burning > 0 else RADIUS

    def in_sight(x: int, y: int) -> bool:
        dx, dy = x - me.x, y - me.y
        return dx * dx + dy * dy <= radius * radius and maze.clear(me.x, me.y, dx, dy)

    shown = seen_players(view)
    assert shown == {w.player: (w.x, w.y) for w in game.walkers.values() if in_sight(w.x, w.y)}
    gems = [divmod(cell, maze.width)[::-1] for cell in game.gems]
    assert sorted(map(tuple, view["gems"])) == sorted(g for g in gems if in_sight(*g))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_nobody_is_ever_sent_what_its_lantern_does_not_light(seed: int) -> None:
    """Eight bots play two rounds; every state each one gets, and its view on a resync, shows
    exactly what is in its sight."""
    h = GameHarness(spec, seed=seed, options={"size": 16, "round_seconds": 10})
    rng = random.Random(seed)
    players = [h.join(f"p{i}") for i in range(8)]
    brains = {p: Brain(random.Random(p), flare_chance=0.2) for p in players}
    checked = 0
    for _ in range(150):
        for p in players:
            dx, dy, flare = brains[p].heading(h.view(p), p)
            if rng.random() < 0.3:
                dx, dy = rng.choice((-1, 0, 1)), rng.choice((-1, 0, 1))
            h.send(p, "steer", dx=dx, dy=dy, flare=flare)  # refused at the tick, if at all
        step(h)
        changes = h.states[-1]
        if h.game.status != "playing":
            assert changes.private is None
            continue
        assert set(changes.private) == {*players, SPECTATOR}  # spectators: in the dark
        for p in players:
            check_fog(h, changes.private[p], p)
            check_fog(h, h.view(p), p)
            checked += 1
    assert checked > 500
    assert h.room.outcomes  # a round ended on the way


def test_players_who_see_the_same_thing_share_one_view_object() -> None:
    h = harness(SPLIT)
    a, b, c = h.join("ann"), h.join("bob"), h.join("cat")
    for p in (a, b):
        place(h, p, 2, 2)
    place(h, c, 8, 2)
    step(h)
    private = h.states[-1].private
    assert private[a] is private[b] and private[c] is not private[a]
    h.send(b, "steer", dx=0, dy=0, flare=True)  # the same cell, another light
    step(h)
    private = h.states[-1].private
    assert private[a] is not private[b]


def test_with_the_lights_on_everyone_shares_one_view() -> None:
    h = harness(SPLIT, fog=False)
    a, b = h.join("ann"), h.join("bob")
    place(h, a, 1, 1)
    place(h, b, 9, 1)
    step(h)
    changes = h.states[-1]
    assert changes.private is None
    assert seen_players(changes.shared) == {a: (1, 1), b: (9, 1)}


def test_the_joining_view_has_the_maze_and_the_roster() -> None:
    h = harness(SPLIT)
    a = h.join("ann")
    view = h.view(a)
    assert view["maze"] == SPLIT and view["roster"] == {str(a): "ann"}
    assert (view["radius"], view["flare_radius"], view["status"]) == (RADIUS, FLARE_RADIUS,
                                                                      "playing")


# -- determinism and the bot -----------------------------------------------------------------------


def play(seed: int, ticks: int = 120) -> list[Any]:
    """States of a game of bots, as the harness recorded them (views and outcomes)."""
    h = GameHarness(spec, seed=seed, options={"size": 16, "round_seconds": 5})
    bots = {h.join(f"p{i}"): policy(random.Random(i)) for i in range(4)}
    for p, bot in bots.items():
        bot.on_message({"type": "joined", "player": p, "state": dict(h.view(p))})
    record: list[Any] = []
    for tick in range(ticks):
        for p, bot in bots.items():
            for msg in bot.act():
                h.send(p, msg["type"], **{k: v for k, v in msg.items() if k != "type"})
        step(h)
        for p, bot in bots.items():
            bot.on_message({"type": "state", "tick": tick, "ts": 0, **h.last_state_for(p)})
        record.append([dict(h.last_state_for(p)) for p in bots])
    return [record, h.room.outcomes]


def test_the_same_seed_and_inputs_play_the_same_game() -> None:
    first = play(7)
    assert play(7) == first
    assert play(8) != first


def test_bots_collect_gems() -> None:
    _, outcomes = play(3, ticks=160)  # two rounds of 5 s, a break between
    assert len(outcomes) == 2
    assert sum(o.score for o in outcomes[0]) > 0 and sum(o.score for o in outcomes[1]) > 0


def test_the_policy_keeps_the_view_across_states_and_resyncs() -> None:
    bot = policy(random.Random(1))
    bot.on_message({"type": "joined", "player": 2,
                    "state": {"maze": SPLIT, "status": "playing", "players": [[2, 1, 1, 0, 2, 0]],
                              "gems": [[3, 1]], "left": 30.0}})
    assert bot.act() == [{"type": "steer", "dx": 1, "dy": 0, "flare": False}]
    assert bot.act() == []  # the same heading is not sent again
    bot.on_message({"type": "state", "tick": 5, "ts": 0, "status": "playing",
                    "players": [[2, 3, 1, 1, 2, 0]], "gems": [], "left": 29.0})
    assert bot.view["maze"] == SPLIT and bot.score == 1
    bot.on_message({"type": "state", "tick": 90, "ts": 0,
                    "full": {"maze": SPLIT, "status": "break", "players": [[2, 4, 4, 6, 0, 0]],
                             "gems": [], "round": 1, "results": [[2, 6], [1, 6], [3, 0]]}})
    assert bot.view["status"] == "break" and bot.score == 6
    assert (bot.rounds, bot.rounds_won) == (1, 1)  # a tie for the most gems wins
    assert bot.act() == [{"type": "steer", "dx": 0, "dy": 0, "flare": False}]
    bot.on_message({"type": "state", "tick": 91, "ts": 0, "left": 4.9})
    assert bot.rounds == 1 and bot.act() == []  # the same round's end counts once


def test_the_spec_describes_the_mode() -> None:
    described = spec.describe()
    assert described["clock"] == {"kind": "ticking", "rate": 10}
    assert described["messages"]["steer"]["fields"]["flare"] == {"kind": "bool", "default": False}
    assert described["messages"]["steer"]["latest_only"] is True
    assert set(described["errors"]) == {"not_playing", "no_flares"}
    assert set(described["options"]) == {"round_seconds", "size", "fog"}
