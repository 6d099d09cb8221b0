"""GameHarness decides as the server's room does (games/contract.py): one test per divergence
the two used to have (issue #21), each checked against the harness's old behaviour."""

from __future__ import annotations

from typing import Any

import pytest

from game_server.engine.room import Room
from game_server.games.api import (
    Changes,
    EventDriven,
    Field,
    GameError,
    GameSpec,
    InvalidField,
    MessageSpec,
    Seat,
    Ticking,
)
from game_server.games.contract import JoinRefused, Refused
from game_server.games.testing import GameHarness
from protocol.errors import ErrorCode, ProtocolError
from tests.conftest import FakeConnection, FakeIdentity


class Probe:
    """A game that records every hook call, lets a test script what it does through its
    handle (`then`), and refuses joins and resumes on demand."""

    def __init__(self, room: Any) -> None:
        self.room = room
        self.calls: list[tuple[Any, ...]] = []
        self.refuse_joins = False
        self.refuse_resumes = False
        self.then: Any = None  # called with the room handle on the next message

    def on_join_attempt(self, seat: Seat, resuming: bool) -> str | None:
        self.calls.append(("on_join_attempt", seat.player, resuming))
        if resuming and self.refuse_resumes:
            return "not you again"
        return "no newcomers" if self.refuse_joins and not resuming else None

    def on_join(self, seat: Seat) -> None:
        self.calls.append(("on_join", seat.player))

    def on_leave(self, player: int, consented: bool) -> None:
        self.calls.append(("on_leave", player, consented))

    def on_drop(self, player: int) -> None:
        self.calls.append(("on_drop", player))

    def on_resume(self, player: int) -> None:
        self.calls.append(("on_resume", player))

    def on_message(self, player: int, kind: str, body: Any) -> None:
        self.calls.append(("on_message", player, kind, body))
        if body.get("n") == 13:
            raise GameError("unlucky", "not 13")
        if self.then is not None:
            self.then(self.room)

    def on_step(self, dt: float) -> None:
        self.calls.append(("on_step",))

    def on_timer(self, name: str) -> None:
        self.calls.append(("on_timer", name))

    def view(self, player: int) -> dict[str, Any]:
        return {"me": player}

    def changes(self) -> Changes:
        return Changes(shared={"calls": len(self.calls)})


MESSAGES = {
    "pick": MessageSpec({"kind": Field("str", max_chars=8), "player": Field("int", default=0)}),
    "go": MessageSpec({"n": Field("int", low=0, high=100)}),
    "steer": MessageSpec({"n": Field("int", low=0, high=100)}, latest_only=True,
                         supersedes=lambda new, kept: new["n"] > kept["n"]),
}
EVENTS = GameSpec(name="probe", factory=Probe, messages=MESSAGES, clock=EventDriven(),
                  max_players=3)
TICKS = GameSpec(name="probe_ticks", factory=Probe, messages=MESSAGES, clock=Ticking(rate=10),
                 max_players=3)


def messages_seen(h: GameHarness) -> list[tuple[Any, ...]]:
    return [c for c in h.game.calls if c[0] == "on_message"]


def test_latest_only_inputs_wait_for_the_next_step_and_only_the_kept_one_arrives() -> None:
    h = GameHarness(TICKS)
    a, b = h.join("ann"), h.join("bob")
    h.send(a, "steer", n=5)
    h.send(a, "steer", n=9)
    h.send(a, "steer", n=7)  # superseded by 9
    h.send(b, "steer", n=1)
    h.send(a, "go", n=2)  # not latest_only: at once
    assert messages_seen(h) == [("on_message", a, "go", {"n": 2})]
    h.advance(0.1)
    calls = h.game.calls
    step = calls.index(("on_step",))
    assert calls[step - 2:step] == [("on_message", a, "steer", {"n": 9}),
                                    ("on_message", b, "steer", {"n": 1})]
    h.advance(0.1)
    assert len(messages_seen(h)) == 3  # nothing kept past its step
    # A refusal at the step reaches the sender, as on the server, without stopping the step.
    h.send(a, "steer", n=13)
    h.advance(0.1)
    assert h.received(a)[-2]["type"] == "error" and h.received(a)[-2]["code"] == "unlucky"
    assert h.received(a)[-1]["type"] == "state"


