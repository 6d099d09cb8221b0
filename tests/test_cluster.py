"""Two Arena servers acting as one: cross-server matchmaking, redirects with seat tokens,
the shared lobby, global chat, and kicks, over one presence shared in this process.

Real servers on real sockets sharing one SQLite file and cookie secret, with a `LocalPresence`
shared between them in place of Redis (the Redis presence passes the same contract suite in
tests/test_presence.py; tests/test_hosts.py runs separate processes on Redis).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from game_server.app import ArenaServer
from game_server.presence import LocalPresence, Presence
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config, recv_json, recv_until

SEAT_TTL = 0.4


@asynccontextmanager
async def two_servers(tmp_path: Path, *overrides: dict[str, Any],
                      presences: tuple[Presence, Presence] | None = None,
                      ) -> AsyncIterator[tuple[ArenaServer, ArenaServer]]:
    """Servers A and B over one shared presence (a `LocalPresence` unless `presences` are
    given, one per server); `overrides` are each one's config changes."""
    if presences is None:
        presence_a = LocalPresence("A", shared=True)
        presences = presence_a, presence_a.peer("B")  # one registry, as one Redis
    servers = []
    try:
        for presence, changes in zip(presences, overrides or ({}, {}), strict=True):
            server = ArenaServer(make_config(tmp_path / "data", **{"seat_ttl": SEAT_TTL,
                                                                    **changes}),
                                 passwords=PasswordHasher(n=2**10), presence=presence)
            await server.start()
            servers.append(server)
        yield servers[0], servers[1]
    finally:
        for server in servers:
            await server.stop()


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[ArenaServer, ArenaServer]]:
    async with two_servers(tmp_path) as servers:
        yield servers


async def player(clients: list[Browserless], server: ArenaServer, name: str
                 ) -> tuple[Browserless, WebSocketClientConnection]:
    client = Browserless(server.url)
    clients.append(client)
    await client.guest(name)
    return client, await client.ws()


def send(ws: WebSocketClientConnection, **msg: Any) -> None:
    ws.write_message(orjson.dumps(msg).decode())


async def follow(client: Browserless, redirect: dict[str, Any], *, cookie: bool = False
                 ) -> WebSocketClientConnection:
    """Open the redirect's URL with its seat token (no cookie, like a browser on another
    host) and claim the seat."""
    headers = {"Cookie": client.cookie_header()} if cookie else {}
    ws = await websocket_connect(HTTPRequest(
        redirect["url"] + "?seat=" + quote(redirect["seat"]), headers=headers))
    client.sockets.append(ws)
    send(ws, type="join", seat=redirect["seat"])
    return ws


async def join_anywhere(client: Browserless, ws: WebSocketClientConnection
                        ) -> tuple[WebSocketClientConnection, dict[str, Any]]:
    send(ws, type="join", mode="arena")
    answer = await _answer(ws)
    if answer["type"] == "redirect":
        ws.close()
        ws = await follow(client, answer)
        answer = await recv_until(ws, "joined")
    return ws, answer


async def _answer(ws: WebSocketClientConnection) -> dict[str, Any]:
    while True:
        msg = await recv_json(ws)
        assert msg is not None, "closed before an answer to join"
        if msg["type"] in ("joined", "redirect", "error"):
            return msg


async def seat_offer(pair, clients) -> tuple[dict[str, Any], Browserless, dict[str, Any]]:
    """ann joins on the first server and opens a room; bob, joining by mode on the second,
    is offered a seat in it: (ann's `joined`, bob's client, bob's answer)."""
    a, b = pair
    _, ws1 = await player(clients, a, "ann")
    send(ws1, type="join", mode="arena")
    joined1 = await recv_until(ws1, "joined")
    client2, ws2 = await player(clients, b, "bob")
    send(ws2, type="join", mode="arena")
    answer = await _answer(ws2)
    ws2.close()
    return joined1, client2, answer


