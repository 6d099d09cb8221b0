"""GameHarness behaves as the room does: the same scripted scenarios run through the harness and
through a real room behind real sockets, and what the game was called with and what each player
received must be the same.

The server side is a real in-process `ArenaServer` with real guest accounts and real WebSocket
clients. A game's factory is wrapped, on both sides, in a recording proxy that logs every call
the game receives (hooks, `view`, `changes`) with its arguments.

Determinism. The one thing the two sides cannot share is real time, so the server is given a
manual clock: `ArenaServer(scheduler=ManualScheduler(clock), monotonic=clock)`. Its rooms' ticks
and game timers then fire only when a scenario's `wait` moves that clock, one step per tick
period, exactly as the harness's `advance` steps and fires them; everything else (sockets,
sessions, matchmaking, rooms) runs as in production. After every scenario action each connected
client sends a `ping` and reads up to its `pong`: the server handles one socket's frames in
order, so by then it has acted on everything before, and every message it wrote to any player
because of the action is in that player's log. A closed socket is awaited until the room holds
its seat. So the comparison is exact, `on_step` calls and tick numbers
included, for ticking and event-driven games alike. Only what the harness cannot know is left
out: `ts` (the server's wall clock), the `resume` token in `joined`, the text of `error`
messages (their codes are compared), and the server's `pong`s. The server's resume grace is
longer than any scenario, so a held seat expires only when a scenario says so (`leave` while
dropped is not offered: the harness's `leave(consented=False)` stands for that expiry).
Scenario times stay off the exact instants where a timer and a tick coincide.

To add a game: put its `GameSpec` in `GAMES` with a list of `Scenario`s; a scenario is its room
options and a list of steps:

    ("join", "a")                  client "a" joins (the first join creates the room)
    ("join", "a", {"team": "red"})  ... with join fields
    ("send", "a", "move", {...})   one game message from "a" (any type, any fields)
    ("burst", "a", [(type, {...}), ...])   several messages back to back
    ("wait", 0.25)                 move the clock: timers, and ticks of a ticking game
    ("drop", "a") / ("resume", "a") / ("leave", "a")
    ("terminate", 5.0)             the server shuts down (the game's on_terminate, then close)
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from arena_lantern import spec as lantern_spec
from arena_tictactoe import spec as tictactoe_spec
from tornado.websocket import WebSocketClientConnection

from game_server.app import ArenaServer
from game_server.games.api import (
    Changes,
    EventDriven,
    Field,
    GameError,
    GameSpec,
    MessageSpec,
    with_option_defaults,
)
from game_server.games.arena_mode import arena_spec
from game_server.games.contract import JoinRefused, Refused
from game_server.games.dice import dice_spec
from game_server.games.testing import GameHarness
from game_server.storage.passwords import PasswordHasher
from protocol.errors import ProtocolError
from tests.conftest import Browserless, ManualClock, ManualScheduler, make_config

Step = tuple[Any, ...]

RECORDED = ("on_join_attempt", "on_join", "on_leave", "on_drop", "on_resume", "on_message",
            "on_step", "on_timer", "on_terminate", "on_dispose", "view", "changes")


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    steps: list[Step]
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


# -- the scenarios ----------------------------------------------------------------------------

ARENA = with_option_defaults(arena_spec(), {"max_players": 3})


def inputs(first: int, count: int, dx: float = 0.5) -> list[tuple[str, dict[str, Any]]]:
    return [("input", {"seq": s, "dx": dx, "dy": -0.25}) for s in range(first, first + count)]


ARENA_SCENARIOS = [
    Scenario("bursts_coalesce_into_the_next_step", [
        ("join", "a"), ("join", "b"), ("wait", 0.05),
        ("burst", "a", inputs(1, 6)),
        ("burst", "b", [*inputs(9, 1, -1.0), *inputs(4, 3, 1.0)]),  # seq 9 supersedes later 4-6
        ("wait", 0.05), ("wait", 0.1),
        ("send", "a", "input", {"seq": 3, "dx": -1.0, "dy": 0.0}),  # stale against the game
        ("wait", 0.05),
    ]),
    Scenario("bad_messages_and_strangers", [
        ("send", "c", "input", {"seq": 1, "dx": 0.5, "dy": 0.5}),  # not in a room
        ("join", "a"),
        ("send", "a", "nope", {}),
        ("send", "a", "input", {"seq": -1, "dx": 0.5, "dy": 0.5}),
        ("send", "a", "input", {"seq": 1, "dx": "left", "dy": 0.5}),
        ("send", "a", "input", {"seq": 1, "dx": 0.5, "dy": 0.5, "kind": 1}),
        ("send", "a", "input", {"seq": 2, "dx": 2e6, "dy": 0.5}),
        ("send", "a", "input", {"seq": 3, "dx": 1, "dy": 0}),  # ints: the fields' way in
        ("wait", 0.05),
    ]),
    Scenario("drops_resumes_leaves_and_a_full_room", [
        ("join", "a"), ("join", "b"), ("join", "c"), ("join", "d"),  # d: room_full
        ("wait", 0.05),
        ("send", "b", "input", {"seq": 1, "dx": 1.0, "dy": 0.0}),
        ("drop", "b"),  # its kept input never reaches the game
        ("wait", 0.1),
        ("join", "d"),  # a held seat still counts
        ("resume", "b"),
        ("send", "b", "input", {"seq": 2, "dx": 1.0, "dy": 0.0}),
        ("leave", "c"),
        ("send", "c", "input", {"seq": 1, "dx": 1.0, "dy": 0.0}),  # not in a room any more
        ("join", "d"),
        ("wait", 0.15),
    ]),
]

DICE = dice_spec()

DICE_SCENARIOS = [
    Scenario("a_match_with_refusals_timeouts_and_a_locked_room", [
        ("join", "a"),
        ("send", "a", "bid", {"count": 1, "face": 2}),  # not_started
        ("join", "b"),  # the match starts
        ("join", "c"),  # room_locked
        ("send", "a", "bid", {"count": 1, "face": 2}),
        ("send", "b", "bid", {"count": 1, "face": 3}),  # one of these is not_your_turn
        ("send", "a", "bid", {"count": 0, "face": 3}),  # out_of_range
        ("send", "a", "shout", {}),  # unknown_type
        ("wait", 5.5),  # the player on turn times out
        ("drop", "a"),
        ("wait", 5.5),
        ("resume", "a"),
        ("send", "a", "challenge", {}),
        ("send", "b", "challenge", {}),
        ("wait", 6.0),
        ("leave", "b"),
        ("wait", 6.0),
    ], options={"start_players": 2, "dice": 2, "turn_seconds": 5}),
    Scenario("ready_before_the_table_is_full", [
        ("join", "a"), ("join", "b"),
        ("send", "a", "ready", {}),
        ("leave", "b"),
        ("join", "c"),
        ("send", "c", "ready", {}), ("send", "a", "ready", {}),
        ("send", "a", "ready", {}),  # already_started
        ("burst", "a", [("bid", {"count": 1, "face": 6}), ("bid", {"count": 2, "face": 6})]),
        ("burst", "c", [("bid", {"count": 3, "face": 6}), ("challenge", {})]),
        ("wait", 30.5),
    ], options={"start_players": 4, "dice": 1, "turn_seconds": 30}),
]

TICTACTOE_SCENARIOS = [
    Scenario("a_game_with_a_drop_and_a_clock", [
        ("join", "a"), ("join", "b"), ("join", "c"),  # c: room_full (or refused)
        ("send", "a", "move", {"cell": 4}),
        ("send", "a", "move", {"cell": 0}),  # not your turn
        ("send", "b", "move", {"cell": 4}),  # taken
        ("send", "b", "move", {"cell": 9}),  # out_of_range
        ("send", "b", "move", {"cell": 0}),
        ("drop", "a"),
        ("wait", 2.0),
        ("resume", "a"),
        ("burst", "a", [("move", {"cell": 8}), ("move", {"cell": 2})]),
        ("wait", 5.5),  # b runs out of time
        ("leave", "a"),
    ], options={"turn_seconds": 5}),
]

LANTERN_SCENARIOS = [
    Scenario("steers_flares_fog_and_the_round_timer", [
        ("join", "a"), ("join", "b"), ("wait", 0.1),
        # The flare is kept over the plain steer sent after it (its `supersedes`).
        ("burst", "a", [("steer", {"dx": 1, "dy": 0, "flare": True}),
                        ("steer", {"dx": 0, "dy": 1})]),
        ("burst", "b", [("steer", {"dx": -1, "dy": 0}), ("steer", {"dx": 0, "dy": -1})]),
        ("wait", 0.1),
        ("send", "a", "steer", {"dx": 2, "dy": 0}),  # out_of_range
        ("send", "a", "shine", {}),  # unknown_type
        ("send", "b", "steer", {"dx": 1, "dy": 1, "flare": True}),
        ("drop", "b"),  # its kept steer never reaches the game
        ("wait", 0.2),
        ("resume", "b"),
        ("send", "b", "steer", {"dx": 1, "dy": 0, "flare": True}),
        ("wait", 0.1),
        ("send", "b", "steer", {"dx": 0, "dy": 1, "flare": True}),
        ("wait", 0.1),
        ("send", "b", "steer", {"dx": 0, "dy": 1, "flare": True}),  # no_flares, at the tick
        ("wait", 5.0),  # the round ends on its timer
        ("send", "a", "steer", {"dx": 0, "dy": 1, "flare": True}),  # not_playing
        ("leave", "a"),
        ("wait", 0.3),
    ], options={"round_seconds": 5, "size": 12}),
]


class Gatekeeper:
    """A test game for what the shipped ones never do: it refuses newcomers named "px" while the
    room is open, refuses resumes while its gate is shut, schedules timers of any delay
    (negative ones too), and takes fields named `kind` and `player`."""

    def __init__(self, room: Any) -> None:
        self.room = room
        self.shut = False

    def on_join_attempt(self, seat: Any, resuming: bool) -> str | None:
        if resuming:
            return "the gate is shut" if self.shut else None
        return "not you" if seat.name == "px" else None

    def on_message(self, player: int, kind: str, body: Any) -> None:
        if kind == "gate":
            self.shut = body["shut"]
        elif kind == "timer":
            self.room.schedule("bell", body["delay"])
        else:
            self.room.send(player, "picked", body)

    def on_timer(self, name: str) -> None:
        self.room.broadcast("rang", {"name": name})

    def view(self, player: int) -> dict[str, Any]:
        return {"shut": self.shut}

    def changes(self) -> Changes:
        return Changes(shared={"shut": self.shut})


GATEKEEPER = GameSpec(name="gatekeeper", factory=Gatekeeper, clock=EventDriven(), max_players=3,
                      messages={
                          "gate": MessageSpec({"shut": Field("bool")}),
                          "timer": MessageSpec({"delay": Field("float", low=-5, high=5)}),
                          "pick": MessageSpec({"kind": Field("str", max_chars=4),
                                               "player": Field("int", low=0, high=9)}),
                      })

GATEKEEPER_SCENARIOS = [
    Scenario("refused_joins_and_resumes_negative_timers_odd_field_names", [
        ("join", "a"),
        ("join", "x"),  # join_refused: and no player id used up
        ("join", "b"),
        ("send", "b", "pick", {"kind": "rock", "player": 2}),
        ("send", "a", "timer", {"delay": -1.0}),
        ("wait", 0.01),
        ("send", "a", "gate", {"shut": True}),
        ("drop", "b"),
        ("resume", "b"),  # resume_failed
        ("send", "a", "gate", {"shut": False}),
        ("resume", "b"),
        ("send", "b", "timer", {"delay": 2.5}),
        ("send", "a", "timer", {"delay": 1.5}),  # replaces it
        ("wait", 3.0),
    ]),
]

class Captain:
    """A test game for the handle's reach: teams chosen with join fields (two a team), a team
    talk sent to teammates only, a kick and a close with reasons, and a shutdown hook."""

    def __init__(self, room: Any) -> None:
        self.room = room
        self.teams: dict[int, str] = {}

    def on_join_attempt(self, seat: Any, resuming: bool) -> str | None:
        full = list(self.teams.values()).count(seat.fields["team"]) >= 2
        return "that team is full" if full and not resuming else None

    def on_join(self, seat: Any) -> None:
        self.teams[seat.player] = seat.fields["team"]

    def on_leave(self, player: int, consented: bool) -> None:
        self.teams.pop(player, None)

    def on_message(self, player: int, kind: str, body: Any) -> None:
        if kind == "talk":
            mates = [p for p, team in self.teams.items() if team == self.teams[player]]
            self.room.send_to(mates, "team_talk", {"from": player, "text": body["text"]})
        elif kind == "kick":
            self.room.kick(body["player"], "the captain sent you off")
        else:
            self.room.close("the captain ended the game")

    def on_terminate(self, grace: float) -> None:
        self.room.broadcast("team_talk", {"from": 0, "text": "the server is stopping"})

    def view(self, player: int) -> dict[str, Any]:
        return {"teams": sorted(self.teams.items())}

    def changes(self) -> Changes:
        return Changes(shared=self.view(0))


CAPTAIN = GameSpec(name="captain", factory=Captain, clock=EventDriven(), max_players=4,
                   join_fields={"team": Field("str", choices=("red", "blue"), default="red")},
                   messages={"talk": MessageSpec({"text": Field("str", max_chars=20)}),
                             "kick": MessageSpec({"player": Field("int", low=1, high=9)}),
                             "close": MessageSpec()},
                   replies={"team_talk": "a teammate's words"})

CAPTAIN_SCENARIOS = [
    Scenario("join_fields_team_talk_a_kick_and_a_close", [
        ("join", "a"),
        ("join", "b", {"team": "blue"}),
        ("join", "c", {"team": "red"}),
        ("join", "d", {"team": "red"}),  # join_refused: red is full
        ("join", "e", {"team": "green"}),  # out_of_range
        ("join", "f", {"side": "red"}),  # bad_field
        ("send", "a", "talk", {"text": "left"}),
        ("send", "b", "talk", {"text": "right"}),
        ("drop", "c"),
        ("resume", "c"),  # the seat keeps its team
        ("send", "c", "talk", {"text": "back"}),
        ("send", "a", "kick", {"player": 2}),
        ("send", "b", "talk", {"text": "hey"}),  # not in a room any more
        ("join", "b", {"team": "blue"}),
        ("send", "a", "close", {}),
    ]),
    Scenario("a_shutdown_is_on_terminate_not_leaves", [
        ("join", "a"), ("join", "b", {"team": "blue"}),
        ("send", "a", "talk", {"text": "ready"}),
        ("drop", "b"),
        ("terminate", 5.0),
    ]),
]

GAMES: dict[str, tuple[GameSpec, list[Scenario]]] = {
    "arena": (ARENA, ARENA_SCENARIOS),
    "dice": (DICE, DICE_SCENARIOS),
    "tictactoe": (tictactoe_spec, TICTACTOE_SCENARIOS),
    "lantern": (lantern_spec, LANTERN_SCENARIOS),
    "gatekeeper": (GATEKEEPER, GATEKEEPER_SCENARIOS),
    "captain": (CAPTAIN, CAPTAIN_SCENARIOS),
}

CASES = [pytest.param(mode, scenario, id=f"{mode}-{scenario.name}")
         for mode, (_, scenarios) in GAMES.items() for scenario in scenarios]
assert all(spec.name == mode for mode, (spec, _) in GAMES.items())


# -- recording what the game is called with ---------------------------------------------------


class Recorder:
    """Wraps a spec's factory: the game it makes logs every call it receives in `calls`."""

    def __init__(self, spec: GameSpec) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.seed: int | None = None
        self.room_id: str | None = None
        self.spec = dataclasses.replace(spec, factory=self._make)
        self._inner = spec.factory

    def _make(self, handle: Any) -> Any:
        self.seed, self.room_id = handle.seed, handle.room_id
        return _Recording(self._inner(handle), self)

    def note(self, call: tuple[Any, ...]) -> None:
        self.calls.append(call)


