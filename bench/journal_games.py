"""The match journal of the smaller games, for `python -m bench.journal_tick`: what Liar's Dice,
tic-tac-toe and Lantern store per player-minute, and what recording costs Lantern's tick.

Each game is played by its own bot policy through a real `Room` recording into a `MemorySink`,
on a clock the bench moves; the records are taken every `flush` seconds and encoded by the
journal's own codec (`encode_chunk`, journal/codec.py), as the server's journal writer does.
The chunks are what the database stores per match; a match's header and summary go in its row
as JSON, reported apart (`row_bytes`).

- Liar's Dice: tables of three bots (`client.dice_brain`), a move every `pace` seconds.
- Tic-tac-toe (examples/tictactoe): matches of two bots (`arena_tictactoe.bot.choose_cell`), a
  move every `pace` seconds, one room per match (a room plays one match), back to back.
- Lantern (examples/lantern): a room of bots playing as its policy does (`LanternPolicy`: a
  steer when the heading changes, asked 10 times a second, from the states the room sent), at
  its 10 ticks a second; two rooms given the same inputs, ticked alternately, one recording.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench.tick import Member, NullConnection
from client.dice_brain import decide
from game_server.engine.recorder import MemorySink, Recorder
from game_server.engine.room import Room
from game_server.games.api import GameSpec
from game_server.games.dice import dice_spec
from game_server.journal.codec import encode_chunk


class _Timer:
    def cancel(self) -> None:
        pass


class Timers:
    """A room scheduler whose timers fall due by a clock the bench moves (`now`, seconds)."""

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
        """Move the clock on by `seconds`, firing the timers due meanwhile, in order."""
        end = self.now + seconds
        while True:
            ready = sorted((when, key) for key, (when, _) in self.due.items() if when <= end)
            if not ready:
                break
            when, key = ready[0]
            self.now = when
            self.due.pop(key)[1]()
        self.now = end


def take_chunk(recorder: Recorder, chunks: list[int], encode_seconds: list[float]) -> None:
    """The writer's flush: take the room's records (on the event loop, where what a room kept
    is sealed) and encode them as one stored chunk (on the writer's thread); both counted."""
    start = time.thread_time()
    records = recorder.take_raw()  # as the writer takes them
    if records:
        chunks.append(len(encode_chunk(records)))
    encode_seconds.append(time.thread_time() - start)


def _row_bytes(recorder: Recorder) -> int:
    # The match's row: its header and summary, stored as JSON (uncompressed) beside the chunks.
    return len(orjson.dumps(recorder.header)) + len(orjson.dumps(recorder.summary or {}))


class FrameConnection(NullConnection):
    """A member's connection that also keeps the frames it is sent (a bot reads them back)."""

    __slots__ = ("frames",)

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[bytes] = []

    def send(self, data: bytes) -> None:
        super().send(data)
        self.frames.append(data)

    def send_state(self, data: bytes, limit: int) -> bool:
        self.frames.append(data)
        return super().send_state(data, limit)


def seated_bot(i: int) -> Member:
    """A seated bot whose connection keeps what it was sent."""
    return Member(i, FrameConnection())


# A turn-based match: the player on turn, or None once the match is over; and that player's
# move as (kind, message) for the room (None: nothing to play).
Turn = Callable[[Room], int | None]
Move = Callable[[Room, int, random.Random], tuple[str, dict[str, Any]] | None]


def _turn_based(spec: GameSpec, options: dict[str, Any], seats: int, matches: int, pace: float,
                flush: float, turn: Turn, move: Move, seed: int) -> dict[str, float]:
    """Bytes per player-minute of `matches` matches of `seats` bots, one room each, a move
    every `pace` seconds and the records taken every `flush` seconds."""
    chunk_bytes = 0
    row_bytes = 0
    player_seconds = 0.0
    rng = random.Random(seed)
    for n in range(matches):
        timers = Timers()
        sink = MemorySink()
        room = Room(f"{spec.name}-{n}", spec, seed=seed + n, options=options, scheduler=timers,
                    monotonic=lambda t=timers: t.now, wall=lambda t=timers: 1.7e9 + t.now,
                    journal=sink)
        players = [room.join(seated_bot(i)) for i in range(seats)]
        (recorder,) = sink.recorders
        chunks: list[int] = []
        next_move = pace
        while (player := turn(room)) is not None:
            timers.advance(flush)
            if timers.now >= next_move - 1e-9 and (player := turn(room)) is not None:
                played = move(room, player, rng)
                if played is not None:
                    kind, body = played
                    room.message(player, kind, {"type": kind, **body})
                next_move += pace
            take_chunk(recorder, chunks, [])
        for player in players:
            room.remove(player, "leave")
        room.close()
        take_chunk(recorder, chunks, [])
        chunk_bytes += sum(chunks)
        row_bytes += _row_bytes(recorder)
        player_seconds += seats * timers.now
    return {"bytes_per_player_minute": chunk_bytes / (player_seconds / 60),
            "match_seconds": player_seconds / seats / matches,
            "chunk_bytes_per_match": chunk_bytes / matches,
            "row_bytes_per_match": row_bytes / matches}


def _dice_turn(room: Room) -> int | None:
    table = room.game.table  # type: ignore[attr-defined]
    return None if table is None or table.over else table.turn


def _dice_move(room: Room, player: int, rng: random.Random) -> tuple[str, dict[str, Any]] | None:
    return decide(dict(room.game.view(player)), rng)


def dice(tables: int, pace: float, flush: float, seed: int = 1) -> dict[str, float]:
    """Liar's Dice: tables of three bots to the end of a match."""
    return _turn_based(dice_spec(), {"start_players": 3}, 3, tables, pace, flush, _dice_turn,
                       _dice_move, seed)


def _ttt_turn(room: Room) -> int | None:
    return room.game.turn  # type: ignore[attr-defined]


def _ttt_move(room: Room, player: int, rng: random.Random) -> tuple[str, dict[str, Any]] | None:
    from arena_tictactoe.bot import choose_cell

    cell = choose_cell(room.game.view(player), player)
    return None if cell is None else ("move", {"cell": cell})


def tictactoe(matches: int, pace: float, flush: float, seed: int = 1) -> dict[str, float]:
    """Tic-tac-toe (examples/tictactoe): matches of two bots, one room each."""
    from arena_tictactoe import spec

    return _turn_based(spec, {}, 2, matches, pace, flush, _ttt_turn, _ttt_move, seed)


def lantern(players: int, seconds: float, flush: float, size: int = 32,
            seed: int = 1) -> dict[str, float]:
    """Lantern (examples/lantern): `players` bots in one maze for `seconds`, two rooms given
    the same inputs and ticked alternately, one recording; CPU per tick of each (inputs
    included) and the bytes the recording one stores."""
    from arena_lantern import spec
    from arena_lantern.bot import LanternPolicy
    from arena_lantern.game import RATE

    timers = Timers()
    sink = MemorySink()
    rooms: dict[str, Room] = {}
    members: dict[str, list[Member]] = {}
    for name, journal in (("off", None), ("on", sink)):
        rooms[name] = Room(f"lantern-{name}", spec, seed=seed, options={"size": size},
                           scheduler=timers, monotonic=lambda: timers.now,
                           wall=lambda: 1.7e9 + timers.now, journal=journal)
        members[name] = [seated_bot(i) for i in range(players)]
    ids = {name: [rooms[name].join(m) for m in members[name]] for name in rooms}
    (recorder,) = sink.recorders
    rng = random.Random(seed)
    bots = [LanternPolicy(random.Random(rng.random())) for _ in range(players)]
    spent = {"off": 0.0, "on": 0.0}
    chunks: list[int] = []
    encoding: list[float] = []
    ticks = int(seconds * RATE)
    warmup = RATE * 2
    next_flush = flush
    for t in range(warmup + ticks):
        # The bots read what the room sent them (the "off" room's frames: both rooms send the
        # same), then steer as they do 10 times a second.
        moves: list[tuple[int, dict[str, Any]]] = []
        for i, (bot, member) in enumerate(zip(bots, members["off"], strict=True)):
            for frame in member.connection.frames:
                bot.on_message(orjson.loads(frame))
            member.connection.frames.clear()
            moves += [(i, msg) for msg in bot.act()]
        for member in members["on"]:
            member.connection.frames.clear()
        timers.advance(1.0 / RATE)  # the round's timers fire between ticks, untimed
        order = ("off", "on") if t % 2 else ("on", "off")
        for name in order:
            room = rooms[name]
            pids = ids[name]
            start = time.thread_time()
            for i, msg in moves:
                room.message(pids[i], msg["type"], msg)
            room.tick()
            if t >= warmup:
                spent[name] += time.thread_time() - start
        if timers.now >= next_flush - 1e-9:  # the writer's flush, off the tick
            next_flush += flush
            if t >= warmup:
                take_chunk(recorder, chunks, encoding)
            else:
                recorder.take()
    for room in rooms.values():
        room.close()
    take_chunk(recorder, chunks, encoding)
    return {
        "off_us": spent["off"] / ticks * 1e6,
        "on_us": spent["on"] / ticks * 1e6,
        "encode_us_per_s": sum(encoding) / seconds * 1e6,
        "bytes_per_player_minute": sum(chunks) / players / (seconds / 60),
        "row_bytes": _row_bytes(recorder),
    }
