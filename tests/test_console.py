"""The operator console's API (issue 24): only operators reach it, every action is audited and
acts through the room handle a game uses; bans hold at login, at the handshake and on present
sessions; accounts can be found, logged out and deleted; `operator grant|revoke|list` on the
command line; `--metrics-token`. One real server with a real SQLite file; real sockets."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tornado.websocket import WebSocketClientConnection

from game_server.app import ArenaServer
from game_server.games.api import Changes, EventDriven, Field, GameSpec, MessageSpec, Outcome
from game_server.games.loading import server_modes
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config, recv_until


class Bell:
    """An event-driven game that answers an operator's signals: `ring` counts, `say` echoes."""

    def __init__(self, room: Any) -> None:
        self.room = room
        self.rings = 0
        self.players: list[int] = []

    def on_join(self, seat: Any) -> None:
        self.players.append(seat.player)

    def on_leave(self, player: int, consented: bool) -> None:
        self.players.remove(player)

    def on_message(self, player: int, kind: str, body: Any) -> None:
        pass

    def on_signal(self, name: str, payload: Any) -> str | None:
        if name == "ring":
            self.rings += int((payload or {}).get("times", 1))
            return f"rang, {self.rings} in all"
        return None

    def view(self, player: int) -> dict[str, Any]:
        return {"rings": self.rings, "players": list(self.players)}

    def changes(self) -> Any:
        return Changes({"rings": self.rings})


BELL = GameSpec(name="bell", factory=Bell, clock=EventDriven(), max_players=4,
                messages={"noop": MessageSpec({"x": Field("int", low=0, high=1)})})
TOKEN = "s3cret-metrics-token"


@pytest.fixture
async def arena(tmp_path: Path) -> AsyncIterator[ArenaServer]:
    server = ArenaServer(
        make_config(tmp_path / "data", metrics_token=TOKEN),
        passwords=PasswordHasher(n=2**10), modes={**server_modes(), "bell": BELL})
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def operator(server: ArenaServer, clients: list[Browserless], name: str = "boss"
                   ) -> tuple[Browserless, dict[str, Any]]:
    """A registered account given the role (as the command line does), logged in."""
    client = Browserless(server.url)
    clients.append(client)
    response = await client.request("POST", "/api/register",
                                    {"username": name, "password": "correct horse"})
    assert response.code == 201, response.body
    assert await server.storage.set_operator(name, True) is not None
    return client, orjson.loads(response.body)["user"]


async def player(server: ArenaServer, clients: list[Browserless], name: str, mode: str = "bell"
                 ) -> tuple[Browserless, WebSocketClientConnection, dict[str, Any]]:
    client = Browserless(server.url)
    clients.append(client)
    await client.guest(name)
    ws = await client.ws()
    ws.write_message(orjson.dumps({"type": "join", "mode": mode}).decode())
    return client, ws, await recv_until(ws, "joined")


async def call(client: Browserless, name: str, body: Any = None, query: str = ""
               ) -> tuple[int, dict[str, Any]]:
    method = "GET" if body is None else "POST"
    response = await client.request(method, f"/api/console/{name}{query}", body)
    return response.code, orjson.loads(response.body or b"{}")


async def closed(ws: WebSocketClientConnection) -> int | None:
    async with asyncio.timeout(5):
        while await ws.read_message() is not None:
            pass
    return ws.close_code


async def test_only_operators_reach_the_console_and_every_post_needs_the_xsrf_token(
        arena: ArenaServer, clients: list[Browserless]) -> None:
    anonymous = Browserless(arena.url)
    clients.append(anonymous)
    assert (await anonymous.request("GET", "/console")).code == 401
    assert (await call(anonymous, "hosts"))[0] == 401
    assert (await call(anonymous, "announce", {"text": "hi"}))[0] in (401, 403)
    guest, _, _ = await player(arena, clients, "pat")
    page = await guest.request("GET", "/console")
    assert page.code == 403 and b"not an operator" in page.body
    for name in ("hosts", "audit", "bans"):
        code, body = await call(guest, name)
        assert (code, body["error"]) == (403, "not_operator")
    code, body = await call(guest, "announce", {"text": "hi"})
    assert (code, body["error"]) == (403, "not_operator")
    boss, _ = await operator(arena, clients)
    assert (await boss.request("GET", "/console")).code == 200
    assert b'href="/console"' in (await boss.request("GET", "/")).body  # the lobby links it
    assert b'href="/console"' not in (await guest.request("GET", "/")).body
    for name in ("announce", "room", "ban", "drain", "revoke", "delete", "lift"):
        response = await boss.request("POST", f"/api/console/{name}", {}, xsrf=False)
        assert response.code == 403 and orjson.loads(response.body)["error"] == "xsrf", name


