"""The commands the READMEs show work after `make run`, as written: every `make X` names a
Makefile target; no command runs a bare `python`, `pip` or console script (a newcomer activated
nothing, and Debian has no `python` at all: they are written `.venv/bin/...`); every
`.venv/bin/...` command needs nothing beyond what `make run` installs (the package, its
dependencies and the example games), a command that needs an extra (locust, matplotlib, py-spy)
being shown as the make target that installs it first; and each of them runs: the quick ones
as written, servers started and stopped, bots played against a real server, the rest (Redis,
more processes, long runs) as far as their `--help` after the flags shown.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import shlex
import signal
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.conftest import REPO, running

# The READMEs, and the guide's sections a newcomer is sent to first (running and playing a game).
DOCS = ("README.md", "bench/README.md", "docs/writing-a-game.md#11-12")
GUIDE_SECTIONS = {"docs/writing-a-game.md#11-12": ("## 11. Running it", "## 13. ")}
LOCAL_PACKAGES = ("game_server", "client", "protocol", "bench")
ALWAYS_THERE = {"python", "python3", "pip", "activate"}  # what `python -m venv` puts in .venv/bin


def doc_text(doc: str) -> str:
    """A document, or the sections of it that `GUIDE_SECTIONS` names."""
    text = (REPO / doc.split("#")[0]).read_text()
    if doc in GUIDE_SECTIONS:
        start, end = GUIDE_SECTIONS[doc]
        text = text[text.index(start):text.index(end)]
    return text


def makefile_targets(text: str) -> set[str]:
    """The rule names of a Makefile (variables and target-specific assignments left out)."""
    targets = set()
    for line in text.splitlines():
        found = re.match(r"^([A-Za-z0-9_./$()-]+(?:\s+[A-Za-z0-9_./$()-]+)*)\s*:(?![:=])(.*)$",
                         line)
        if found and not line.startswith("\t") and not re.match(r"\s*\??=", found.group(2)):
            targets.update(found.group(1).split())
    return targets


def shown_commands(markdown: str) -> Iterator[str]:
    """Every line of the fenced shell blocks (comments cut off), and every inline code span
    of the prose."""
    fence: str | None = None  # the info string of the block we are in
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fence = line.lstrip()[3:].strip() if fence is None else None
        elif fence is None:
            yield from (span.strip() for span in re.findall(r"`([^`]+)`", line))
        elif fence in ("", "sh", "bash", "shell", "console"):
            yield line.split("  #")[0].strip()


def make_targets_named(command: str) -> list[str]:
    """The targets of a `make ...` command (variables such as ARGS="..." and flags left out)."""
    words = shlex.split(command)
    return [w for w in words[1:] if "=" not in w and not w.startswith("-")]


def venv_commands(command: str) -> Iterator[list[str]]:
    """Each `.venv/bin/X ...` in a command line, as its words from X on."""
    for piece in re.split(r"&&|;|\|", command):
        words = piece.split()
        for i, word in enumerate(words):
            if word.startswith(".venv/bin/") and word != ".venv/bin/":
                yield [word.removeprefix(".venv/bin/"), *words[i + 1:]]


def extras_only_names() -> set[str]:
    """Import and distribution names that only the optional extras install."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in requirements}

    base = names(project["dependencies"])
    extra = set().union(*(names(reqs) for reqs in project["optional-dependencies"].values()))
    only = extra - base
    imports = {module.lower() for module, dists in packages_distributions().items()
               if any(d.lower() in only for d in dists)}
    return only | {n.replace("-", "_") for n in only} | imports


