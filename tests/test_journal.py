"""The match journal: every shipped game records a scripted match and replays it exactly (in
the test harness and in a real room), what each player saw comes back from the replay, games
made non-deterministic on purpose are caught at the right tick, and exports travel to another
process; bad journals and files get clear errors."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from arena_lantern.game import spec as lantern_spec
from arena_tictactoe.bot import choose_cell
from arena_tictactoe.game import spec as tictactoe_spec

from game_server.engine.recorder import MemorySink
from game_server.engine.room import Room
from game_server.games.api import GameError, GameSpec
from game_server.games.arena_mode import arena_spec
from game_server.games.dice import dice_spec
from game_server.games.state import full_state, normalized, state_hash
from game_server.games.testing import GameHarness
from game_server.journal import Replay, ReplayError, load_replay
from game_server.journal.codec import export_bytes, write_export
from protocol.errors import ProtocolError
from tests.conftest import FakeConnection, FakeIdentity, ManualClock, ManualScheduler
from tests.dice_play import random_move
from tests.journal_games import WOBBLES_AT, wobble_clock, wobble_random

ROOT = Path(__file__).resolve().parent.parent


# -- two ways to play a match: the harness, a real room ---------------------------------------


class _Seat:
    def __init__(self, user: int, name: str) -> None:
        self.identity = FakeIdentity(user, name)
        self.connection = FakeConnection()

    def on_room_left(self, room: Room, reason: str) -> None:
        pass


class RoomDriver:
    """A real `Room` recording to memory, on a manual clock and scheduler."""

    def __init__(self, spec: GameSpec, seed: int, options: dict[str, Any]) -> None:
        self.clock = ManualClock()
        self.scheduler = ManualScheduler(self.clock)
        self.sink = MemorySink(hash_every=10)  # ticking rooms: more often than the default
        self.room = Room("room-1", spec, seed=seed, options=options, scheduler=self.scheduler,
                         monotonic=self.clock, wall=self.clock, journal=self.sink)
        if self.room.ticking:
            self.scheduler.every(self.room.dt, self.room.tick)
        self.seats: dict[int, list[_Seat]] = {}

    @property
    def game(self) -> Any:
        return self.room.game

    def connected(self) -> list[int]:
        return list(self.room._members)

    def join(self, name: str, user: int) -> int:
        seat = _Seat(user, name)
        player = self.room.join(seat)
        self.seats[player] = [seat]
        return player

    def send(self, player: int, kind: str, **fields: Any) -> None:
        # As the server's session does: the object parsed from the text, and the text.
        text = orjson.dumps({"type": kind, **fields}).decode()
        self.room.message(player, kind, orjson.loads(text), text)

    def advance(self, seconds: float) -> None:
        self.scheduler.advance(seconds)

    def drop(self, player: int) -> None:
        self.room.hold(player)

    def resume(self, player: int) -> None:
        seat = _Seat(self.seats[player][0].identity.id, self.seats[player][0].identity.name)
        assert self.room.resume(player, seat)
        self.seats[player].append(seat)

    def leave(self, player: int) -> None:
        self.room.remove(player, "leave")

    def end(self) -> None:
        self.room.close()

    def journal(self) -> tuple[dict[str, Any], list[Any]]:
        (recorder,) = self.sink.recorders
        assert recorder.closed and recorder.summary is not None
        return recorder.header, recorder.take()


class HarnessDriver:
    """The same calls on a recording `GameHarness`."""

    def __init__(self, spec: GameSpec, seed: int, options: dict[str, Any]) -> None:
        self.h = GameHarness(spec, seed=seed, options=options, record=True)

    @property
    def game(self) -> Any:
        return self.h.game

    def connected(self) -> list[int]:
        return list(self.h.connected)

    def join(self, name: str, user: int) -> int:
        return self.h.join(name, user)

    def send(self, player: int, kind: str, **fields: Any) -> None:
        try:
            self.h.send(player, kind, **fields)
        except GameError:
            pass  # refused by the game: the room answers `error` the same way

    def advance(self, seconds: float) -> None:
        self.h.advance(seconds)

    def drop(self, player: int) -> None:
        self.h.drop(player)

    def resume(self, player: int) -> None:
        self.h.resume(player)

    def leave(self, player: int) -> None:
        self.h.leave(player)

    def end(self) -> None:
        self.h.terminate()

    def journal(self) -> tuple[dict[str, Any], list[Any]]:
        return self.h.journal()


# -- bot-like scripted matches of every shipped game ------------------------------------------


def play_arena(d: Any, rng: random.Random) -> None:
    players = [d.join(f"a{i}", 100 + i) for i in range(4)]
    for k in range(60):
        for p in d.connected():
            d.send(p, "input", seq=k + 1, dx=rng.uniform(-1, 1), dy=rng.uniform(-1, 1))
        d.advance(0.05)
        if k == 20:
            d.drop(players[0])
        elif k == 30:
            d.resume(players[0])
        elif k == 40:
            d.leave(players[1])


def play_dice(d: Any, rng: random.Random) -> None:
    players = [d.join(f"d{i}", 200 + i) for i in range(3)]
    d.drop(players[2])
    d.resume(players[2])
    table = d.game.table
    while not table.over:
        if rng.random() < 0.1:
            d.advance(d.game.turn_seconds)  # the turn clock runs out
            continue
        kind, body = random_move(d.game.view(table.turn), rng)
        d.send(table.turn, kind, **body)


def play_tictactoe(d: Any, rng: random.Random) -> None:
    players = [d.join(f"t{i}", 300 + i) for i in range(2)]
    d.send(players[1], "move", cell=4)  # not its turn: refused, and recorded as sent
    while d.game.view(players[0])["status"] == "playing":
        for p in players:
            cell = choose_cell(d.game.view(p), p)
            if cell is not None:
                d.send(p, "move", cell=cell)
                break
        d.advance(1.0)


def play_lantern(d: Any, rng: random.Random) -> None:
    players = [d.join(f"l{i}", 400 + i) for i in range(3)]
    for k in range(70):  # 7 s at 10 a second: a 5 s round, its end, the break
        for p in d.connected():
            d.send(p, "steer", dx=rng.choice((-1, 0, 1)), dy=rng.choice((-1, 0, 1)),
                   flare=rng.random() < 0.05)
        d.advance(0.1)
        if k == 15:
            d.drop(players[2])
        elif k == 25:
            d.resume(players[2])


GAMES: dict[str, tuple[Callable[[], GameSpec], dict[str, Any], Callable[..., None]]] = {
    "arena": (arena_spec, {}, play_arena),
    "dice": (dice_spec, {"start_players": 3}, play_dice),
    "tictactoe": (lambda: tictactoe_spec, {}, play_tictactoe),
    "lantern": (lambda: lantern_spec, {"size": 12, "round_seconds": 5}, play_lantern),
}


@pytest.mark.parametrize("game", GAMES)
def test_every_game_replays_its_recorded_match_in_the_harness(game: str) -> None:
    make, options, play = GAMES[game]
    d = HarnessDriver(make(), seed=11, options=options)
    play(d, random.Random(5))
    verification = d.h.verify()
    assert verification.ok and verification.hashes_checked == d.h.ticks


@pytest.mark.parametrize("game", GAMES)
def test_every_game_replays_its_match_in_a_real_room_and_each_player_saw_the_same(
        game: str) -> None:
    make, options, play = GAMES[game]
    d = RoomDriver(make(), seed=11, options=options)
    play(d, random.Random(5))
    d.end()
    header, records = d.journal()
    assert header["mode"] == game and header["version"] == "1"
    replay = Replay(header, records, modes={game: d.room.mode})
    verification = replay.verify()
    assert verification.ok, verification
    assert verification.hashes_checked >= 1
    # What each player's connection got is what the replay's member got, byte for byte but
    # the server time (`ts`, the wall clock).
    assert [v["player"] for v in replay.viewers()] == list(d.seats)
    for player, seats in d.seats.items():
        sent = [m for seat in seats for m in seat.connection.messages]
        replayed = [m for _, m in replay.messages_for(player)]
        for m in (*sent, *replayed):
            m.pop("ts", None)
        assert replayed == sent, player


# -- verification catches non-determinism, at the right tick ----------------------------------


@pytest.mark.parametrize("spec", [wobble_random, wobble_clock], ids=["random", "clock"])
def test_the_harness_catches_a_game_that_is_not_deterministic(spec: GameSpec) -> None:
    how = spec.name.split("-")[1]
    h = GameHarness(spec, seed=3, record=True)
    player = h.join("ann")
    h.send(player, "poke", n=4)
    h.advance(1.5)
    with pytest.raises(AssertionError, match=f"after tick {WOBBLES_AT[how]} .*trail"):
        h.verify()


def test_a_room_hashing_once_a_second_reports_the_first_hash_after_the_change() -> None:
    d = RoomDriver(wobble_random, seed=3, options={})
    player = d.join("ann", 1)
    d.send(player, "poke", n=2)
    d.advance(2.5)  # 25 ticks at 10 a second: hashes after 10 and 20, a snapshot at the end
    d.end()
    header, records = d.journal()
    assert header["hash_every"] == 10
    v = Replay(header, records, modes={"wobble-random": wobble_random}).verify()
    assert not v.ok and v.first_bad_tick == 10 and v.hashes_checked == 2
    # The two states side by side at the first snapshot after it: the end.
    assert v.recorded["steps"] == v.replayed["steps"] == 25
    assert v.differences == [f"trail.{WOBBLES_AT['random'] + 2}"]  # after the name and poke
    assert v.recorded["trail"][:7] == v.replayed["trail"][:7]


def test_a_set_iterated_in_another_process_is_caught_by_the_cli(tmp_path: Path) -> None:
    """Recorded with one PYTHONHASHSEED (and verified there), verified by `replay verify` with
    another: the order the set was iterated in differs, at the step that iterated it."""
    path = tmp_path / "wobble.journal"
    script = ("import sys\n"
              "from game_server.games.testing import GameHarness\n"
              "from game_server.journal.codec import write_export\n"
              "from tests.journal_games import wobble_set\n"
              "h = GameHarness(wobble_set, seed=3, record=True)\n"
              "h.send(h.join('ann'), 'poke', n=1)\n"
              "h.advance(1.2)\n"
              "assert h.verify().ok\n"
              "write_export(sys.argv[1], *h.journal()[:1], None, h.journal()[1])\n")
    env = {**os.environ, "PYTHONHASHSEED": "1"}
    subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, env=env, check=True)
    done = subprocess.run(
        [sys.executable, "-m", "game_server", "replay", "verify", str(path),
         "--game", "tests.journal_games:wobble_set"],
        cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "2"}, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert f"MISMATCH after tick {WOBBLES_AT['set']}:" in done.stdout
    # The differing path, with what was recorded and what was replayed side by side.
    line = next(x for x in done.stdout.splitlines() if x.strip().startswith("trail."))
    assert "word" in line and " | " in line


# -- exports: another machine steps through the match -----------------------------------------


def _arena_match() -> tuple[GameHarness, Any]:
    h = GameHarness(arena_spec(), seed=9, record=True, hash_every=5)
    players = [h.join(f"p{i}") for i in range(3)]
    rng = random.Random(1)
    at_37 = None
    for k in range(50):
        for p in players:
            h.send(p, "input", seq=k + 1, dx=rng.uniform(-1, 1), dy=rng.uniform(-1, 1))
        h.advance(0.05)
        if h.ticks == 37:
            at_37 = normalized(full_state(h.game))
    return h, at_37


def test_an_export_steps_through_in_another_process(tmp_path: Path) -> None:
    h, at_37 = _arena_match()
    header, records = h.journal()
    path = tmp_path / "match.journal"
    write_export(path, header, {"ticks": h.ticks}, records)
    assert load_replay(path).state_at(37) == at_37
    code = ("import sys, orjson\n"
            "from game_server.journal import load_replay\n"
            "sys.stdout.write(orjson.dumps(load_replay(sys.argv[1]).state_at(37)).decode())\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert orjson.loads(out) == at_37
    # Tick 35 was hashed (every 5): its re-run state is the one the harness hashed then.
    assert state_hash(load_replay(path).state_at(35)) == next(
        r[2] for r in records if r[0] == "h" and r[1] == 35)
    with pytest.raises(ReplayError, match="past the end"):
        load_replay(path).state_at(51)
    with pytest.raises(ReplayError, match="whole number"):
        load_replay(path).state_at(-1)
    with pytest.raises(ReplayError, match="player 9 is not in this match"):
        load_replay(path).messages_for(9)


def test_damaged_and_foreign_exports_are_refused_clearly(tmp_path: Path) -> None:
    h, _ = _arena_match()
    header, records = h.journal()
    good = export_bytes(header, None, records)
    cases = {
        "truncated": (good[: len(good) // 2], "damaged: its content does not match"),
        "tampered": (good[:-40] + bytes([good[-40] ^ 1]) + good[-39:],
                     "damaged: its content does not match"),
        "no sum": (good.split(b"\n", 1)[0] + b"\n", "its sha256 line is missing"),
        "not ours": (b"PK\x03\x04 a zip file", "not an Arena journal export"),
        "future": (good.replace(b"arena-journal 1", b"arena-journal 7", 1),
                   "export format '7'; this server reads format 1"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / f"{name}.journal"
        path.write_bytes(data)
        with pytest.raises(ReplayError, match=message):
            load_replay(path)
    with pytest.raises(ReplayError, match="cannot read"):
        load_replay(tmp_path / "missing.journal")
    for changed, message in [
        ({"version": "0"}, "recorded with arena version '0'; this server has version '1'"),
        ({"mode": "chess"}, "mode 'chess' is not installed"),
        ({"format": 2}, "unknown journal format 2"),
    ]:
        path = tmp_path / "other.journal"
        write_export(path, {**header, **changed}, None, records)
        with pytest.raises(ReplayError, match=message):
            load_replay(path)
    for bad in ([["m", 0]], [["q", 0, 1]], [["j", 0, "x", "ann", None]], "nope"):
        with pytest.raises(ReplayError):
            Replay(header, bad).verify()  # type: ignore[arg-type]


def test_a_replay_that_answers_differently_says_what_went_differently() -> None:
    d = RoomDriver(dice_spec(), seed=2, options={"start_players": 2})
    a = d.join("ann", 1)
    d.join("bob", 2)
    d.end()
    header, records = d.journal()
    # Claim ann got another seat: the replay's room seats her as she was, and says so.
    records = [[*r[:5], 5] if r[0] == "j" and r[5] == a else r for r in records]
    v = Replay(header, records).verify()
    assert not v.ok and v.differences == ["'ann' joined as player 5, on replay as player 1"]


def test_a_refused_join_that_never_reached_the_game_is_not_recorded() -> None:
    d = RoomDriver(tictactoe_spec, seed=1, options={})
    d.join("a", 1)
    d.join("b", 2)
    with pytest.raises(ProtocolError):
        d.join("c", 3)  # full
    d.end()
    _, records = d.journal()
    assert [r[5] for r in records if r[0] == "j"] == [1, 2]


def test_the_journal_benchmark_runs_small(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import journal_tick as bench_journal

    assert bench_journal.main(["--players", "20", "--seconds", "1", "--tables", "1",
                               "--dice-pace", "10", "--matches", "1", "--lantern-players", "2",
                               "--lantern-seconds", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("journal off") == out.count("journal on") == 2  # arena, lantern
    assert "extra CPU per player-second" in out
    # Every shipped game: the arena, Lantern, Liar's Dice, tic-tac-toe.
    assert out.count("bytes per player-minute") == 4
    assert [line.split(",")[0] for line in out.splitlines() if not line.startswith(" ")] == [
        "arena", "lantern", "dice", "tictactoe"]


# -- what is recorded, and what is not ---------------------------------------------------------


class Bouncer:
    """An event-driven test game that kicks whoever says "out" and closes on "close"."""

    def __init__(self, room: Any) -> None:
        self.room = room
        self.said: list[list[Any]] = []

    def on_join(self, seat: Any) -> None:
        self.said.append([seat.player, "in"])

    def on_leave(self, player: int, consented: bool) -> None:
        self.said.append([player, "left" if consented else "gone"])

    def on_message(self, player: int, kind: str, body: Any) -> None:
        self.said.append([player, body["word"]])
        if body["word"] == "out":
            self.room.kick(player, "you asked")
        elif body["word"] == "close":
            self.room.close("done")

    def view(self, player: int) -> dict[str, Any]:
        return {"said": len(self.said)}

    def changes(self) -> Any:
        from game_server.games.api import Changes
        return Changes(shared={"said": len(self.said)})


def bouncer_spec() -> GameSpec:
    from game_server.games.api import EventDriven, Field, MessageSpec
    return GameSpec(name="bouncer", factory=Bouncer, clock=EventDriven(),
                    messages={"say": MessageSpec({"word": Field("str", max_chars=10)})})


def test_a_games_own_kick_and_close_are_redone_by_the_replay_not_recorded() -> None:
    spec = bouncer_spec()
    d = RoomDriver(spec, seed=1, options={})
    a, b, c = (d.join(name, i) for i, name in enumerate("abc", 1))
    d.send(a, "say", word="out")  # the game kicks a
    d.room.kick(b, "an operator's kick")  # from outside: recorded
    d.send(c, "say", word="close")  # the game closes the room
    header, records = d.journal()
    codes = [r[0] for r in records if r[0] not in "hf"]
    assert codes == ["j", "j", "j", "m", "l", "m"]
    assert [r for r in records if r[0] == "l"] == [["l", 0, b, "kicked", "an operator's kick"]]
    replay = Replay(header, records, modes={"bouncer": spec})
    assert replay.verify().ok
    assert [m["type"] for _, m in replay.messages_for(a)][-1] == "left"
    assert replay.messages_for(b)[-1][1]["message"] == "an operator's kick"
    assert replay.messages_for(c)[-1][1] == {"type": "left", "room": "room-1",
                                             "reason": "closed", "message": "done"}


class Signalled(Bouncer):
    """The bouncer, plus an operator's signal that changes what it has heard."""

    def on_signal(self, name: str, payload: Any) -> str:
        self.said.append([0, f"{name}:{payload}"])
        return "noted"


