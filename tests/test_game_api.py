"""The public game API's declarations: fields validate exactly, specs describe themselves."""

from __future__ import annotations

import math
from typing import Any

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
    assert described["messages"] == {"bid": {
        "fields": {"count": {"kind": "int", "low": 1, "high": 30, "required": True}},
        "latest_only": False}}
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


def test_a_game_declares_its_replies_and_error_codes_but_never_an_engine_one() -> None:
    spec = GameSpec(
        name="race", factory=lambda room: None, clock=Ticking(10),
        messages={"steer": MessageSpec({"x": Field("int", low=0, high=1)}, latest_only=True),
                  "boost": MessageSpec()},
        replies={"lap": "you finished a lap: its number and time"},
        errors={"no_boost_left": "every boost of this race is spent"})
    described = spec.describe()
    assert described["messages"]["steer"]["latest_only"] is True
    assert described["messages"]["boost"] == {"fields": {}, "latest_only": False}
    assert described["replies"] == {"lap": "you finished a lap: its number and time"}
    assert described["errors"] == {"no_boost_left": "every boost of this race is spent"}
    with pytest.raises(ValueError, match="engine's own"):
        GameSpec(name="bad", factory=lambda room: None, messages={},
                 errors={"room_full": "no seat left"})
    with pytest.raises(ValueError, match="engine's own"):
        GameSpec(name="bad", factory=lambda room: None, messages={},
                 replies={"joined": "welcome"})
    for code in ("room_full", "join_refused", "bad_field", "rate_limited"):
        with pytest.raises(ValueError, match="engine error code"):
            GameError(code, "a game may not say this")
    assert GameError("no_boost_left", "spent").code == "no_boost_left"


def test_the_shipped_games_declare_every_code_they_raise() -> None:
    import re
    from pathlib import Path

    from game_server.games.dice import dice_spec
    from game_server.games.loading import load_game

    repo = Path(__file__).resolve().parent.parent
    for spec, folder in ((dice_spec(), "game_server/games/dice"),
                         (load_game("arena_tictactoe:spec"),
                          "examples/tictactoe/arena_tictactoe"),
                         (load_game("arena_lantern:spec"), "examples/lantern/arena_lantern")):
        source = "".join(p.read_text() for p in (repo / folder).glob("*.py"))
        raised = set(re.findall(r'GameError\(\s*"(\w+)"', source))
        assert raised and raised == set(spec.errors), spec.name
        sent = set(re.findall(r'\.(?:send|broadcast)\(\s*(?:\w+,\s*)?"(\w+)"', source))
        assert sent == set(spec.replies), spec.name


def test_the_harness_has_the_rooms_join_fields_kicks_closes_groups_and_shutdowns() -> None:
    from game_server.games.contract import JoinRefused, Refused
    from tests.test_rooms import HUDDLE

    assert HUDDLE.describe()["join_fields"] == {
        "team": {"kind": "str", "choices": ["red", "blue"], "default": "red"}}
    h = GameHarness(HUDDLE)
    host = h.join("host")
    blue = h.join("bea", fields={"team": "blue"})
    red = h.join("rex", fields={"team": "red"})
    assert h.seats[blue].fields == {"team": "blue"} and h.seats[host].fields == {"team": "red"}
    with pytest.raises(Refused) as bad:
        h.join("x", fields={"team": "green"})
    assert bad.value.code == "out_of_range"
    with pytest.raises(JoinRefused) as full:
        h.join("y", fields={"team": "red"})
    assert full.value.code == "join_refused" and str(full.value) == "team red is full"
    h.send(host, "talk", text="go left")
    assert [(s.to, s.kind) for s in h.room.sent] == [(host, "team_talk"), (red, "team_talk")]
    assert not [m for m in h.received(blue) if m["type"] == "team_talk"]
    h.send(host, "boot", player=blue)
    assert h.received(blue)[-1] == {"type": "left", "room": "room-1", "reason": "kicked",
                                    "message": "kicked by the host for bad manners"}
    assert blue not in h.seats and h.game.left == [(blue, False)]
    h.send(host, "end")
    for player in (host, red):
        assert h.received(player)[-1] == {"type": "left", "room": "room-1", "reason": "closed",
                                          "message": "the host ended the game"}
    assert h.closed and h.game.disposed and h.seats == {} and h.room.closed_with
    shutdown = GameHarness(HUDDLE)
    shutdown.join("ann")
    shutdown.terminate(3.0)
    assert shutdown.game.terminated == [3.0] and shutdown.game.left == []
    assert shutdown.received(1)[-1]["reason"] == "server_closing"
    with pytest.raises(ValueError, match="reason"):
        GameHarness(HUDDLE).room.kick(1, "   ")


class Chatty:
    """Sends what it is told to: a declared reply, or one it never declared."""

    def __init__(self, room: Any) -> None:
        self.room = room

    def on_message(self, player: int, kind: str, body: Any) -> None:
        self.room.send(player, body["kind"], {})

    def view(self, player: int) -> dict[str, Any]:
        return {}

    def changes(self) -> Changes:
        return Changes(shared={})


def test_a_game_that_declares_its_replies_sends_no_other() -> None:
    spec = GameSpec(name="chatty", factory=Chatty, clock=EventDriven(),
                    messages={"say": MessageSpec({"kind": Field("str", max_chars=20)})},
                    replies={"hello": "a greeting"})
    h = GameHarness(spec)
    p = h.join("ann")
    h.send(p, "say", kind="hello")
    assert [m["type"] for m in h.received(p)][-2:] == ["hello", "state"]
    with pytest.raises(ValueError, match="declared replies"):
        h.send(p, "say", kind="goodbye")


def test_the_shipped_games_label_their_options_and_show_a_picture() -> None:
    from game_server.games.dice import dice_spec
    from game_server.games.loading import load_game

    for spec in (arena_spec(), dice_spec(), load_game("arena_tictactoe:spec"),
                 load_game("arena_lantern:spec")):
        described = spec.describe()
        assert spec.options, spec.name
        for name, option in described["options"].items():
            # words for people, never the option's own name with its underscores
            assert option["label"] and "_" not in option["label"], (spec.name, name)
            assert option["hint"].endswith("."), (spec.name, name)
        assert described["picture"] == f"/games/{spec.name}/{spec.page.picture}"
        assert (spec.page.directory / spec.page.picture).is_file(), spec.name
    assert dice_spec().describe()["options"]["turn_seconds"]["label"] == "Seconds per turn"
    # an option without them is described as before; a mode without a page has no picture
    bare = GameSpec("bare", lambda room: None, {}, options={"n": Field("int", default=1)})
    assert bare.describe()["options"]["n"] == {"kind": "int", "default": 1}
    assert bare.describe()["picture"] is None
