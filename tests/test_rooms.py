"""Rooms for any game: event-driven clocks, private views, timers, locks, options, private codes,
refusals, and containment, with a small game written only against the public API."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from game_server.engine.matchmaker import Matchmaker, normal_code
from game_server.engine.session import PlayerSession
from game_server.games.api import (
    Changes,
    EventDriven,
    Field,
    GameError,
    GameSpec,
    MessageSpec,
    Outcome,
    RoomHandle,
    Seat,
)
from game_server.games.arena_mode import arena_spec
from game_server.games.contract import JoinRefused
from game_server.games.loading import load_game
from game_server.games.testing import GameHarness
from tests.conftest import FakeConnection, FakeIdentity, ManualClock, ManualScheduler


class Tally:
    """Players add to their own secret count; the first to reach `goal` wins the round.

    Each player sees its own count; players with nothing yet share one view object.
    """

    def __init__(self, room: RoomHandle) -> None:
        self.room = room
        self.goal = room.options["goal"]
        self.counts: dict[int, int] = {}
        self.quitters: list[int] = []
        self.nothing_yet = {"public": True, "mine": 0}
        room.set_metadata(goal=self.goal)

    def on_join_attempt(self, seat: Seat, resuming: bool) -> str | None:
        if resuming and self.goal == 1:
            return "no comebacks in sudden death"
        if seat.name.startswith("rookie") and self.goal == 1:
            return "no rookies in sudden death"
        return "no cheaters" if seat.name == "cheater" else None

    def on_join(self, seat: Seat) -> None:
        self.counts[seat.player] = 0
        if len(self.counts) == 3:
            self.room.lock()
            self.room.schedule("deadline", 10.0)

    def on_leave(self, player: int, consented: bool) -> None:
        if self.counts.pop(player, 0) > 0:
            self.quitters.append(player)  # gave up mid-round: last, when the round ends

    def on_message(self, player: int, kind: str, body: Any) -> None:
        if kind == "explode":
            raise RuntimeError("the game broke")
        if body["n"] > 3:
            raise GameError("too_many", "at most 3 at a time")
        self.counts[player] += body["n"]
        if self.counts[player] >= self.goal:
            self.room.broadcast("winner", {"player": player})
            self.room.report([Outcome(player=p, placement=1 if p == player else 2)
                              for p in self.counts]
                             + [Outcome(player=p, placement=3) for p in self.quitters])
            self.room.cancel("deadline")

    def on_timer(self, name: str) -> None:
        self.room.broadcast("timeout", {"name": name})
        self.room.unlock()

    def view(self, player: int) -> dict[str, Any]:
        return {"public": True, "mine": self.counts.get(player, 0)}

    def changes(self) -> Changes:
        private = {p: (self.nothing_yet if n == 0 else {"public": True, "mine": n})
                   for p, n in self.counts.items()}
        return Changes(shared={"public": True}, private=private)


TALLY = GameSpec(
    name="tally", factory=Tally, clock=EventDriven(), max_players=4, leaderboard="wins",
    options={"goal": Field("int", low=1, high=100, default=5)},
    messages={"add": MessageSpec({"n": Field("int", low=1, high=9)}),
              "explode": MessageSpec()},
)


class World:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.scheduler = ManualScheduler(self.clock)
        self.results: list[tuple[str, list[tuple[int, Outcome]]]] = []
        modes = {"arena": arena_spec(), "tally": TALLY}
        modes["tictactoe"] = load_game("arena_tictactoe:spec")
        codes = iter(["ABC23", "XYZ78", "MNP46"])
        self.mm = Matchmaker(
            modes, scheduler=self.scheduler, monotonic=self.clock, seeds=lambda: 3,
            codes=lambda: next(codes),
            on_result=lambda room, pairs: self.results.append(
                (room.mode.name, [(who.id, o) for who, o in pairs])))

    def player(self, user: int, name: str = "p") -> PlayerSession:
        return PlayerSession(FakeIdentity(user, name), FakeConnection(), self.mm,
                             monotonic=self.clock)


def send(s: PlayerSession, **msg: Any) -> None:
    s.handle(orjson.dumps(msg).decode())


def conn(s: PlayerSession) -> FakeConnection:
    assert isinstance(s.connection, FakeConnection)
    return s.connection


def last(s: PlayerSession, kind: str) -> dict[str, Any]:
    return conn(s).of_type(kind)[-1]


def test_an_event_driven_room_sends_a_state_after_each_event_and_never_ticks() -> None:
    w = World()
    a, b = w.player(1, "ann"), w.player(2, "bob")
    send(a, type="join", mode="tally")
    assert last(a, "joined")["state"] == {"public": True, "mine": 0}
    assert last(a, "joined")["tick_rate"] == 0
    send(b, type="join", mode="tally")
    states = len(conn(a).of_type("state"))
    w.scheduler.advance(5.0)  # no tick: nothing is sent while nothing happens
    assert len(conn(a).of_type("state")) == states
    send(a, type="add", n=2)
    assert last(a, "state")["mine"] == 2
    assert last(b, "state")["mine"] == 0  # bob sees his own count, never ann's
    assert all(m.get("mine") in (0, None) for m in conn(b).of_type("state"))


def test_equal_private_views_are_encoded_once() -> None:
    w = World()
    a, b, c = w.player(1), w.player(2), w.player(3)
    for s in (a, b, c):
        send(s, type="join", mode="tally")
    send(a, type="add", n=1)
    # b and c have nothing yet: one view object, so one encoding, the same bytes for both
    assert conn(b).raw[-1] is conn(c).raw[-1]
    assert conn(a).raw[-1] is not conn(b).raw[-1]
    assert orjson.loads(conn(a).raw[-1])["mine"] == 1


def test_a_refused_message_answers_the_sender_only_with_the_games_code() -> None:
    w = World()
    a, b = w.player(1), w.player(2)
    send(a, type="join", mode="tally")
    send(b, type="join", mode="tally")
    before_b = len(conn(b).raw)
    send(a, type="add", n=4)
    assert last(a, "error")["code"] == "too_many"
    assert len(conn(b).raw) == before_b  # no state either: nothing changed
    send(a, type="add", n=0)
    assert last(a, "error")["code"] == "out_of_range"
    send(a, type="add", n=1, extra=True)
    assert last(a, "error")["code"] == "bad_field"
    send(a, type="dance")
    assert last(a, "error")["code"] == "unknown_type"
    send(a, type="input", seq=1, dx=0.0, dy=0.0)  # another game's message
    assert last(a, "error")["code"] == "unknown_type"
    lone = w.player(9)
    send(lone, type="add", n=1)
    assert last(lone, "error")["code"] == "not_in_room"


def test_timers_fire_without_anyone_sending_and_locks_steer_matchmaking() -> None:
    w = World()
    players = [w.player(i) for i in range(1, 5)]
    for s in players[:3]:
        send(s, type="join", mode="tally")
    room = players[0].room
    assert room is not None and room.locked
    send(players[3], type="join", mode="tally")  # quick play skips the locked room
    assert players[3].room is not room
    late = w.player(5)
    send(late, type="join", room=room.id)
    assert last(late, "error")["code"] == "room_locked"
    w.scheduler.advance(10.0)
    assert last(players[0], "timeout") == {"type": "timeout", "name": "deadline"}
    assert not room.locked
    send(late, type="join", room=room.id)
    assert late.room is room


def test_the_matchmaker_hears_of_each_change_to_a_rooms_lock_or_metadata() -> None:
    w = World()
    changed: list[tuple[str, bool, dict[str, Any]]] = []
    w.mm.room_changed_hooks.append(
        lambda room: changed.append((room.id, room.locked, dict(room.metadata))))
    players = [w.player(i) for i in range(1, 4)]
    for s in players:
        send(s, type="join", mode="tally")
    room = players[0].room
    assert room is not None
    # set_metadata in the game's constructor came before anyone could listen; the lock did not.
    assert changed == [(room.id, True, {"goal": 5})]
    room.handle.set_metadata(goal=5)  # no change, no call
    room.handle.lock()
    room.handle.set_metadata(round=2, goal=None)
    w.scheduler.advance(10.0)  # the game unlocks
    assert changed[1:] == [(room.id, True, {"round": 2}), (room.id, False, {"round": 2})]


def test_results_go_out_with_the_accounts_and_the_winner_is_announced() -> None:
    w = World()
    a, b = w.player(11), w.player(12)
    send(a, type="join", mode="tally", options={"goal": 3})
    send(b, type="join", mode="tally", options={"goal": 3})
    assert a.room is b.room and a.room.describe()["metadata"] == {"goal": 3}
    send(b, type="add", n=3)
    assert last(a, "winner") == {"type": "winner", "player": b.player_id}
    assert w.results == [("tally", [(11, Outcome(player=a.player_id, placement=2)),
                                    (12, Outcome(player=b.player_id, placement=1))])]


def test_options_choose_the_room_and_bad_options_are_refused() -> None:
    w = World()
    a, b, c = w.player(1), w.player(2), w.player(3)
    send(a, type="join", mode="tally", options={"goal": 3})
    send(b, type="join", mode="tally", options={"goal": 5})  # another goal: another room
    assert a.room is not b.room
    send(c, type="join", mode="tally", options={"goal": 101})
    assert last(c, "error")["code"] == "out_of_range" and c.room is None
    send(c, type="join", mode="tally", options={"gaol": 3})
    assert last(c, "error")["code"] == "bad_field"
    send(c, type="join", mode="chess")
    assert last(c, "error")["code"] == "unknown_mode"


def test_private_rooms_are_joined_by_code_only() -> None:
    w = World()
    host, friend, stranger = w.player(1), w.player(2), w.player(3)
    send(host, type="create", mode="tally", private=True)
    joined = last(host, "joined")
    assert joined["code"] == "ABC23"
    send(stranger, type="join", mode="tally")  # quick play never lands in a private room
    assert stranger.room is not host.room
    assert w.mm.get(host.room.id) is host.room
    send(w.player(4), type="join", room=host.room.id)  # nor does its id
    send(friend, type="join", code="abc-23")  # as a friend might type it
    assert friend.room is host.room
    nobody = w.player(5)
    send(nobody, type="join", code="QQQQQ")
    assert last(nobody, "error")["code"] == "room_not_found"
    assert normal_code(" abc 23 ") == "ABC23"


def test_a_game_may_refuse_a_seat_with_a_reason() -> None:
    w = World()
    cheater = w.player(1, "cheater")
    send(cheater, type="join", mode="tally")
    error = last(cheater, "error")
    assert error["code"] == "join_refused" and error["message"] == "no cheaters"
    assert cheater.room is None


def test_a_game_that_raises_closes_its_own_room_only() -> None:
    w = World()
    a, b, other = w.player(1), w.player(2), w.player(3)
    send(a, type="join", mode="tally")
    send(b, type="join", mode="tally")
    send(other, type="join", mode="tally", options={"goal": 9})
    send(a, type="explode")
    assert last(b, "error")["code"] == "room_closed"
    assert a.room is None and b.room is None
    assert other.room is not None and not other.room.closed
    send(a, type="join", mode="tally")
    assert a.room is other.room or a.room is not None


def test_a_resume_asks_the_game_too_and_a_started_game_takes_its_player_back() -> None:
    w = World()
    a, b = w.player(1), w.player(2)
    send(a, type="join", mode="tictactoe")
    send(b, type="join", mode="tictactoe")  # the match starts and the room locks
    room, token = a.room, a.resume_token
    assert room is not None and room.locked and token
    a.disconnect()
    back = w.player(1)
    send(back, type="join", resume=token)
    assert back.room is room and last(back, "joined")["player"] == a.player_id


def test_a_game_may_refuse_a_dropped_player_its_seat_back() -> None:
    w = World()
    a = w.player(1)
    send(a, type="join", mode="tally", options={"goal": 1})
    token = a.resume_token
    a.disconnect()
    back = w.player(1)
    send(back, type="join", resume=token)
    assert back.room is None and last(back, "error")["code"] == "resume_failed"


def test_a_player_who_left_mid_round_still_gets_the_result_the_game_reports() -> None:
    w = World()
    a, b, c = w.player(21), w.player(22), w.player(23)
    for s in (a, b):
        send(s, type="join", mode="tally", options={"goal": 4})
    send(a, type="add", n=1)
    quitter = a.player_id
    send(a, type="leave")
    send(c, type="join", mode="tally", options={"goal": 4})
    send(b, type="add", n=3)
    send(b, type="add", n=1)
    _, outcomes = w.results[-1]
    assert (21, Outcome(player=quitter, placement=3)) in outcomes


class Impostor(Tally):
    """Refuses an `add` with an engine code, as a buggy game might."""

    def on_message(self, player: int, kind: str, body: Any) -> None:
        raise GameError("room_full", "pretending to be the server")


def test_a_game_that_raises_an_engine_code_fails_instead_of_speaking_for_the_server() -> None:
    w = World()
    w.mm.modes["impostor"] = GameSpec(
        name="impostor", factory=Impostor, clock=EventDriven(), max_players=4,
        options=TALLY.options, messages=TALLY.messages)
    a, b = w.player(1), w.player(2)
    send(a, type="join", mode="impostor")
    send(b, type="join", mode="impostor")
    send(a, type="add", n=1)
    codes = [m["code"] for m in conn(a).of_type("error")]
    assert "room_full" not in codes and codes[-1] == "room_closed"
    assert a.room is None and b.room is None


def test_quick_play_matches_only_the_options_named_and_ranges_of_numbers() -> None:
    w = World()
    a, b, c, d, e = (w.player(n) for n in range(1, 6))
    send(a, type="join", mode="tally", options={"goal": 3})
    send(b, type="join", mode="tally")  # names nothing: the fullest open room, whatever its goal
    assert b.room is a.room and last(b, "joined")["options"] == {"goal": 3}
    send(c, type="join", mode="tally", options={"goal": 7})  # no such room: one with goal 7
    assert c.room is not a.room and c.room is not None and c.room.options == {"goal": 7}
    send(d, type="join", mode="tally", options={"min_goal": 4})
    assert d.room is c.room  # goal 7 is at least 4; goal 3 is not
    send(e, type="join", mode="tally", options={"min_goal": 8, "max_goal": 60})
    assert e.room is not None and e.room.options == {"goal": 8}  # the default 5, kept inside
    rooms = {id(r) for r in w.mm.rooms()}
    for bad, code in (({"min_goal": 9, "max_goal": 4}, "out_of_range"),
                      ({"max_goal": 0}, "out_of_range"),  # no goal of 0 or less exists
                      ({"min_gaol": 1}, "bad_field"), ({"min_goal": "4"}, "bad_field"),
                      ({"goal": 4, "min_goal": 2}, "bad_field")):
        late = w.player(9)
        send(late, type="join", mode="tally", options=bad)
        assert (late.room, last(late, "error")["code"]) == (None, code), bad
    assert {id(r) for r in w.mm.rooms()} == rooms  # a refused filter opened nothing


def test_quick_play_moves_on_when_a_game_refuses_the_seat() -> None:
    w = World()
    a, rookie, b = w.player(1, "ann"), w.player(2, "rookie"), w.player(3, "bob")
    send(a, type="join", mode="tally", options={"goal": 1})
    send(rookie, type="join", mode="tally")  # the sudden-death room says no: a room of its own
    assert rookie.room is not None and rookie.room is not a.room
    assert rookie.room.options == {"goal": 5} and not conn(rookie).of_type("error")
    send(b, type="join", mode="tally", options={"max_goal": 4})
    assert b.room is a.room
    # A seat no room would give is still refused, with the game's reason.
    cheater = w.player(4, "cheater")
    send(cheater, type="join", mode="tally")
    assert last(cheater, "error") == {"type": "error", "code": "join_refused",
                                      "message": "no cheaters"}


class Huddle:
    """Teams chosen at the door: a team talk reaches teammates only, the host (player 1) may
    kick anyone or end the game, and a shutdown is noted, not reported."""

    def __init__(self, room: RoomHandle) -> None:
        self.room = room
        self.teams: dict[int, str] = {}
        self.left: list[tuple[int, bool]] = []
        self.terminated: list[float] = []
        self.disposed = False

    def on_join_attempt(self, seat: Seat, resuming: bool) -> str | None:
        if not resuming and list(self.teams.values()).count(seat.fields["team"]) >= 2:
            return f"team {seat.fields['team']} is full"
        return None

    def on_join(self, seat: Seat) -> None:
        self.teams[seat.player] = seat.fields["team"]
        if seat.name == "spy":
            self.room.kick(seat.player, "spies are sent home")

    def on_leave(self, player: int, consented: bool) -> None:
        self.left.append((player, consented))
        self.teams.pop(player, None)

    def on_message(self, player: int, kind: str, body: Any) -> None:
        if kind == "talk":
            mates = [p for p, team in self.teams.items() if team == self.teams[player]]
            self.room.send_to(mates, "team_talk", {"from": player, "text": body["text"]})
        elif kind == "boot":
            self.room.report([Outcome(player=player, placement=1)])
            self.room.kick(body["player"], "kicked by the host for bad manners")
        elif kind == "end":
            self.room.close("the host ended the game")

    def on_terminate(self, grace: float) -> None:
        self.terminated.append(grace)

    def on_dispose(self) -> None:
        self.disposed = True

    def view(self, player: int) -> dict[str, Any]:
        return {"teams": {str(p): t for p, t in self.teams.items()}}

    def changes(self) -> Changes:
        return Changes(shared=self.view(0))


HUDDLE = GameSpec(
    name="huddle", factory=Huddle, clock=EventDriven(), max_players=6, leaderboard="wins",
    join_fields={"team": Field("str", choices=("red", "blue"), default="red")},
    messages={"talk": MessageSpec({"text": Field("str", max_chars=50)}),
              "boot": MessageSpec({"player": Field("int", low=1, high=99)}),
              "end": MessageSpec()},
    replies={"team_talk": "a teammate's words"})


def huddle_world() -> World:
    w = World()
    w.mm.modes["huddle"] = HUDDLE
    return w


def test_join_fields_are_validated_and_reach_the_game_in_the_seat() -> None:
    w = huddle_world()
    red, blue, red2, red3 = (w.player(n) for n in range(1, 5))
    send(red, type="join", mode="huddle")  # the default team
    send(blue, type="join", mode="huddle", fields={"team": "blue"})
    send(red2, type="join", room=red.room.id, fields={"team": "red"})
    game = red.room.game
    assert game.teams == {1: "red", 2: "blue", 3: "red"}
    for bad, code in (({"team": "green"}, "out_of_range"), ({"team": 1}, "bad_field"),
                      ({"colour": "red"}, "bad_field")):
        late = w.player(9)
        send(late, type="join", mode="huddle", fields=bad)
        assert (late.room, last(late, "error")["code"]) == (None, code), bad
    # Red is full here: quick play passes over this room for a new one.
    send(red3, type="join", mode="huddle", fields={"team": "red"})
    assert red3.room is not None and red3.room is not red.room
    # A resume keeps the seat's fields.
    token = blue.resume_token
    blue.disconnect()
    back = w.player(2)
    send(back, type="join", resume=token)
    assert back.room is red.room and game.teams[2] == "blue"


def test_a_game_sends_to_a_group_kicks_with_a_reason_and_closes_its_room() -> None:
    w = huddle_world()
    host, blue, red = w.player(1, "host"), w.player(2), w.player(3)
    send(host, type="join", mode="huddle")
    send(blue, type="join", mode="huddle", fields={"team": "blue"})
    send(red, type="join", mode="huddle")
    room, game = host.room, host.room.game
    send(host, type="talk", text="go left")
    assert last(red, "team_talk") == {"type": "team_talk", "from": 1, "text": "go left"}
    assert last(host, "team_talk")["text"] == "go left" and not conn(blue).of_type("team_talk")
    send(host, type="boot", player=blue.player_id)
    assert last(blue, "left") == {"type": "left", "room": room.id, "reason": "kicked",
                                  "message": "kicked by the host for bad manners"}
    assert blue.room is None and blue.resume_token is None and game.left == [(2, False)]
    send(blue, type="join", mode="huddle", fields={"team": "blue"})  # back in the lobby
    assert blue.room is room
    send(host, type="end")
    for s in (host, blue, red):
        assert last(s, "left") == {"type": "left", "room": room.id, "reason": "closed",
                                   "message": "the host ended the game"}
        assert s.room is None
    assert room.closed and game.disposed and w.mm.get(room.id) is None
    assert game.left == [(2, False)]  # closing is no one's departure
    assert w.results == [("huddle", [(1, Outcome(player=1, placement=1))])]  # reported: kept


def test_a_shutdown_is_the_games_on_terminate_never_its_players_leaving() -> None:
    w = huddle_world()
    a, b = w.player(1), w.player(2)
    send(a, type="join", mode="huddle")
    send(b, type="join", mode="huddle", fields={"team": "blue"})
    room, game = a.room, a.room.game
    b.disconnect()  # a held seat, too
    w.mm.terminate_all(7.5)
    assert game.terminated == [7.5] and game.left == [] and game.disposed
    assert last(a, "left")["reason"] == "server_closing" and "message" not in last(a, "left")
    assert room.closed and w.results == [] and w.mm.rooms() == []


def test_a_reply_the_game_did_not_declare_closes_its_room() -> None:
    w = huddle_world()
    a = w.player(1)
    send(a, type="join", mode="huddle")
    room = a.room
    room.handle.send(a.player_id, "team_talk", {"text": "declared"})
    assert last(a, "team_talk")["text"] == "declared"
    send(a, type="end")  # a clean close first: then try the same on a new room
    send(a, type="join", mode="huddle")
    a.room.game.on_message = lambda player, kind, body: a.room.handle.send(
        player, "shout", {})
    send(a, type="talk", text="hi")
    assert last(a, "error")["code"] == "room_closed" and a.room is None


def test_a_newcomer_kicked_in_on_join_is_refused_and_never_seated() -> None:
    w = huddle_world()
    a, spy = w.player(1), w.player(2, "spy")
    send(a, type="join", mode="huddle")
    send(spy, type="join", room=a.room.id, fields={"team": "blue"})
    assert [m["type"] for m in conn(spy).messages] == ["left", "error"]
    assert last(spy, "left")["message"] == "spies are sent home"
    assert last(spy, "error")["code"] == "join_refused" and spy.room is None
    assert not conn(spy).of_type("joined") and a.room.player_count == 1
    h = GameHarness(HUDDLE)
    h.join("ann")
    with pytest.raises(JoinRefused) as refused:
        h.join("spy")
    assert refused.value.code == "join_refused" and list(h.seats) == [1]


def test_joined_and_the_state_after_a_drop_resume_or_expiry_say_who_is_away() -> None:
    # The HUD counts "Players N (M away)": the newcomer's `joined` lists the held seats, and
    # the state after a seat is held, resumed or let go says so to everyone (private views
    # included), once; the states in between carry nothing more.
    w = World()
    a, b = w.player(1, "ann"), w.player(2, "bob")
    send(a, type="join", mode="tally")
    send(b, type="join", mode="tally")
    assert last(b, "joined")["away"] == []
    token, ann = a.resume_token, a.player_id
    a.disconnect()
    assert last(b, "state") == {"type": "state", "tick": 3, "ts": last(b, "state")["ts"],
                                "public": True, "mine": 0, "away": [ann]}
    send(b, type="add", n=1)
    assert "away" not in last(b, "state") and last(b, "state")["mine"] == 1
    c = w.player(3, "cy")
    send(c, type="join", mode="tally")
    assert last(c, "joined")["away"] == [ann]
    back = w.player(1, "ann")
    send(back, type="join", resume=token)
    assert last(back, "joined")["away"] == []
    assert last(b, "state")["away"] == [] and last(c, "state")["away"] == []
    c.disconnect()
    assert last(b, "state")["away"] == [c.player_id]
    w.scheduler.advance(w.mm.resume_grace + 1)  # cy's seat is let go
    assert last(b, "state")["away"] == [] and w.mm.away_count == 0


def test_a_ticking_room_says_who_is_away_in_the_next_tick_only() -> None:
    w = World()
    a, b = w.player(1, "ann"), w.player(2, "bob")
    send(a, type="join", mode="arena")
    send(b, type="join", mode="arena")
    room = a.room
    assert room is not None and room is b.room
    room.tick()
    assert "away" not in last(b, "state")
    ann = a.player_id
    a.disconnect()
    assert (room.connected_count, room.away_count, room.player_count) == (1, 1, 2)
    assert room.describe()["connected"] == 1 and room.describe()["away"] == 1
    w.clock.now += room.dt
    room.tick()
    assert last(b, "state")["away"] == [ann]
    w.clock.now += room.dt
    room.tick()
    assert "away" not in last(b, "state")
