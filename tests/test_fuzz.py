"""Property tests: arbitrary bytes and arbitrary JSON never raise anything but ProtocolError,
and a session fed anything answers with messages and stays usable."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from game_server.engine.session import PlayerSession
from game_server.games.arena_mode import arena_spec
from protocol import ProtocolError, decode_client
from protocol import messages as m
from tests.conftest import FakeConnection, FakeIdentity, ManualClock, ManualScheduler

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
field_values = json_values | st.sampled_from(["arena", "", "x" * 300, 2**31, -1, 1e7])
messages_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["join", "create", "input", "ping", "chat", "leave", "nope", 3])},
    optional={k: field_values for k in ("mode", "room", "code", "options", "private", "seq",
                                        "dx", "dy", "id", "text")},
)

VALID = (m.Join, m.Create, m.Ping, m.Chat, m.Leave)


def check(data: bytes | str) -> None:
    try:
        msg = decode_client(data)
    except ProtocolError as exc:
        assert exc.code and exc.message
        return
    assert isinstance(msg, VALID)


@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


@given(json_values)
def test_arbitrary_json(value: object) -> None:
    check(orjson.dumps(value))


@given(messages_like)
def test_message_shaped_json(value: dict) -> None:
    check(orjson.dumps(value))


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(st.lists(messages_like | json_values, min_size=1, max_size=25))
def test_a_session_fed_anything_answers_and_stays_usable(frames: list) -> None:
    from game_server.engine.matchmaker import Matchmaker

    clock = ManualClock()
    scheduler = ManualScheduler(clock)
    mm = Matchmaker({"arena": arena_spec()}, scheduler=scheduler, monotonic=clock, seeds=lambda: 1)
    conn = FakeConnection()
    session = PlayerSession(FakeIdentity(1, "fuzz"), conn, mm, monotonic=clock)
    for frame in frames:
        session.handle(orjson.dumps(frame))
        scheduler.advance(0.05)
    for msg in conn.messages:
        assert msg["type"] in {"joined", "state", "pong", "chat", "left", "error"}
    before = len(conn.raw)
    session.handle('{"type": "ping", "id": "still here"}')
    assert conn.messages[-1] == {"type": "pong", "id": "still here", "ts": conn.messages[-1]["ts"]}
    assert len(conn.raw) == before + 1
