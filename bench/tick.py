"""`python -m bench.tick`: how one room's tick cost grows with its players.

Steps a real `Room` (the arena game, the state encoding, the send loop to in-memory connections)
with N and 10 N moving players and reports the CPU time of one tick for each. The overlaps use a
spatial grid, so 10x the players should cost about 10x the tick, never 100x (players x pellets).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import dataclass

from game_server.engine.room import Room
from game_server.games.arena import ArenaRules
from game_server.games.arena_mode import arena_spec
from protocol.closes import CloseCode


class NullConnection:
    """A connection that accepts every frame and never lags; it keeps the last state it got
    (bench.views counts a tick's distinct encodings by it)."""

    __slots__ = ("last", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.last: bytes | None = None

    def send(self, data: bytes) -> None:
        self.sent += len(data)

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        pass

    def backlog(self) -> int:
        return 0

    def lag(self, now: float) -> float:
        return 0.0

    def send_state(self, data: bytes, limit: int) -> bool:
        self.sent += len(data)
        self.last = data
        return True


@dataclass(frozen=True)
class Bot:
    id: int
    name: str


class Member:
    """A seated bot: its identity and its connection (a `NullConnection` unless given one)."""

    def __init__(self, i: int, connection: NullConnection | None = None) -> None:
        self.identity = Bot(i, f"p{i}")
        self.connection = connection if connection is not None else NullConnection()

    def on_room_left(self, room: Room, reason: str) -> None:
        pass


def tick_cost(players: int, ticks: int, seed: int = 1) -> float:
    """Median CPU seconds of one tick of a room with `players` moving players."""
    clock = [0.0]
    room = Room("bench", arena_spec(ArenaRules()), seed=seed, options={"max_players": players},
                monotonic=lambda: clock[0], wall=lambda: 1.7e9)
    rng = random.Random(seed)
    ids = [room.join(Member(i)) for i in range(players)]
    seq = 0
    samples = []
    for t in range(ticks):
        if t % 10 == 0:  # each player changes direction about once a second
            seq += 1
            for pid in ids:
                angle = rng.uniform(0, 2 * math.pi)
                room.message(pid, "input", {"type": "input", "seq": seq,
                                            "dx": math.cos(angle), "dy": math.sin(angle)})
        clock[0] += room.dt
        start = time.process_time()
        room.tick()
        samples.append(time.process_time() - start)
    samples.sort()
    return samples[len(samples) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.tick", description=__doc__.split("\n")[0])
    parser.add_argument("--players", type=int, default=20, help="the small room (default 20)")
    parser.add_argument("--factor", type=int, default=10, help="the big room is this much bigger")
    parser.add_argument("--ticks", type=int, default=400)
    args = parser.parse_args(argv)
    small = tick_cost(args.players, args.ticks)
    big = tick_cost(args.players * args.factor, args.ticks)
    print(f"tick with {args.players} players: {small * 1e6:8.1f} µs CPU (median)")
    print(f"tick with {args.players * args.factor} players: {big * 1e6:8.1f} µs CPU (median)")
    print(f"{args.factor}x the players costs {big / small:.1f}x the tick "
          f"(target: at most {args.factor * 1.1:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