def test_an_operators_signal_is_recorded_and_sent_again_by_the_replay() -> None:
    spec = GameSpec(name="bouncer", factory=Signalled, clock=bouncer_spec().clock,
                    messages=bouncer_spec().messages)
    d = RoomDriver(spec, seed=1, options={})
    a = d.join("a", 1)
    d.send(a, "say", word="hi")
    assert d.room.signal("note", {"n": 1}) == "noted"  # from outside the game: recorded
    d.send(a, "say", word="bye")
    d.room.close("done")
    header, records = d.journal()
    assert [r for r in records if r[0] == "g"] == [["g", 0, "note", {"n": 1}]]
    replay = Replay(header, records, modes={"bouncer": spec})
    assert replay.verify().ok
    said = replay.state_at(d.room.ticks)["said"]
    assert [0, "note:{'n': 1}"] in said and said[-1][1] == "bye", said
    # Without the record, the replay's game never hears the signal: verification says so.
    damaged = [r for r in records if r[0] != "g"]
    assert not Replay(header, damaged, modes={"bouncer": spec}).verify().ok


def test_a_terminated_room_records_the_shutdown_and_its_summary() -> None:
    d = RoomDriver(tictactoe_spec, seed=1, options={})
    x, o = d.join("x", 7), d.join("o", 8)
    d.send(x, "move", cell=4)
    d.room.terminate(5.0)
    header, records = d.journal()
    assert records[-2][0] == "x" and records[-2][2] == 5.0 and records[-1][0] == "f"
    summary = d.sink.recorders[0].summary
    assert summary is not None and summary["reason"] == "server_closing"
    assert summary["players"] == [{"player": x, "user": 7, "name": "x"},
                                  {"player": o, "user": 8, "name": "o"}]
    assert Replay(header, records).verify().ok


