"""`python -m bench.journal_tick`: what recording the match journal costs the rooms, and what it
stores, for every shipped game.

Two arena rooms of N players (default 400) get the same inputs (each player sends ten a second
and turns about once a second) and are ticked alternately, the order swapped every tick: one
records to an in-memory sink, the other does not. Reported: the CPU time per tick of each
(inputs included: every one is journaled), their difference, what the journal writer spends
encoding the records it takes every `--flush` seconds (the journal's codec, as
journal/writer.py uses it, off the tick), and the sum per player-second against what a
player-second costs the whole server. Then, by bench/journal_games.py, the same for a Lantern
room of bots (examples/lantern, 10 ticks a second), and the bytes stored per player-minute of
Liar's Dice and tic-tac-toe matches played by their bots at a human's pace.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import sys
import time

from orjson import dumps, loads

from bench.journal_games import dice, lantern, take_chunk, tictactoe
from bench.tick import Member
from game_server.config import Config
from game_server.engine.recorder import MemorySink
from game_server.engine.room import Room
from game_server.games.arena import ArenaRules
from game_server.games.arena_mode import arena_spec

# The journal writer's flush interval by default (--journal-flush-seconds): how often the
# server takes the rooms' records, so how big each stored chunk is.
FLUSH = next(f.default for f in dataclasses.fields(Config) if f.name == "journal_flush_seconds")


def arena(players: int, seconds: float, seed: int = 1, flush: float = 1.0) -> dict[str, float]:
    """Tick two rooms, journal on and off, alternately; CPU per tick and bytes. The records
    are taken and encoded every `flush` seconds, as the journal writer does."""
    rate = 20
    flush_ticks = max(1, round(flush * rate))
    clock = [0.0]
    sink = MemorySink()
    rooms = {}
    for name, journal in (("off", None), ("on", sink)):
        rooms[name] = Room(f"bench-{name}", arena_spec(ArenaRules()), seed=seed,
                           options={"max_players": players, "tick_rate": rate},
                           monotonic=lambda: clock[0], wall=lambda: 1.7e9 + clock[0],
                           journal=journal)
    ids = {name: [room.join(Member(i)) for i in range(players)] for name, room in rooms.items()}
    (recorder,) = sink.recorders
    rng = random.Random(seed)
    spent = {"off": 0.0, "on": 0.0}
    chunks: list[int] = []
    encoding: list[float] = []
    ticks = int(seconds * rate)
    warmup = rate * 2
    seq = 0
    heading = [(0.0, 0.0)] * players
    for t in range(warmup + ticks):
        # Half the players send an input on each tick: ten per player and second, as the
        # clients' heartbeat does; each turns about once a second, to a direction with four
        # decimals, as the bots and the load generator send it.
        seq += 1
        moves = []
        for i in range(t % 2, players, 2):
            if rng.random() < 0.1:
                angle = rng.uniform(0, 2 * math.pi)
                heading[i] = (round(math.cos(angle), 4), round(math.sin(angle), 4))
            dx, dy = heading[i]
            moves.append((i, dumps({"type": "input", "seq": seq, "dx": dx, "dy": dy}).decode()))
        clock[0] += 1.0 / rate
        order = ("off", "on") if t % 2 else ("on", "off")
        for name in order:
            room = rooms[name]
            pids = ids[name]
            start = time.thread_time()
            for i, text in moves:
                # As the server's session does: the text parsed, and passed on with it.
                room.message(pids[i], "input", loads(text), text)
            room.tick()
            if t >= warmup:
                spent[name] += time.thread_time() - start
        if t % flush_ticks == flush_ticks - 1:  # the writer's flush, off the tick
            take_chunk(recorder, chunks, encoding) if t >= warmup else recorder.take()
    for room in rooms.values():
        room.close()
    take_chunk(recorder, chunks, encoding)
    minutes = seconds / 60
    return {
        "off_us": spent["off"] / ticks * 1e6,
        "on_us": spent["on"] / ticks * 1e6,
        "encode_us_per_s": sum(encoding) / seconds * 1e6,
        "bytes_per_player_minute": sum(chunks) / players / minutes,
    }


def _cost(label: str, r: dict[str, float], rate: int, players: int) -> float:
    """Print a ticking room's recording cost; return the extra CPU per player-second (µs)."""
    extra = r["on_us"] - r["off_us"]
    per_tick_writer = r["encode_us_per_s"] / rate
    print(label)
    print(f"  tick CPU, journal off: {r['off_us']:9.1f} µs")
    print(f"  tick CPU, journal on:  {r['on_us']:9.1f} µs ({extra:+.1f} µs, "
          f"{extra / r['off_us'] * 100:+.2f}%)")
    print(f"  writer taking and encoding, off the tick: {per_tick_writer:.1f} µs per tick "
          f"(on + writer: {(extra + per_tick_writer) / r['off_us'] * 100:+.2f}%)")
    return (extra + per_tick_writer) * rate / players