class _Recording:
    """The game, seen through a proxy that notes each recorded call before making it. A hook
    the game leaves out stays missing (the room looks hooks up with getattr)."""

    def __init__(self, game: Any, recorder: Recorder) -> None:
        self._game = game
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._game, name)
        if name not in RECORDED:
            return attr

        @functools.wraps(attr)
        def recorded(*args: Any) -> Any:
            self._recorder.note((name, *args))
            return attr(*args)
        return recorded


def normal(msg: dict[str, Any]) -> dict[str, Any]:
    """A message as both sides can know it (see the module docstring)."""
    if msg["type"] == "error":
        return {"type": "error", "code": msg["code"]}
    return {k: v for k, v in msg.items() if k not in ("ts", "resume")}


# -- the real server ------------------------------------------------------------------------


@dataclasses.dataclass
class Client:
    http: Browserless
    user: dict[str, Any]
    ws: WebSocketClientConnection | None = None
    token: str | None = None
    log: list[dict[str, Any]] = dataclasses.field(default_factory=list)


class ServerRun:
    """Plays a scenario on a real server through real sockets."""

    def __init__(self, srv: ArenaServer, scheduler: ManualScheduler, mode: str,
                 options: dict[str, Any]) -> None:
        self.srv = srv
        self.scheduler = scheduler
        self.mode = mode
        self.options = options
        self.clients: dict[str, Client] = {}
        self.room_id: str | None = None
        self._pings = itertools.count(1)

    async def client(self, who: str) -> Client:
        if who not in self.clients:
            http = Browserless(self.srv.url)
            client = Client(http, await http.guest(f"p{who}"))
            client.ws = await http.ws()
            self.clients[who] = client
        return self.clients[who]

    async def write(self, client: Client, msg: dict[str, Any]) -> None:
        assert client.ws is not None
        await client.ws.write_message(orjson.dumps(msg).decode())

    async def sync(self, client: Client) -> None:
        """Read everything the server sent `client` before it answered a ping sent now."""
        if client.ws is None:
            return
        ping = next(self._pings)
        await self.write(client, {"type": "ping", "id": ping})
        async with asyncio.timeout(5):
            while True:
                raw = await client.ws.read_message()
                assert raw is not None, "the socket closed"
                msg = orjson.loads(raw)
                if msg["type"] == "pong" and msg["id"] == ping:
                    return
                if msg["type"] == "joined":
                    client.token = msg.get("resume")
                    self.room_id = msg["room"]
                client.log.append(msg)

    async def held(self, player: int) -> None:
        """Await the server's noticing that a socket closed: the room holds the seat."""
        assert self.room_id is not None
        room = self.srv.matchmaker.get(self.room_id)
        assert room is not None
        deadline = asyncio.get_running_loop().time() + 5
        while not room.holds(player):
            assert asyncio.get_running_loop().time() < deadline, f"player {player} not held"
            await asyncio.sleep(0.01)

    async def sync_all(self) -> None:
        for client in self.clients.values():
            await self.sync(client)

    async def run(self, steps: list[Step]) -> None:
        for step in steps:
            what, *args = step
            if what == "wait":
                self.scheduler.advance(args[0])
            elif what == "terminate":
                self.srv.matchmaker.terminate_all(args[0])  # what a stop does to the rooms
            elif what == "drop":
                client = self.clients[args[0]]
                assert client.ws is not None
                client.ws.close()
                client.ws = None
                player = next(m["player"] for m in reversed(client.log) if m["type"] == "joined")
                await self.held(player)
            else:
                client = await self.client(args[0])
                if what == "join":
                    join = ({"type": "join", "mode": self.mode, "options": self.options}
                            if self.room_id is None
                            else {"type": "join", "room": self.room_id})
                    if len(args) > 1:
                        join["fields"] = args[1]
                    await self.write(client, join)
                elif what == "resume":
                    client.ws = await client.http.ws()
                    await self.write(client, {"type": "join", "resume": client.token})
                elif what == "leave":
                    await self.write(client, {"type": "leave"})
                elif what == "send":
                    await self.write(client, {"type": args[1], **args[2]})
                elif what == "burst":
                    for kind, fields in args[1]:
                        await self.write(client, {"type": kind, **fields})
                else:
                    raise ValueError(f"unknown step {step!r}")
            await self.sync_all()


