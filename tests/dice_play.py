"""Playing Liar's Dice matches through the GameHarness, for the dice and dice-brain tests."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from client.dice_brain import minimal_raises
from game_server.games.dice import dice_spec
from game_server.games.testing import GameHarness

Policy = Callable[[Mapping[str, Any]], "tuple[str, dict[str, int]] | None"]


def random_move(view: Mapping[str, Any], rng: random.Random) -> tuple[str, dict[str, int]]:
    """A random legal move: challenge now and then, else any raise up to two over the least."""
    bid = view["bid"]
    current = (bid["count"], bid["face"]) if bid else None
    raises = [(count + extra, face)
              for count, face in minimal_raises(current, view["rules"]["ones_wild"],
                                                view["total_dice"])
              for extra in range(3) if count + extra <= view["total_dice"]]
    if current is not None and (not raises or rng.random() < 0.3):
        return ("challenge", {})
    count, face = rng.choice(raises)
    return ("bid", {"count": count, "face": face})


def seat(n: int, *, seed: int, **options: Any) -> tuple[GameHarness, list[int]]:
    """A harness whose match has started with `n` players."""
    h = GameHarness(dice_spec(), seed=seed, options={"start_players": n, **options})
    players = [h.join(f"p{i}") for i in range(n)]
    assert h.game.table is not None
    return h, players


def play(h: GameHarness, policies: Mapping[int, Policy], *, limit: int = 5000) -> int:
    """Play the started match to its end: each player on turn acts on the state it received
    (a policy returning None lets the turn clock run out). The winner's id."""
    table = h.game.table
    assert table is not None
    for _ in range(limit):
        if table.over:
            assert table.winner is not None
            return table.winner
        turn = table.turn
        assert turn is not None
        state = h.last_state_for(turn)
        assert state is not None and state == h.view(turn)
        move = policies[turn](state)
        if move is None:
            h.advance(h.room.options["turn_seconds"])
        else:
            kind, body = move
            h.send(turn, kind, **body)
    raise AssertionError("the match did not end")
