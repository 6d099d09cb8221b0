"""`python -m bench.journal_tick`: what recording the match journal costs a room, on and off.

Two arena rooms of N players (default 400) get the same inputs (each player sends ten a second
and turns about once a second) and are ticked alternately, the order swapped every tick: one
records to an in-memory sink, the other does not. Reported: the CPU time per tick of each
(inputs included: every one is journaled), their difference, what the journal writer spends
encoding the records it takes every `--flush` seconds (zlib of JSON, as journal/writer.py does,
off the tick), and the sum per player-second against what a player-second costs the whole
server. Then the bytes stored per player-minute, as the writer stores them, for the arena and
for Liar's Dice (tables of three bots playing a move every `--dice-pace` seconds).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from typing import Any

from bench.tick import Member
from client.dice_brain import decide
from game_server.engine.recorder import MemorySink, Recorder
from game_server.engine.room import Room
from game_server.games.arena import ArenaRules
from game_server.games.arena_mode import arena_spec
from game_server.games.dice import dice_spec
from game_server.journal.codec import encode_chunk


class _Timer:
    def cancel(self) -> None:
        pass


class _Timers:
    """A scheduler for the dice tables: timers due by a clock the bench moves."""

    def __init__(self) -> None:
        self.due: dict[int, tuple[float, Any]] = {}
        self.now = 0.0
        self._n = 0

    def every(self, interval: float, callback: Any) -> _Timer:
        return _Timer()

    def later(self, delay: float, callback: Any) -> Any:
        self._n += 1
        key = self._n
        self.due[key] = (self.now + delay, callback)
        timers = self

        class Handle:
            def cancel(self) -> None:
                timers.due.pop(key, None)

        return Handle()

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            ready = sorted((when, key) for key, (when, _) in self.due.items() if when <= end)
            if not ready:
                break
            when, key = ready[0]
            self.now = when
            self.due.pop(key)[1]()
        self.now = end


def _chunks(recorder: Recorder, chunks: list[int], encode_seconds: list[float]) -> None:
    records = recorder.take()
    if records:
        start = time.thread_time()
        chunks.append(len(encode_chunk(records)))
        encode_seconds.append(time.thread_time() - start)


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
            moves.append((i, *heading[i]))
        clock[0] += 1.0 / rate
        order = ("off", "on") if t % 2 else ("on", "off")
        for name in order:
            room = rooms[name]
            pids = ids[name]
            start = time.thread_time()
            for i, dx, dy in moves:
                room.message(pids[i], "input", {"type": "input", "seq": seq, "dx": dx, "dy": dy})
            room.tick()
            if t >= warmup:
                spent[name] += time.thread_time() - start
        if t % flush_ticks == flush_ticks - 1:  # the writer's flush, off the tick
            _chunks(recorder, chunks, encoding) if t >= warmup else recorder.take()
    for room in rooms.values():
        room.close()
    _chunks(recorder, chunks, encoding)
    minutes = seconds / 60
    return {
        "off_us": spent["off"] / ticks * 1e6,
        "on_us": spent["on"] / ticks * 1e6,
        "encode_us_per_s": sum(encoding) / seconds * 1e6,
        "bytes_per_player_minute": sum(chunks) / players / minutes,
    }


def dice(tables: int, pace: float, seed: int = 1) -> dict[str, float]:
    """Bytes per player-minute of Liar's Dice: tables of three bots to the end of a match."""
    total_bytes = 0
    player_seconds = 0.0
    rng = random.Random(seed)
    for n in range(tables):
        timers = _Timers()
        sink = MemorySink()
        room = Room(f"dice-{n}", dice_spec(), seed=seed + n, options={"start_players": 3},
                    scheduler=timers, monotonic=lambda t=timers: t.now,
                    wall=lambda t=timers: 1.7e9 + t.now, journal=sink)
        players = [room.join(Member(i)) for i in range(3)]
        (recorder,) = sink.recorders
        chunks: list[int] = []
        last_flush = 0.0
        table = room.game.table
        while table is not None and not table.over:
            timers.advance(pace)
            if table.over or table.turn is None:
                break
            view = dict(room.game.view(table.turn))
            move = decide(view, rng)
            if move is not None:
                kind, body = move
                room.message(table.turn, kind, {"type": kind, **body})
            if timers.now - last_flush >= 1.0:
                _chunks(recorder, chunks, [])
                last_flush = timers.now
        for player in players:
            room.remove(player, "leave")
        room.close()
        _chunks(recorder, chunks, [])
        total_bytes += sum(chunks)
        player_seconds += 3 * timers.now
    return {"bytes_per_player_minute": total_bytes / (player_seconds / 60),
            "match_seconds": player_seconds / 3 / tables}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.journal_tick",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--players", type=int, default=400, help="arena players (default 400)")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="arena seconds measured per room (default 30)")
    parser.add_argument("--tables", type=int, default=20, help="dice tables (default 20)")
    parser.add_argument("--dice-pace", type=float, default=4.0,
                        help="seconds between two dice moves (default 4)")
    parser.add_argument("--server-us", type=float, default=614.0,
                        help="server CPU per player-second to compare with (default: the "
                             "README's floor run at 400 players, 614)")
    parser.add_argument("--flush", type=float, default=1.0,
                        help="seconds between two takes of the records, as the journal "
                             "writer's flush interval (default 1)")
    args = parser.parse_args(argv)
    a = arena(args.players, args.seconds, flush=args.flush)
    extra = a["on_us"] - a["off_us"]
    per_tick_writer = a["encode_us_per_s"] / 20
    print(f"arena, {args.players} players, 20 ticks/s, {args.seconds:g} s per room, records "
          f"taken every {args.flush:g} s:")
    print(f"  tick CPU, journal off: {a['off_us']:9.1f} µs")
    print(f"  tick CPU, journal on:  {a['on_us']:9.1f} µs ({extra:+.1f} µs, "
          f"{extra / a['off_us'] * 100:+.2f}%)")
    print(f"  writer encoding, off the tick: {per_tick_writer:.1f} µs per tick "
          f"(on + writer: {(extra + per_tick_writer) / a['off_us'] * 100:+.2f}%)")
    per_player = (extra + per_tick_writer) * 20 / args.players
    print(f"  extra CPU per player-second: {per_player:.1f} µs, "
          f"{per_player / args.server_us * 100:.1f}% of the {args.server_us:g} µs a player-second "
          "costs the server at 400 players (README, bench.floor)")
    print(f"  stored: {a['bytes_per_player_minute']:.0f} bytes per player-minute")
    d = dice(args.tables, args.dice_pace)
    print(f"dice, {args.tables} tables of 3 bots, a move every {args.dice_pace:g} s "
          f"(matches of {d['match_seconds']:.0f} s):")
    print(f"  stored: {d['bytes_per_player_minute']:.0f} bytes per player-minute")
    return 0


if __name__ == "__main__":
    sys.exit(main())
