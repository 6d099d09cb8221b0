"""bench.views runs real rooms of the example game and prints a table; its numbers are for the
guide, not for tests: this checks the shape of what it reports."""

from __future__ import annotations

import re
from pathlib import Path

from bench.views import main, map_size, measure


def test_a_fogged_room_sends_a_view_per_player_and_a_lit_one_shares_one() -> None:
    fog = measure(6, True, ticks=5, warmup=1)
    lit = measure(6, False, ticks=5, warmup=1)
    assert 1 < fog.views <= 6 and lit.views == 1.0
    assert fog.bytes_per_player > 0 and lit.bytes_per_player > 0
    assert fog.us_per_player > 0 and fog.tick_us > 0
    assert map_size(8) < map_size(50) < map_size(200) == 128


def test_the_command_prints_and_writes_one_row_per_size_and_kind(capsys, tmp_path: Path) -> None:
    out = tmp_path / "views.out"  # Markdown, by any name
    assert main(["--players", "2,5", "--ticks", "3", "--warmup", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines() if re.match(r"\| \d+ \|", line)]
    assert [(r.split("|")[1].strip(), "fog" in r) for r in rows] == [
        ("2", True), ("2", False), ("5", True), ("5", False)]
    assert all(len(r.split("|")) == 9 for r in rows)
    written = out.read_text()
    assert printed.strip() in written
    assert "`python -m bench.views --players 2,5 --ticks 3 --warmup 1 --out " in written