async def test_room_actions_act_through_the_handle_and_are_audited(
        arena: ArenaServer, clients: list[Browserless]) -> None:
    boss, _ = await operator(arena, clients)
    _, ws_a, joined = await player(arena, clients, "ann")
    _, ws_b, _ = await player(arena, clients, "bob")
    room = joined["room"]
    code, body = await call(boss, "hosts")
    assert code == 200
    [host] = body["hosts"]
    [listed] = [r for r in host["rooms"] if r["id"] == room]
    names = {p["name"]: p for p in listed["players_list"]}
    assert set(names) == {"ann", "bob"} and names["ann"]["seconds"] is not None
    assert listed["signals"] is True
    target = {"process": host["process"], "room": room}

    code, body = await call(boss, "room", {**target, "action": "signal", "name": "ring",
                                           "payload": {"times": 2}})
    assert (code, body["reply"]) == (200, "rang, 2 in all")
    await recv_until(ws_a, "state", where=lambda m: m.get("rings") == 2)
    code, body = await call(boss, "inspect", query=f"?room={room}")
    assert code == 200 and body["state"]["rings"] == 2

    assert (await call(boss, "room", {**target, "action": "lock"}))[0] == 200
    assert arena.matchmaker.get(room).locked
    assert (await call(boss, "room", {**target, "action": "unlock"}))[0] == 200
    assert not arena.matchmaker.get(room).locked

    code, body = await call(boss, "room", {**target, "action": "kick",
                                           "player": names["bob"]["player"],
                                           "reason": "Be nice to others"})
    assert code == 200 and body["reply"] == "kicked bob"
    left = await recv_until(ws_b, "left")
    assert (left["reason"], left["message"]) == ("kicked", "Be nice to others")

    code, body = await call(boss, "room", {**target, "action": "close",
                                           "reason": "Maintenance"})
    assert code == 200
    left = await recv_until(ws_a, "left")
    assert (left["reason"], left["message"]) == ("closed", "Maintenance")

    _, audit = await call(boss, "audit")
    assert [a["action"] for a in audit["audit"]][:5] == ["close", "kick", "unlock", "lock",
                                                         "signal"]
    assert all(a["actor"] == "boss" and room in a["target"] for a in audit["audit"][:5])


async def test_bad_console_input_gets_clear_errors(
        arena: ArenaServer, clients: list[Browserless]) -> None:
    boss, me = await operator(arena, clients)
    _, _, joined = await player(arena, clients, "ann", mode="arena")
    cases = [
        ("room", {"room": "nope", "action": "kick", "player": 1}, 404, "unknown_room"),
        ("room", {"room": joined["room"], "action": "kick", "player": 99}, 404,
         "unknown_player"),
        ("room", {"room": joined["room"], "action": "explode"}, 400, "bad_action"),
        ("room", {"room": joined["room"], "action": "signal", "name": "x"}, 400, "no_signals"),
        ("room", {"room": "r", "action": "kick", "process": "gone-1"}, 503, "no_answer"),
        ("ban", {"kind": "account", "value": 2, "minutes": -5}, 400, "bad_duration"),
        ("ban", {"kind": "account", "value": 999, "minutes": 5}, 404, "unknown_account"),
        ("ban", {"kind": "account", "value": me["id"], "minutes": 5}, 400, "self_ban"),
        ("ban", {"kind": "planet", "value": "x", "minutes": 5}, 400, "bad_kind"),
        ("lift", {"id": 12345}, 404, "unknown_ban"),
        ("delete", {"id": "x"}, 400, "bad_account"),
        ("announce", {"text": ""}, 400, "bad_text"),
    ]
    for name, body, status, error in cases:
        code, answer = await call(boss, name, body)
        assert (code, answer.get("error")) == (status, error), (name, body, answer)
        assert answer["message"]
    code, answer = await call(boss, "inspect", query="?room=nope")
    assert (code, answer["error"]) == (404, "unknown_room")
    code, answer = await call(boss, "account", query="?id=4242")
    assert (code, answer["error"]) == (404, "unknown_account")