async def test_join_on_either_server_fills_the_same_room(pair, clients) -> None:
    a, b = pair
    joined1, client2, redirect = await seat_offer(pair, clients)
    room = joined1["room"]
    assert a.matchmaker.get(room) is not None
    assert redirect["type"] == "redirect"
    assert redirect["url"] == a.websocket_url
    assert redirect["room"] == room
    assert redirect["expires_in"] == SEAT_TTL
    # The token travels in a URL: it names the login session by its hash, never its id.
    import base64
    body = redirect["seat"].split(".")[1]
    claims = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert len(claims["k"]) == 64 and int(claims["k"], 16) >= 0
    moved = await follow(client2, redirect)
    joined2 = await recv_until(moved, "joined")
    assert joined2["room"] == room
    assert a.matchmaker.get(room).player_count == 2
    assert b.matchmaker.rooms() == []
    # Both lobbies list the one room with both players.
    for server in (a, b):
        listed = orjson.loads((await Browserless(server.url).http.fetch(
            server.url + "/api/rooms")).body)
        assert [(r["id"], r["players"], r["url"]) for r in listed["rooms"]] == [
            (room, 2, a.websocket_url)]


async def test_twenty_five_players_fill_one_room_before_opening_another(pair, clients) -> None:
    a, b = pair
    rooms: dict[str, int] = {}
    for i in range(25):
        client, ws = await player(clients, (a, b)[i % 2], f"p{i}")
        ws, joined = await join_anywhere(client, ws)
        rooms[joined["room"]] = rooms.get(joined["room"], 0) + 1
    assert sorted(rooms.values()) == [5, 20]
    counts = sorted(room.player_count for s in (a, b) for room in s.matchmaker.rooms())
    assert counts == [5, 20]


async def test_a_seat_not_taken_does_not_open_a_second_room(tmp_path: Path, clients) -> None:
    # Rooms of two, seats held 30 s: bob is sent to ann's room, never gets there (a refused or
    # failed connection), and joins by mode again at home. His unused seat must not make the
    # room look full, or every such return opens a room beside it (issue: 20/17/3, not 20/20).
    config = {"mode_options": ("arena.max_players=2",), "seat_ttl": 30.0}
    async with two_servers(tmp_path, config, config) as pair:
        joined, bob, first = await seat_offer(pair, clients)
        assert first["type"] == "redirect"
        ws = await bob.ws()
        send(ws, type="join", mode="arena")
        again = await _answer(ws)
        assert again["type"] == "redirect", again
        assert again["room"] == joined["room"]
        assert [(r.id, r.players, r.reserved) for r in await pair[0].presence.rooms()] == [
            (joined["room"], 1, 1)]
        moved = await follow(bob, again)
        assert (await recv_until(moved, "joined"))["room"] == joined["room"]


async def test_quick_play_across_servers_passes_over_a_room_of_only_held_seats(
        tmp_path: Path, clients) -> None:
    # ann plays on A and drops: her seat is held there for a resume, and A reports the room
    # with nobody connected at once (not at the next heartbeat: 20 s away here). bob, joining
    # on B, starts a room there rather than sit alone beside her held seat; carol, joining on
    # A, is sent to bob (issue #22: held seats split players).
    config = {"resume_grace": 60.0}
    shared = LocalPresence("A", shared=True, room_ttl=60.0)  # heartbeats 20 s apart
    async with two_servers(tmp_path, config, config,
                           presences=(shared, shared.peer("B"))) as (a, b):
        _, ws = await player(clients, a, "ann")
        send(ws, type="join", mode="arena")
        ghost = (await recv_until(ws, "joined"))["room"]
        await a.cluster.sync()  # the heartbeat's report: ann is there
        assert [r.connected for r in await a.presence.rooms()] == [1]
        ws.close()
        async with asyncio.timeout(5):
            # No event says "reported"; the presence is polled, within a bound.
            while [r.connected for r in await a.presence.rooms()] != [0]:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        [record] = await a.presence.rooms()
        assert (record.id, record.players, record.connected, record.away) == (ghost, 1, 0, 1)
        bob, ws = await player(clients, b, "bob")
        ws, joined = await join_anywhere(bob, ws)
        assert joined["room"] != ghost and b.matchmaker.get(joined["room"]) is not None
        carol, ws = await player(clients, a, "carol")
        ws, joined2 = await join_anywhere(carol, ws)
        assert joined2["room"] == joined["room"]
        listed = orjson.loads((await Browserless(a.url).http.fetch(a.url + "/api/rooms")).body)
        assert sorted((r["id"] == ghost, r["players"], r["connected"], r["away"])
                      for r in listed["rooms"]) == [(False, 2, 2, 0), (True, 1, 0, 1)]


