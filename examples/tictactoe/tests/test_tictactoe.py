"""Tic-tac-toe played through GameHarness: wins, draws, every refusal, the turn clock, leaving,
dropping and resuming, and the room's options."""

from __future__ import annotations

import pytest
from arena_tictactoe import spec
from arena_tictactoe.bot import choose_cell

from game_server.games.api import GameError, InvalidField, Outcome
from game_server.games.testing import GameHarness


def started(**options: int) -> tuple[GameHarness, int, int]:
    """A room with two players seated: the match is on, X (the first) to move."""
    h = GameHarness(spec, options=options)
    return h, h.join("xena"), h.join("otto")


def play(h: GameHarness, x: int, o: int, cells: list[int]) -> None:
    """Alternate moves from X then O."""
    for i, cell in enumerate(cells):
        h.send(x if i % 2 == 0 else o, "move", cell=cell)


def test_a_room_waits_for_two_players_then_locks_and_starts() -> None:
    h = GameHarness(spec)
    assert h.room.metadata == {"status": "waiting"}
    x = h.join("xena")
    assert not h.room.locked and h.pending_timers() == []
    with pytest.raises(GameError) as refused:
        h.send(x, "move", cell=4)
    assert refused.value.code == "not_started"
    o = h.join("otto")
    assert h.room.locked and h.room.metadata == {"status": "playing"}
    assert h.pending_timers() == [(30.0, "turn")]
    state = h.last_state_for(o)
    assert state["turn"] == x and state["status"] == "playing"
    assert [(p["player"], p["mark"]) for p in state["players"]] == [(x, "X"), (o, "O")]


def test_a_full_game_to_a_win() -> None:
    h, x, o = started()
    play(h, x, o, [0, 3, 1, 4, 2])  # X takes the top row
    state = h.last_state_for(o)
    assert state["status"] == "finished" and state["winner"] == x and state["line"] == [0, 1, 2]
    assert state["board"] == ["X", "X", "X", "O", "O", "", "", "", ""]
    assert h.room.outcomes == [[Outcome(player=x, placement=1, won=True),
                                Outcome(player=o, placement=2, won=False)]]
    assert h.room.metadata == {"status": "finished"} and h.room.locked
    assert h.pending_timers() == []


def test_a_full_board_without_a_row_is_a_draw() -> None:
    h, x, o = started()
    play(h, x, o, [0, 1, 2, 4, 3, 5, 7, 6, 8])
    state = h.last_state_for(x)
    assert state["status"] == "finished" and state["winner"] is None and state["line"] is None
    assert "" not in state["board"]
    assert h.room.outcomes == [[Outcome(player=x, placement=1, won=False),
                                Outcome(player=o, placement=1, won=False)]]


@pytest.mark.parametrize(("moves", "who", "cell", "code"), [
    ([], "o", 4, "not_your_turn"),
    ([4], "x", 0, "not_your_turn"),
    ([4], "o", 4, "cell_taken"),
    ([0, 3, 1, 4, 2], "o", 8, "game_over"),
    ([0, 3, 1, 4, 2], "x", 8, "game_over"),
])
def test_bad_moves_are_refused_with_a_code_and_change_nothing(
        moves: list[int], who: str, cell: int, code: str) -> None:
    h, x, o = started()
    play(h, x, o, moves)
    before = h.view(x)
    with pytest.raises(GameError) as refused:
        h.send(x if who == "x" else o, "move", cell=cell)
    assert refused.value.code == code
    assert h.view(x) == before and len(h.room.outcomes) == (1 if code == "game_over" else 0)


@pytest.mark.parametrize("body", [{"cell": 9}, {"cell": -1}, {"cell": 4.0}, {"cell": "4"}, {},
                                  {"cell": 4, "mark": "X"}])
def test_malformed_moves_never_reach_the_game(body: dict) -> None:
    h, x, o = started()
    with pytest.raises(InvalidField):
        h.send(x, "move", **body)
    assert h.view(x)["board"] == [""] * 9


def test_a_third_player_is_not_let_in() -> None:
    h, x, o = started()
    with pytest.raises(GameError):
        h.join("cat")
    # Even past the room's lock (a join by id racing the lock), the game itself refuses.
    h.room.unlock()
    with pytest.raises(GameError) as refused:
        h.join("cat")
    assert refused.value.code in ("room_full", "join_refused")
    assert h.game.on_join_attempt(h.seats[x], resuming=True) is None
    assert h.game.on_join_attempt(h.seats[x], resuming=False) == "game already started"