async def test_a_ban_closes_present_sockets_and_holds_at_login_and_handshake(
        arena: ArenaServer, clients: list[Browserless]) -> None:
    boss, _ = await operator(arena, clients)
    pat, ws, _ = await player(arena, clients, "pat")
    me = orjson.loads((await pat.request("GET", "/api/me")).body)["user"]
    code, body = await call(boss, "ban", {"kind": "account", "value": me["id"],
                                          "minutes": 10, "reason": "spam"})
    assert code == 200, body
    left = await recv_until(ws, "left")
    assert left["reason"] == "kicked" and "spam" in left["message"]
    assert await closed(ws) == 4003
    with pytest.raises(Exception, match="403"):
        await pat.ws()
    # an address ban: its sockets close, and nobody from it may log in or make a guest
    _, other_ws, _ = await player(arena, clients, "kim")
    code, _ = await call(boss, "ban", {"kind": "address", "value": "127.0.0.1", "minutes": 1})
    assert code == 200
    assert await closed(other_ws) == 4003
    fresh = Browserless(arena.url)
    clients.append(fresh)
    response = await fresh.request("POST", "/api/guest", {"name": "newbie"})
    assert response.code == 403 and orjson.loads(response.body)["error"] == "banned"
    accounts = len(await arena.storage.find_accounts("newbie"))
    assert accounts == 0  # refused before any account was made
    _, bans = await call(boss, "bans")
    assert {b["kind"] for b in bans["bans"]} == {"account", "address"}
    address_ban = next(b for b in bans["bans"] if b["kind"] == "address")
    assert (await call(boss, "lift", {"id": address_ban["id"]}))[0] == 200
    async with asyncio.timeout(5):
        while arena.bans.of(None, "127.0.0.1") is not None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert (await fresh.request("POST", "/api/guest", {"name": "newbie"})).code == 200


async def test_accounts_are_found_logged_out_and_deleted_off_the_leaderboards(
        arena: ArenaServer, clients: list[Browserless]) -> None:
    boss, _ = await operator(arena, clients)
    sam, ws, _ = await player(arena, clients, "Sammy")
    me = orjson.loads((await sam.request("GET", "/api/me")).body)["user"]
    await arena.storage.record_outcomes("bell", "best_score", "m1",
                                        [(me["id"], Outcome(player=1, score=7))])
    assert [e["name"] for e in await arena.storage.top("bell", "best_score")] == ["Sammy"]
    code, found = await call(boss, "accounts", query="?name=sam")
    assert code == 200 and [a["name"] for a in found["accounts"]] == ["Sammy"]
    code, detail = await call(boss, "account", query=f"?id={me['id']}")
    assert detail["account"]["results"][0]["best_score"] == 7
    assert any(s["live"] for s in detail["account"]["sessions"])
    code, body = await call(boss, "revoke", {"id": me["id"]})
    assert (code, body["reply"]) == (200, "1 sessions ended")
    assert await closed(ws) == 4003
    assert (await sam.request("GET", "/api/me")).code == 401
    assert (await call(boss, "delete", {"id": me["id"]}))[0] == 200
    assert await arena.storage.top("bell", "best_score") == []
    assert (await call(boss, "account", query=f"?id={me['id']}"))[0] == 404
    _, audit = await call(boss, "audit")
    assert [a["action"] for a in audit["audit"]][:2] == ["delete account", "revoke sessions"]


