"""Rooms of every mode across servers: private codes, locks, options and metadata.

Two real Arena servers on real sockets, each with its own presence on one real Redis (as two
hosts would have), and again over one shared `LocalPresence`: a private room is joined by its
code from the other server, quick play elsewhere skips a locked room and matches options, and
every lobby shows each room's lock and metadata but never a private room.

The presence's rooms live for a minute here, so the heartbeat (every 20 s) never runs during a
test: whatever reaches the other server does so because the room published it at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from tornado.websocket import WebSocketClientConnection

from game_server.app import ArenaServer
from game_server.presence import LocalPresence, Presence, RedisPresence
from tests.conftest import Browserless, recv_until
from tests.rd import redis_server, redis_url
from tests.test_cluster import _answer, follow, player, send, two_servers

__all__ = ["redis_server", "redis_url"]  # fixtures used by name

ROOM_TTL = 60.0  # no heartbeat within a test


@pytest.fixture(params=["redis", "local"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path
               ) -> AsyncIterator[tuple[ArenaServer, ArenaServer]]:
    presences: tuple[Presence, Presence]
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        presences = (RedisPresence(url, "A", room_ttl=ROOM_TTL),
                     RedisPresence(url, "B", room_ttl=ROOM_TTL))
    else:
        shared = LocalPresence("A", room_ttl=ROOM_TTL, shared=True)
        presences = shared, shared.peer("B")
    async with two_servers(tmp_path, presences=presences) as servers:
        yield servers


async def lobby(server: ArenaServer, query: str = "") -> list[dict[str, Any]]:
    response = await Browserless(server.url).http.fetch(f"{server.url}/api/rooms{query}")
    body = orjson.loads(response.body)
    assert body["complete"] is True
    return body["rooms"]


async def until(check: Callable[[], Any], what: str, within: float = 5.0) -> None:
    """Await `check()` until it is true; fail after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.02)


async def seated(clients: list[Browserless], server: ArenaServer, name: str, **join: Any
                 ) -> tuple[WebSocketClientConnection, dict[str, Any], str]:
    """`name` logs in on `server` and sends `join` with `join`'s fields, following a redirect:
    its socket, its `joined`, and how it got there ("joined" or "redirect")."""
    client, ws = await player(clients, server, name)
    send(ws, type="join", **join)
    answer = await _answer(ws)
    if answer["type"] == "redirect":
        ws.close()
        ws = await follow(client, answer)
        joined = await recv_until(ws, "joined")
        assert joined["room"] == answer["room"]
        return ws, joined, "redirect"
    assert answer["type"] == "joined", answer
    return ws, answer, "joined"


async def test_a_private_room_is_joined_by_code_from_another_server(pair, clients) -> None:
    a, b = pair
    _, ann = await player(clients, a, "ann")
    send(ann, type="create", mode="tictactoe", private=True)
    created = await recv_until(ann, "joined")
    code = created["code"]
    assert a.matchmaker.get(created["room"]).private
    # Typed as a friend reads it out: any case, a dash.
    typed = f"{code[:2].lower()}-{code[2:]}"
    bob, joined, how = await seated(clients, b, "bob", code=typed)
    assert how == "redirect"
    assert (joined["room"], joined["code"]) == (created["room"], code)
    assert a.matchmaker.get(created["room"]).player_count == 2
    assert b.matchmaker.rooms() == []
    # Nobody else gets in by its id, and the lobbies never list it.
    _, cid = await player(clients, b, "cid")
    send(cid, type="join", room=created["room"])
    assert (await recv_until(cid, "error"))["code"] == "room_not_found"
    for server in (a, b):
        assert await lobby(server) == []
    # A code no room has, from either server.
    for server in (a, b):
        _, eve = await player(clients, server, "eve")
        send(eve, type="join", code="QQQQQ")
        assert (await recv_until(eve, "error"))["code"] == "room_not_found"


