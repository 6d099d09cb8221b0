"""The engine, protocol, storage and transport name no game concept: a game's nouns (the arena's
mass, steering and pellets) live in game_server/games/ and the arena game's own client files."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO

NOUNS = re.compile(r"mass|steer|pellet", re.IGNORECASE)
# The arena game's own page and its style.
ARENA_FILES = {"game_server/templates/play.html", "game_server/static/play.css"}
# Databases made before results per mode kept best masses in users.best_mass: the first schema
# still creates that column, and the migration copies it into the arena mode's best scores.
SCHEMA_HISTORY = re.compile(r"best_mass|best masses")
STORAGE = {"game_server/storage/sqlite_schema.py", "game_server/storage/postgres_schema.py"}


def test_no_game_nouns_outside_the_games() -> None:
    files = subprocess.run(["git", "ls-files", "game_server", "protocol"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    found = []
    for path in files:
        if path.startswith("game_server/games/") or path in ARENA_FILES:
            continue
        for number, line in enumerate((REPO / path).read_text().splitlines(), 1):
            if not NOUNS.search(line):
                continue
            if path in STORAGE and SCHEMA_HISTORY.search(line):
                continue
            found.append(f"{path}:{number}: {line.strip()}")
    assert not found, "a game's nouns outside the games:\n" + "\n".join(found)


def test_storage_depends_on_results_not_on_the_game_api() -> None:
    """Storage knows what a match leaves behind (games/results.py), never the rest of the game
    API, so the API can grow without storage noticing."""
    probe = ("import sys, game_server.storage, game_server.storage.sqlite, "
             "game_server.storage.postgres, game_server.storage.leaderboards; "
             "print(sorted(m for m in sys.modules if m.startswith('game_server.games')))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                          text=True, check=True)
    assert done.stdout.split() == ["['game_server.games',", "'game_server.games.results']"]
