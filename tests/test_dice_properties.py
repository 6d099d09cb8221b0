"""Hypothesis throws random message sequences at a Liar's Dice room: nothing but refusals ever
escapes, and the match's invariants hold after every step."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from game_server.games.api import GameError, InvalidField
from game_server.games.contract import Refused
from game_server.games.dice import dice_spec
from game_server.games.testing import GameHarness
from tests.dice_views import assert_hidden, hands_by_round

SPEC = dice_spec()

options = st.fixed_dictionaries({
    "start_players": st.integers(2, 6),
    "dice": st.integers(1, 6),
    "ones_wild": st.booleans(),
    "turn_seconds": st.integers(5, 120),
})

who = st.integers(0, 7)  # an index into the players who ever joined (some never did)
on_turn = st.tuples(st.just("turn"), st.sampled_from(["raise", "raise", "challenge"]),
                    st.integers(0, 2), st.integers(1, 6))
others = st.one_of(
    st.tuples(st.just("join")),
    st.tuples(st.just("bid"), who, st.integers(-1, 40), st.integers(0, 7)),
    st.tuples(st.just("challenge"), who),
    st.tuples(st.just("ready"), who),
    st.tuples(st.just("raw"), who, st.sampled_from(["bid", "challenge", "ready", "chat",
                                                      "nope"]),
              st.dictionaries(st.sampled_from(["count", "face", "x"]),
                              st.one_of(st.integers(-3, 50), st.text(max_size=3),
                                        st.booleans(), st.none(), st.floats()), max_size=3)),
    st.tuples(st.just("advance"), st.floats(0, 130)),
    st.tuples(st.just("leave"), who, st.booleans()),
    st.tuples(st.just("drop"), who),
    st.tuples(st.just("resume"), who),
)
# mostly moves by the player on turn, so that matches get somewhere
actions = st.integers(0, 9).flatmap(lambda n: on_turn if n < 7 else others)


class Run:
    """One harness and the facts the invariants are checked against."""

    def __init__(self, seed: int, opts: dict[str, Any]) -> None:
        self.h = GameHarness(SPEC, seed=seed, options=opts)
        self.joined: list[int] = []
        self.history = hands_by_round(self.h)
        self.lost_by_leaving = 0

    def pick(self, index: int) -> int:
        return self.joined[index % len(self.joined)] if self.joined else 99

    def act(self, action: tuple) -> None:
        h = self.h
        kind = action[0]
        if kind == "join":
            self.joined.append(h.join(f"p{len(self.joined)}"))
        elif kind == "advance":
            h.advance(action[1])
        elif kind == "turn":
            table = h.game.table
            if table is None or table.turn is None:
                return
            if action[1] == "challenge":
                self.send(table.turn, "challenge", {})
            else:
                count = (table.bid.count if table.bid else 1) + action[2]
                self.send(table.turn, "bid", {"count": count, "face": action[3]})
        elif kind in ("bid", "challenge", "ready"):
            player = self.pick(action[1])
            body = {"count": action[2], "face": action[3]} if kind == "bid" else {}
            self.send(player, kind, body)
        elif kind == "raw":
            self.send(self.pick(action[1]), action[2], action[3])
        elif kind == "leave":
            player = self.pick(action[1])
            if player in h.seats:
                table = h.game.table
                if table is not None and not table.over:
                    self.lost_by_leaving = table.dice_left[player]
                h.leave(player, consented=action[2])
        elif kind == "drop":
            player = self.pick(action[1])
            if player in h.seats and player not in h.held:
                h.drop(player)
        elif kind == "resume":
            player = self.pick(action[1])
            if player in h.held:
                h.resume(player)

    def send(self, player: int, kind: str, body: dict[str, Any]) -> None:
        table = self.h.game.table
        was_out = table is not None and player in table.dice_left and not table.alive(player)
        try:
            self.h.send(player, kind, **body)
        except Refused as refused:
            if refused.code != "not_in_room":
                raise
            # As on the server: only a seated, connected player's messages reach the game.
            assert player not in self.h.connected
            return
        except GameError as error:
            if was_out and kind in ("bid", "challenge") and not table.over:
                assert error.code == "eliminated"
            return
        assert not was_out, "an eliminated player's move was accepted"


def check(run: Run, before: dict[int, int] | None, reveals_before: int) -> None:
    h = run.h
    table = h.game.table
    reveals = sum(1 for s in h.room.sent if s.kind == "reveal")
    if table is None:
        assert not h.room.locked and h.room.metadata["status"] == "waiting"
        assert reveals == 0 and h.room.outcomes == []
        return
    assert h.room.locked
    if before is not None:
        # each challenge costs exactly one die; a leave costs the leaver's whole hand
        lost = sum(before.values()) - table.total_dice
        assert lost == (reveals - reveals_before) + run.lost_by_leaving
    if table.over:
        assert table.turn is None and table.winner is not None
        assert [p for p, n in table.placements.items() if n == 1] == [table.winner]
        assert sorted(table.placements.values()) == list(range(1, len(table.order) + 1))
        assert len(h.room.outcomes) == 1
        assert sorted(o.player for o in h.room.outcomes[0]) == sorted(table.order)
        assert h.room.metadata["status"] == "finished" and h.pending_timers() == []
    else:
        assert table.turn is not None and table.alive(table.turn)
        assert len(table.alive_players()) >= 2 and h.room.outcomes == []
        assert [name for _, name in h.pending_timers()] == ["turn"]
        assert all(table.alive(p) for p, _ in table.bids)
    for p in run.joined:
        assert_hidden(p, h.last_state_for(p), h, run.history)
        assert_hidden(p, h.view(p), h, run.history)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), opts=options, seated=st.integers(0, 6),
       ready=st.booleans(), steps=st.lists(actions, min_size=30, max_size=100))
def test_random_sequences_only_ever_refuse_and_keep_the_invariants(seed, opts, seated, ready,
                                                                   steps) -> None:
    run = Run(seed, opts)
    start = [("join",)] * seated + [("ready", i) for i in range(seated) if ready]
    for action in start + steps:
        table = run.h.game.table
        before = dict(table.dice_left) if table is not None else None
        reveals_before = sum(1 for s in run.h.room.sent if s.kind == "reveal")
        run.lost_by_leaving = 0
        try:
            run.act(action)
        except InvalidField:
            pass
        except GameError as error:
            assert action[0] == "join" and error.code in ("room_full", "room_locked",
                                                          "join_refused")
        check(run, before, reveals_before)
    # then the clock opens each round and the next player calls it: any match ends, and its
    # results go out exactly once
    table = run.h.game.table
    if table is not None:
        for _ in range(200):
            if table.over:
                break
            if table.bid is None:
                run.h.advance(opts["turn_seconds"])
            else:
                if table.turn in run.h.held:  # only a connected player can send
                    run.h.resume(table.turn)
                run.h.send(table.turn, "challenge")
            check(run, None, 0)
        assert table.over and len(run.h.room.outcomes) == 1
        run.h.advance(1000)
        assert len(run.h.room.outcomes) == 1
