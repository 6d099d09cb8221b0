"""Spectators (issue 23): `join` with `spectate` on a real server, the delay on a manual clock,
and every shipped game's public view through `GameHarness.spectate`.

One server for the module's socket tests; each test opens its own rooms.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio

from game_server.app import ArenaServer
from game_server.engine.room import Room
from game_server.engine.spectators import Spectators
from game_server.games.api import SPECTATOR
from game_server.games.dice import dice_spec
from game_server.games.testing import GameHarness
from game_server.storage.passwords import PasswordHasher
from tests.conftest import (
    Browserless,
    FakeConnection,
    FakeIdentity,
    ManualClock,
    ManualScheduler,
    make_config,
    recv_until,
)

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ArenaServer]:
    data = tmp_path_factory.mktemp("spectate") / "data"
    srv = ArenaServer(make_config(data, max_spectators=2, spectate_delays=("lantern=7",)),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def people(server: ArenaServer) -> AsyncIterator[list[Browserless]]:
    made: list[Browserless] = []
    yield made
    for client in made:
        await client.aclose()


async def connect(server: ArenaServer, people: list[Browserless], name: str):
    client = Browserless(server.url)
    people.append(client)
    await client.guest(name)
    return await client.ws()


def content(state: dict[str, Any]) -> dict[str, Any]:
    """A `state` message's view: its fields but the engine's own."""
    return {k: v for k, v in state.items() if k not in ("type", "tick", "ts")}


def send(ws, **msg: Any) -> None:
    ws.write_message(orjson.dumps(msg).decode())


@MODULE_LOOP
async def test_a_spectator_watches_an_arena_room_without_taking_a_seat(server, people) -> None:
    ann = await connect(server, people, "ann")
    send(ann, type="join", mode="arena")
    joined = await recv_until(ann, "joined")
    room = server.matchmaker.get(joined["room"])
    assert room is not None
    eve = await connect(server, people, "eve")
    send(eve, type="join", room=room.id, spectate=True)
    watched = await recv_until(eve, "joined")
    assert (watched["player"], watched["spectator"], watched["room"]) == (0, True, room.id)
    assert watched["state"] == room.game.view(SPECTATOR)
    assert room.player_count == 1 and room.spectator_count == 1
    assert await _spectators_counted(server, people[0]) == (1, 1)  # /healthz, /metrics
    # The states go on, the same public bytes the player gets.
    state = await recv_until(eve, "state")
    assert state["tick"] > 0
    body = orjson.loads((await people[0].http.fetch(server.url + "/api/rooms")).body)
    listed = next(r for r in body["rooms"] if r["id"] == room.id)
    assert (listed["players"], listed["spectators"]) == (1, 1)
    # Not a player: no game message, no chat; the player is unaffected.
    send(eve, type="input", seq=1, dx=1.0, dy=0.0)
    error = await recv_until(eve, "error")
    assert error["code"] == "not_a_player" and "spectator" in error["message"]
    send(eve, type="chat", text="psst")
    assert (await recv_until(eve, "error"))["code"] == "not_a_player"
    send(ann, type="chat", text="hello watchers")
    said = await recv_until(eve, "chat")  # read-only: the room's chat reaches spectators
    assert said["text"] == "hello watchers"
    assert room.player_count == 1 and room.spectator_count == 1
    await recv_until(ann, "state")
    # Leaving: `left`, and the count falls.
    send(eve, type="leave")
    assert (await recv_until(eve, "left"))["reason"] == "leave"
    assert room.spectator_count == 0 and room._spectators is None
    assert await _spectators_counted(server, people[0]) == (0, 0)


async def _spectators_counted(server: ArenaServer, client: Browserless) -> tuple[int, float]:
    """Spectators as `/healthz` and `/metrics` count them."""
    health = orjson.loads((await client.http.fetch(server.url + "/healthz")).body)
    text = (await client.http.fetch(server.url + "/metrics")).body.decode()
    (line,) = [line for line in text.splitlines() if line.startswith("arena_spectators ")]
    return health["spectators"], float(line.split()[1])


@MODULE_LOOP
async def test_spectating_refuses_clearly(server, people) -> None:
    eve = await connect(server, people, "eve")
    send(eve, type="join", room="nosuchroom", spectate=True)
    error = await recv_until(eve, "error")
    assert error["code"] == "room_not_found" and "nosuchroom" in error["message"]
    send(eve, type="join", code="QQQQQ", spectate=True)
    assert (await recv_until(eve, "error"))["code"] == "room_not_found"
    send(eve, type="join", mode="arena", spectate=True)
    error = await recv_until(eve, "error")
    assert error["code"] == "bad_field" and "spectate" in error["message"]
    # A full list of spectators (this server allows two).
    bob = await connect(server, people, "bob")
    send(bob, type="create", mode="dice")
    room = server.matchmaker.get((await recv_until(bob, "joined"))["room"])
    watchers = [await connect(server, people, f"w{i}") for i in range(3)]
    for ws in watchers[:2]:
        send(ws, type="join", room=room.id, spectate=True)
        assert (await recv_until(ws, "joined"))["spectator"] is True
    send(watchers[2], type="join", room=room.id, spectate=True)
    error = await recv_until(watchers[2], "error")
    assert error["code"] == "spectators_full" and "2 spectators" in error["message"]
    assert room.spectator_count == 2 and room.player_count == 1
    # Nothing else was affected: the third can still play, and the table goes on.
    send(watchers[2], type="join", room=room.id)
    assert (await recv_until(watchers[2], "joined"))["player"] == 2
    # The room closes: its spectators get `left`.
    room.close("room_closed")
    for ws in watchers[:2]:
        assert (await recv_until(ws, "left"))["reason"] == "room_closed"


@MODULE_LOOP
async def test_a_private_room_is_watched_by_its_code_only(server, people) -> None:
    ann = await connect(server, people, "ann")
    send(ann, type="create", mode="tictactoe", private=True)
    joined = await recv_until(ann, "joined")
    eve = await connect(server, people, "eve")
    send(eve, type="join", room=joined["room"], spectate=True)
    assert (await recv_until(eve, "error"))["code"] == "room_not_found"
    send(eve, type="join", code=joined["code"].lower(), spectate=True)
    watched = await recv_until(eve, "joined")
    assert watched["spectator"] is True and "code" not in watched


@MODULE_LOOP
async def test_the_delay_is_set_per_mode(server) -> None:
    delayed, live = (server.matchmaker.create_room(mode) for mode in ("lantern", "tictactoe"))
    assert (delayed.spectate_delay, live.spectate_delay) == (7.0, 0.0)
    assert delayed.max_spectators == 2
    for room in (delayed, live):
        room.close()


def test_a_delay_for_a_mode_not_run_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    from game_server.engine.matchmaker import Matchmaker

    Matchmaker({"dice": dice_spec()}, scheduler=ManualScheduler(ManualClock()),
               spectate_delays={"dice": 5.0, "chess": 3.0})
    assert [r.getMessage() for r in caplog.records] == [
        "--spectate-delay names 'chess', a mode this server does not run"]


# -- the delay, on a manual clock ------------------------------------------------------------


class Watcher:
    """A spectator as the room sees one (a `Member`), with an in-memory connection."""

    def __init__(self, name: str) -> None:
        self.identity = FakeIdentity(900, name)
        self.connection = FakeConnection()
        self.left: list[str] = []

    def on_room_left(self, room: Room, reason: str) -> None:
        self.left.append(reason)


def dice_room(delay: float) -> tuple[Room, ManualScheduler, list[Watcher]]:
    clock = ManualClock()
    scheduler = ManualScheduler(clock)
    room = Room("r1", dice_spec(), seed=3, options={"start_players": 3}, scheduler=scheduler,
                monotonic=clock, wall=clock, spectate_delay=delay)
    players = [Watcher(n) for n in ("ann", "bob")]
    for i, member in enumerate(players):
        member.identity = FakeIdentity(i + 1, member.identity.name)
        room.join(member)
    return room, scheduler, players


def test_delayed_spectators_see_the_match_that_many_seconds_late() -> None:
    room, scheduler, (ann, bob) = dice_room(delay=10.0)
    first = Watcher("eve")
    room.add_spectator(first)
    assert first.connection.raw == []  # the buffer starts now: the first waits the delay
    before = room.game.view(SPECTATOR)
    scheduler.advance(2.0)
    room.message(1, "ready", {"type": "ready"})
    room.message(2, "ready", {"type": "ready"})  # the match starts: dice are rolled
    started = room.game.view(SPECTATOR)
    assert started != before
    scheduler.advance(7.9)
    assert first.connection.raw == []
    scheduler.advance(0.2)  # 10 s after it came: the view of then
    joined = first.connection.of_type("joined")
    assert [j["state"] for j in joined] == [before] and joined[0]["spectator"] is True
    assert first.connection.of_type("state") == []
    scheduler.advance(2.0)  # 10 s after the match started
    states = first.connection.of_type("state")
    assert states and content(states[-1]) == started
    assert all("dice" not in s for s in states)  # nobody's hand
    # A spectator who comes later gets, at once, the view of 10 s ago and what followed it.
    later = Watcher("fay")
    room.add_spectator(later)
    msgs = later.connection.messages
    assert msgs[0]["type"] == "joined"
    shown = [m["state"] if m["type"] == "joined" else content(m)
             for m in msgs if m["type"] in ("joined", "state")]
    assert shown[-1] == started
    # The room closes: both get `left` at once (nothing is withheld for a close).
    room.close("room_closed")
    assert first.left == ["room_closed"] and later.left == ["room_closed"]
    assert not spectator_timers(scheduler)


def spectator_timers(scheduler: ManualScheduler) -> list[Any]:
    return [t for t in scheduler.active
            if type(getattr(t.callback, "__self__", None)) is Spectators]


def test_a_delayed_ticking_room_keeps_one_timer_and_the_delay_exact() -> None:
    from game_server.games.arena_mode import arena_spec

    clock = ManualClock()
    scheduler = ManualScheduler(clock)
    room = Room("a1", arena_spec(), seed=1, scheduler=scheduler, monotonic=clock, wall=clock,
                spectate_delay=2.0)
    scheduler.every(room.dt, room.tick)
    ann = Watcher("ann")
    ann.identity = FakeIdentity(1, "ann")
    room.join(ann)
    eve = Watcher("eve")
    room.add_spectator(eve)
    scheduler.advance(1.0)
    assert eve.connection.raw == [] and len(spectator_timers(scheduler)) <= 1
    scheduler.advance(1.05)
    assert len(eve.connection.of_type("joined")) == 1
    scheduler.advance(1.0)
    states = eve.connection.of_type("state")
    assert len(states) >= 19 and len(spectator_timers(scheduler)) <= 1
    # Two seconds late at 20 Hz: 40 ticks behind the room.
    assert room.ticks - 41 <= states[-1]["tick"] <= room.ticks - 39
    assert [b["tick"] - a["tick"] for a, b in zip(states, states[1:], strict=False)] == [1] * (
        len(states) - 1)


def test_without_spectators_a_delayed_room_keeps_no_buffer() -> None:
    room, scheduler, _ = dice_room(delay=10.0)
    room.message(1, "ready", {"type": "ready"})
    assert room._spectators is None and room._fanout.spectators is None
    eve = Watcher("eve")
    room.add_spectator(eve)
    room.remove_spectator(eve)
    assert eve.left == ["leave"]
    assert room._spectators is None
    assert not spectator_timers(scheduler)


def test_a_spectator_that_falls_behind_is_let_go() -> None:
    room, _, (ann, _) = dice_room(delay=0.0)
    eve = Watcher("eve")
    room.add_spectator(eve)
    eve.connection.pending = 10**9
    room.message(1, "ready", {"type": "ready"})
    assert eve.left == ["too_slow"] and room.spectator_count == 0
    assert ann.connection.of_type("state")  # the players were not


# -- every shipped game's public view (GameHarness.spectate) ---------------------------------


def test_a_dice_spectator_never_sees_a_hand() -> None:
    h = GameHarness(dice_spec(), seed=5, options={"start_players": 3})
    a, b = h.join("ann"), h.join("bob")
    seen = h.spectate()
    assert seen[0]["type"] == "joined" and seen[0]["spectator"] is True
    h.send(a, "ready")
    h.send(b, "ready")
    states = [content(m) for m in seen if m["type"] == "state"]
    assert states and all("dice" not in s and "me" not in s for s in states)
    assert any("dice" in m for m in h.received(a) if m["type"] == "state")
    assert h.received(SPECTATOR) == seen


def test_an_arena_spectator_sees_the_shared_world() -> None:
    from game_server.games.arena_mode import arena_spec

    h = GameHarness(arena_spec(), seed=2)
    h.join("ann")
    seen = h.spectate()
    h.advance(0.2)
    assert seen[0]["state"]["players"] and any(m["type"] == "state" for m in seen)


def test_a_tictactoe_spectator_sees_the_board() -> None:
    from arena_tictactoe.game import spec as ttt

    h = GameHarness(ttt)
    a, _ = h.join("ann"), h.join("bob")
    seen = h.spectate()
    h.send(a, "move", cell=4)
    assert seen[-1]["board"][4] == "X"


def test_a_lantern_spectator_sees_no_one_in_the_fog() -> None:
    from arena_lantern.game import spec as lantern

    h = GameHarness(lantern, options={"size": 16})
    a, _ = h.join("ann"), h.join("bob")
    seen = h.spectate()
    h.advance(1.0)
    assert h.game.status == "playing"
    assert seen[0]["state"]["players"] == [] and seen[0]["state"]["gems"] == []
    states = [content(m) for m in seen if m["type"] == "state"]
    assert states and all(s.get("players") == [] and s.get("gems") == [] for s in states)
    assert "top" in states[-1] and "left" in states[-1]  # what the rules make public
    mine = [content(m) for m in h.received(a) if m["type"] == "state"]
    assert any(m["players"] for m in mine)  # a lantern sees at least its bearer


def test_the_join_message_takes_spectate_with_a_room_or_a_code_only() -> None:
    from protocol.codec import decode_object
    from protocol.errors import ProtocolError

    assert decode_object({"type": "join", "room": "r1", "spectate": True}).spectate is True
    assert decode_object({"type": "join", "code": "ab-cd", "spectate": True}).code == "ab-cd"
    assert decode_object({"type": "join", "room": "r1", "spectate": False}).spectate is False
    for bad in ({"type": "join", "room": "r1", "spectate": "yes"},
                {"type": "join", "mode": "arena", "spectate": True},
                {"type": "join", "resume": "tok", "spectate": True},
                {"type": "join", "room": "r1", "spectate": True, "fields": {"team": "red"}}):
        with pytest.raises(ProtocolError) as refused:
            decode_object(bad)
        assert refused.value.code == "bad_field" and "spectate" in refused.value.message
