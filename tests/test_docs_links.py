"""Nothing in the repository points outside it, or at a file it does not have.

Every tracked file is read (git ls-files): a Markdown link must resolve inside the repository to a
file or directory that exists (and a `#fragment` to one of its headings), and any mention of a
`.md` file (backticked, in a comment, anywhere) must name one the repository has. Notes that live
next to a checkout (`../something/NOTES.md`) are what a clone does not have.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

OUTSIDE = "../" + "shared"  # spelled in two parts so this file does not mention it
MD_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MD_MENTION = re.compile(  # a path ending in .md, not part of a longer word, URL or pattern
    r"(?<![\w/.<>{}-])((?:\.\.?/)*(?:[\w-][\w.-]*/)*[\w-][\w.-]*\.md)(?![\w/-])")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:, ...
THIS_FILE = Path(__file__).resolve().relative_to(REPO).as_posix()  # its examples are made up


def tracked_texts(root: Path) -> Iterator[tuple[str, str]]:
    """(path, text) of every tracked text file under `root`."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                                check=True, timeout=30).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs git and a git checkout")
    for name in filter(None, listed.split("\0")):
        path = root / name
        try:
            yield name, path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary (images), or deleted in the work tree


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found: set[str] = set()
    fence = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            found.add(github_anchor(m.group(1)))
    return found


def problems(root: Path, name: str, text: str) -> list[str]:
    """What is wrong with the references in one file."""
    found = []
    here = (root / name).parent
    if OUTSIDE in text:
        found.append(f"{name} mentions {OUTSIDE}")
    if name.endswith(".md"):
        for target in MD_LINK.findall(text):
            if EXTERNAL.match(target) or target.startswith("#") and not target[1:]:
                continue
            path_part, _, fragment = target.partition("#")
            path_part = path_part.split("?")[0]
            resolved = (here / path_part).resolve() if path_part else (root / name).resolve()
            if not resolved.is_relative_to(root.resolve()):
                found.append(f"{name} links outside the repository: {target}")
            elif not resolved.exists():
                found.append(f"{name} links to a missing file: {target}")
            elif fragment and resolved.suffix == ".md" and \
                    fragment not in anchors(resolved.read_text(encoding="utf-8")):
                found.append(f"{name} links to a missing heading: {target}")
    for mention in set(MD_MENTION.findall(text)):
        candidates = [(here / mention).resolve(), (root / mention).resolve()]
        if not any(c.is_relative_to(root.resolve()) for c in candidates):
            found.append(f"{name} mentions a file outside the repository: {mention}")
        elif not any(c.is_file() and c.is_relative_to(root.resolve()) for c in candidates):
            found.append(f"{name} mentions a file the repository does not have: {mention}")
    return found


def test_no_file_refers_outside_the_repository_or_to_a_missing_file() -> None:
    wrong = [p for name, text in tracked_texts(REPO) if name != THIS_FILE
             for p in problems(REPO, name, text)]
    assert not wrong, "\n".join(wrong)


def test_the_check_catches_each_kind(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("# Where a player's CPU goes\n")
    good = ("# See\n[notes](docs/notes.md#where-a-players-cpu-goes), `docs/notes.md`, "
            "[site](https://example.com/x.md) and [here](#see).")
    (tmp_path / "README.md").write_text(good)
    assert problems(tmp_path, "README.md", good) == []
    assert problems(tmp_path, "docs/a.md", "[up](../README.md)") == []
    assert problems(tmp_path, "docs/a.md", "[up](../NEWS.md)") == [
        "docs/a.md links to a missing file: ../NEWS.md",
        "docs/a.md mentions a file the repository does not have: ../NEWS.md"]
    for text, kind in [
        ("[x](../../outside.md)", "links outside the repository"),
        ("[x](docs/missing.md)", "links to a missing file"),
        ("[x](docs/notes.md#nowhere)", "links to a missing heading"),
        ("read `" + OUTSIDE + "/DESIGN.md`", "mentions " + OUTSIDE),
        ("read `../DESIGN.md`", "mentions a file outside the repository"),
        ("# comment (NOTES.md)", "mentions a file the repository does not have"),
    ]:
        assert any(kind in p for p in problems(tmp_path, "README.md", text)), (text, kind)