@asynccontextmanager
async def manual_server(data_dir: Path, spec: GameSpec
                        ) -> AsyncIterator[tuple[ArenaServer, ManualScheduler]]:
    """A real server running only `spec`, on a clock that moves when `scheduler` is told."""
    clock = ManualClock()
    scheduler = ManualScheduler(clock)
    srv = ArenaServer(make_config(data_dir, resume_grace=3600.0),
                      passwords=PasswordHasher(n=2**10), scheduler=scheduler, monotonic=clock,
                      modes={spec.name: spec})
    await srv.start()
    try:
        yield srv, scheduler
    finally:
        await srv.stop()


# -- the harness ----------------------------------------------------------------------------


class HarnessRun:
    """Plays a scenario through GameHarness, as the same accounts, in a room with the same id
    and seed as the server's."""

    def __init__(self, h: GameHarness, users: dict[str, dict[str, Any]]) -> None:
        self.h = h
        self.users = users
        self.player: dict[str, int] = {}
        self.logs: dict[str, list[dict[str, Any]]] = {who: [] for who in users}
        self._read: dict[int, int] = {}

    def run(self, steps: list[Step]) -> None:
        h = self.h
        for step in steps:
            what, *args = step
            who = args[0] if what not in ("wait", "terminate") else None
            player = self.player.get(who, 0) if who else 0
            try:
                if what == "wait":
                    h.advance(args[0])
                elif what == "terminate":
                    h.terminate(args[0])
                elif what == "join":
                    user = self.users[who]
                    self.player[who] = h.join(user["name"], user=user["id"],
                                              fields=args[1] if len(args) > 1 else None)
                elif what == "drop":
                    h.drop(player)
                elif what == "resume":
                    h.resume(player)
                elif what == "leave":
                    h.leave(player)
                elif what == "send":
                    h.send(player, args[1], **args[2])
                elif what == "burst":
                    for kind, fields in args[1]:
                        try:
                            h.send(player, kind, **fields)
                        except (ProtocolError, GameError) as exc:
                            self._refused(who, player, exc)
            except (ProtocolError, GameError) as exc:
                self._refused(who, player, exc)
            self._collect()

    def _refused(self, who: str | None, player: int, exc: Exception) -> None:
        """A refusal the harness raised: the harness logs those of a message from a player
        it knows (and a game's); a refused join or resume, or a stranger's message, the
        server answers on the client's socket, so it goes in that client's log here."""
        self._collect()
        if isinstance(exc, JoinRefused) or (isinstance(exc, Refused)
                                            and player not in self.h.seats
                                            and player not in self._read):
            assert who is not None and isinstance(exc, ProtocolError)
            self.logs[who].append({"type": "error", "code": exc.code.value})

    def _collect(self) -> None:
        for who, player in self.player.items():
            received = self.h.received(player)
            start = self._read.get(player, 0)
            self.logs[who].extend(received[start:])
            self._read[player] = len(received)