def module_file(module: str) -> Path | None:
    path = REPO / Path(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__main__.py", path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def extras_used(module: str, extras: set[str], seen: set[str] | None = None) -> set[str]:
    """Extras-only names a repository module (and the repository modules it imports) imports,
    lazily or not, or runs (`"-m", "locust"`, `shutil.which("py-spy")`)."""
    seen = set() if seen is None else seen
    if module in seen or (path := module_file(module)) is None:
        return set()
    seen.add(module)
    used: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        imported: list[str] = []
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.lower() in extras:
                used.add(node.value.lower())
        for name in imported:
            if name.split(".")[0] in LOCAL_PACKAGES:
                used |= extras_used(name, extras, seen)
            elif name.split(".")[0].lower() in extras:
                used.add(name.split(".")[0].lower())
    return used


def needs_extras(argv: list[str], extras: set[str]) -> set[str]:
    """What a `.venv/bin/...` command needs beyond `make run`'s install."""
    program = argv[0]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    if program in scripts:
        return extras_used(scripts[program].split(":")[0], extras)
    if program not in ALWAYS_THERE:
        return {program}  # a console script of some dependency: an extra's, or a typo
    if program.startswith("python") and "-m" in argv:
        module = argv[argv.index("-m") + 1]
        if module.split(".")[0] not in LOCAL_PACKAGES:
            return {module} & extras or ({module} if module != "pip" else set())
        return extras_used(module, extras)
    return set()


@pytest.mark.parametrize("doc", DOCS)
def test_every_make_command_shown_names_a_target(doc: str) -> None:
    targets = makefile_targets((REPO / "Makefile").read_text())
    missing = [(command, target)
               for command in shown_commands(doc_text(doc))
               if command.startswith("make ")
               for target in make_targets_named(command) if target not in targets]
    assert not missing, f"{doc} shows make targets the Makefile lacks: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_venv_commands_shown_need_only_what_make_run_installs(doc: str) -> None:
    extras = extras_only_names()
    wrong = [(" ".join(argv), sorted(needed))
             for command in shown_commands(doc_text(doc))
             for argv in venv_commands(command)
             if (needed := needs_extras(argv, extras))]
    assert not wrong, (f"{doc} shows .venv/bin commands that need extras `make run` does not "
                       f"install; show the make target that installs them instead: {wrong}")


def test_the_checks_catch_what_they_look_for() -> None:
    extras = extras_only_names()
    assert {"locust", "matplotlib", "py-spy"} <= extras and "tornado" not in extras
    assert needs_extras(["python", "-m", "bench.capacity"], extras) >= {"locust", "matplotlib"}
    assert needs_extras(["locust", "-f", "bench/locustfile.py"], extras) == {"locust"}
    assert needs_extras(["python", "-m", "client.bots", "--bots", "3"], extras) == set()
    assert needs_extras(["python", "-m", "game_server"], extras) == set()
    assert needs_extras(["game-server"], extras) == set()
    targets = makefile_targets("X ?= 1\nrun: a | b\n\techo x: y\nbots: ARGS ?= -n 1\n.PHONY: run\n")
    assert targets == {"run", "bots", ".PHONY"}
    assert make_targets_named('make capacity ARGS="--steps 1,2" PORT=9') == ["capacity"]
    shown = list(shown_commands(
        "a `make run` b\n```sh\nmake x   # c\n.venv/bin/locust -u 1\n```\n```text\n`y`\n```\n"))
    assert "`y`" not in shown and "y" not in shown
    assert "make x" in shown and "make run" in shown and ".venv/bin/locust -u 1" in shown


# -- no bare programs ---------------------------------------------------------------------------

def bare_programs(command: str) -> list[str]:
    """The programs a command line runs from PATH that only the virtual environment has (or that
    a fresh Debian lacks: `python`): `python`, `pip`, `pytest` and the console scripts, each
    at the start of the line or of a piece after `;`, `&&`, `|`, `&`, `$(` or `(`, past any
    `VAR=value` or `export`."""
    scripts = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])
    venv_only = {"python", "python3", "pip", "pip3", "pytest", "locust", "ruff", *scripts}
    found = []
    for piece in re.split(r"&&|\|\||;|\||&|\$\(|\(", command):
        words = piece.split()
        while words and (words[0] == "export" or re.match(r"^[A-Za-z_]\w*=", words[0])):
            words.pop(0)
        if words and words[0].strip("\"'") in venv_only:
            found.append(words[0].strip("\"'"))
    return found


@pytest.mark.parametrize("doc", DOCS)
def test_no_command_shown_runs_a_bare_python_or_pip(doc: str) -> None:
    """Every shell block's line; in the README, a newcomer's first page, every inline command
    too (elsewhere `python -m bench.floor` in a heading names a module, not a command)."""
    text = doc_text(doc)
    commands = shown_commands(text) if doc == "README.md" else shell_commands(text)
    bare = [(command, programs) for command in commands
            if (programs := bare_programs(command))]
    assert not bare, (f"{doc} shows commands that fail after `make run` (\"No module named "
                      f"'tornado'\", or no `python` at all): write .venv/bin/...: {bare}")


def test_the_bare_check_catches_what_it_looks_for() -> None:
    assert bare_programs("python -m game_server --port 1") == ["python"]
    assert bare_programs("sleep 1; pip install -e x && game-bots --bots 2") == ["pip", "game-bots"]
    assert bare_programs('export S="$(python -c \'import secrets\')"') == ["python"]
    assert bare_programs("ARENA_PORT=9 python3 -m client.bots &") == ["python3"]
    assert bare_programs(".venv/bin/python -m game_server & .venv/bin/pip list") == []
    assert bare_programs("make run") == [] and bare_programs("redis-server --port 1 &") == []


# -- and each one runs --------------------------------------------------------------------------

def shell_commands(markdown: str) -> Iterator[str]:
    """The command lines of the fenced shell blocks, continuation lines (`\\`) joined and
    comments cut off."""
    fence: str | None = None
    pending = ""
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fence = line.lstrip()[3:].strip() if fence is None else None
        elif fence in ("", "sh", "bash", "shell", "console"):
            line = line.split("  #")[0].rstrip()
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            if (command := (pending + line).strip()):
                yield command
            pending = ""


def venv_argv(command: str) -> list[str] | None:
    """A command line that runs a `.venv/bin` program first, as its words up to the first
    `&`, `;` or `|` (the rest of a line is the shell's)."""
    if not command.startswith(".venv/bin/"):
        return None
    words = shlex.split(command, comments=True)
    for i, word in enumerate(words):
        if word in ("&", ";", "|", "&&", "||") or word.startswith("&"):
            return words[:i]
    return words


