"""Lantern in a real `Room` (engine/room.py, its fan-out) with in-memory connections: what a slow
reader is sent, as docs/writing-a-realtime-game.md says: its states are skipped while its backlog
is over the limit, then it gets one `full` view, which says what it missed (a newcomer's name)."""

from __future__ import annotations

import orjson
from arena_lantern import spec

from game_server.engine.room import Room
from tests.conftest import FakeConnection, FakeIdentity, ManualClock, ManualScheduler


class Member:
    def __init__(self, user: int, name: str) -> None:
        self.identity = FakeIdentity(user, name)
        self.connection = FakeConnection()

    def on_room_left(self, room: Room, reason: str) -> None:
        pass


def test_a_slow_reader_skips_states_then_gets_its_whole_view() -> None:
    clock = ManualClock()
    room = Room("r1", spec, seed=5, options={"size": 16}, scheduler=ManualScheduler(clock),
                monotonic=clock, wall=lambda: 1.7e9, max_backlog=1000)
    ann, bob = Member(1, "ann"), Member(2, "bob")
    a, _ = room.join(ann), room.join(bob)

    def tick(n: int = 1) -> None:
        for _ in range(n):
            clock.now += room.dt
            room.tick()

    tick(2)
    assert [m["type"] for m in ann.connection.messages] == ["joined", "state", "state"]
    ann.connection.pending = 5000  # ann stops reading: 5 KB wait for it
    before = len(ann.connection.raw)
    tick()  # the first state that finds it behind is not sent
    room.join(Member(3, "cat"))  # the state that names cat goes out while ann is behind
    tick(5)
    assert len(ann.connection.raw) == before  # nothing queued for it meanwhile
    assert [b"cat" in raw for raw in bob.connection.raw[-5:]] == [True] + [False] * 4  # once
    assert room.stats.states_skipped == 6
    ann.connection.pending = 0  # caught up
    tick()
    resync = orjson.loads(ann.connection.raw[-1])
    # The whole view, and who is away (the states it skipped may have said so).
    assert resync["type"] == "state" and set(resync) == {"type", "tick", "ts", "full", "away"}
    assert resync["away"] == []
    full = resync["full"]
    assert full == orjson.loads(orjson.dumps(room.game.view(a)))  # view(player), as it is now
    assert full["roster"] == {"1": "ann", "2": "bob", "3": "cat"}
    assert len(full["maze"]) == 16 and room.stats.resyncs == 1
    tick()
    assert "full" not in orjson.loads(ann.connection.raw[-1])  # then states again