async def test_a_private_code_is_unique_across_servers(pair, clients, monkeypatch) -> None:
    a, b = pair
    monkeypatch.setattr(a.matchmaker, "_codes", lambda: "AAAAA")
    draws = iter(["AAAAA", "BBBBB"])
    monkeypatch.setattr(b.matchmaker, "_codes", lambda: next(draws))
    _, ann = await player(clients, a, "ann")
    send(ann, type="create", mode="dice", private=True)
    table = await recv_until(ann, "joined")
    assert table["code"] == "AAAAA"
    _, bob = await player(clients, b, "bob")
    send(bob, type="create", mode="dice", private=True)
    assert (await recv_until(bob, "joined"))["code"] == "BBBBB"  # AAAAA is ann's room
    assert len(b.matchmaker.rooms()) == 1
    _, joined, how = await seated(clients, b, "cid", code="AAAAA")
    assert (how, joined["room"]) == ("redirect", table["room"])  # ann's table, on A
    assert [r.player_count for r in a.matchmaker.rooms()] == [2]


async def test_a_locked_room_is_skipped_by_quick_play_elsewhere(pair, clients) -> None:
    a, b = pair
    # Liar's Dice starts (and locks) with two players seated, leaving four seats free.
    _, ann, _ = await seated(clients, a, "ann", mode="dice")
    _, bob, _ = await seated(clients, a, "bob", mode="dice")
    [table] = a.matchmaker.rooms()
    assert table.locked and table.player_count == 2 and table.max_players == 6

    async def locked_on_b() -> bool:
        return [(r["id"], r.get("locked")) for r in await lobby(b)] == [(table.id, True)]

    await until(locked_on_b, "B's lobby shows A's table locked")
    _, joined, how = await seated(clients, b, "cid", mode="dice")
    assert (how, joined["room"]) == ("joined", b.matchmaker.rooms()[0].id)
    assert table.player_count == 2
    # Joining it by id is refused, from either server.
    for server in (a, b):
        _, eve = await player(clients, server, "eve")
        send(eve, type="join", room=table.id)
        assert (await recv_until(eve, "error"))["code"] == "room_locked"


async def test_quick_play_elsewhere_matches_options(pair, clients) -> None:
    a, b = pair
    slow = {"turn_seconds": 60, "start_players": 3}
    fast = {"turn_seconds": 20, "start_players": 3}
    _, _, _ = await seated(clients, a, "ann", mode="dice", options=slow)
    _, _, _ = await seated(clients, a, "dan", mode="dice", options=fast)
    _, _, _ = await seated(clients, a, "eve", mode="dice", options=fast)  # the fuller table
    by_options = {room.options["turn_seconds"]: room for room in a.matchmaker.rooms()}
    assert sorted(r.player_count for r in by_options.values()) == [1, 2]
    # The same options, in another order and with a default spelled out: ann's table.
    _, joined, how = await seated(clients, b, "bob", mode="dice",
                                  options={"start_players": 3, "dice": 5, "turn_seconds": 60})
    assert (how, joined["room"]) == ("redirect", by_options[60].id)
    assert joined["options"] == dict(by_options[60].options)  # the room's, defaults and all
    for server in (a, b):  # every lobby lists each room with its options
        listed = {r["id"]: r["options"] for r in await lobby(server)}
        assert listed == {room.id: dict(room.options) for room in by_options.values()}
    # Only some options named, or a range: the fullest table that matches them.
    _, joined, how = await seated(clients, b, "gus", mode="dice",
                                  options={"ones_wild": True, "max_turn_seconds": 30})
    assert (how, joined["room"]) == ("redirect", by_options[20].id)
    _, joined, how = await seated(clients, b, "hal", mode="dice",
                                  options={"min_turn_seconds": 30})
    assert (how, joined["room"]) == ("redirect", by_options[60].id)
    assert [r["id"] for r in await lobby(b, "?min_turn_seconds=30")] == [by_options[60].id]
    assert [r["id"] for r in await lobby(a, "?mode=dice&turn_seconds=20&max_players=3")] == [
        by_options[20].id]
    # Options no table has: a table of its own, here.
    _, joined, how = await seated(clients, b, "cid", mode="dice",
                                  options={"turn_seconds": 45, "start_players": 3})
    assert how == "joined" and b.matchmaker.get(joined["room"]).options["turn_seconds"] == 45
    # Options out of range are refused where the player asks, before any look-up.
    _, fay = await player(clients, b, "fay")
    send(fay, type="join", mode="dice", options={"turn_seconds": 1})
    assert (await recv_until(fay, "error"))["code"] == "out_of_range"