async def test_a_seat_refused_at_the_door_is_freed_at_once(tmp_path: Path, clients) -> None:
    # A takes one socket per address: bob's seat connection is refused (429), and the seat
    # it came for is free again right away, not after the seat's 30 s.
    async with two_servers(tmp_path, {"max_connections_per_ip": 1, "seat_ttl": 30.0},
                           {"seat_ttl": 30.0}) as pair:
        joined, bob, redirect = await seat_offer(pair, clients)
        assert (await pair[0].presence.rooms())[0].reserved == 1
        with pytest.raises(HTTPClientError) as refused:
            await websocket_connect(redirect["url"] + "?seat=" + quote(redirect["seat"]))
        assert refused.value.code == 429
        assert [(r.id, r.players, r.reserved) for r in await pair[0].presence.rooms()] == [
            (joined["room"], 1, 0)]


async def test_a_seat_token_is_single_use_and_bound_to_its_account(pair, clients) -> None:
    a, b = pair
    _, client2, redirect = await seat_offer(pair, clients)

    # Another account presenting bob's token over its own cookie: refused.
    client3, _ = await player(clients, a, "eve")
    eve = await client3.ws()
    send(eve, type="join", seat=redirect["seat"])
    error = await recv_until(eve, "error")
    assert error["code"] == "seat_invalid"

    moved = await follow(client2, redirect)
    await recv_until(moved, "joined")
    send(moved, type="leave")
    await recv_until(moved, "left")
    send(moved, type="join", seat=redirect["seat"])
    error = await recv_until(moved, "error")
    assert error["code"] == "seat_invalid"
    assert "already taken" in error["message"]


async def test_a_forged_or_expired_seat_token_opens_no_socket(pair, clients) -> None:
    a, b = pair
    _, _, redirect = await seat_offer(pair, clients)
    version, body, mac = redirect["seat"].split(".")
    forged = f"{version}.{body}.{mac[:-2]}AA"
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(redirect["url"] + "?seat=" + quote(forged))
    assert refused.value.code == 401

    # Not claimed in time: the seat lapses and the token is refused.
    deadline = asyncio.get_running_loop().time() + 5
    while (await a.presence.rooms())[0].reserved:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    with pytest.raises(HTTPClientError) as expired:
        await websocket_connect(redirect["url"] + "?seat=" + quote(redirect["seat"]))
    assert expired.value.code == 401


async def test_global_chat_reaches_players_on_every_server(pair, clients) -> None:
    a, b = pair
    _, on_a = await player(clients, a, "ann")
    _, on_b = await player(clients, b, "bob")
    send(on_a, type="chat", text="anyone for a round?", scope="global")
    for ws in (on_a, on_b):
        chat = await recv_until(ws, "chat")
        assert chat == {"type": "chat", "player": 0, "name": "ann",
                        "text": "anyone for a round?", "scope": "global"}


async def test_logout_on_one_server_closes_the_socket_on_the_other(pair, clients) -> None:
    a, b = pair
    client, _ = await player(clients, a, "ann")
    on_b = Browserless(b.url)
    clients.append(on_b)
    on_b.cookies = dict(client.cookies)  # the same login, used on the other server
    ws = await on_b.ws()
    send(ws, type="ping", id=1)
    await recv_until(ws, "pong")
    response = await client.request("POST", "/api/logout")
    assert response.code == 200
    assert await asyncio.wait_for(ws.read_message(), 5) is None
    assert ws.close_code == 4003
    with pytest.raises(HTTPClientError) as refused:
        await on_b.ws()
    assert refused.value.code == 401


async def test_a_newer_socket_on_another_server_replaces_the_older(pair, clients) -> None:
    a, b = pair
    client, on_a = await player(clients, a, "ann")
    on_b = Browserless(b.url)
    clients.append(on_b)
    on_b.cookies = dict(client.cookies)
    newer = await on_b.ws()
    assert await asyncio.wait_for(on_a.read_message(), 5) is None
    assert on_a.close_code == 4001
    send(newer, type="ping", id=2)
    assert (await recv_until(newer, "pong"))["id"] == 2


