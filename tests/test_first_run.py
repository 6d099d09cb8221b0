"""A newcomer's first `make run`, for real: a copy of the repository's files with no `.venv`,
`make run` until the server is ready, then Ctrl-C. It prints Arena's own lines and nothing
else: no pip progress or notices, no build backend's warning boxes (setuptools boxes a note on
every editable install of this flat layout, and a warning for a package folder left out of
`packages`). It installs the guides' example games too, which the README's lobby shows.

It builds a fresh virtual environment (pip's cache makes it about ten seconds when `make test`
has installed the same packages before).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.servers import free_port

MAKES_OWN = "Setting up .venv (first run only; takes a minute)"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) [\w.]+: ")


def tracked_files() -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                                check=True, timeout=30).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs git and a git checkout (the files a clone has)")
    return [name for name in listed.decode().split("\0") if name]


def fresh_copy(into: Path) -> Path:
    """The repository's tracked files as they are in the work tree, as a clone would have."""
    for name in tracked_files():
        if (REPO / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, into / name)
    return into


@pytest.mark.timeout(600)
async def test_a_first_make_run_prints_only_arenas_lines(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("needs make")
    clone = fresh_copy(tmp_path / "arena")
    proc = await asyncio.create_subprocess_exec(
        "make", "run", f"PORT={free_port()}", f"PYTHON={sys.executable}",
        f"ARGS=--data-dir {tmp_path / 'data'}",
        cwd=clone, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C goes to make and the server, as in a terminal
        env={k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))})
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(540):
            while not any("Arena listening on" in line for line in lines):
                line = (await proc.stdout.readline()).decode()
                assert line, "make run ended before the server was ready:\n" + "".join(lines)
                lines.append(line)
        os.killpg(proc.pid, signal.SIGINT)
        async with asyncio.timeout(30):
            lines += (await proc.stdout.read()).decode().splitlines(keepends=True)
            await proc.wait()
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it may have ended on its own
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    foreign = [line for line in lines if line.strip() != MAKES_OWN and not LOG_LINE.match(line)]
    assert not foreign, "make run printed lines that are not Arena's:\n" + "".join(foreign)
    assert lines[0].strip() == MAKES_OWN
    # The lobby the README shows: Arena's own games and the guides' examples, installed by
    # `make run` itself (the start-up line lists every mode).
    modes = next(line for line in lines if "Arena listening on" in line)
    for mode in ("arena", "dice", "tictactoe", "lantern"):
        assert re.search(rf"\b{mode}\b", modes), modes
    assert any(line.rstrip().endswith("arena: stopped") for line in lines)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("package", ["examples/tictactoe", "examples/lantern", "new-game"])
def test_a_game_package_builds_without_a_warning_box(package: str, tmp_path: Path) -> None:
    """At pip's warning level (one `-q`, what a reader typing the README's `pip install -e`
    sees, or more), setuptools boxed "Package would be ignored" for each game's `web/` folder:
    Python imports it as a package, and `packages` listed only the top one. Declared whole, the
    examples and the scaffold's packages build silently."""
    from game_server.scaffold import scaffold

    source = scaffold("box_check", tmp_path) if package == "new-game" else REPO / package
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "-w", str(tmp_path / "wheels"),
         str(source)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "!!" not in done.stdout + done.stderr, done.stdout + done.stderr
    wheel = next((tmp_path / "wheels").glob("*.whl"))
    with zipfile.ZipFile(wheel) as built:
        assert any(name.endswith("/web/page.js") for name in built.namelist()), built.namelist()
