"""The public game API's declarations: fields validate exactly, specs describe themselves."""

from __future__ import annotations

import math

import pytest

from game_server.games.api import (
    Changes,
    EventDriven,
    Field,
    GameError,
    GameSpec,
    InvalidField,
    MessageSpec,
    Outcome,
    Ticking,
    check_fields,
    with_option_defaults,
)
from game_server.games.arena_mode import arena_spec
from game_server.games.testing import GameHarness


def test_fields_accept_exactly_their_kind_and_range() -> None:
    n = Field("int", low=1, high=6)
    assert n.check("face", 3) == 3
    for bad in (0, 7, 3.0, "3", True, None):
        with pytest.raises(InvalidField):
            n.check("face", bad)
    f = Field("float", low=-1, high=1)
    assert f.check("dx", 1) == 1 and f.check("dx", -0.5) == -0.5
    for bad in (math.nan, math.inf, 1.01, "0"):
        with pytest.raises(InvalidField):
            f.check("dx", bad)
    s = Field("str", max_chars=4)
    assert s.check("code", "ABCD") == "ABCD"
    with pytest.raises(InvalidField, match="at most 4 characters"):
        s.check("code", "ABCDE")
    c = Field("str", choices=("x", "o"))
    with pytest.raises(InvalidField, match="one of"):
        c.check("mark", "z")
    b = Field("bool")
    with pytest.raises(InvalidField, match="true or false"):
        b.check("private", 1)


def test_a_str_field_must_be_bounded() -> None:
    with pytest.raises(ValueError):
        Field("str")


def test_check_fields_fills_defaults_and_refuses_unknown_and_missing_keys() -> None:
    fields = {"count": Field("int", low=1, high=30), "private": Field("bool", default=False)}
    assert check_fields(fields, {"type": "bid", "count": 2}, ignore=frozenset({"type"})) == {
        "count": 2, "private": False}
    with pytest.raises(InvalidField, match='unknown field "cuont"'):
        check_fields(fields, {"cuont": 2})
    with pytest.raises(InvalidField, match='"count" is required'):
        check_fields(fields, {})


def test_a_spec_refuses_engine_message_names_and_describes_itself() -> None:
    with pytest.raises(ValueError, match="engine's own"):
        GameSpec(name="bad", factory=lambda room: None, messages={"chat": MessageSpec()})
    spec = GameSpec(
        name="dice", factory=lambda room: None, clock=EventDriven(), min_players=2,
        max_players=6, leaderboard="rating",
        options={"private": Field("bool", default=False)},
        messages={"bid": MessageSpec({"count": Field("int", low=1, high=30)})})
    described = spec.describe()
    assert described["clock"] == {"kind": "events"}
    assert described["messages"] == {"bid": {"count": {"kind": "int", "low": 1, "high": 30,
                                                       "required": True}}}
    assert described["options"] == {"private": {"kind": "bool", "default": False}}
    assert GameSpec(name="a", factory=lambda room: None, messages={},
                    clock=Ticking(30)).describe()["clock"] == {"kind": "ticking", "rate": 30}


class Countdown:
    """A tiny event-driven game: players add to a total; a timer ends the round."""

    def __init__(self, room) -> None:
        self.room = room
        self.total = 0
        self.players: list[int] = []

    def on_join(self, seat) -> None:
        self.players.append(seat.player)
        if len(self.players) == 2:
            self.room.lock()
            self.room.schedule("end", 5.0)

    def on_message(self, player: int, kind: str, body) -> None:
        if body["amount"] > 3:
            raise GameError("too_much", "at most 3 at a time")
        self.total += body["amount"]

    def on_timer(self, name: str) -> None:
        self.room.report([Outcome(player=p, score=self.total) for p in self.players])
        self.room.broadcast("over", {"total": self.total})

    def view(self, player: int):
        return {"total": self.total}

    def changes(self) -> Changes:
        return Changes(shared={"total": self.total}, private={p: {"me": p} for p in self.players})


COUNTDOWN = GameSpec(name="countdown", factory=Countdown, clock=EventDriven(), max_players=2,
                     messages={"add": MessageSpec({"amount": Field("int", low=1, high=9)})})


