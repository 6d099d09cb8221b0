"""Bots against a real server: they join one room, play, and report; failures are clear."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from client.bots import run_bots
from client.session import ArenaSocket, login_guest
from game_server.app import ArenaServer
from game_server.storage.passwords import PasswordHasher
from tests.conftest import make_config


async def test_ten_bots_and_a_websocket_client_share_one_ticking_room(server) -> None:
    cookie = await login_guest(server.url, "watcher")
    watcher = await ArenaSocket.connect(server.url, cookie)
    watcher.send({"type": "join", "mode": "arena"})
    report = await run_bots(server.url, bots=10, duration=2.0, seed=1)
    assert report.ok, report.failures
    assert (report.requested, report.connected, report.joined) == (10, 10, 10)
    assert report.states > 0 and report.ping_samples > 0
    assert report.best_mass >= 10
    assert report.errors == {}
    # every bot played in the watcher's room: the watcher saw 10 other players spawn
    names: set[str] = set()
    while True:
        msg = await watcher.recv()
        assert msg is not None
        if msg["type"] == "joined":
            room = msg["room"]
        if msg["type"] == "state":
            names.update(row[1] for row in msg.get("spawned", []))
            if len({n for n in names if n.startswith("bot-")}) == 10:
                break
    assert [r.id for r in server.matchmaker.rooms()] == [room]
    watcher.close()


async def test_bots_fill_rooms_of_the_configured_size(tmp_path) -> None:
    srv = ArenaServer(make_config(tmp_path, mode_options=("arena.max_players=4",)),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    try:
        playing = asyncio.create_task(run_bots(srv.url, bots=10, duration=3.0, seed=2))
        async with asyncio.timeout(20):
            # No event says "ten seated"; the counter is in-process and the wait is bounded.
            while srv.matchmaker.player_count < 10:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert sorted(r.player_count for r in srv.matchmaker.rooms()) == [2, 4, 4]
        report = await playing
        assert report.joined == 10
    finally:
        await srv.stop()


def test_bots_cli_against_a_dead_server_exits_1_with_one_line(unused_tcp_port: int) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "client.bots", "--url", f"http://127.0.0.1:{unused_tcp_port}",
         "--bots", "3", "--duration", "1"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach" in lines[0], done.stderr


async def test_bots_cli_prints_a_summary(server) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "client.bots", "--url", server.url, "--bots", "3",
        "--duration", "1.5", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    text = out.decode()
    assert "3/3 connected" in text and "ping" in text and "best mass" in text
    assert err.decode() == ""


def test_two_runs_of_bots_never_share_a_name() -> None:
    from client.bots import team_names

    first, second = team_names("bot", 10), team_names("bot", 10)
    assert len(set(first)) == 10 and all(n.startswith("bot-") for n in first)
    assert first[4].startswith("bot-5-")
    assert not set(first) & set(second)  # runs used to add another "bot-5" to the leaderboard
