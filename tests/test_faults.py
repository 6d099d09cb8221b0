"""Faults against a real server process: SIGTERM with players connected, and kill -9."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import orjson

from tests.conftest import Browserless, recv_until, running


async def register(url: str, name: str) -> Browserless:
    c = Browserless(url)
    r = await c.request("POST", "/api/register", {"username": name, "password": "password-" + name})
    assert r.code == 201, r.body
    return c


async def arena_best(c: Browserless) -> int:
    """The logged-in player's best score in the arena mode (its best mass), 0 without one."""
    r = await c.request("GET", "/api/leaderboard?mode=arena&around=me")
    you = orjson.loads(r.body)["you"]
    return you["score"] if you else 0


async def best_mass(url: str, name: str) -> int:
    c = Browserless(url)
    try:
        r = await c.request("POST", "/api/login",
                            {"username": name, "password": "password-" + name})
        assert r.code == 200, (name, r.body)
        return await arena_best(c)
    finally:
        await c.aclose()


async def test_sigterm_tells_players_saves_scores_and_exits_0(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with running(data) as (proc, url):
        c = await register(url, "stayer")
        ws = await c.ws()
        ws.write_message(orjson.dumps({"type": "join", "mode": "arena"}).decode())
        await recv_until(ws, "joined")
        await recv_until(ws, "state")
        proc.send_signal(signal.SIGTERM)
        closing = await recv_until(ws, "server_closing")
        assert closing["message"]
        assert (await recv_until(ws, "left"))["reason"] == "server_closing"
        async with asyncio.timeout(10):
            while await ws.read_message() is not None:
                pass
        assert ws.close_code == 1001
        async with asyncio.timeout(20):
            assert await proc.wait() == 0
        await c.aclose()
    async with running(data) as (proc, url):
        assert await best_mass(url, "stayer") >= 10  # saved during the shutdown


async def test_kill_9_loses_no_account_and_no_saved_score(tmp_path: Path) -> None:
    data = tmp_path / "data"
    names = [f"user{i}" for i in range(12)]
    async with running(data) as (proc, url):
        for name in names:
            await (await register(url, name)).aclose()
        player = Browserless(url)
        r = await player.request("POST", "/api/login",
                                 {"username": "user0", "password": "password-user0"})
        assert r.code == 200
        ws = await player.ws()
        ws.write_message(orjson.dumps({"type": "join", "mode": "arena"}).decode())
        await recv_until(ws, "joined")
        ws.write_message(orjson.dumps({"type": "leave"}).decode())
        await recv_until(ws, "left")
        async with asyncio.timeout(10):  # the score write is acknowledged before the kill
            while True:
                if await arena_best(player) >= 10:
                    break
                await asyncio.sleep(0.02)
        await player.aclose()
        proc.kill()  # SIGKILL: no cleanup at all
        await proc.wait()
    async with running(data) as (proc, url):
        masses = {name: await best_mass(url, name) for name in names}
    assert masses["user0"] >= 10
    assert all(masses[n] == 0 for n in names[1:])


async def test_a_shutdown_during_a_rated_dice_match_is_nobodys_forfeit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with running(data) as (proc, url):
        clients = [await register(url, name) for name in ("ann", "bob")]
        sockets = [await c.ws() for c in clients]
        for ws in sockets:  # two seated: Liar's Dice starts its rated match
            ws.write_message(orjson.dumps({"type": "join", "mode": "dice"}).decode())
            await recv_until(ws, "joined")
        await recv_until(sockets[0], "state", where=lambda m: m.get("status") == "playing")
        proc.send_signal(signal.SIGINT)
        for ws in sockets:
            assert (await recv_until(ws, "left"))["reason"] == "server_closing"
        async with asyncio.timeout(20):
            assert await proc.wait() == 0
        for c in clients:
            await c.aclose()
    async with running(data) as (proc, url):  # what the storage kept: no result at all
        c = Browserless(url)
        board = orjson.loads((await c.request("GET", "/api/leaderboard?mode=dice")).body)
        assert board["leaderboard"] == []
        await c.aclose()