def test_a_dropped_journal_stops_recording_and_the_game_goes_on() -> None:
    d = RoomDriver(arena_spec(), seed=1, options={})
    p = d.join("ann", 1)
    d.advance(0.2)
    recorder = d.sink.recorders[0]
    recorder.dropped = True  # the writer gave up (an outage)
    recorder.take()
    d.send(p, "input", seq=1, dx=1.0, dy=0.0)
    d.advance(1.0)
    assert d.room._journal is None and d.room._journal_kept is None and d.room.ticks == 24
    # Let go at its next state hash (every 10 ticks here): what it kept until then, no more.
    assert sum(record[0] == "s" for record in recorder.take()) <= 10
    d.advance(1.0)
    assert recorder.take() == [] and d.room.ticks == 44


def test_a_game_whose_state_cannot_be_taken_stops_recording_not_playing(
        caplog: pytest.LogCaptureFixture) -> None:
    spec = bouncer_spec()

    class Broken(Bouncer):
        def state(self) -> Any:
            raise RuntimeError("no state today")

    from dataclasses import replace
    d = RoomDriver(replace(spec, factory=Broken), seed=1, options={})
    p = d.join("ann", 1)  # the event's hash fails
    d.send(p, "say", word="hi")
    assert d.room._journal is None and d.sink.recorders[0].dropped
    assert not d.room.closed and d.room.game.said == [[p, "in"], [p, "hi"]]
    assert "cannot be journaled; recording stops" in caplog.text