def test_the_harness_validates_runs_timers_and_records_what_the_game_did() -> None:
    h = GameHarness(COUNTDOWN)
    a, b = h.join("ann"), h.join("bob")
    assert h.room.locked
    with pytest.raises(GameError, match="full"):
        h.join("cat")
    h.send(a, "add", amount=2)
    with pytest.raises(InvalidField):
        h.send(a, "add", amount=0)
    with pytest.raises(InvalidField):
        h.send(a, "chat", text="hi")
    with pytest.raises(GameError):
        h.send(b, "add", amount=4)
    assert h.last_state_for(a) == {"me": a}
    assert h.pending_timers() == [(5.0, "end")]
    h.advance(4.9)
    assert h.room.outcomes == []
    h.advance(0.2)
    assert h.room.outcomes == [[Outcome(player=a, score=2), Outcome(player=b, score=2)]]
    assert h.sent_to(b)[-1].body == {"total": 2}


def _seats_and_rate(**options: Field) -> GameSpec:
    return GameSpec(name="shaped", factory=lambda room: None, messages={}, options=options)


def test_the_seats_and_rate_options_shape_each_room_within_their_bounds() -> None:
    seats = Field("int", low=2, high=50, default=8)
    rate = Field("int", low=1, high=60, default=10)
    spec = _seats_and_rate(max_players=seats, tick_rate=rate)
    # The spec's own seats and clock follow the options' defaults: declared once.
    assert (spec.max_players, spec.clock) == (8, Ticking(10))
    assert spec.describe()["clock"] == {"kind": "ticking", "rate": 10}
    room = check_fields(spec.options, {"max_players": 3})
    assert (spec.room_seats(room), spec.room_clock(room)) == (3, Ticking(10))
    room = check_fields(spec.options, {"tick_rate": 60})
    assert (spec.room_seats(room), spec.room_clock(room)) == (8, Ticking(60))
    with pytest.raises(InvalidField, match="at most 50"):
        check_fields(spec.options, {"max_players": 51})
    # A mode without them: the spec's own values, whatever the room's options.
    plain = GameSpec(name="plain", factory=lambda room: None, messages={}, max_players=4,
                     clock=Ticking(15))
    assert (plain.room_seats({}), plain.room_clock({})) == (4, Ticking(15))


@pytest.mark.parametrize("options, clock", [
    ({"max_players": Field("int", low=1, default=8)}, Ticking()),  # no upper bound
    ({"max_players": Field("int", low=0, high=9, default=8)}, Ticking()),  # zero seats
    ({"max_players": Field("float", low=1, high=9, default=8)}, Ticking()),
    ({"max_players": Field("int", low=1, high=9)}, Ticking()),  # no default
    ({"tick_rate": Field("int", low=1, high=60, default=10)}, EventDriven()),
    ({"tick_rate": Field("int", high=60, default=10)}, Ticking()),
])
def test_the_seats_and_rate_options_must_be_bounded_integers(options, clock) -> None:
    with pytest.raises(ValueError, match="must be an int with a default|needs a Ticking"):
        GameSpec(name="bad", factory=lambda room: None, messages={}, options=options,
                 clock=clock)


def test_an_operator_sets_option_defaults_within_their_bounds() -> None:
    spec = _seats_and_rate(max_players=Field("int", low=1, high=50, default=8),
                           speed=Field("float", low=0.5, high=2.0, default=1.0))
    changed = with_option_defaults(spec, {"max_players": 20, "speed": 1.5})
    assert changed.max_players == 20 and changed.options["speed"].default == 1.5
    assert spec.max_players == 8  # the original is untouched
    assert check_fields(changed.options, {}) == {"max_players": 20, "speed": 1.5}
    with pytest.raises(InvalidField, match="at most 50"):
        with_option_defaults(spec, {"max_players": 51})
    with pytest.raises(ValueError, match="no option 'colour'"):
        with_option_defaults(spec, {"colour": "red"})


def test_the_harness_seats_as_many_as_the_rooms_option_says() -> None:
    h = GameHarness(arena_spec(), options={"max_players": 2, "tick_rate": 10})
    h.join("a"), h.join("b")
    with pytest.raises(GameError, match="full"):
        h.join("c")
    before = len(h.states)
    h.advance(0.5)  # five steps at 10 Hz
    assert len(h.states) - before == 5
