"""`python -m game_server replay verify ID|FILE` and `replay export ID -o FILE` on a real
SQLite file, the journal written by the real writer from a real room."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path

from game_server.engine.room import Room
from game_server.games.dice import dice_spec
from game_server.journal import load_replay
from game_server.journal.writer import JournalWriter
from game_server.storage.sqlite import SQLiteStorage
from tests.conftest import ManualClock, ManualScheduler
from tests.dice_play import random_move
from tests.test_journal import _Seat

ROOT = Path(__file__).resolve().parent.parent


async def replay(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "game_server", "replay", *args, cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("ARENA_")},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_verify_and_export_a_match_from_the_database(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "arena.sqlite3")
    await storage.open()
    writer = JournalWriter(storage, flush_interval=3600)
    writer.start()
    clock = ManualClock()
    scheduler = ManualScheduler(clock)
    room = Room("room-1", dice_spec(), seed=4, options={"start_players": 2},
                scheduler=scheduler, monotonic=clock, wall=clock, journal=writer)
    a, b = room.join(_Seat(1, "ann")), room.join(_Seat(2, "bob"))
    rng = random.Random(3)
    table = room.game.table
    while not table.over:
        kind, body = random_move(room.game.view(table.turn), rng)
        room.message(table.turn, kind, {"type": kind, **body})
    room.remove(a, "leave")
    room.remove(b, "leave")
    room.close()
    await writer.stop()
    await storage.close()
    journal_id = room.journal_id
    assert journal_id is not None

    code, out, err = await replay("verify", journal_id, "--data-dir", str(tmp_path))
    assert (code, err) == (0, "") and out.startswith("ok: ")
    path = tmp_path / "match.journal"
    code, out, err = await replay("export", journal_id, "-o", str(path),
                                  "--data-dir", str(tmp_path))
    assert code == 0 and f"wrote {path}" in out
    assert load_replay(path).verify().ok
    code, out, _ = await replay("verify", str(path))
    assert code == 0 and out.startswith("ok: ")

    code, out, err = await replay("verify", "0" * 32, "--data-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert f"no match {'0' * 32!r} in the database (unknown, or deleted" in err
    code, _, err = await replay("verify", "x", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "no database at" in err


async def test_help_names_the_replay_commands() -> None:
    code, out, _ = await replay("--help")
    assert code == 0 and "verify" in out and "export" in out
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "game_server", "--help", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out_bytes, _ = await proc.communicate()
    assert proc.returncode == 0
    assert "game-server replay verify ID|FILE | export ID -o FILE" in out_bytes.decode()


def test_a_small_state_that_differs_is_shown_whole_side_by_side() -> None:
    import io

    from arena_tictactoe.game import spec

    from game_server.games.testing import GameHarness
    from game_server.journal import Replay
    from game_server.journal.cli import report

    h = GameHarness(spec, record=True)
    x, o = h.join("xena"), h.join("otto")
    for player, cell in ((x, 4), (o, 0), (x, 8)):
        h.send(player, "move", cell=cell)
    header, records = h.journal()
    # The journal says O took cell 1, not 0: the replay's board differs from that move on.
    records = [("m", r[1], r[2], r[3], {**r[4], "cell": 1})
               if r[0] == "m" and r[4]["cell"] == 0 else r for r in records]
    verification = Replay(header, records, modes={"tictactoe": spec}).verify()
    assert not verification.ok and verification.first_bad_tick == 4  # 2 joins, 2 moves
    out = io.StringIO()
    report(verification, out)
    text = out.getvalue()
    assert text.startswith("MISMATCH after tick 4: the state after tick 4 differs")
    assert "board.0" in text and "board.1" in text
    # Then both whole states, the differing lines marked.
    marked = [line for line in text.splitlines() if " | " in line and '"' in line]
    assert any('"X"' in line or '""' in line for line in marked)
