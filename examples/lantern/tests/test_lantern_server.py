"""Lantern on a real server: bots play it in process (rounds end, gems are collected, results
reach the leaderboard), and the command lines: `python -m game_server --game
arena_lantern:spec` with `python -m client.bots --mode lantern` playing it."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import orjson
from arena_lantern.bot import policy
from tornado.httpclient import AsyncHTTPClient

from client.bots import run_bots
from game_server.app import ArenaServer
from game_server.config import Config
from game_server.storage.passwords import PasswordHasher
from tests.conftest import running

SMALL = {"size": 12, "round_seconds": 5}  # a small maze: gems are found within seconds


async def get_json(url: str) -> Any:
    http = AsyncHTTPClient(force_instance=True)
    try:
        return orjson.loads((await http.fetch(url)).body)
    finally:
        http.close()


async def test_bots_play_rounds_in_process_and_their_scores_are_ranked(tmp_path: Path) -> None:
    config = Config(host="127.0.0.1", port=0, data_dir=tmp_path, cookie_secret="s" * 40,
                    empty_room_grace=0.5, resume_grace=0.5)
    server = ArenaServer(config, passwords=PasswordHasher(n=2**10))
    await server.start()
    stop = asyncio.Event()
    try:
        bots = asyncio.create_task(run_bots(server.url, 3, 30.0, "lantern", "lamp", seed=1,
                                            stop=stop, policy=policy, options=SMALL))
        async with asyncio.timeout(30):
            while True:  # until the first round has been scored
                rooms = server.matchmaker.rooms()
                if rooms and rooms[0].game.round >= 2:
                    break
                await asyncio.sleep(0.1)
        room = rooms[0]
        seated = (len(rooms), len(room.members()))
        stop.set()
        report = await bots
        await server.results.drain()
        board = await get_json(f"{server.url}/api/leaderboard?mode=lantern")
    finally:
        stop.set()
        await server.stop()
    assert report.ok, report.failures
    assert report.joined == 3 and report.errors == {}
    assert all(s.states > 30 for s in report.bots)  # 10 a second each, for over 5 seconds
    assert room.mode.name == "lantern" and seated == (1, 3)  # matchmaking: all in one room
    # The bots steered: they walked to gems, and the round's scores were recorded.
    assert sum(o[1] for o in room.game.results) > 0
    assert {row["name"] for row in board["leaderboard"]} <= {s.name for s in report.bots}
    assert max(row["score"] for row in board["leaderboard"]) > 0


async def test_the_game_loaded_with_game_is_played_by_the_bots_command(tmp_path: Path) -> None:
    async with running(tmp_path, "--game", "arena_lantern:spec") as (_, url):
        modes = {m["name"]: m for m in (await get_json(f"{url}/api/modes"))["modes"]}
        assert modes["lantern"]["clock"] == {"kind": "ticking", "rate": 10}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "client.bots", "--url", url, "--mode", "lantern",
            "--bots", "2", "--duration", "4",
            "--seed", "3", "--options", orjson.dumps(SMALL).decode(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "2/2 connected, 2 joined (mode lantern" in text and "errors:    none" in text
    received = int(re.search(r"\((\d+) received\)", text).group(1))
    assert received > 2 * 20  # 10 states a second for each bot
    assert int(re.search(r"best score: (\d+)", text).group(1)) > 0  # it steered to a gem
