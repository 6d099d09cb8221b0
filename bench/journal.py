"""The match journal end to end: bytes stored per player-minute for each shipped game and the
writer's compression time, on a real in-process server played by the project's bots, through
the journal writer into its SQLite file (bench.journal_tick measures the rooms' side).

    .venv/bin/python -m bench.journal --arena-bots 20 --arena-seconds 60 --dice-matches 5

The arena's bots play for `--arena-seconds`; Liar's Dice bots play `--dice-matches` whole
matches of 4 at one table. A player-minute is one seated player for one minute of the room's
life (the journal's own summary: its duration times the players in it). The writer's CPU is
the worker thread's time compressing chunks (`arena_journal_encode_seconds`) beside the
process's whole CPU time over the same run (the bots included: they run in this process).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
from pathlib import Path
from typing import Any

from client.bots import run_bots
from game_server.app import ArenaServer
from game_server.config import Config
from game_server.journal.store import load_journal
from game_server.storage import open_storage

SECRET = "bench-journal-secret-0123456789abcdef"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(args: argparse.Namespace, data: Path) -> dict[str, Any]:
    config = Config(host="127.0.0.1", port=0, data_dir=data, cookie_secret=SECRET,
                    empty_room_grace=0.5, resume_grace=0.5, uvloop=False)
    srv = ArenaServer(config)
    await srv.start()
    cpu0 = cpu_seconds()
    try:
        if args.arena_bots:
            await run_bots(srv.url, args.arena_bots, args.arena_seconds, "arena", "blob", seed=1)
        for match in range(args.dice_matches):
            await run_bots(srv.url, 4, 120.0, "dice", f"dice{match}", seed=10 + match,
                           matches=1, options={"start_players": 4})
    finally:
        await srv.stop()
    cpu = cpu_seconds() - cpu0
    assert srv.journal is not None
    stats = srv.journal.stats
    per_mode: dict[str, dict[str, float]] = {}
    async with open_storage(data / "arena.sqlite3") as storage:
        for item in await storage.journals_list(limit=500):
            journal = await load_journal(storage, item["id"])
            if journal is None or journal.summary is None:
                continue
            players = len(journal.summary.get("players") or ()) or 1
            minutes = journal.summary.get("duration_ms", 0) / 60_000
            row = per_mode.setdefault(item["mode"], {"bytes": 0, "player_minutes": 0.0,
                                                     "matches": 0, "records": 0})
            row["bytes"] += journal.bytes
            row["player_minutes"] += players * minutes
            row["matches"] += 1
            row["records"] += len(journal.records)
    return {"modes": per_mode, "cpu": cpu, "encode": stats.encode_seconds,
            "chunks": stats.chunks, "dropped": stats.dropped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arena-bots", type=int, default=20)
    parser.add_argument("--arena-seconds", type=float, default=60.0)
    parser.add_argument("--dice-matches", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(args, Path(tmp)))
    for mode, row in sorted(result["modes"].items()):
        per = row["bytes"] / row["player_minutes"] if row["player_minutes"] else 0.0
        print(f"{mode:8} {row['matches']:3d} matches  {row['player_minutes']:8.1f} "
              f"player-minutes  {row['bytes']:9d} bytes  {per:8.0f} bytes/player-minute  "
              f"{row['records']} records")
    share = result["encode"] / result["cpu"] if result["cpu"] else 0.0
    print(f"writer: {result['chunks']} chunks, {result['dropped']} dropped; compressing took "
          f"{result['encode']:.3f} s of {result['cpu']:.1f} s process CPU ({share:.2%})")


if __name__ == "__main__":
    main()
