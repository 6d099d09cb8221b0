"""Test games for the match journal: one that goes non-deterministic on purpose at a known
step, three ways (a set's iteration order, `random` without the seed, the wall clock); the
subprocess tests name them as `--game tests.journal_games:wobble_set`."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from game_server.games.api import Changes, Field, GameSpec, MessageSpec, RoomHandle, Ticking

RATE = 10
# The step at which each kind of wobble first changes the state.
WOBBLES_AT = {"set": 7, "random": 5, "clock": 9}


class Wobble:
    """A ticking game, deterministic (a seeded generator, the players' pokes) until step
    `WOBBLES_AT[how]`, when it records something that differs from run to run. It has no
    `state()`: the journal walks its attributes (the set of words sorted, so the set itself is
    no difference; the order it was iterated in, kept in a list, is)."""

    def __init__(self, room: RoomHandle, how: str) -> None:
        self.room = room
        self.how = how
        self.rng = random.Random(room.seed)
        self.steps = 0
        self.trail: list[Any] = []
        self.words = {f"word{i}" for i in range(24)}

    def on_join(self, seat: Any) -> None:
        self.trail.append(seat.name)

    def on_message(self, player: int, kind: str, body: Mapping[str, Any]) -> None:
        self.trail.append([player, body["n"]])

    def on_step(self, dt: float) -> None:
        self.steps += 1
        self.trail.append(self.rng.randrange(1000))
        if self.steps == WOBBLES_AT[self.how]:
            if self.how == "set":
                self.trail.append(list(self.words))  # in the order this process iterates
            elif self.how == "random":
                self.trail.append(random.random())  # the module's generator: not the seed's
            else:
                self.trail.append(time.time_ns())  # the wall clock

    def view(self, player: int) -> Mapping[str, Any]:
        return {"steps": self.steps}

    def changes(self) -> Changes:
        return Changes(shared={"steps": self.steps})


def _spec(how: str) -> GameSpec:
    return GameSpec(name=f"wobble-{how}", factory=lambda room: Wobble(room, how),
                    messages={"poke": MessageSpec({"n": Field("int", low=0, high=9)})},
                    clock=Ticking(RATE), max_players=4)


wobble_set = _spec("set")
wobble_random = _spec("random")
wobble_clock = _spec("clock")
