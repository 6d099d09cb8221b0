"""Finding games: shipped, installed with pip (entry points), or named with --game; and what
`GET /api/modes` and `GET /api/rooms` tell clients about them."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import orjson
import pytest

from game_server.app import ArenaServer
from game_server.games.arena_mode import arena_spec
from game_server.games.loading import (
    ENTRY_POINT_GROUP,
    GameLoadError,
    installed_games,
    load_game,
    server_modes,
)
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
    assert set(server_modes(installed=False, games=["tests.test_loading:make_twin"])) == {"twin"}
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


def test_arenas_own_games_are_installed_games_like_any_other() -> None:
    """arena and dice are entry points of Arena's own package: nothing in the loading names
    them, and they are listed first."""
    own = {e.name: e.value for e in entry_points(group=ENTRY_POINT_GROUP)
           if e.dist is not None and e.dist.name == "arena"}
    assert own == {"arena": "game_server.games.arena_mode:arena_spec",
                   "dice": "game_server.games.dice:dice_spec"}
    assert list(server_modes())[:2] == ["arena", "dice"]
    probe = ("import sys, game_server.games.loading; "
             "print(sorted(m for m in sys.modules if m.startswith('game_server.games.')))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                          text=True, check=True)
    assert "arena_mode" not in done.stdout and "dice" not in done.stdout, done.stdout


def test_no_game_at_all_is_a_clear_error() -> None:
    with pytest.raises(GameLoadError, match="no game found: none is installed under the "
                                            "arena.games entry point"):
        server_modes(installed=False)


def test_no_game_left_after_skipping_is_a_clear_error(broken_install: Path,
                                                      tmp_path: Path) -> None:
    """Where only broken games are installed (no site-packages, so not even Arena's own): the
    skipped ones are logged, and the error says why nothing is left."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "game_server").symlink_to(REPO / "game_server")
    (source / "protocol").symlink_to(REPO / "protocol")  # the game API's error codes
    (source / "orjson").symlink_to(Path(orjson.__file__).parent)  # which protocol/ encodes with
    probe = ("import logging, sys; logging.basicConfig(); "
             "from game_server.games.loading import GameLoadError, server_modes\n"
             "try:\n    server_modes()\nexcept GameLoadError as exc:\n    print(exc)")
    done = subprocess.run([sys.executable, "-S", "-c", probe], cwd=tmp_path, text=True,
                          capture_output=True, env={"PYTHONPATH": f"{source}{os.pathsep}"
                                                    f"{broken_install}"}, check=True)
    assert done.stdout.strip() == ("no game to run: the 2 installed under the arena.games entry "
                                   "point cannot be loaded (see above)"), done
    assert done.stderr.count("skipped, the other games run") == 2, done.stderr


@pytest.fixture
def broken_install(tmp_path: Path) -> Path:
    """A directory that, on sys.path, holds two installed games that cannot load: a package
    declaring `arena.games` entry points (a dist-info, as pip writes it) whose module raises on
    import, and whose other entry makes no GameSpec."""
    (tmp_path / "broken_game.py").write_text('raise RuntimeError("this game is broken")\n')
    info = tmp_path / "arena_broken-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: arena-broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[arena.games]\nbroken = broken_game:spec\nnotagame = json:dumps\n")
    return tmp_path


def test_a_broken_installed_game_is_skipped_with_one_line(broken_install: Path, monkeypatch,
                                                           caplog) -> None:
    monkeypatch.syspath_prepend(str(broken_install))
    with caplog.at_level(logging.WARNING, "arena.games"):
        names = [spec.name for spec in installed_games()]
    assert {"arena", "dice", "tictactoe"} <= set(names)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0] == ("installed game broken (broken_game:spec) cannot be loaded: "
                        "RuntimeError('this game is broken'); skipped, the other games run "
                        "(--strict-games makes this fatal)")
    assert lines[1].startswith("installed game notagame (json:dumps): making the game failed: "
                               "TypeError")
    with pytest.raises(GameLoadError, match="installed game broken .*this game is broken"):
        installed_games(strict=True)


async def test_the_server_runs_the_others_unless_strict(broken_install: Path,
                                                        tmp_path: Path) -> None:
    env = {"PYTHONPATH": os.pathsep.join([str(broken_install), os.environ.get("PYTHONPATH", "")]),
           "ARENA_COOKIE_SECRET": "k" * 40}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "game_server", "--port", "0", "--data-dir", str(tmp_path / "d"),
        cwd=REPO, env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        before = []
        async with asyncio.timeout(30):
            while "Arena listening on" not in (line := (await proc.stderr.readline()).decode()):
                assert line, "the server exited before it was ready: " + "".join(before)
                before.append(line)
        skipped = [b for b in before if "; skipped, the other games run" in b]
        assert len(skipped) == 2 and "WARNING" in skipped[0], before
        assert "broken (broken_game:spec) cannot be loaded" in skipped[0]
        assert "arena (20 Hz, 20 seats), dice (events, 6 seats)" in line, line
        assert "broken" not in line and "notagame" not in line
    finally:
        proc.terminate()
        await proc.wait()


def test_strict_games_makes_a_broken_installed_game_fatal(broken_install: Path,
                                                          tmp_path: Path) -> None:
    env = {"PYTHONPATH": os.pathsep.join([str(broken_install), os.environ.get("PYTHONPATH", "")]),
           "ARENA_COOKIE_SECRET": "k" * 40}
    done = subprocess.run([sys.executable, "-m", "game_server", "--strict-games", "--data-dir",
                           str(tmp_path / "d")], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == ("game-server: installed game broken (broken_game:spec) "
                                   "cannot be loaded: RuntimeError('this game is broken')")
    # A game named on the command line was asked for: it stops the server, strict or not.
    done = subprocess.run([sys.executable, "-m", "game_server", "--game", "broken_game:spec",
                           "--data-dir", str(tmp_path / "d")], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=60)
    assert done.returncode == 2 and "broken_game:spec: cannot import broken_game" in done.stderr
