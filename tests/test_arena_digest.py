"""The arena's exact outcome is pinned: a seeded dense room stepped for a few hundred ticks with
scripted inputs (turns, stops, joins, leaves, a teleported giant) must give the same digest of
every state as the code it was optimised from. Any change of behaviour, however small (an
eat one tick later, a pellet respawned elsewhere, a float rounded differently), fails here.

The expected digests were computed once from the code before the per-tick optimisations of
issue #22 (commit 387a8ab, `main` then) and pinned; they must only change with a deliberate
change of the game's rules, and then be recomputed and the reason stated.
"""

from __future__ import annotations

import hashlib
import math
import random

import orjson
import pytest

from game_server.games.arena import ArenaGame
from game_server.games.arena_rules import ArenaRules

# Computed at commit 387a8ab (before the optimisations) by `run(players, ticks)` below.
EXPECTED = {
    (20, 1200): "83d13e7b402d07d44bac7b8055fb1ac293e48c58276aa2b7f3de59cfbea44a9e",
    (200, 300): "f26037d0a3a5ac040acb3bb1cf13988c9d0502912cdbd193fd9d41d921e38f47",
}


def run(players: int, ticks: int, seed: int = 5) -> str:
    """Step a dense room of `players` seats, feeding every state into one digest."""
    rules = ArenaRules().for_seats(players)
    game = ArenaGame(rules, seed=seed)
    script = random.Random(seed * 7919 + players)
    digest = hashlib.sha256()
    next_id = players
    ids = list(range(players))
    for pid in ids:
        game.add_player(pid, f"p{pid}")
    seqs = dict.fromkeys(ids, 0)
    # A giant among them, so players are eaten, respawn and the calm is measured again and again.
    game.place_player(0, rules.world_width / 2, rules.world_height / 2, mass=400)
    for tick in range(ticks):
        for pid in ids:
            if script.random() < 0.1:  # about one turn a second each
                seqs[pid] += 1
                angle = script.uniform(0.0, 2.0 * math.pi)
                length = script.choice((1.0, 1.0, 0.5, 2.0))
                game.set_input(pid, seqs[pid], math.cos(angle) * length,
                               math.sin(angle) * length)
            elif script.random() < 0.005:
                game.halt(pid)
        if tick % 40 == 17:  # one leaves, a newcomer joins
            gone = ids.pop(script.randrange(1, len(ids)))
            game.remove_player(gone)
            del seqs[gone]
            game.add_player(next_id, f"p{next_id}")
            ids.append(next_id)
            seqs[next_id] = 0
            next_id += 1
        game.step(1.0 / 20)
        digest.update(orjson.dumps(game.take_changes()))
        # The exact floats too, not only what the messages round them to.
        for pid in sorted(ids):
            p = game._players[pid]
            digest.update(f"{pid} {p.x!r} {p.y!r} {p.mass} {p.alive} {p.seq};".encode())
        if tick % 50 == 0:
            digest.update(orjson.dumps(game.full_state()))
            digest.update(repr(game._pellets).encode())
    return digest.hexdigest()


@pytest.mark.parametrize(("players", "ticks"), sorted(EXPECTED))
def test_a_dense_room_plays_exactly_as_before(players: int, ticks: int) -> None:
    assert run(players, ticks) == EXPECTED[(players, ticks)]
