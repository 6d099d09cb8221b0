"""`python -m game_server new-game NAME`: a new game package, ready to install, test and load.

The package it writes is a small, complete game ("first to press wins") with every hook of the
game API filled in, its browser page (`web/page.js`, declared on the spec), the policy bots play
it with, a test that plays it with `GameHarness`, and a pyproject.toml declaring the game in the
`arena.games` entry-point group and the policy in `arena.policies`, so `pip install` is all a
server and `python -m client.bots` need to find them. Rewrite the rules; the shape stays.
docs/writing-a-game.md walks through the same shape.
"""

from __future__ import annotations

import argparse
import importlib.util
import keyword
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from string import Template

PROG = "game-server new-game"
NAME_RULE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class ScaffoldError(ValueError):
    """A name or a place the scaffold refuses: the message says why."""


PYPROJECT = Template('''\
[build-system]
requires = ["setuptools>=77", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$title: a game for Arena"
requires-python = ">=3.11"
dependencies = ["arena"]

# Arena loads every GameSpec named in this group: pip install is all it takes.
[project.entry-points."arena.games"]
$name = "$name:spec"

# `python -m client.bots --mode $name` plays with the policy named here.
[project.entry-points."arena.policies"]
$name = "$name.bot:${cls}Policy"

# The package lives at the top of this folder: said so, an editable install is a plain path
# entry, and setuptools prints no box about folders that might shadow it.
[tool.setuptools]
package-dir = {"" = "."}

# The package and the folders in it (web/ is a package to Python too: listing only the top
# one makes setuptools print a "Package would be ignored" box on every install).
[tool.setuptools.packages.find]
include = ["$name*"]

# Whatever else the package holds (its page, web/, and its assets) ships in its wheel too.
[tool.setuptools.package-data]
$name = ["**/*"]

[tool.setuptools.exclude-package-data]
$name = ["*.py", "*.pyc"]

[tool.pytest.ini_options]
testpaths = ["tests"]
''')

INIT = Template('''\
"""$title: a game for Arena. `spec` is what the server loads (`--game $name:spec`)."""

from $name.game import spec

__all__ = ["spec"]
''')

GAME = Template('''\
"""$title: the first player to press, once the round has started, wins.

A round starts when two players are seated and lasts `round_seconds` (a room option); if nobody
presses in time, nobody wins. Every hook of the game API is here: change the rules, keep the
shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from game_server.games.api import (
    Changes,
    EventDriven,
    Field,
    GameError,
    GamePage,
    GameSpec,
    MessageSpec,
    Outcome,
    RoomHandle,
    Seat,
)

PLAYERS = 2


class $cls:
    """One round. The room calls the hooks; `room` is how the game acts on the room."""

    def __init__(self, room: RoomHandle) -> None:
        self.room = room
        self.round_seconds: int = room.options["round_seconds"]
        self.seats: list[Seat] = []
        self.away: set[int] = set()
        self.status = "waiting"  # then "playing", then "finished"
        self.winner: int | None = None
        room.set_metadata(status="waiting")

    def on_join_attempt(self, seat: Seat, resuming: bool) -> str | None:
        """None lets the player in; a string is the reason the client is refused."""
        if self.status != "waiting" and not resuming:
            return "the round has started"
        return None

    def on_join(self, seat: Seat) -> None:
        """A player is seated: with enough players, the round starts."""
        self.seats.append(seat)
        if len(self.seats) == PLAYERS:
            self.status = "playing"
            self.room.lock()  # matchmaking sends nobody else here
            self.room.set_metadata(status="playing")
            self.room.schedule("round", self.round_seconds)

    def on_leave(self, player: int, consented: bool) -> None:
        """Gone for good: mid-round, the one left wins."""
        self.away.discard(player)
        if self.status == "playing":
            self._finish(winner=next(s.player for s in self.seats if s.player != player))
        elif self.status == "waiting":
            self.seats = [s for s in self.seats if s.player != player]

    def on_drop(self, player: int) -> None:
        """The connection dropped; the seat is held for a resume."""
        self.away.add(player)

    def on_resume(self, player: int) -> None:
        """Back in the held seat."""
        self.away.discard(player)

    def on_message(self, player: int, kind: str, body: Mapping[str, Any]) -> None:
        """A validated `press`. Raise GameError to refuse a message with a code."""
        if self.status != "playing":
            raise GameError("not_playing", f"the round is {self.status}")
        self._finish(winner=player)

    def on_timer(self, name: str) -> None:
        """The round's time is up: nobody wins."""
        if name == "round" and self.status == "playing":
            self._finish(winner=None)

    def on_dispose(self) -> None:
        """The room is closing: nothing to release here."""

    def view(self, player: int) -> dict[str, Any]:
        """Everything `player` may know (here: everything, for everyone)."""
        return {
            "status": self.status,
            "players": [{"player": s.player, "name": s.name, "away": s.player in self.away}
                        for s in self.seats],
            "winner": self.winner,
        }

    def changes(self) -> Changes:
        """The state sent after each accepted message or timer."""
        return Changes(shared=self.view(0))

    def _finish(self, winner: int | None) -> None:
        self.status, self.winner = "finished", winner
        self.room.cancel("round")
        self.room.set_metadata(status="finished")
        self.room.report([Outcome(player=s.player, won=s.player == winner,
                                  placement=1 if winner in (None, s.player) else 2)
                          for s in self.seats])


spec = GameSpec(
    name="$name",
    title="$title",
    description="The first to press wins.",
    factory=$cls,
    clock=EventDriven(),
    messages={"press": MessageSpec()},
    # label and hint: what the lobby's and table page's forms show for the option
    options={"round_seconds": Field("int", low=1, high=600, default=10,
                                    label="Seconds per round",
                                    hint="Nobody presses in time: nobody wins.")},
    min_players=PLAYERS,
    max_players=PLAYERS,
    leaderboard="wins",
    page=GamePage(Path(__file__).parent / "web"),  # web/page.js, served at /games/$name/
)
''')