def test_a_dropped_or_leaving_players_pending_inputs_never_reach_the_game() -> None:
    h = GameHarness(TICKS)
    a, b = h.join("ann"), h.join("bob")
    h.send(a, "steer", n=5)
    h.send(b, "steer", n=6)
    h.drop(a)
    h.leave(b)
    h.advance(0.1)
    assert messages_seen(h) == []


def test_an_unknown_type_is_answered_unknown_type() -> None:
    h = GameHarness(EVENTS)
    a = h.join("ann")
    for kind in ("nope", "chat", "state"):
        with pytest.raises(ProtocolError) as refused:
            h.send(a, kind, text="hi")
        assert refused.value.code == ErrorCode.UNKNOWN_TYPE
    assert h.received(a)[-1]["type"] == "error"
    assert h.received(a)[-1]["code"] == "unknown_type"
    # Bad fields keep their codes, and stay InvalidFields for tests written before.
    with pytest.raises(InvalidField) as bad:
        h.send(a, "go", n=101)
    assert bad.value.code == ErrorCode.OUT_OF_RANGE and isinstance(bad.value, Refused)
    assert messages_seen(h) == []


@pytest.mark.parametrize("misdeed", [
    lambda room: room.send(1, "state", {"tick": 1}),
    lambda room: room.send(1, "error", {"code": "x"}),
    lambda room: room.broadcast("chat", {"text": "hi"}),
    lambda room: room.broadcast("joined", {}),
])
def test_a_game_sending_an_engine_type_fails_loudly(misdeed: Any) -> None:
    h = GameHarness(EVENTS)
    a = h.join("ann")
    h.game.then = misdeed
    with pytest.raises(ValueError, match="engine's own"):
        h.send(a, "go", n=1)
    assert [m["type"] for m in h.received(a)] == ["joined", "state"]


def test_a_game_setting_metadata_that_is_not_a_scalar_fails_loudly() -> None:
    h = GameHarness(EVENTS)
    a = h.join("ann")
    h.game.then = lambda room: room.set_metadata(status="ok", tags=["a", "b"])
    with pytest.raises(TypeError, match="tags"):
        h.send(a, "go", n=1)
    assert h.room.metadata == {}  # nothing applied
    h.game.then = lambda room: room.set_metadata(status="ok", score=3, fast=True, gone=None)
    h.send(a, "go", n=2)
    assert h.room.metadata == {"status": "ok", "score": 3, "fast": True}


def test_the_server_closes_the_room_of_a_game_that_sends_an_engine_type() -> None:
    room = Room("r1", EVENTS)
    conn = FakeConnection()

    class Member:
        identity = FakeIdentity(7, "ann")
        connection = conn

        def on_room_left(self, room: Room, reason: str) -> None:
            pass

    a = room.join(Member())
    room.game.then = lambda handle: handle.broadcast("chat", {"text": "hi"})
    room.message(a, "go", {"type": "go", "n": 1})
    assert room.closed
    assert conn.of_type("error")[-1]["code"] == "room_closed"


def test_resume_asks_the_game_and_a_refusal_is_resume_failed() -> None:
    h = GameHarness(EVENTS)
    a = h.join("ann")
    h.drop(a)
    h.resume(a)
    assert ("on_join_attempt", a, True) in h.game.calls
    assert h.game.calls[-1] == ("on_resume", a)
    h.drop(a)
    h.game.refuse_resumes = True
    with pytest.raises(JoinRefused) as refused:
        h.resume(a)
    assert refused.value.code == ErrorCode.RESUME_FAILED
    assert a in h.held and h.game.calls[-1] == ("on_join_attempt", a, True)