async def test_a_closed_room_leaves_the_shared_lobby(pair, clients) -> None:
    a, b = pair
    _, ws = await player(clients, a, "ann")
    send(ws, type="join", mode="arena")
    joined = await recv_until(ws, "joined")
    send(ws, type="leave")
    await recv_until(ws, "left")
    deadline = asyncio.get_running_loop().time() + 5  # empty_room_grace is 0.5 s
    while [r.id for r in await b.presence.rooms()] == [joined["room"]]:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert await b.presence.rooms() == []


def test_public_urls_of_workers(tmp_path: Path) -> None:
    import socket

    def url(public: str, shared: bool) -> tuple[str, str]:
        server = ArenaServer(make_config(tmp_path / "data", public_url=public),
                             shared_sockets=[socket.socket()] if shared else None)
        server.port = 8890
        try:
            return server.public_url, server.websocket_url
        finally:
            for sock in server._shared_sockets:
                sock.close()

    assert url("", False) == ("http://127.0.0.1:8890", "ws://127.0.0.1:8890/ws")
    assert url("https://play.example.com", False) == (
        "https://play.example.com", "wss://play.example.com/ws")
    # A forked worker: its own port, so a redirect reaches the worker that holds the room.
    assert url("http://127.0.0.2:8888", True) == (
        "http://127.0.0.2:8890", "ws://127.0.0.2:8890/ws")
    # Behind a proxy: the worker's port names its path.
    assert url("https://play.example.com/p{port}", True) == (
        "https://play.example.com/p8890", "wss://play.example.com/p8890/ws")


async def test_placements_are_counted_in_metrics(pair, clients) -> None:
    a, b = pair
    _, ws1 = await player(clients, a, "ann")
    await join_anywhere(clients[-1], ws1)
    client2, ws2 = await player(clients, b, "bob")
    await join_anywhere(client2, ws2)
    text_a = a.metrics.render().decode()
    text_b = b.metrics.render().decode()
    assert 'arena_placements_total{outcome="here"} 1.0' in text_a
    assert 'arena_placements_total{outcome="claimed"} 1.0' in text_a
    assert 'arena_placements_total{outcome="redirected"} 1.0' in text_b


async def test_the_access_log_never_shows_a_seat_token(pair, clients, caplog) -> None:
    import logging

    a, b = pair
    _, ws1 = await player(clients, a, "ann")
    await join_anywhere(clients[-1], ws1)
    client2, ws2 = await player(clients, b, "bob")
    with caplog.at_level(logging.INFO, logger="tornado.access"):
        send(ws2, type="join", mode="arena")
        redirect = await _answer(ws2)
        moved = await follow(client2, redirect)
        await recv_until(moved, "joined")
    handshakes = [r.getMessage() for r in caplog.records if "/ws" in r.getMessage()]
    assert handshakes, "the handshake was logged"
    assert not any(redirect["seat"][:20] in line or "seat=" in line for line in handshakes)


@pytest.mark.serial  # locust counts states over a few seconds: a busy neighbour starves it
async def test_load_generators_follow_real_redirects(pair, clients, tmp_path: Path) -> None:
    """The load generator and locust, logged in on B, are sent to A's room and play there."""
    from bench import loadgen
    from tests.conftest import run_locust

    a, b = pair
    _, ws = await player(clients, a, "ann")  # A holds the fullest room
    await join_anywhere(clients[-1], ws)
    result = await loadgen.run_load(
        loadgen.LoadOptions(url=b.url, players=4, seconds=1.0, warmup=0.2, seed=1),
        announce=False,
    )
    assert result["joined"] == 4 and result["failures"] == 0, result["failure_kinds"]
    assert result["redirected"] == 4
    assert result["states_per_player_second_min"] > 0 and result["pongs"] > 0

    log, stats, failures, code = await run_locust(b.url, 3, 4, tmp_path / "redirect")
    assert failures == [] and code == 0, log
    assert stats["WS redirect"]["Request Count"] == 3, log
    assert stats["states per user-second"]["Request Count"] > 0, log
    assert 'arena_placements_total{outcome="claimed"}' in a.metrics.render().decode()