def test_the_generic_state_walk_is_data_ordered_and_skips_the_handle() -> None:
    import collections
    import dataclasses
    import fractions

    @dataclasses.dataclass(slots=True)
    class Piece:
        x: float
        tags: set[str]

    class Game:
        def __init__(self, room: Any) -> None:
            self.room = room  # the handle: not state
            self.rng = random.Random(4)
            self.pieces = {(1, 2): Piece(0.5, {"b", "a", "c"})}
            self.queue = collections.deque([3, 1])
            self.share = fractions.Fraction(1, 3)
            self.me = self  # a cycle, cut
            self.on_step = lambda dt: None  # callables are not state

    h = GameHarness(bouncer_spec(), record=True)
    game = Game(h.room)
    state = full_state(game)
    assert set(state) == {"rng", "pieces", "queue", "share", "me"}
    assert state["pieces"] == {"[1,2]": {"x": 0.5, "tags": ["a", "b", "c"]}}
    assert state["queue"] == [3, 1] and state["share"] == "1/3" and state["me"] == "<cut>"
    assert state["rng"][1][:3] == list(random.Random(4).getstate()[1][:3])
    assert state_hash(state) == state_hash(normalized(state))  # as stored and read back
    game.rng.random()
    assert state_hash(full_state(game)) != state_hash(state)


