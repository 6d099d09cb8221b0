"""The WebSocket endpoint against a real server: refusals before the upgrade, and real play."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from game_server.app import ArenaServer
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config, recv_until


def acked(state: dict, player: int, seq: int) -> bool:
    """Whether this state acknowledges `seq` for `player` (in `acks`, or a `spawned` row)."""
    acks = state.get("acks", [])
    if any(acks[i] == player and acks[i + 1] == seq for i in range(0, len(acks), 2)):
        return True
    return any(row[0] == player and row[5] == seq for row in state.get("spawned", []))


def send(ws: WebSocketClientConnection, msg: dict) -> None:
    ws.write_message(orjson.dumps(msg).decode())


async def joined_player(client_factory, name: str) -> tuple[Browserless,
                                                            WebSocketClientConnection, dict]:
    c = client_factory()
    await c.guest(name)
    ws = await c.ws()
    send(ws, {"type": "join", "mode": "arena"})
    return c, ws, await recv_until(ws, "joined")


async def refused_with(c: Browserless, **kw) -> int:
    with pytest.raises(HTTPClientError) as info:
        await c.ws(**kw)
    return info.value.code


async def test_no_cookie_is_refused_with_401_before_the_upgrade(client_factory) -> None:
    c = client_factory()
    assert await refused_with(c, cookie="") == 401


async def test_a_forged_or_tampered_cookie_is_refused(client_factory) -> None:
    c = client_factory()
    await c.guest("mallory")
    good = c.cookies["arena_session"]
    assert await refused_with(c, cookie="arena_session=" + good[:-3] + "abc") == 401
    assert await refused_with(c, cookie="arena_session=2|1:0|10:1700000000|13:arena_session|"
                                        "8:Zm9yZ2Vk|deadbeef") == 401
    # signed with another secret
    from tornado.web import create_signed_value
    other = create_signed_value("another-secret" * 4, "arena_session", "whatever").decode()
    assert await refused_with(c, cookie="arena_session=" + other) == 401


async def test_a_revoked_session_cannot_open_a_socket(client_factory) -> None:
    c = client_factory()
    await c.guest("leaver")
    old = c.cookie_header()
    ws = await c.ws()
    ws.close()
    assert (await c.request("POST", "/api/logout")).code == 200
    assert await refused_with(c, cookie=old) == 401


async def test_foreign_origins_are_refused_with_403(server, client_factory) -> None:
    c = client_factory()
    await c.guest("web")
    assert await refused_with(c, origin="http://evil.example") == 403
    ws = await c.ws(origin=server.url)  # the server's own origin
    ws.close()


async def test_configured_origins_are_allowed(tmp_path) -> None:
    srv = ArenaServer(make_config(tmp_path, allowed_origins=("https://game.example",)),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    c = Browserless(srv.url)
    try:
        await c.guest("web")
        ws = await c.ws(origin="https://game.example")
        ws.close()
        assert await refused_with(c, origin="https://other.example") == 403
    finally:
        await c.aclose()
        await srv.stop()


async def test_two_players_see_each_other_and_states_tick(client_factory) -> None:
    _, ws_a, joined_a = await joined_player(client_factory, "ann")
    _, ws_b, joined_b = await joined_player(client_factory, "bob")
    assert joined_a["room"] == joined_b["room"]
    names = {row[0]: row[1] for row in joined_b["state"]["players"]}
    assert names[joined_a["player"]] == "ann" and names[joined_b["player"]] == "bob"
    spawned = await recv_until(ws_a, "state", where=lambda s: any(
        row[0] == joined_b["player"] for row in s.get("spawned", [])))
    assert spawned["ts"] > 0
    send(ws_b, {"type": "input", "seq": 1, "dx": 1, "dy": 0})
    moved = await recv_until(ws_a, "state", where=lambda s: joined_b["player"] in s.get(
        "moved", [])[::3])
    ticks = [moved["tick"]]
    for _ in range(5):
        ticks.append((await recv_until(ws_a, "state"))["tick"])
    assert ticks == sorted(set(ticks))
    ws_a.close()
    ws_b.close()


async def test_ping_pong_and_chat(client_factory) -> None:
    _, ws_a, _ = await joined_player(client_factory, "ann")
    _, ws_b, joined_b = await joined_player(client_factory, "<img src onerror=x>")
    send(ws_a, {"type": "ping", "id": "p-1"})
    pong = await recv_until(ws_a, "pong")
    assert pong["id"] == "p-1" and isinstance(pong["ts"], int)
    send(ws_b, {"type": "chat", "text": "hello <b>there</b>"})
    chat = await recv_until(ws_a, "chat")
    assert chat == {"type": "chat", "player": joined_b["player"],
                    "name": "<img src onerror=x>", "text": "hello <b>there</b>"}
    ws_a.close()
    ws_b.close()


async def test_bad_input_gets_errors_and_the_socket_stays_usable(client_factory) -> None:
    _, ws, _ = await joined_player(client_factory, "fuzz")
    cases = [
        ("not json", "bad_json"),
        ("[1]", "bad_message"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "input", "seq": "one", "dx": 0, "dy": 0}', "bad_field"),
        ('{"type": "input", "seq": 1, "dx": 1e9, "dy": 0}', "out_of_range"),
        ('{"type": "chat", "text": ""}', "out_of_range"),
        ('{"type": "join", "mode": "arena"}', "already_in_room"),
    ]
    for frame, code in cases:
        ws.write_message(frame)
        error = await recv_until(ws, "error")
        assert error["code"] == code, frame
        assert error["message"]
    ws.write_message(b"\x00\x01", binary=True)
    assert (await recv_until(ws, "error"))["code"] == "binary_frame"
    send(ws, {"type": "ping", "id": 7})
    assert (await recv_until(ws, "pong"))["id"] == 7
    ws.close()


async def test_a_message_larger_than_one_socket_read_arrives_whole(client_factory) -> None:
    # A 12 KiB frame may span socket reads: the parser keeps what is incomplete.
    _, ws, _ = await joined_player(client_factory, "long")
    ws.write_message('{"type": "ping", "id": 42' + " " * (12 * 1024) + "}")
    send(ws, {"type": "ping", "id": 43})
    assert (await recv_until(ws, "pong"))["id"] == 42
    assert (await recv_until(ws, "pong"))["id"] == 43
    ws.close()


async def test_oversized_frames_close_with_1009(client_factory) -> None:
    _, ws, _ = await joined_player(client_factory, "big")
    send(ws, {"type": "chat", "text": "x" * (17 * 1024)})
    async with asyncio.timeout(5):
        while await ws.read_message() is not None:
            pass
    assert ws.close_code == 1009


async def test_leaving_then_joining_a_room_by_id(client_factory) -> None:
    _, ws_a, joined_a = await joined_player(client_factory, "ann")
    c = client_factory()
    await c.guest("bob")
    ws_b = await c.ws()
    send(ws_b, {"type": "join", "room": joined_a["room"]})
    joined_b = await recv_until(ws_b, "joined")
    assert joined_b["room"] == joined_a["room"]
    await recv_until(ws_a, "state", where=lambda s: any(
        row[0] == joined_b["player"] for row in s.get("spawned", [])))
    send(ws_b, {"type": "leave"})
    assert (await recv_until(ws_b, "left"))["reason"] == "leave"
    await recv_until(ws_a, "state", where=lambda s: joined_b["player"] in s.get("gone", []))
    ws_a.close()
    ws_b.close()


async def test_the_arena_result_is_saved_when_a_player_disconnects(server, client_factory) -> None:
    c, ws, joined = await joined_player(client_factory, "saver")
    ws.close()
    async with asyncio.timeout(5):
        while True:
            r = await c.request("GET", "/api/leaderboard?mode=arena&around=me")
            you = orjson.loads(r.body)["you"]
            if you is not None:
                break
            await asyncio.sleep(0.02)
    assert you["score"] >= 10  # the arena reports its best mass when a player leaves


async def test_shutdown_closes_sockets_with_1001(tmp_path) -> None:
    srv = ArenaServer(make_config(tmp_path),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    c = Browserless(srv.url)
    try:
        await c.guest("last")
        ws = await c.ws()
        send(ws, {"type": "join", "mode": "arena"})
        await recv_until(ws, "joined")
        await srv.stop()
        left = await recv_until(ws, "left")
        assert left["reason"] == "server_closing"
        async with asyncio.timeout(5):
            while await ws.read_message() is not None:
                pass
        assert ws.close_code == 1001
    finally:
        await c.aclose()


async def test_a_second_socket_of_the_same_account_replaces_the_first(client_factory) -> None:
    c, first, _ = await joined_player(client_factory, "twice")
    second = await c.ws()
    async with asyncio.timeout(5):
        while await first.read_message() is not None:
            pass
    assert first.close_code == 4001
    send(second, {"type": "join", "mode": "arena"})
    assert (await recv_until(second, "joined"))["player"]


async def test_sockets_per_address_are_capped_with_429(tmp_path) -> None:
    srv = ArenaServer(make_config(tmp_path, max_connections_per_ip=2),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    clients = [Browserless(srv.url) for _ in range(3)]
    try:
        for c in clients:
            await c.guest("crowd")
        await clients[0].ws()
        await clients[1].ws()
        assert await refused_with(clients[2]) == 429
        await clients[0].aclose()  # a slot frees up once a socket closes
        async with asyncio.timeout(5):
            while srv.sockets.count_ip("127.0.0.1") > 1:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        await clients[2].ws()
    finally:
        for c in clients:
            await c.aclose()
        await srv.stop()


async def test_reconnecting_with_the_resume_token_gets_the_same_player_back(
        tmp_path) -> None:
    srv = ArenaServer(make_config(tmp_path, resume_grace=15.0),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    c = Browserless(srv.url)
    try:
        await c.guest("comeback")
        first = await c.ws()
        send(first, {"type": "join", "mode": "arena"})
        joined = await recv_until(first, "joined")
        send(first, {"type": "input", "seq": 1, "dx": 1, "dy": 0})
        await recv_until(first, "state", where=lambda s: acked(s, joined["player"], 1))
        first.close()  # the network drops
        async with asyncio.timeout(5):
            while await first.read_message() is not None:
                pass
        second = await c.ws()
        send(second, {"type": "join", "resume": joined["resume"]})
        again = await recv_until(second, "joined")
        assert (again["room"], again["player"]) == (joined["room"], joined["player"])
        row = [p for p in again["state"]["players"] if p[0] == joined["player"]][0]
        assert row[5] == 1  # the same player, with its processed input
        assert srv.matchmaker.rooms()[0].player_count == 1
    finally:
        await c.aclose()
        await srv.stop()
