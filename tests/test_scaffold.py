"""`python -m game_server new-game NAME`: the package it writes passes its own test and lint;
installed with pip, a server runs it, serves its page, and `python -m client.bots` plays it by
its entry point; a name or place it cannot use gets a clear error and exit code 2, with nothing
written."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from game_server.__main__ import main
from game_server.scaffold import render
from tests.conftest import REPO, Browserless, running

RUFF_RULES = "E,F,W,I,B,UP"  # the repository's own selection (pyproject.toml)


def run_generated(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A tool run in the generated package, which is importable only through PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_scaffolded_game_passes_its_own_test_and_lint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-game", "first_press", "--dir", str(tmp_path / "games")]) == 0
    package = tmp_path / "games" / "first_press"
    assert "-m client.bots --mode first_press --bots 2" in capsys.readouterr().out
    assert sorted(p.relative_to(package).as_posix() for p in package.rglob("*.*")) == sorted(
        render("first_press"))
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["arena.games"] == {"first_press": "first_press:spec"}
    assert project["entry-points"]["arena.policies"] == {
        "first_press": "first_press.bot:FirstPressPolicy"}
    assert project["dependencies"] == ["arena"]
    assert "__pycache__/" in (package / ".gitignore").read_text().splitlines()

    tested = run_generated("pytest", "-q", "-p", "no:cacheprovider", cwd=package)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "4 passed" in tested.stdout
    linted = run_generated("ruff", "check", "--isolated", "--select", RUFF_RULES,
                           "--line-length", "100", "--target-version", "py311", ".", cwd=package)
    assert linted.returncode == 0, linted.stdout + linted.stderr


async def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """A subprocess with `env` added, its exit code and output; killed if it outlives three
    minutes."""
    proc = await asyncio.create_subprocess_exec(
        *args, env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 180)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(errors="replace")


async def test_the_installed_game_is_served_with_its_page_and_played_by_bots(
        tmp_path: Path) -> None:
    assert main(["new-game", "quick_draw", "--dir", str(tmp_path)]) == 0
    package = tmp_path / "quick_draw"
    # A real install (not editable, so the page must travel as package data), into a folder
    # of its own that the server and the bots see on PYTHONPATH: this environment stays clean.
    site = tmp_path / "site"
    code, out = await run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                          "--target", str(site), str(package), env={})
    assert code == 0, out
    page_js = site / "quick_draw" / "web" / "page.js"
    assert page_js.read_bytes() == (package / "quick_draw" / "web" / "page.js").read_bytes()
    env = {"PYTHONPATH": str(site)}
    async with running(tmp_path / "data", env=env) as (_, url):
        client = Browserless(url)
        try:
            await client.guest("Visitor")
            play = (await client.request("GET", "/play?mode=quick_draw")).body.decode()
            assert re.findall(r'<script type="module" src="([^"]+)"', play) == [
                "/games/quick_draw/page.js"]
            served = await client.request("GET", "/games/quick_draw/page.js")
            assert served.code == 200 and served.body == page_js.read_bytes()
            assert (await client.request("GET", "/games/quick_draw/..%2Fgame.py")).code == 404
        finally:
            await client.aclose()
        # No --policy: the bots find the game's policy by its entry point.
        code, out = await run(sys.executable, "-m", "client.bots", "--url", url, "--mode",
                              "quick_draw", "--bots", "2", "--duration", "60", "--matches", "1",
                              env=env)
    assert code == 0, out
    assert "2/2 connected, 2 joined (mode quick_draw" in out
    assert "matches:   2 finished by the bots, 1 won, 0 drawn" in out


@pytest.mark.parametrize(("name", "says"), [
    ("1st", "not a valid game name"),
    ("FirstPress", "not a valid game name"),
    ("first-press", "not a valid game name"),
    ("", "not a valid game name"),
    ("class", "Python keyword"),
    ("json", "standard library"),
    ("game_server", "already importable"),
])
def test_a_bad_name_is_refused_with_exit_code_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, says: str) -> None:
    assert main(["new-game", name, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("game-server new-game: ") and says in err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_left_alone_with_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    done = subprocess.run([sys.executable, "-m", "game_server", "new-game", "taken", "--dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "already exists" in done.stderr and str(tmp_path / "taken") in done.stderr
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.txt"]


def readme_block(containing: str) -> list[str]:
    """The commands (comments cut off) of the README's shell block holding `containing`."""
    blocks = re.findall(r"^```sh\n(.*?)^```", (REPO / "README.md").read_text(), re.M | re.S)
    block = next(b for b in blocks if containing in b)
    return [c for line in block.splitlines() if (c := line.split("  #")[0].strip())]


def test_the_printed_next_steps_are_the_readmes_commands(tmp_path: Path) -> None:
    """The README's first command, run as written where a newcomer runs it (a checkout with
    its `.venv` and Makefile), prints as its next steps exactly the README's next lines."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("needs the tests to run in a virtual environment, as `make test` does")
    shown = readme_block("new-game my_game")
    assert shown[0] == ".venv/bin/python -m game_server new-game my_game", shown
    (tmp_path / ".venv").symlink_to(sys.prefix)
    (tmp_path / "Makefile").write_text((REPO / "Makefile").read_text())
    done = subprocess.run(shown[0].split(), cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    steps = done.stdout.split("\nNext:\n", 1)[1].splitlines()
    printed = [c for line in steps if (c := line.split("  #")[0].strip()) and "#" in line]
    assert printed == shown[1:], done.stdout
    assert (tmp_path / "my_game" / "pyproject.toml").is_file()


@pytest.mark.timeout(300)
def test_the_readmes_pip_install_of_a_new_game_prints_no_warning_box(tmp_path: Path) -> None:
    """`.venv/bin/pip install -e my_game`, as the README shows it (pip's own verbosity), into a
    throwaway environment: setuptools boxed a note about editable installs of the game's
    layout, and a "Package would be ignored" warning about its `web/` folder."""
    assert main(["new-game", "my_game", "--dir", str(tmp_path)]) == 0
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")],
                   check=True, timeout=120)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(tmp_path / "env" / "bin" / "python"),
         "install", "--disable-pip-version-check", "--no-deps", "-e", "my_game"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "!!" not in done.stdout + done.stderr, done.stdout + done.stderr
    found = subprocess.run([str(tmp_path / "env" / "bin" / "python"), "-c",
                            "import importlib.util as u; print(u.find_spec('my_game').origin)"],
                           cwd=tmp_path / "env", capture_output=True, text=True, timeout=60)
    assert found.stdout.strip() == str(tmp_path / "my_game" / "my_game" / "__init__.py"), found
