"""docs/writing-a-game.md cannot rot: each code block marked `<!-- from PATH -->` must appear
verbatim (leading and trailing whitespace aside) in that file of the repository, every Python
or TOML block must be so marked, and together they show every hook the tutorial's game has."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

GUIDE = REPO / "docs/writing-a-game.md"
GAME = "examples/tictactoe/arena_tictactoe/game.py"
MARK = re.compile(r"^<!--\s*from\s+(\S+)\s*-->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Snippet:
    line: int  # where its code block starts in the guide, 1-based
    lang: str
    source: str | None  # the file it is marked as coming from
    code: str


def snippets(markdown: str) -> list[Snippet]:
    """Every fenced code block, with the file its `<!-- from PATH -->` mark names (the mark
    on the last non-blank line before the fence), or None."""
    found: list[Snippet] = []
    lines = markdown.splitlines()
    source: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if (mark := MARK.match(line)) is not None:
            source = mark.group(1)
        elif (fence := FENCE.match(line)) is not None:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")),
                       len(lines))
            found.append(Snippet(i + 1, fence.group(1), source, "\n".join(lines[i + 1:end])))
            source = None
            i = end
        elif line.strip():
            source = None  # a mark applies only to the block right after it
        i += 1
    return found


def stale(snippet: Snippet, root: Path) -> str | None:
    """Why `snippet` no longer matches its file, or None when it does."""
    assert snippet.source is not None
    path = root / snippet.source
    if not path.is_file():
        return f"{snippet.source} does not exist"
    if snippet.code.strip() not in path.read_text(encoding="utf-8"):
        return f"the block at line {snippet.line} is not in {snippet.source} any more"
    return None


MARKED = [s for s in snippets(GUIDE.read_text(encoding="utf-8")) if s.source is not None]


@pytest.mark.parametrize("snippet", MARKED, ids=lambda s: f"line{s.line}")
def test_each_snippet_is_verbatim_in_its_file(snippet: Snippet) -> None:
    assert stale(snippet, REPO) is None


def test_every_code_block_of_the_guide_is_checked() -> None:
    unmarked = [s.line for s in snippets(GUIDE.read_text(encoding="utf-8"))
                if s.lang in ("python", "py", "toml") and s.source is None]
    assert unmarked == [], f"code blocks with no <!-- from PATH --> mark at lines {unmarked}"
    assert len(MARKED) >= 10


def test_the_guide_shows_every_hook_of_the_game() -> None:
    hooks = set(re.findall(r"^    def (on_\w+|view|changes)\(", (REPO / GAME).read_text(),
                           re.MULTILINE))
    shown = "\n".join(s.code for s in MARKED if s.source == GAME)
    assert hooks and {h for h in hooks if f"def {h}(" not in shown} == set()


def test_a_drifted_snippet_is_caught(tmp_path: Path) -> None:
    (tmp_path / "game.py").write_text("def on_join(self, seat):\n    self.seats.append(seat)\n")
    guide = ("Intro.\n\n<!-- from game.py -->\n```python\n    def on_join(self, seat):\n"
             "    self.seats.append(seat)\n```\n\n```python\nunmarked()\n```\n")
    first, second = snippets(guide)
    assert first.source == "game.py" and second.source is None
    assert stale(first, tmp_path) is None
    (tmp_path / "game.py").write_text("def on_join(self, seat):\n    self.seats.insert(0, seat)\n")
    assert "not in game.py any more" in stale(first, tmp_path)
    (tmp_path / "game.py").unlink()
    assert "does not exist" in stale(first, tmp_path)