def test_the_walk_copies_plain_containers_as_the_full_walk_would() -> None:
    import enum

    class Colour(enum.IntEnum):
        RED = 1

    class Game:
        def __init__(self) -> None:
            self.cells = (1, 2.5, "x", True, None)  # plain: copied whole, as a list
            self.scores = {3: 1, 1: 2}  # plain keys and values
            self.mixed = {2, "a", 1}  # plain but unorderable: ordered by JSON text
            self.seen = frozenset({3, 1})
            self.enums = [Colour.RED, 2]  # an enum is not plain: walked, as its value
            self.keys = {Colour.RED: [1]}
            self.nested = [[1, [2]], ()]

    state = full_state(Game())
    assert state == {"cells": [1, 2.5, "x", True, None], "scores": {3: 1, 1: 2},
                     "mixed": ["a", 1, 2], "seen": [1, 3], "enums": [1, 2], "keys": {1: [1]},
                     "nested": [[1, [2]], []]}
    assert type(state["cells"]) is list and state["scores"] is not Game().scores


def test_a_list_kept_as_json_encodes_as_the_list_does() -> None:
    import orjson

    from game_server.games.arena import ArenaGame
    from game_server.games.state import ListJson, state_json

    items = [(float(i), i / 3) for i in range(100)]
    encode = ListJson(block=16)
    for change in (lambda: None, lambda: items.__setitem__(40, (1.5, 2.5)),
                   lambda: items.extend([(7.0, 8.0)] * 20), lambda: items.__delitem__(slice(5, 90)),
                   lambda: items.clear()):
        change()
        assert orjson.dumps(encode(items)) == orjson.dumps(items)
        assert state_json({"b": encode(items), "a": 1}) == state_json({"b": items, "a": 1})
    # The arena's state, pellets kept as JSON, hashes as it did with the pellets as a list.
    world = ArenaGame(seed=3)
    for player_id in range(1, 41):
        world.add_player(player_id, f"p{player_id}")
    for tick in range(60):
        for player_id in range(1, 41):
            world.set_input(player_id, tick, 1.0 if player_id % 2 else -1.0, 0.5)
        world.step(0.05)
        if tick % 20 == 0:
            world.place_pellet(tick, -0.0, 10)  # as floats, never -0.0
        state = world.state()
        assert state_json(state) == state_json({**state, "pellets": list(world._pellets)})


