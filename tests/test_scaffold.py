"""`python -m game_server new-game NAME`: the package it writes passes its own test and lint, and
a name or place it cannot use gets a clear error and exit code 2, with nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from game_server.__main__ import main
from game_server.scaffold import render

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
    assert "python -m game_server --game first_press:spec" in capsys.readouterr().out
    assert sorted(p.relative_to(package).as_posix() for p in package.rglob("*.*")) == sorted(
        render("first_press"))
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["arena.games"] == {"first_press": "first_press:spec"}
    assert project["dependencies"] == ["arena"]

    tested = run_generated("pytest", "-q", "-p", "no:cacheprovider", cwd=package)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout
    linted = run_generated("ruff", "check", "--isolated", "--select", RUFF_RULES,
                           "--line-length", "100", "--target-version", "py311", ".", cwd=package)
    assert linted.returncode == 0, linted.stdout + linted.stderr


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