async def test_metadata_and_locks_reach_every_lobby_at_once(pair, clients) -> None:
    a, b = pair
    ann, _, _ = await seated(clients, a, "ann", mode="tictactoe")
    [room] = a.matchmaker.rooms()

    async def listed_on_b(**wanted: Any) -> bool:
        listed = await lobby(b)
        return len(listed) == 1 and all(listed[0].get(k) == v for k, v in wanted.items())

    await until(lambda: listed_on_b(id=room.id, metadata={"status": "waiting"}),
                "B lists A's waiting room")
    assert "locked" not in (await lobby(b))[0]
    await seated(clients, a, "bob", mode="tictactoe")
    await until(lambda: listed_on_b(locked=True, metadata={"status": "playing"}),
                "B lists A's room playing and locked")
    assert [r["id"] for r in await lobby(b, "?mode=tictactoe&status=playing")] == [room.id]
    assert await lobby(b, "?status=waiting") == []
    assert [r["id"] for r in await lobby(b, "?min_players=2&turn_seconds=30")] == [room.id]
    response = await Browserless(b.url).http.fetch(f"{b.url}/api/rooms?min_players=two",
                                                   raise_error=False)
    assert response.code == 400 and orjson.loads(response.body)["error"] == "bad_filter"


async def test_a_seat_refused_at_the_claim_is_not_counted(pair, clients) -> None:
    a, b = pair
    _, ann, _ = await seated(clients, a, "ann", mode="dice")
    [table] = a.matchmaker.rooms()
    # bob, on B, is sent to ann's table; before he gets there, cid sits down and the match
    # starts: the table locks and bob's claim is refused by the room.
    bob, on_b = await player(clients, b, "bob")
    send(on_b, type="join", mode="dice")
    offer = await _answer(on_b)
    assert (offer["type"], offer["room"]) == ("redirect", table.id)
    await seated(clients, a, "cid", mode="dice")
    assert table.locked and table.player_count == 2
    late = await follow(bob, offer)
    assert (await recv_until(late, "error"))["code"] == "room_locked"
    # The presence counted bob when his seat was claimed; the owner puts it right.
    await a.cluster.sync()
    assert [(r["id"], r["players"]) for r in await lobby(b)] == [(table.id, 2)]


async def test_quick_play_across_processes_passes_over_a_room_that_refuses(tmp_path, clients
                                                                          ) -> None:
    games = {"games": ("tests.test_rooms:TALLY",)}
    async with two_servers(tmp_path, games, games) as (a, b):
        _, _, _ = await seated(clients, a, "ann", mode="tally", options={"goal": 1})
        [sudden_death] = a.matchmaker.rooms()
        # The fullest open tally room is ann's, whose game refuses rookies: a room of its own.
        _, joined, how = await seated(clients, a, "rookie", mode="tally")
        assert how == "joined" and joined["room"] != sudden_death.id
        assert joined["options"] == {"goal": 5}
        rookies = joined["room"]
        _, joined, how = await seated(clients, b, "bob", mode="tally", options={"max_goal": 2})
        assert (how, joined["room"]) == ("redirect", sudden_death.id)
        # From the other process: sent to the fullest room (ann's, on A), refused there at the
        # claim; quick play goes on over there: the next room that matches the player's own
        # filter, the first rookie's.
        await a.cluster.sync()  # the refused claims counted players: A puts the counts right
        client, ws = await player(clients, b, "rookie2")
        send(ws, type="join", mode="tally", options={"min_goal": 1})
        offer = await _answer(ws)
        assert (offer["type"], offer["room"]) == ("redirect", sudden_death.id)
        ws.close()
        ws = await follow(client, offer)
        assert (await recv_until(ws, "joined"))["room"] == rookies
        assert sudden_death.player_count == 2 and b.matchmaker.rooms() == []
