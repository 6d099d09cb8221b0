"""Finding games: shipped, installed with pip (entry points), or named with --game; and what
`GET /api/modes` and `GET /api/rooms` tell clients about them."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import orjson
import pytest

from game_server.app import ArenaServer
from game_server.games.arena_mode import arena_spec
from game_server.games.loading import GameLoadError, installed_games, load_game, server_modes
from game_server.storage.passwords import PasswordHasher
from tests.conftest import REPO, Browserless, make_config, recv_until

TWIN = dataclasses.replace(arena_spec(), name="tictactoe")  # a different game, a taken name


def make_twin():  # a callable that makes a GameSpec loads like the spec itself
    return dataclasses.replace(arena_spec(), name="twin")


def test_a_reference_names_a_spec_or_a_callable_making_one() -> None:
    assert load_game("arena_tictactoe:spec").name == "tictactoe"
    assert load_game("tests.test_loading:make_twin").name == "twin"
    for bad, why in [("arena_tictactoe", "expected"), ("nope.nothing:spec", "cannot import"),
                     ("arena_tictactoe:nothing", "has no"),
                     ("tests.test_loading:REPO", "not a GameSpec")]:
        with pytest.raises(GameLoadError, match=why):
            load_game(bad)


def test_installed_games_are_found_by_their_entry_point() -> None:
    assert "tictactoe" in {spec.name for spec in installed_games()}
    modes = server_modes()
    assert {"arena", "dice", "tictactoe"} <= set(modes)
    assert set(server_modes(installed=False)) == {"arena", "dice"}
    # found twice (installed and named): counted once; two games under one name: refused
    assert server_modes(games=["arena_tictactoe:spec"])["tictactoe"] is modes["tictactoe"]
    with pytest.raises(GameLoadError, match="two games are named 'tictactoe'"):
        server_modes(games=["tests.test_loading:TWIN"])


def test_the_server_refuses_to_start_with_a_game_it_cannot_load() -> None:
    done = subprocess.run([sys.executable, "-m", "game_server", "--game", "nope:spec"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "nope:spec: cannot import nope" in done.stderr


async def test_modes_and_rooms_tell_clients_what_runs(tmp_path) -> None:
    config = dataclasses.replace(make_config(tmp_path / "data"),
                                 games=("tests.test_loading:make_twin",))
    server = ArenaServer(config, passwords=PasswordHasher(n=2**10))
    await server.start()
    c = Browserless(server.url)
    try:
        modes = orjson.loads((await c.request("GET", "/api/modes")).body)["modes"]
        by_name = {m["name"]: m for m in modes}
        assert {"arena", "dice", "tictactoe", "twin"} <= set(by_name)
        assert by_name["dice"]["clock"] == {"kind": "events"}
        assert by_name["dice"]["leaderboard"] == "rating"
        assert by_name["arena"]["messages"]["input"]["fields"]["seq"]["kind"] == "int"
        await c.guest("host")
        ws = await c.ws()
        ws.write_message(orjson.dumps({"type": "create", "mode": "tictactoe",
                                       "private": True}).decode())
        joined = await recv_until(ws, "joined")
        assert len(joined["code"]) == 5
        other = Browserless(server.url)
        try:
            await other.guest("other")
            ws2 = await other.ws()
            ws2.write_message(orjson.dumps({"type": "join", "mode": "tictactoe"}).decode())
            await recv_until(ws2, "joined")
            rooms = orjson.loads((await c.request("GET", "/api/rooms")).body)["rooms"]
            assert [r["mode"] for r in rooms] == ["tictactoe"]  # the private one is not listed
            assert rooms[0]["metadata"]["status"] == "waiting"
            for query, count in [("?mode=tictactoe", 1), ("?mode=arena", 0),
                                 ("?status=waiting", 1), ("?status=playing", 0)]:
                got = orjson.loads((await c.request("GET", "/api/rooms" + query)).body)
                assert len(got["rooms"]) == count, query
        finally:
            await other.aclose()
    finally:
        await c.aclose()
        await server.stop()
