"""Every mode the server runs, fed random message sequences through real sessions: nothing
escapes, every answer is a known message, no room outgrows its seats or outlives its closing,
and each player can still be answered afterwards."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from game_server.engine.matchmaker import Matchmaker
from game_server.engine.session import PlayerSession
from game_server.games.api import RESERVED_TYPES, Field, GameSpec
from game_server.games.loading import server_modes
from tests.conftest import FakeConnection, FakeIdentity, ManualClock, ManualScheduler

MODES = server_modes()
SERVER_TYPES = {"joined", "state", "pong", "chat", "left", "error", "redirect"}


def field_values(spec: Field) -> st.SearchStrategy[Any]:
    """Values of a field: mostly valid, sometimes of the wrong kind or out of range."""
    if spec.choices is not None:
        good: st.SearchStrategy[Any] = st.sampled_from(spec.choices)
    elif spec.kind == "int":
        low = int(spec.low) if spec.low is not None else -5
        high = int(spec.high) if spec.high is not None else 50
        good = st.integers(low, min(high, low + 60))
    elif spec.kind == "float":
        good = st.floats(spec.low if spec.low is not None else -5.0,
                         spec.high if spec.high is not None else 5.0)
    elif spec.kind == "bool":
        good = st.booleans()
    else:
        good = st.text(max_size=spec.max_chars or 8)
    bad = st.sampled_from([None, "x", -1, 10**6, 2.5, [], {}])
    return st.one_of(good, good, good, bad)


def game_messages(spec: GameSpec) -> st.SearchStrategy[dict[str, Any]]:
    kinds = [st.fixed_dictionaries({"type": st.just(kind)},
                                   optional={name: field_values(f)
                                             for name, f in message.fields.items()})
             for kind, message in spec.messages.items()]
    return st.one_of(*kinds) if kinds else st.just({"type": "nothing"})


def actions(spec: GameSpec) -> st.SearchStrategy[tuple[str, int, Any]]:
    """(what, which player, payload) steps for a table of up to four players."""
    player = st.integers(0, 3)
    return st.one_of(
        st.tuples(st.just("send"), player, game_messages(spec)),
        st.tuples(st.just("send"), player, game_messages(spec)),
        st.tuples(st.just("join"), player, st.just(None)),
        st.tuples(st.just("leave"), player, st.just(None)),
        st.tuples(st.just("drop"), player, st.just(None)),
        st.tuples(st.just("resume"), player, st.just(None)),
        st.tuples(st.just("wait"), player, st.floats(0.01, 40.0)),
    )


class Table:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.clock = ManualClock()
        self.scheduler = ManualScheduler(self.clock)
        self.mm = Matchmaker(MODES, scheduler=self.scheduler, monotonic=self.clock,
                             seeds=lambda: 5, resume_grace=30.0, empty_room_grace=5.0)
        self.sessions: dict[int, PlayerSession] = {}
        self.tokens: dict[int, str] = {}

    def session(self, who: int) -> PlayerSession:
        if who not in self.sessions:
            self.sessions[who] = PlayerSession(FakeIdentity(100 + who, f"p{who}"),
                                               FakeConnection(), self.mm, monotonic=self.clock)
        return self.sessions[who]

    def send(self, who: int, msg: dict[str, Any]) -> None:
        self.session(who).handle(orjson.dumps(msg).decode())

    def step(self, what: str, who: int, payload: Any) -> None:
        if what == "send":
            self.send(who, payload)
        elif what == "join":
            self.send(who, {"type": "join", "mode": self.mode})
            if self.session(who).resume_token:
                self.tokens[who] = self.session(who).resume_token  # type: ignore[assignment]
        elif what == "leave":
            self.send(who, {"type": "leave"})
        elif what == "drop" and who in self.sessions:
            self.sessions.pop(who).disconnect()
        elif what == "resume" and who in self.tokens and who not in self.sessions:
            self.send(who, {"type": "join", "resume": self.tokens[who]})
        elif what == "wait":
            self.scheduler.advance(payload)

    def check(self) -> None:
        for room in self.mm.rooms():
            assert not room.closed
            assert room.player_count <= room.max_players
        for s in self.sessions.values():
            conn = s.connection
            assert isinstance(conn, FakeConnection)
            for message in conn.messages:
                kind = message["type"]
                # the server's own types, or a game's (which never take the engine's names)
                assert kind in SERVER_TYPES or (type(kind) is str and kind not in RESERVED_TYPES)
            if s.room is not None:
                assert s.room in self.mm.rooms()


@pytest.mark.parametrize("mode", sorted(MODES))
def test_random_sequences_never_break_a_room(mode: str) -> None:
    spec = MODES[mode]

    @settings(max_examples=80, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(actions(spec), min_size=8, max_size=40))
    def run(steps: list[tuple[str, int, Any]]) -> None:
        table = Table(mode)
        for step in steps:
            table.step(*step)
            table.check()
        for who, s in table.sessions.items():  # everyone still gets answers
            before = len(s.connection.raw)  # type: ignore[attr-defined]
            table.send(who, {"type": "ping", "id": who})
            last = orjson.loads(s.connection.raw[-1])  # type: ignore[attr-defined]
            assert len(s.connection.raw) == before + 1  # type: ignore[attr-defined]
            assert last["type"] == "pong" and last["id"] == who

    run()
