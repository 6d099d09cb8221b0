"""Random sequences of joins, moves, leaves, drops, resumes and timeouts from random players
never break tic-tac-toe's invariants (hypothesis)."""

from __future__ import annotations

from arena_tictactoe import spec
from arena_tictactoe.game import LINES
from hypothesis import given, settings
from hypothesis import strategies as st

from game_server.games.api import GameError, InvalidField
from game_server.games.testing import GameHarness

REFUSALS = {"not_started", "not_your_turn", "cell_taken", "game_over"}

# Each action picks its player by index among those it could come from (modulo their number).
actions = st.lists(st.one_of(
    st.tuples(st.just("join")),
    st.tuples(st.just("move"), st.integers(0, 5), st.integers(-1, 9)),
    st.tuples(st.just("leave"), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("drop"), st.integers(0, 5)),
    st.tuples(st.just("resume"), st.integers(0, 5)),
    st.tuples(st.just("advance"), st.sampled_from([0.5, 4.9, 5.0, 30.0])),
), max_size=40)


def check_invariants(h: GameHarness, reports_before: int) -> None:
    state = h.view(0)
    board = state["board"]
    xs, os_ = board.count("X"), board.count("O")
    assert set(board) <= {"", "X", "O"} and xs - os_ in (0, 1)  # X moves first, then turns
    rows = {board[a] for a, b, c in LINES if board[a] != "" and board[a] == board[b] == board[c]}
    assert len(rows) <= 1  # never two winners
    outcomes = h.room.outcomes
    assert len(outcomes) == (1 if state["status"] == "finished" else 0)  # reported exactly once
    assert len(outcomes) >= reports_before  # and a report is never withdrawn
    assert h.room.metadata["status"] == state["status"]
    assert h.room.locked == (state["status"] != "waiting")
    if state["status"] == "playing":
        assert state["turn"] == state["players"][xs - os_]["player"]  # X's turn iff counts equal
        assert [t for _, t in h.pending_timers()] == ["turn"]
    else:
        assert state["turn"] is None and h.pending_timers() == []
    if outcomes:
        winners = [o.player for o in outcomes[0] if o.won]
        assert winners == ([] if state["winner"] is None else [state["winner"]])
        if rows:
            mark = rows.pop()
            assert state["players"][0 if mark == "X" else 1]["player"] == state["winner"]


@settings(max_examples=300, deadline=None)
@given(actions, st.sampled_from([5, 30]))
def test_random_sequences_keep_the_invariants(script: list[tuple], turn_seconds: int) -> None:
    h = GameHarness(spec, options={"turn_seconds": turn_seconds})
    for action in script:
        reports = len(h.room.outcomes)
        seated = sorted(h.seats)
        connected = [p for p in seated if p not in h.held]
        kind = action[0]
        try:
            if kind == "join":
                h.join("p")
            elif kind == "move" and connected:
                h.send(connected[action[1] % len(connected)], "move", cell=action[2])
            elif kind == "leave" and seated:
                h.leave(seated[action[1] % len(seated)], consented=action[2])
            elif kind == "drop" and connected:
                h.drop(connected[action[1] % len(connected)])
            elif kind == "resume" and h.held:
                held = sorted(h.held)
                h.resume(held[action[1] % len(held)])
            elif kind == "advance":
                h.advance(action[1])
        except GameError as refused:
            expected = REFUSALS if kind == "move" else {"room_full", "room_locked", "join_refused"}
            assert refused.code in expected
        except InvalidField:
            assert kind == "move" and not 0 <= action[2] <= 8
        check_invariants(h, reports)