PAGE = Template('''\
/**
 * $title's page, at /play?mode=$name: the table page (`/client/table.js`: banner, table code,
 * "another table" forms, refusals) around this game's own part, on the SDK
 * (`/client/sdk/arena.js`). The server serves this folder at /games/$name/ (the GamePage on
 * the spec): import Arena's modules by their absolute paths, this game's own files relatively.
 */

import { TablePage, el } from '/client/table.js';

const page = new TablePage();
const players = el('ul', 'players');
players.id = 'players';
const press = el('button', '', 'Press');
press.id = 'press';
press.addEventListener('click', () => page.arena.send('press'));
page.root.append(players, press);

// After `joined` and every state: draw the view (text only, never markup from the network).
page.start((view) => {
  const me = page.me;
  if (view.status === 'waiting') page.status('Waiting for a second player…');
  else if (view.status === 'playing') page.status('Press!');
  else if (view.winner === null) page.status('Nobody pressed in time.');
  else page.status(view.winner === me ? 'You win!' : 'Too slow.');
  players.replaceChildren(...view.players.map((p) => {
    const away = p.away ? el('span', 'muted', '(away)') : '';
    const li = el('li', '', el('span', 'p-name', p.name), away);
    li.classList.toggle('me', p.player === me);
    return li;
  }));
  press.disabled = view.status !== 'playing';
});
''')

BOT = Template('''\
"""How bots play $title: `python -m client.bots --mode $name` finds this policy by the
`arena.policies` entry point in pyproject.toml."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from client.policies import Finished, Message, TurnPolicy


class ${cls}Policy(TurnPolicy):
    """Press as soon as the round starts; the match is over when the round is."""

    def decide(self, view: Mapping[str, Any]) -> Message | None:
        """The message to send for this view, or None."""
        return {"type": "press"} if view["status"] == "playing" else None

    def turn_key(self, view: Mapping[str, Any]) -> Any:
        """What identifies one turn: a move is sent once per key (None: nothing to do)."""
        return "round" if view["status"] == "playing" else None

    def outcome(self, view: Mapping[str, Any]) -> Finished | None:
        """`Finished` once this player's match is over."""
        if view["status"] != "finished":
            return None
        return Finished(won=view["winner"] == self.me, draw=view["winner"] is None)
''')

GITIGNORE = '''\
__pycache__/
*.egg-info/
build/
dist/
.venv/
.pytest_cache/
.ruff_cache/
'''

TEST = Template('''\
"""$title played through GameHarness, as the server would run it, and its bots' policy."""

from __future__ import annotations

import random

import pytest
from client.policies import Finished
from game_server.games.api import GameError, InvalidField, Outcome
from game_server.games.testing import GameHarness

from $name import spec
from $name.bot import ${cls}Policy


def test_the_first_to_press_wins() -> None:
    h = GameHarness(spec)
    a = h.join("ann")
    with pytest.raises(GameError) as refused:
        h.send(a, "press")
    assert refused.value.code == "not_playing"
    b = h.join("bob")
    assert h.room.locked and h.room.metadata == {"status": "playing"}
    h.send(b, "press")
    assert h.last_state_for(a)["winner"] == b
    assert h.room.outcomes == [[Outcome(player=a, placement=2, won=False),
                                Outcome(player=b, placement=1, won=True)]]
    with pytest.raises(GameError):
        h.send(a, "press")
    assert len(h.room.outcomes) == 1


def test_nobody_wins_when_time_runs_out_and_leaving_forfeits() -> None:
    h = GameHarness(spec, options={"round_seconds": 5})
    a, b = h.join("ann"), h.join("bob")
    h.drop(a)
    h.advance(5)
    assert h.view(b)["status"] == "finished" and h.view(b)["winner"] is None
    h = GameHarness(spec)
    a, b = h.join("ann"), h.join("bob")
    h.leave(a)
    assert h.view(b)["winner"] == b


def test_bad_options_and_messages_are_refused() -> None:
    with pytest.raises(InvalidField):
        GameHarness(spec, options={"round_seconds": 0})
    h = GameHarness(spec)
    a = h.join("ann")
    with pytest.raises(InvalidField):
        h.send(a, "press", hard=True)


def test_the_bot_presses_once_and_knows_who_won() -> None:
    h = GameHarness(spec)
    a, b = h.join("ann"), h.join("bob")
    bot = ${cls}Policy(random.Random(1))
    assert bot.on_message({"type": "joined", "player": a, "state": h.view(a)}) == [
        {"type": "press"}]
    assert bot.on_message({"type": "state", "tick": 1, **h.view(a)}) == []  # pressed already
    h.send(b, "press")
    bot.on_message({"type": "state", "tick": 2, **h.view(a)})
    assert bot.finished == Finished(won=False)
''')