async def test_announce_drain_and_the_metrics_token(
        arena: ArenaServer, clients: list[Browserless]) -> None:
    boss, _ = await operator(arena, clients)
    _, ws, _ = await player(arena, clients, "ann")
    assert (await call(boss, "announce", {"text": "Restart at noon"}))[0] == 200
    chat = await recv_until(ws, "chat")
    assert (chat["name"], chat["text"], chat["player"]) == ("server", "Restart at noon", 0)

    code, body = await call(boss, "drain", {"on": True})
    assert code == 200 and arena.matchmaker.draining
    health = await boss.request("GET", "/healthz")
    assert health.code == 503 and orjson.loads(health.body)["status"] == "draining"
    bob = Browserless(arena.url)
    clients.append(bob)
    await bob.guest("bob")
    ws2 = await bob.ws()
    ws2.write_message(orjson.dumps({"type": "join", "mode": "arena"}).decode())
    error = await recv_until(ws2, "error", where=lambda m: m["code"] == "unavailable")
    assert "draining" in error["message"]
    assert (await call(boss, "drain", {"on": False}))[0] == 200
    assert (await boss.request("GET", "/healthz")).code == 200

    assert (await boss.request("GET", "/metrics")).code == 401
    wrong = await boss.request("GET", "/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.code == 401
    right = await boss.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.code == 200 and b"arena_rooms" in right.body


async def operator_cli(data_dir: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "game_server", "operator", *args, "--data-dir", str(data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("ARENA_")})
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, output.decode()


async def test_the_operator_command_grants_revokes_and_lists(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ArenaServer(make_config(data), passwords=PasswordHasher(n=2**10))
    await server.start()
    try:
        await server.storage.create_user("Alice", "x")
        await server.storage.create_user("bob", "x")
        guest = await server.storage.create_guest("Visitor")
        assert (await operator_cli(data, "list"))[1].startswith("no operators yet")
        assert await operator_cli(data, "grant", "alice") == (0, "Alice is now an operator\n")
        code, output = await operator_cli(data, "revoke", "Alice")
        assert code == 2 and "last operator" in output
        assert (await operator_cli(data, "grant", "bob"))[0] == 0
        assert await operator_cli(data, "list") == (0, "Alice\nbob\n")
        assert await operator_cli(data, "revoke", "alice") == (0, "Alice is no longer an "
                                                               "operator\n")
        code, output = await operator_cli(data, "grant", guest.name)
        assert code == 2 and "no registered account" in output
        code, output = await operator_cli(data, "grant")
        assert code == 2 and "NAME" in output
        log = await server.storage.audit_log()
        assert [(e["actor"], e["action"]) for e in log][:3] == [
            ("(command line)", "operator revoke"), ("(command line)", "operator grant"),
            ("(command line)", "operator grant")]
    finally:
        await server.stop()


def test_inspect_gives_the_full_state_and_the_recent_messages_of_a_recorded_room() -> None:
    from game_server.engine.admin import RoomAdmin
    from game_server.transport.console import describe_record
    from tests.test_journal import RoomDriver

    driver = RoomDriver(BELL, seed=1, options={})
    ann, bob = driver.join("ann", 10), driver.join("bob", 11)
    driver.send(ann, "noop", x=1)
    driver.room.signal("ring", {"times": 3})

    class Rooms:
        def get(self, room_id: str) -> Any:
            return driver.room if room_id == driver.room.id else None

    found = RoomAdmin(Rooms()).inspect(driver.room.id)  # type: ignore[arg-type]
    assert found["state"] == {"rings": 3, "players": [ann, bob]}
    assert found["journal"] == driver.room.journal_id
    recent = [describe_record(r) for r in found["unwritten"]]
    assert [(r["what"], r["player"]) for r in recent] == [
        ("joined", ann), ("joined", bob), ("sent", ann)]
    assert recent[2]["detail"] == {"type": "noop", "x": 1}


async def test_the_console_shows_each_players_ping_from_the_socket_s_own_pings(
        tmp_path: Path, clients: list[Browserless]) -> None:
    # Pinged often here, so the first round trip is measured at once (20 s by default).
    server = ArenaServer(make_config(tmp_path / "data", ws_ping_interval=0.3),
                         passwords=PasswordHasher(n=2**10), modes={"bell": BELL})
    await server.start()
    try:
        await player(server, clients, "ann")
        async with asyncio.timeout(10):
            while True:
                [host] = await server.console.snapshot()
                [room] = host["rooms"]
                [ann] = room["players_list"]
                if ann["ping_ms"] is not None:
                    break
                server.console.forget_snapshot()
                await asyncio.sleep(0.05)
        assert 0 <= ann["ping_ms"] < 1000
    finally:
        await server.stop()