def test_hot_records_are_encoded_as_they_come_and_stored_in_order() -> None:
    from game_server.engine.recorder import Recorder
    from game_server.journal.codec import decode_chunk, encode_chunk
    recorder = Recorder({"id": "x"})
    obj = {"type": "input", "dx": 1}
    recorder.pending += b'["m",0,1,"input",{"type":"input","dx":1}],'
    recorder.add(["j", 0, 7, "ann", None, None])
    recorder.records[-1][5] = 1  # a whole record is filled in until it is taken
    recorder.pending += b'["s",50,1],'
    assert recorder.peek() == [["m", 0, 1, "input", obj], ["j", 0, 7, "ann", None, 1],
                               ["s", 50, 1]]
    raw = recorder.take_raw()
    assert [type(item) for item in raw] == [bytes, list, bytes] and recorder.take() == []
    assert decode_chunk(encode_chunk(raw)) == [["m", 0, 1, "input", obj],
                                               ["j", 0, 7, "ann", None, 1], ["s", 50, 1]]
    with pytest.raises(ReplayError, match="damaged"):
        decode_chunk(encode_chunk([b"3,"]))



def test_a_ticking_rooms_messages_and_ticks_are_kept_as_sent_and_stored_as_one_batch() -> None:
    from game_server.journal.codec import decode_chunk, encode_chunk
    d = RoomDriver(arena_spec(), seed=3, options={})
    ann, bob = d.join("ann", 1), d.join("bob", 2)
    d.advance(0.05)
    (recorder,) = d.sink.recorders
    taken = recorder.take()
    # The text a client sent, spacing, key order and escapes as they came.
    texts = ['{ "dy": 0.5, "type": "input", "dx": 1.0, "seq": 1 }',
             '{"type":"\\u0069nput","seq":2,"dx":-1.0,"dy":0.0}',
             '{"type":"input","seq":3,"dx":0.0,"dy":1.0}']
    for player, text in zip((ann, bob, ann), texts, strict=True):
        d.room.message(player, "input", orjson.loads(text), text)
    assert recorder.kept == [ann, texts[0], bob, texts[1], ann, texts[2]]
    d.advance(0.1)  # two ticks, each kept as minus its steps and its time
    raw = recorder.take_raw()
    (encoded,) = raw
    stamp = taken[-1][1]  # the last tick's time
    assert encoded.startswith(b'["M",%d,[%d,%d,%d,-1,-1],[%b,' % (
        stamp, ann, bob, ann, ",".join(texts).encode()))  # the texts as they came
    first, second = orjson.loads(encoded[:-1])[3][3:]
    assert stamp < first < second
    # Read back, from memory and from a stored chunk, as one record per message or tick.
    expected = [*(["m", stamp, player, "input", orjson.loads(text)]
                  for player, text in zip((ann, bob, ann), texts, strict=True)),
                ["s", first, 1], ["s", second, 1]]
    taken += decode_chunk(encode_chunk(raw))
    assert taken[-5:] == expected
    # A record added between two messages splits the batch; the order holds.
    d.room.message(ann, "input", orjson.loads(texts[0]), texts[0])
    cat = d.join("cat", 3)
    d.room.message(cat, "input", orjson.loads(texts[1]), texts[1])
    assert [r[0] for r in recorder.peek()] == ["m", "j", "m"]
    d.advance(0.1)
    d.end()
    header, records = d.journal()
    verification = Replay(header, taken + records, modes={"arena": d.room.mode}).verify()
    assert verification.ok, verification
    for bad in ([["M", 0, [1], []]], [["M", 0, [1], [{"dx": 1}]]], [["M", 0, 1, 2]],
                [["M", 0, [-1], ["x"]]], [["M", 0, ["1"], [{"type": "input"}]]]):
        with pytest.raises(ReplayError, match="damaged"):
            decode_chunk(encode_chunk(bad))


def test_a_message_without_its_text_is_kept_as_its_encoded_object() -> None:
    from game_server.games.journal_buffer import message_text
    assert orjson.loads(message_text("input", {"dx": 1})) == {"dx": 1, "type": "input"}
    assert message_text("input", {}, b'{"type":"input"}') == '{"type":"input"}'
    assert message_text("input", {}, '{"type": "input"}') == '{"type": "input"}'


def test_a_ticking_room_hashes_every_five_seconds_by_default() -> None:
    sink = MemorySink()
    Room("r", arena_spec(), seed=1, options={}, journal=sink)
    Room("t", tictactoe_spec, seed=1, options={}, journal=sink)
    arena, table = (r.header for r in sink.recorders)
    assert arena["hash_every"] == 5 * arena["tick_rate"] == 100
    assert table["hash_every"] == 1  # an event-driven room: after every event
