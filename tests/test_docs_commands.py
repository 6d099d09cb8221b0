"""The commands the READMEs show work after `make run`: every `make X` names a Makefile target,
and every `.venv/bin/...` command needs nothing beyond what `make run` installs (the package
and its dependencies); a command that needs an extra (locust, matplotlib, py-spy, ...) is shown
as the make target that installs it first.
"""

from __future__ import annotations

import ast
import re
import shlex
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = ("README.md", "bench/README.md")
LOCAL_PACKAGES = ("game_server", "client", "protocol", "bench")
ALWAYS_THERE = {"python", "python3", "pip", "activate"}  # what `python -m venv` puts in .venv/bin


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
            if word.startswith(".venv/bin/"):
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
               for command in shown_commands((REPO / doc).read_text())
               if command.startswith("make ")
               for target in make_targets_named(command) if target not in targets]
    assert not missing, f"{doc} shows make targets the Makefile lacks: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_venv_commands_shown_need_only_what_make_run_installs(doc: str) -> None:
    extras = extras_only_names()
    wrong = [(" ".join(argv), sorted(needed))
             for command in shown_commands((REPO / doc).read_text())
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