# -- the comparison ---------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "scenario"), CASES)
async def test_the_harness_and_a_real_room_agree(tmp_path: Path, mode: str,
                                                  scenario: Scenario) -> None:
    spec = GAMES[mode][0]
    recorder = Recorder(spec)
    async with manual_server(tmp_path / "data", recorder.spec) as (srv, scheduler):
        server = ServerRun(srv, scheduler, mode, scenario.options)
        try:
            await server.run(scenario.steps)
            server_calls = list(recorder.calls)  # before the sockets close (drops)
        finally:
            for client in server.clients.values():
                await client.http.aclose()

    assert recorder.room_id is not None and recorder.seed is not None
    twin = Recorder(spec)
    h = GameHarness(twin.spec, seed=recorder.seed, options=scenario.options,
                    room_id=recorder.room_id)
    harness = HarnessRun(h, {who: c.user for who, c in server.clients.items()})
    harness.run(scenario.steps)

    first = next((i for i, (x, y) in enumerate(zip(twin.calls, server_calls, strict=False))
                  if x != y), min(len(twin.calls), len(server_calls)))
    assert twin.calls == server_calls, (
        f"call {first}: harness {twin.calls[first:first + 3]}, server "
        f"{server_calls[first:first + 3]}")
    for who, client in server.clients.items():
        assert [normal(m) for m in harness.logs[who]] == [normal(m) for m in client.log], who
    # The scenario did exercise the game (not two empty logs agreeing).
    assert any(c[0] == "on_message" for c in server_calls)