def _stored(r: dict[str, float], what: str = "") -> None:
    print(f"  stored: {r['bytes_per_player_minute']:.0f} bytes per player-minute{what}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.journal_tick",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--players", type=int, default=400, help="arena players (default 400)")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="arena seconds measured per room (default 30)")
    parser.add_argument("--tables", type=int, default=20, help="dice tables (default 20)")
    parser.add_argument("--dice-pace", type=float, default=4.0,
                        help="seconds between two dice moves (default 4)")
    parser.add_argument("--matches", type=int, default=20,
                        help="tic-tac-toe matches (default 20)")
    parser.add_argument("--ttt-pace", type=float, default=3.0,
                        help="seconds between two tic-tac-toe moves (default 3)")
    parser.add_argument("--lantern-players", type=int, default=8,
                        help="Lantern players in one 32 x 32 maze (default 8)")
    parser.add_argument("--lantern-seconds", type=float, default=130.0,
                        help="Lantern seconds measured per room (default 130: two rounds of "
                             "60 s and their breaks)")
    parser.add_argument("--only", choices=("arena", "lantern", "dice", "tictactoe"),
                        action="append", help="measure only these games (repeatable)")
    parser.add_argument("--server-us", type=float, default=614.0,
                        help="server CPU per player-second to compare with (default: the "
                             "README's floor run at 400 players, 614)")
    parser.add_argument("--flush", type=float, default=FLUSH,
                        help="seconds between two takes of the records, as the journal "
                             f"writer's flush interval (default {FLUSH:g}, the server's)")
    args = parser.parse_args(argv)
    only = set(args.only or ("arena", "lantern", "dice", "tictactoe"))
    if "arena" in only:
        a = arena(args.players, args.seconds, flush=args.flush)
        per_player = _cost(f"arena, {args.players} players, 20 ticks/s, {args.seconds:g} s per "
                           f"room, records taken every {args.flush:g} s:", a, 20, args.players)
        print(f"  extra CPU per player-second: {per_player:.1f} µs, "
              f"{per_player / args.server_us * 100:.1f}% of the {args.server_us:g} µs a "
              "player-second costs the server at 400 players (README, bench.floor)")
        _stored(a)
    if "lantern" in only:
        n = args.lantern_players
        la = lantern(n, args.lantern_seconds, args.flush)
        per_player = _cost(f"lantern, {n} bots, 10 ticks/s, {args.lantern_seconds:g} s per "
                           f"room, records taken every {args.flush:g} s:", la, 10, n)
        print(f"  extra CPU per player-second: {per_player:.1f} µs")
        _stored(la, f" (+{la['row_bytes']:.0f} bytes of header and summary)")
    if "dice" in only:
        d = dice(args.tables, args.dice_pace, args.flush)
        print(f"dice, {args.tables} tables of 3 bots, a move every {args.dice_pace:g} s "
              f"(matches of {d['match_seconds']:.0f} s):")
        _stored(d, f" ({d['chunk_bytes_per_match']:.0f} a match, +"
                   f"{d['row_bytes_per_match']:.0f} of header and summary)")
    if "tictactoe" in only:
        t = tictactoe(args.matches, args.ttt_pace, args.flush)
        print(f"tictactoe, {args.matches} matches of 2 bots back to back, a move every "
              f"{args.ttt_pace:g} s (matches of {t['match_seconds']:.0f} s):")
        _stored(t, f" ({t['chunk_bytes_per_match']:.0f} a match, +"
                   f"{t['row_bytes_per_match']:.0f} of header and summary)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