def test_running_out_of_time_forfeits() -> None:
    h, x, o = started(turn_seconds=10)
    h.send(x, "move", cell=4)
    assert h.pending_timers() == [(10.0, "turn")]  # the clock restarts for each turn
    h.advance(9.9)
    assert h.room.outcomes == []
    h.advance(0.1)
    assert h.room.outcomes == [[Outcome(player=x, placement=1, won=True),
                                Outcome(player=o, placement=2, won=False)]]
    assert h.last_state_for(x)["winner"] == x and h.pending_timers() == []


def test_leaving_mid_game_forfeits_and_is_reported_once() -> None:
    h, x, o = started()
    h.send(x, "move", cell=4)
    h.leave(x, consented=True)
    assert h.room.outcomes == [[Outcome(player=x, placement=2, won=False),
                                Outcome(player=o, placement=1, won=True)]]
    h.leave(o, consented=True)
    h.advance(60)
    assert len(h.room.outcomes) == 1


def test_leaving_before_the_match_frees_the_seat() -> None:
    h = GameHarness(spec)
    first = h.join("xena")
    h.leave(first)
    x, o = h.join("otto"), h.join("pia")
    assert [p["player"] for p in h.view(x)["players"]] == [x, o]
    assert h.room.outcomes == []


def test_a_dropped_player_keeps_its_seat_and_its_clock_keeps_running() -> None:
    h, x, o = started(turn_seconds=20)
    h.send(x, "move", cell=4)
    h.drop(o)
    assert [p["away"] for p in h.last_state_for(x)["players"]] == [False, True]
    h.advance(15)
    h.resume(o)
    assert [p["away"] for p in h.view(o)["players"]] == [False, False]
    assert h.view(o)["board"][4] == "X" and h.view(o)["turn"] == o
    h.send(o, "move", cell=0)  # back in time: its move counts
    h.drop(x)
    h.advance(20)  # X never came back in time: its clock ran out
    assert h.room.outcomes == [[Outcome(player=x, placement=2, won=False),
                                Outcome(player=o, placement=1, won=True)]]
    h.leave(x, consented=False)  # the held seat is given up later: nothing more to report
    assert len(h.room.outcomes) == 1


@pytest.mark.parametrize("bad", [0, 4, 301, 2.5, "30", True])
def test_bad_turn_seconds_are_refused(bad: object) -> None:
    with pytest.raises(InvalidField, match="turn_seconds"):
        GameHarness(spec, options={"turn_seconds": bad})
    with pytest.raises(InvalidField, match="unknown field"):
        GameHarness(spec, options={"turn_secs": 30})
    assert GameHarness(spec, options={"turn_seconds": 5}).room.options == {"turn_seconds": 5}


def test_two_bots_play_to_the_end() -> None:
    h, x, o = started()
    while h.view(x)["status"] == "playing":
        for me in (x, o):
            cell = choose_cell(h.view(me), me)
            if cell is not None:
                h.send(me, "move", cell=cell)
                break
    assert len(h.room.outcomes) == 1


def test_the_bot_wins_when_it_can_and_blocks_when_it_must() -> None:
    h, x, o = started()
    play(h, x, o, [0, 4, 1])  # X threatens 2
    assert choose_cell(h.view(o), o) == 2
    assert choose_cell(h.view(o), x) is None  # not X's turn
    play(h, o, x, [2, 6])  # O blocks; X's 0 and 6 threaten 3, and O has no row to finish
    assert choose_cell(h.view(o), o) == 3
    h.send(o, "move", cell=8)
    assert choose_cell(h.view(x), x) == 3  # X wins down the left column


def test_the_spec_describes_the_mode() -> None:
    described = spec.describe()
    assert described["clock"] == {"kind": "events"} and described["leaderboard"] == "wins"
    assert described["messages"] == {"move": {
        "fields": {"cell": {"kind": "int", "low": 0, "high": 8, "required": True}},
        "latest_only": False}}
    assert set(described["errors"]) == {"not_started", "not_your_turn", "cell_taken",
                                        "game_over"}
    assert described["replies"] == {}
    assert described["options"]["turn_seconds"]["default"] == 30


def test_a_recorded_match_replays_the_same() -> None:
    h = GameHarness(spec, record=True)
    x, o = h.join("xena"), h.join("otto")
    play(h, x, o, [4, 0, 8])
    h.advance(30)  # O's turn clock runs out
    h.verify()  # re-runs the match in a real room: AssertionError at the first tick that differs
