"""docs/writing-a-realtime-game.md cannot rot: each code block marked `<!-- from PATH -->` must
appear verbatim (leading and trailing whitespace aside) in that file of the repository, every
Python, TOML or JavaScript block must be so marked, its table of measurements must be the one in
bench/results, and together its snippets show every hook of the guide's game (the checks of
tests/test_tutorial.py, on the second guide)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO
from tests.test_tutorial import Snippet, snippets, stale

GUIDE = REPO / "docs/writing-a-realtime-game.md"
GAME = "examples/lantern/arena_lantern/game.py"
RESULTS = REPO / "bench/results/2026-12-06-views.md"

TEXT = GUIDE.read_text(encoding="utf-8")
MARKED = [s for s in snippets(TEXT) if s.source is not None]


@pytest.mark.parametrize("snippet", MARKED, ids=lambda s: f"line{s.line}")
def test_each_snippet_is_verbatim_in_its_file(snippet: Snippet) -> None:
    assert stale(snippet, REPO) is None


def test_every_code_block_of_the_guide_is_checked() -> None:
    unmarked = [s.line for s in snippets(TEXT)
                if s.lang in ("python", "py", "toml", "js", "javascript") and s.source is None]
    assert unmarked == [], f"code blocks with no <!-- from PATH --> mark at lines {unmarked}"
    assert len(MARKED) >= 12
    assert {s.source for s in MARKED} >= {GAME, "examples/lantern/arena_lantern/bot.py",
                                          "examples/lantern/arena_lantern/web/page.js",
                                          "examples/lantern/pyproject.toml"}


def test_the_guide_shows_every_hook_of_the_game_that_a_ticking_game_adds() -> None:
    hooks = set(re.findall(r"^    def (on_\w+|view|changes)\(", (REPO / GAME).read_text(),
                           re.MULTILINE))
    shown = "\n".join(s.code for s in MARKED if s.source == GAME)
    # Joining and leaving are the turn-based guide's; everything else is shown here.
    assert {"on_step", "on_message", "on_timer", "view", "changes"} <= hooks
    assert {h for h in hooks - {"on_join", "on_leave", "on_drop", "on_resume"}
            if f"def {h}(" not in shown} == set()
    for name in ("Ticking(RATE)", "latest_only=True", "supersedes=", "private=private"):
        assert name in shown


def test_the_guide_shows_the_measured_table() -> None:
    table = [line for line in RESULTS.read_text(encoding="utf-8").splitlines()
             if line.startswith("|")]
    assert len(table) == 2 + 6  # header, rule, 8/50/200 players each way
    assert "\n".join(table) in TEXT
    assert "python -m bench.views --players 8,50,200" in TEXT