def test_refused_joins_use_up_no_player_id_and_carry_the_servers_codes() -> None:
    h = GameHarness(EVENTS)
    h.game.refuse_joins = True
    with pytest.raises(ProtocolError) as refused:
        h.join("ann")
    assert refused.value.code == ErrorCode.JOIN_REFUSED
    assert isinstance(refused.value, GameError)  # as the harness raised before
    h.game.refuse_joins = False
    assert h.join("ann") == 1
    h.room.lock()
    with pytest.raises(ProtocolError) as locked:
        h.join("bob")
    assert locked.value.code == ErrorCode.ROOM_LOCKED
    h.room.unlock()
    assert [h.join("bob"), h.join("cat")] == [2, 3]
    with pytest.raises(ProtocolError) as full:
        h.join("dan")
    assert full.value.code == ErrorCode.ROOM_FULL
    h.drop(3)  # a held seat still counts
    with pytest.raises(ProtocolError):
        h.join("dan")


def test_only_seated_connected_players_reach_the_game() -> None:
    h = GameHarness(EVENTS)
    a, b, c = h.join("ann"), h.join("bob"), h.join("cat")
    h.drop(b)
    h.leave(c)
    for who in (b, c, 99):
        for kind in ("go", "steer"):
            with pytest.raises(ProtocolError) as refused:
                h.send(who, kind, n=1)
            assert refused.value.code == ErrorCode.NOT_IN_ROOM
    assert messages_seen(h) == []
    h.send(a, "go", n=1)
    assert messages_seen(h) == [("on_message", a, "go", {"n": 1})]


def test_the_server_room_refuses_a_non_members_input_too() -> None:
    room = Room("r1", TICKS)
    with pytest.raises(ProtocolError) as refused:
        room.message(5, "steer", {"type": "steer", "n": 1})
    assert refused.value.code == ErrorCode.NOT_IN_ROOM
    assert not any(room._latest.values())


def test_a_negative_timer_delay_counts_as_zero() -> None:
    h = GameHarness(EVENTS)
    a = h.join("ann")
    h.game.then = lambda room: room.schedule("now", -1)
    h.send(a, "go", n=1)
    assert h.pending_timers() == [(0.0, "now")]
    h.advance(0)
    assert h.game.calls[-1] == ("on_timer", "now")


def test_fields_named_kind_and_player_can_be_sent() -> None:
    h = GameHarness(EVENTS)
    a = h.join("ann")
    h.send(a, "pick", kind="a", player=3)
    assert messages_seen(h) == [("on_message", a, "pick", {"kind": "a", "player": 3})]


def test_received_is_what_the_socket_would_carry() -> None:
    h = GameHarness(EVENTS)
    a = h.join("ann")
    b = h.join("bob")
    h.game.then = lambda room: (room.send(a, "psst", {"x": (1, 2)}), room.broadcast("all", {}))
    h.drop(b)
    h.send(a, "go", n=1)
    kinds = [m["type"] for m in h.received(a)]
    assert kinds == ["joined", "state", "state", "state", "psst", "all", "state"]
    assert h.received(a)[0]["state"] == {"me": a} and h.received(a)[0]["player"] == a
    assert h.received(a)[4] == {"type": "psst", "x": [1, 2]}  # as JSON carries it
    assert [m["type"] for m in h.received(b)] == ["joined", "state"]  # dropped: gets nothing
    h.leave(a)
    assert h.received(a)[-1] == {"type": "left", "room": "room-1", "reason": "leave"}


def test_a_ticking_game_steps_on_its_grid_however_time_is_cut_up() -> None:
    h = GameHarness(TICKS)  # 10 steps a second
    h.join("ann")
    h.advance(0.06)
    h.advance(0.06)  # 0.12 s in: one step, at 0.1, as the room's ticker would
    assert h.game.calls.count(("on_step",)) == 1
    h.advance(0.1)
    assert h.game.calls.count(("on_step",)) == 2


def test_the_server_refuses_an_engine_type_sent_to_a_player_who_is_not_there() -> None:
    room = Room("r1", EVENTS)
    with pytest.raises(ValueError, match="engine's own"):
        room.handle.send(42, "state", {})
    h = GameHarness(EVENTS)
    with pytest.raises(ValueError, match="engine's own"):
        h.room.send(42, "state", {})