SHOWN = sorted({argv_text for doc in DOCS for command in shell_commands(doc_text(doc))
                if (argv := venv_argv(command)) is not None
                for argv_text in [shlex.join(argv)]})


def how_it_runs(argv: list[str], installed_modes: set[str]) -> str:
    """`as written` (quick and bounded), `server` (started, then stopped with Ctrl-C), `bots`
    (played against a real server, at most a few seconds), `announce` (sent to a real server),
    or `help` (what it needs is not here: Redis, several processes, a long run, a game the
    reader has just written, an install into this environment). `bench.broadcast` is one of the
    long runs (half a minute as the README writes it); tests/test_bench.py runs it small."""
    module = argv[argv.index("-m") + 1] if "-m" in argv else None
    if ("--help" in argv or "--rotate-cookie-secret" in argv
            or module == "bench.views"
            or (module == "game_server" and argv[3:4] == ["new-game"])):
        return "as written"
    if module == "game_server" and argv[3:4] == ["announce"]:
        return "announce"
    if module == "game_server" and argv[3:4] == ["replay"]:
        return "help"  # a match recorded by a server that has run: tests/test_journal_cli.py
    if module == "game_server":
        needs = {"--redis-url", "--processes"} & set(argv)
        return "help" if needs else "server"
    if module == "client.bots":
        mode = argv[argv.index("--mode") + 1] if "--mode" in argv else "arena"
        return "bots" if mode in installed_modes else "help"
    return "help"


def installed_modes() -> set[str]:
    from game_server.games.loading import server_modes
    return set(server_modes())


def sandbox(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder a command runs in as in a checkout after `make run`: its `.venv` (this test's
    environment), `bench/results`; and an environment with no virtual environment active."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("needs the tests to run in a virtual environment, as `make test` does")
    (tmp_path / ".venv").symlink_to(sys.prefix)
    (tmp_path / "bench" / "results").mkdir(parents=True)
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p != venv_bin)
    return tmp_path, env


@pytest.mark.timeout(300)
@pytest.mark.parametrize("command", SHOWN)
async def test_each_venv_command_shown_runs(command: str, tmp_path: Path) -> None:
    argv = shlex.split(command)
    how = how_it_runs(argv, installed_modes())
    cwd, env = sandbox(tmp_path)

    async def run(args: list[str], limit: float = 180) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), limit)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        return proc.returncode or 0, out.decode(errors="replace")

    if how == "as written":
        code, out = await run(argv)
        assert code == 0, out
    elif how == "help":
        code, out = await run([*argv, "--help"])
        assert code == 0 and "usage:" in out.lower(), out
    elif how == "server":
        # As written, on a free port and with its data in the sandbox (the later flag wins).
        proc = await asyncio.create_subprocess_exec(
            *argv, "--port", "0", "--data-dir", str(cwd / "data"), cwd=cwd, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        assert proc.stderr is not None
        lines: list[str] = []
        try:
            async with asyncio.timeout(60):
                while not any("Arena listening on" in line for line in lines):
                    line = (await proc.stderr.readline()).decode()
                    assert line, "the server ended before it was ready:\n" + "".join(lines)
                    lines.append(line)
            proc.send_signal(signal.SIGINT)
            async with asyncio.timeout(30):
                lines += (await proc.stderr.read()).decode().splitlines(keepends=True)
                assert await proc.wait() == 0, "".join(lines)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    elif how == "announce":  # to a real server: its URL, and its data for the secret
        async with running(cwd / "data") as (_, url):
            code, out = await run([*argv, "--url", url, "--data-dir", str(cwd / "data")])
        assert code == 0 and f"announced through {url}" in out, out
    else:  # bots: against a real server, the URL this test's, at most five seconds
        async with running(cwd / "data") as (_, url):
            code, out = await run([*argv, "--url", url, "--duration", "5"])
        assert code == 0, out
        assert re.search(r"bots: +(\d+)/\1 connected", out), out


def test_the_commands_shown_are_all_found_and_sorted_by_how_they_run() -> None:
    modes = {"arena", "dice", "tictactoe"}
    kinds = {command: how_it_runs(shlex.split(command), modes) for command in SHOWN}
    assert kinds[".venv/bin/python -m game_server new-game my_game"] == "as written"
    assert kinds[".venv/bin/python -m game_server --game arena_tictactoe:spec"] == "server"
    assert kinds[".venv/bin/python -m client.bots --mode my_game --bots 2"] == "help"
    assert kinds[".venv/bin/python -m client.bots --mode tictactoe --bots 2 --duration 10"] == (
        "bots")
    assert any("--processes 0" in c and k == "help" for c, k in kinds.items())
    assert any(" replay verify " in c and k == "help" for c, k in kinds.items())
    # The nginx recipe's command spans two lines: joined, it is one command.
    assert any("--processes 2" in c and "--xheaders" in c for c in kinds)
    assert len(kinds) >= 15