def check_name(name: str) -> None:
    """`ScaffoldError` unless `name` makes a good package, module and mode name."""
    if not NAME_RULE.match(name):
        raise ScaffoldError(f"{name!r} is not a valid game name: use lowercase letters, digits "
                            "and underscores, starting with a letter (at most 40)")
    if keyword.iskeyword(name):
        raise ScaffoldError(f"{name!r} is a Python keyword")
    if name in sys.stdlib_module_names:
        raise ScaffoldError(f"{name!r} is a module of Python's standard library: pick another "
                            "name, or the game would shadow it")
    if importlib.util.find_spec(name) is not None:
        raise ScaffoldError(f"a module named {name!r} is already importable here: pick another "
                            "name, or the two would shadow each other")


def render(name: str) -> dict[str, str]:
    """The files of the package for game `name`, by path relative to its folder."""
    words = {
        "name": name,
        "dist": name.replace("_", "-"),
        "title": name.replace("_", " ").capitalize(),
        "cls": "".join(part.capitalize() for part in name.split("_")),
    }
    return {
        "pyproject.toml": PYPROJECT.substitute(words),
        f"{name}/__init__.py": INIT.substitute(words),
        f"{name}/game.py": GAME.substitute(words),
        f"{name}/bot.py": BOT.substitute(words),
        f"{name}/web/page.js": PAGE.substitute(words),
        f"tests/test_{name}.py": TEST.substitute(words),
        ".gitignore": GITIGNORE,
    }


def scaffold(name: str, parent: Path) -> Path:
    """Write the package for game `name` into `parent/name` (which must not exist); its path."""
    target = parent / name
    if NAME_RULE.match(name) and target.exists():
        raise ScaffoldError(f"{target} already exists: pick another name or --dir")
    check_name(name)
    files = render(name)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        target.mkdir()
        for relative, text in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ScaffoldError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target


def main(argv: Sequence[str]) -> int:
    """The `new-game` subcommand: 0 when written, 2 for a refused name or place."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Scaffold a game package for Arena: a small working game, its "
                               "test, and the entry point that lets a server load it.")
    parser.add_argument("name", help="the game's name: its package, module and mode name")
    parser.add_argument("--dir", type=Path, default=Path("."),
                        help="the folder to create the package in (default: the current one)")
    args = parser.parse_args(argv)
    try:
        target = scaffold(args.name, args.dir)
    except ScaffoldError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    print(f"Created {target}:")
    for relative in render(args.name):
        print(f"  {relative}")
    steps = next_steps(args.name, target, Path(sys.executable), Path.cwd())
    width = max(len(command) for command, _ in steps) + 2
    print("Next:")
    for command, why in steps:
        print(f"  {command:<{width}}# {why}")
    print(f"  (its test, tests/test_{args.name}.py, runs with pytest, which `make test` "
          "installs)")
    return 0


def next_steps(name: str, target: Path, python: Path, cwd: Path) -> list[tuple[str, str]]:
    """The commands that install, serve and play the new game, as the README shows them: run
    from the repository with its `.venv` they read `.venv/bin/pip install -e my_game`, `make
    run`, `.venv/bin/python -m client.bots ...`. Paths are written relative to `cwd` when they
    are under it, and the pip and python are those of the environment the scaffold ran in (a
    newcomer has activated nothing, so a bare `pip` or `python` would be the wrong one)."""

    def shown(path: Path) -> str:
        path = path if path.is_absolute() else cwd / path
        try:
            return path.relative_to(cwd).as_posix() or "."
        except ValueError:
            return path.as_posix()

    here = shown(python)
    pip = python.parent / "pip"
    install = f"{shown(pip)} install -e" if pip.exists() else f"{here} -m pip install -e"
    makefile = cwd / "Makefile"
    serve = ("make run" if makefile.is_file() and "\nrun:" in makefile.read_text()
             else f"{here} -m game_server")
    return [
        (f"{install} {shown(target)}", "Arena finds installed games by entry point"),
        (serve, f"the lobby now offers {name} too"),
        (f"{here} -m client.bots --mode {name} --bots 2", "and bots play it (another terminal)"),
    ]
