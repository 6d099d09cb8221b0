"""The operator console across hosts: two `python -m game_server` processes on one real Redis
and one database; a kick, an announcement and a ban issued from the console of one act on a
player of the other, and its handshake then refuses the banned account."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from game_server.storage.sqlite import SQLiteStorage
from tests.conftest import Browserless, recv_until, running
from tests.rd import RedisServer, redis_server, redis_url  # noqa: F401 (fixtures)


async def test_a_kick_an_announcement_and_a_ban_from_one_host_act_on_the_other(
        tmp_path: Path, redis_url: str, clients: list[Browserless]) -> None:  # noqa: F811
    data = tmp_path / "data"
    async with running(data, "--redis-url", redis_url) as (_, url_a), \
            running(data, "--redis-url", redis_url) as (_, url_b):
        boss = Browserless(url_a)
        clients.append(boss)
        response = await boss.request("POST", "/api/register",
                                      {"username": "boss", "password": "correct horse"})
        assert response.code == 201, response.body
        async with SQLiteStorage(data / "arena.sqlite3") as storage:
            await storage.set_operator("boss", True)

        pat = Browserless(url_b)
        clients.append(pat)
        me = await pat.guest("pat")
        ws = await pat.ws()
        ws.write_message(orjson.dumps({"type": "join", "mode": "dice"}).decode())
        joined = await recv_until(ws, "joined")

        # Host A's console lists host B's room and its player.
        async with asyncio.timeout(10):
            while True:
                hosts = orjson.loads((await boss.request("GET", "/api/console/hosts")).body)
                rooms = {room["id"]: (host["process"], room)
                         for host in hosts["hosts"] for room in host["rooms"]}
                if joined["room"] in rooms:
                    break
        process, room = rooms[joined["room"]]
        assert process != hosts["hosts"][0]["process"]  # not A's own
        [listed] = room["players_list"]
        assert listed["name"] == "pat"
        # Each host's own figures, and what B's room costs, come through the same snapshot.
        for host in hosts["hosts"]:
            assert {"cpu", "tick_p99_ms", "bytes_per_second", "players"} <= set(host)
        assert hosts["hosts"][1]["players"] == 1 and room["cost"]["state_bytes"] > 0
        # And both hosts' chart points (none yet: the first comes after 10 s).
        history = orjson.loads((await boss.request("GET", "/api/console/history")).body)
        assert {h["process"] for h in history["hosts"]} == {h["process"] for h in hosts["hosts"]}

        async def act(name: str, body: dict[str, object]) -> None:
            response = await boss.request("POST", f"/api/console/{name}", body)
            assert response.code == 200, response.body

        await act("room", {"process": process, "room": room["id"], "action": "kick",
                           "player": listed["player"], "reason": "Cool down a bit"})
        left = await recv_until(ws, "left")
        assert (left["reason"], left["message"]) == ("kicked", "Cool down a bit")

        await act("announce", {"text": "Deploy in 10 minutes"})
        chat = await recv_until(ws, "chat")
        assert (chat["name"], chat["text"]) == ("server", "Deploy in 10 minutes")

        await act("ban", {"kind": "account", "value": me["id"], "minutes": 30})
        async with asyncio.timeout(5):
            while await ws.read_message() is not None:
                pass
        assert ws.close_code == 4003
        with pytest.raises(Exception, match="403"):
            await pat.ws()
