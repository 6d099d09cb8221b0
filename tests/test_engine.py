"""The engine without Tornado handlers: fake connections, a manual clock and scheduler."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from client.world import World
from game_server.engine.fanout import LAG_CHECK_INTERVAL
from game_server.engine.matchmaker import Matchmaker
from game_server.engine.room import Room
from game_server.engine.session import PlayerSession
from game_server.games.api import Changes, EventDriven, GameSpec, with_option_defaults
from game_server.games.arena_mode import arena_spec
from protocol.errors import ErrorCode, ProtocolError
from tests.conftest import FakeConnection, FakeIdentity, ManualClock, ManualScheduler

TICK = 1 / 20


class Seat:
    """A minimal room member."""

    def __init__(self, user_id: int, name: str) -> None:
        self.identity = FakeIdentity(user_id, name)
        self.connection = FakeConnection()
        self.left: list[str] = []

    def on_room_left(self, room: Room, reason: str) -> None:
        self.left.append(reason)


def make_matchmaker(clock: ManualClock, scheduler: ManualScheduler, **kw: Any) -> Matchmaker:
    ids = iter(f"room{i}" for i in range(1000))
    # The arena's seats and rate are its options: these set their defaults.
    sizes = {k: kw.pop(k) for k in ("max_players", "tick_rate") if k in kw}
    kw.setdefault("modes", {"arena": with_option_defaults(arena_spec(), sizes)})
    return Matchmaker(scheduler=scheduler, monotonic=clock, wall=lambda: 1_700_000_000.0,
                      room_ids=lambda: next(ids), seeds=lambda: 7, **kw)


def session(mm: Matchmaker, user_id: int, name: str = "p") -> PlayerSession:
    return PlayerSession(FakeIdentity(user_id, name), FakeConnection(), mm, wall=lambda: 5.0)


def send(s: PlayerSession, msg: dict[str, Any]) -> None:
    s.handle(orjson.dumps(msg).decode())


def view(s: PlayerSession) -> World:
    """What this player's client knows: every joined and state it got, applied in order."""
    world = World()
    for msg in conn(s).messages:
        world.apply(msg)
    return world


def conn(s: PlayerSession) -> FakeConnection:
    assert isinstance(s.connection, FakeConnection)
    return s.connection


# -- the tick ----------------------------------------------------------------------------------


def test_each_tick_encodes_once_and_sends_the_same_bytes_to_everyone(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    players = [session(mm, i) for i in range(3)]
    for p in players:
        send(p, {"type": "join", "mode": "arena"})
    scheduler.advance(TICK)
    last = [conn(p).raw[-1] for p in players]
    assert orjson.loads(last[0])["type"] == "state"
    assert last[0] is last[1] is last[2]


def test_joined_carries_a_full_state_and_the_player_id(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    a, b = session(mm, 1, "ann"), session(mm, 2, "bob")
    send(a, {"type": "join", "mode": "arena"})
    send(b, {"type": "join", "mode": "arena"})
    joined = conn(b).of_type("joined")[0]
    assert joined["room"] == "room0" and joined["player"] == 2 and joined["tick_rate"] == 20
    assert joined["client"]["width"] == 1600
    assert "world" not in joined and isinstance(joined["options"], dict)
    names = {row[0]: row[1] for row in joined["state"]["players"]}
    assert names == {1: "ann", 2: "bob"}
    assert len(joined["state"]["pellets"]) == 360


def test_states_carry_increasing_ticks_server_time_and_acked_seq(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    a = session(mm, 1)
    send(a, {"type": "join", "mode": "arena"})
    scheduler.advance(TICK)
    send(a, {"type": "input", "seq": 5, "dx": 1, "dy": 0})
    scheduler.advance(TICK * 2)
    states = conn(a).of_type("state")
    assert [s["tick"] for s in states] == [1, 2, 3]
    assert all(s["ts"] == 1_700_000_000_000 for s in states)
    acks = [s["acks"] for s in states if "acks" in s]
    assert acks == [[a.player_id, 5]]  # acknowledged once, when it was processed
    assert view(a).me_view.seq == 5


def test_a_late_tick_catches_up_in_fixed_steps(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    a = session(mm, 1)
    send(a, {"type": "join", "mode": "arena"})
    room = mm.rooms()[0]
    clock.now += TICK
    assert room.tick() == 1  # the room's clock starts at its first tick
    clock.now += TICK * 3  # the loop was blocked for three periods
    assert room.tick() == 3
    assert room.ticks == 4
    assert room.stats.catchup_steps == 2
    assert conn(a).of_type("state")[-1]["tick"] == 4


def test_a_stall_longer_than_the_cap_skips_ahead(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    send(session(mm, 1), {"type": "join", "mode": "arena"})
    room = mm.rooms()[0]
    room.tick()
    clock.now += 10.0
    assert room.tick() == 5
    assert room.stats.dropped_steps == 195
    clock.now += TICK
    assert room.tick() == 1


def test_a_room_ticked_at_another_phase_than_its_creation_sends_a_state_every_tick(
    clock,
) -> None:
    """A room joins a timer group that ticks at the group's phase, not at the room's creation:
    its clock starts at the first tick, so jitter never makes it step twice then not at all."""
    room = Room("r", arena_spec(), seed=1, monotonic=clock)
    clock.now += TICK * 0.74  # the group's next run comes 0.74 periods after the room
    steps = [room.tick()]
    for early in (-0.004, 0.004, -0.003, 0.003, 0.0, -0.004, 0.004, -0.002):
        clock.now += TICK + early
        steps.append(room.tick())
    assert steps == [1] * 9


def test_timer_jitter_does_not_cause_empty_or_double_ticks(clock) -> None:
    room = Room("r", arena_spec(), seed=1, monotonic=clock)
    steps = []
    for early in (0.004, -0.004, 0.003, -0.002, 0.0, 0.004, -0.004):
        clock.now += TICK + early
        steps.append(room.tick())
    assert steps == [1] * 7


def test_moving_players_appear_in_moved_and_others_see_them(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    a, b = session(mm, 1, "ann"), session(mm, 2, "bob")
    send(a, {"type": "join", "mode": "arena"})
    send(b, {"type": "join", "mode": "arena"})
    send(a, {"type": "input", "seq": 1, "dx": 1, "dy": 1})
    start = view(b).players[a.player_id]
    x0, y0 = start.x, start.y
    scheduler.advance(TICK * 4)
    moved = [s["moved"] for s in conn(b).of_type("state") if "moved" in s]
    assert len(moved) >= 3 and all(m[0] == a.player_id for m in moved)
    seen = view(b).players[a.player_id]
    assert seen.x > x0 and seen.y > y0
    # b's replica matches a's own view and the server's game exactly
    server = {row[0]: row for row in mm.rooms()[0].game.world.full_state()["players"]}
    assert (seen.x, seen.y) == (server[a.player_id][2], server[a.player_id][3])
    assert (view(a).me_view.x, view(a).me_view.y) == (seen.x, seen.y)


# -- membership and matchmaking ----------------------------------------------------------------


def test_matchmaking_fills_the_fullest_open_room_then_creates_another(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler, max_players=2)
    sessions = [session(mm, i) for i in range(5)]
    for s in sessions:
        send(s, {"type": "join", "mode": "arena"})
    assert sorted(r.player_count for r in mm.rooms()) == [1, 2, 2]
    # Someone leaves the first room: the next player fills it rather than the half-empty one.
    send(sessions[0], {"type": "leave"})
    late = session(mm, 99)
    send(late, {"type": "join", "mode": "arena"})
    assert late.room is not None and late.room.id == "room0"


def test_each_room_gets_its_own_timer(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler, max_players=1)
    for i in range(3):
        send(session(mm, i), {"type": "join", "mode": "arena"})
    assert len([t for t in scheduler.active if t.interval]) == 3


def test_each_room_has_the_seats_and_rate_its_options_chose(clock, scheduler) -> None:
    """The arena's seats and rate are room options: the mode's defaults for quick play, a
    table's own when it is created with others, each ticked at its own rate."""
    mm = make_matchmaker(clock, scheduler, max_players=2, tick_rate=10)
    quick = [session(mm, i) for i in range(3)]
    for s in quick:
        send(s, {"type": "join", "mode": "arena"})
    assert sorted(r.player_count for r in mm.rooms()) == [1, 2]
    assert conn(quick[0]).of_type("joined")[0]["tick_rate"] == 10
    table = session(mm, 9)
    send(table, {"type": "create", "mode": "arena", "private": True,
                 "options": {"max_players": 5, "tick_rate": 40}})
    room = table.room
    assert room is not None and (room.max_players, room.tick_rate) == (5, 40)
    assert conn(table).of_type("joined")[0]["tick_rate"] == 40
    assert sorted(t.interval for t in scheduler.active if t.interval) == [0.025, 0.1, 0.1]
    over = session(mm, 10)
    send(over, {"type": "create", "mode": "arena", "options": {"tick_rate": 121}})
    assert [e["code"] for e in conn(over).of_type("error")] == ["out_of_range"]
    assert len(mm.rooms()) == 3


def test_join_by_room_id_and_its_refusals(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler, max_players=2)
    a, b, c = session(mm, 1), session(mm, 2), session(mm, 3)
    send(a, {"type": "join", "mode": "arena"})
    send(b, {"type": "join", "room": "room0"})
    assert b.room is a.room
    send(c, {"type": "join", "room": "room0"})
    send(c, {"type": "join", "room": "nope"})
    send(c, {"type": "join", "mode": "chess"})
    codes = [e["code"] for e in conn(c).of_type("error")]
    assert codes == ["room_full", "room_not_found", "unknown_mode"]
    assert "arena" in conn(c).of_type("error")[2]["message"]


def test_leave_answers_left_and_the_room_tells_the_others(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    a, b = session(mm, 1), session(mm, 2)
    send(a, {"type": "join", "mode": "arena"})
    send(b, {"type": "join", "mode": "arena"})
    scheduler.advance(TICK)
    gone_id = a.player_id
    send(a, {"type": "leave"})
    assert conn(a).of_type("left") == [{"type": "left", "room": "room0", "reason": "leave"}]
    assert a.room is None
    scheduler.advance(TICK)
    assert any(gone_id in s.get("gone", []) for s in conn(b).of_type("state"))
    # and a player can join again after leaving
    send(a, {"type": "join", "mode": "arena"})
    assert a.room is not None


def test_empty_rooms_are_disposed_after_the_grace_period(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler, empty_room_grace=10.0, resume_grace=5.0)
    a = session(mm, 1)
    send(a, {"type": "join", "mode": "arena"})
    a.disconnect()
    scheduler.advance(5.0)  # the dropped player's seat is held this long
    assert mm.rooms()[0].player_count == 0
    scheduler.advance(9.0)
    assert len(mm.rooms()) == 1
    scheduler.advance(1.5)
    assert mm.rooms() == []
    assert [t for t in scheduler.active if t.interval] == []  # its tick timer was stopped


def test_rejoining_within_the_grace_period_keeps_the_room(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler, empty_room_grace=10.0)
    a = session(mm, 1)
    send(a, {"type": "join", "mode": "arena"})
    send(a, {"type": "leave"})
    scheduler.advance(5.0)
    send(a, {"type": "join", "room": "room0"})
    scheduler.advance(20.0)
    assert [r.id for r in mm.rooms()] == ["room0"]


def test_results_are_reported_when_players_leave(clock, scheduler) -> None:
    results: list[tuple[int, int]] = []
    mm = make_matchmaker(clock, scheduler, on_result=lambda room, pairs: results.extend(
        (who.id, outcome.score) for who, outcome in pairs))
    a, b = session(mm, 42), session(mm, 43)
    send(a, {"type": "join", "mode": "arena"})
    send(b, {"type": "join", "mode": "arena"})
    scheduler.advance(TICK * 2)
    send(a, {"type": "leave"})
    assert results == [(42, 10)]
    b.disconnect()
    assert results == [(42, 10)]  # a dropped connection's seat is held first
    scheduler.advance(mm.resume_grace + 0.1)
    assert results == [(42, 10), (43, 10)]


# -- sessions: bad input ------------------------------------------------------------------------


def test_bad_messages_get_errors_and_the_session_stays_usable(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    a = session(mm, 1)
    a.handle("{nope")
    a.handle_binary()
    send(a, {"type": "input", "seq": 1, "dx": 0, "dy": 0})
    send(a, {"type": "chat", "text": "hi"})
    send(a, {"type": "leave"})
    send(a, {"type": "join", "mode": "arena"})
    send(a, {"type": "join", "mode": "arena"})
    send(a, {"type": "ping", "id": "x"})
    codes = [e["code"] for e in conn(a).of_type("error")]
    assert codes == ["bad_json", "binary_frame", "not_in_room", "not_in_room", "not_in_room",
                     "already_in_room"]
    assert conn(a).of_type("pong") == [{"type": "pong", "id": "x", "ts": 5000}]
    assert a.room is not None


def test_stale_input_is_ignored(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    a = session(mm, 1)
    send(a, {"type": "join", "mode": "arena"})
    send(a, {"type": "input", "seq": 10, "dx": 1, "dy": 0})
    send(a, {"type": "input", "seq": 9, "dx": -1, "dy": 0})
    joined_x = view(a).me_view.x
    scheduler.advance(TICK * 3)
    me = view(a).me_view
    assert me.seq == 10
    assert me.x > joined_x  # moved right, the stale "left" was ignored


def test_chat_reaches_the_whole_room(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    a, b = session(mm, 1, "ann"), session(mm, 2, "bob")
    send(a, {"type": "join", "mode": "arena"})
    send(b, {"type": "join", "mode": "arena"})
    send(a, {"type": "chat", "text": "<b>hi</b>"})
    expected = {"type": "chat", "player": 1, "name": "ann", "text": "<b>hi</b>"}
    assert conn(b).of_type("chat") == [expected]
    assert conn(a).of_type("chat") == [expected]


# -- containment --------------------------------------------------------------------------------


def exploding_spec():
    """The arena game, but its step raises."""
    base = arena_spec()

    def factory(room):
        play = base.factory(room)

        def boom(dt: float) -> None:
            raise RuntimeError("boom")

        play.on_step = boom
        return play

    return dataclasses.replace(base, name="boom", factory=factory)


def test_a_failing_game_closes_only_its_room(clock, scheduler, caplog) -> None:
    modes = {"arena": arena_spec(), "boom": exploding_spec()}
    mm = make_matchmaker(clock, scheduler, modes=modes)
    good, bad = session(mm, 1), session(mm, 2)
    send(good, {"type": "join", "mode": "arena"})
    send(bad, {"type": "join", "mode": "boom"})
    scheduler.advance(TICK * 3)
    assert "boom" in caplog.text
    assert [e["code"] for e in conn(bad).of_type("error")] == ["room_closed"]
    assert conn(bad).of_type("left")[0]["reason"] == "room_closed"
    assert bad.room is None
    assert [r.mode.name for r in mm.rooms()] == ["arena"]
    assert len(conn(good).of_type("state")) == 3
    # the player of the failed room can join another one
    send(bad, {"type": "join", "mode": "arena"})
    assert bad.room is good.room


def test_a_shutdown_removes_everyone_and_the_arena_reports_each_best(clock, scheduler) -> None:
    results: list[int] = []
    mm = make_matchmaker(clock, scheduler, max_players=1,
                         on_result=lambda room, pairs: results.extend(w.id for w, _ in pairs))
    players = [session(mm, i) for i in range(3)]
    for s in players:
        send(s, {"type": "join", "mode": "arena"})
    mm.terminate_all(10.0)  # the arena reports from on_terminate, not from departures
    assert mm.rooms() == [] and sorted(results) == [0, 1, 2]
    assert [conn(s).of_type("left")[-1]["reason"] for s in players] == ["server_closing"] * 3


def test_protocol_errors_from_the_matchmaker_have_codes(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    with pytest.raises(ProtocolError) as info:
        mm.join(Seat(1, "x"), room_id="missing")
    assert info.value.code is ErrorCode.ROOM_NOT_FOUND
    with pytest.raises(ProtocolError) as info:
        mm.resume(Seat(1, "x"), "no-such-token")
    assert info.value.code is ErrorCode.RESUME_FAILED
    with pytest.raises(ProtocolError) as info:
        mm.join(Seat(1, "x"), room_id="missing")
    assert info.value.code is ErrorCode.ROOM_NOT_FOUND


# -- limits -------------------------------------------------------------------------------------


def limited_session(mm: Matchmaker, clock: ManualClock, **limits: float) -> PlayerSession:
    from game_server.engine.limits import Limits

    return PlayerSession(FakeIdentity(1, "flood"), FakeConnection(), mm, wall=lambda: 5.0,
                         monotonic=clock, limits=Limits(**limits))


def test_a_flood_is_refused_with_rate_limited_once_a_second(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    s = limited_session(mm, clock, messages_per_second=10, message_burst=20)
    for i in range(50):
        send(s, {"type": "ping", "id": i})
    assert len(conn(s).of_type("pong")) == 20
    assert [e["code"] for e in conn(s).of_type("error")] == ["rate_limited"]
    assert mm.observer.counters.errors["rate_limited"] == 30
    clock.now += 1.0  # refilled: 10 more allowed, and a new notice when refused again
    for i in range(15):
        send(s, {"type": "ping", "id": i})
    assert len(conn(s).of_type("pong")) == 30
    assert len(conn(s).of_type("error")) == 2
    assert conn(s).closed is None


def test_chat_has_its_own_tighter_limit(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    s = limited_session(mm, clock, chats_per_second=1, chat_burst=3)
    send(s, {"type": "join", "mode": "arena"})
    for i in range(6):
        send(s, {"type": "chat", "text": f"spam {i}"})
    assert len(conn(s).of_type("chat")) == 3
    assert [e["code"] for e in conn(s).of_type("error")] == ["rate_limited"]
    send(s, {"type": "ping", "id": 1})  # other messages still flow
    assert conn(s).of_type("pong")


def test_persistent_flooding_closes_the_connection_with_1008(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    s = limited_session(mm, clock, messages_per_second=10, message_burst=10,
                        strikes_per_second=1, strike_burst=50)
    for i in range(59):
        send(s, {"type": "ping", "id": i})
    assert conn(s).closed is None
    for i in range(5):
        send(s, {"type": "ping", "id": i})
    assert conn(s).closed == (1008, "rate limit exceeded")


# -- slow readers -------------------------------------------------------------------------------


def test_a_slow_reader_skips_states_then_gets_a_full_resync(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler, max_backlog=1000, max_lag=10.0)
    fast, slow = session(mm, 1, "fast"), session(mm, 2, "slow")
    send(fast, {"type": "join", "mode": "arena"})
    send(slow, {"type": "join", "mode": "arena"})
    scheduler.advance(TICK)
    conn(slow).pending = 5000  # the client stopped reading: its stream holds 5 KB
    before = len(conn(slow).raw)
    scheduler.advance(TICK * 20)
    assert len(conn(slow).raw) == before  # nothing more queued for it
    assert len(conn(fast).of_type("state")) == 21  # the other player kept every tick
    conn(slow).pending = 0  # it caught up
    scheduler.advance(TICK)
    resync = conn(slow).messages[-1]
    assert resync["type"] == "state" and "full" in resync
    assert {row[0] for row in resync["full"]["players"]} == {1, 2}
    assert len(resync["full"]["pellets"]) == 360
    scheduler.advance(TICK)
    assert "full" not in conn(slow).messages[-1]  # back to deltas
    assert mm.rooms()[0].stats.resyncs == 1


def test_a_reader_that_stays_behind_is_closed_with_4002(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler, max_backlog=1000, max_lag=2.0)
    slow = session(mm, 2, "slow")
    send(slow, {"type": "join", "mode": "arena"})
    conn(slow).pending = 5000
    scheduler.advance(1.9)
    assert conn(slow).closed is None
    scheduler.advance(2 * LAG_CHECK_INTERVAL + TICK)  # lag is measured every LAG_CHECK_INTERVAL
    assert conn(slow).closed == (4002, "too slow: not reading")


def test_lag_is_time_behind_not_bytes_a_small_backlog_that_never_drains_is_closed(
    clock, scheduler
) -> None:
    # A client that stopped reading while the kernels still buffer for it: little waits in
    # the process (under max_backlog, so no state is skipped), but it has not moved for max_lag.
    mm = make_matchmaker(clock, scheduler, max_backlog=100_000, max_lag=2.0)
    slow, fine = session(mm, 1, "slow"), session(mm, 2, "fine")
    send(slow, {"type": "join", "mode": "arena"})
    send(fine, {"type": "join", "mode": "arena"})
    conn(slow).pending = 500
    conn(fine).pending = 500
    scheduler.advance(1.5)
    conn(fine).pending = 0  # this one caught up in time: its lag starts over (at a check)
    scheduler.advance(LAG_CHECK_INTERVAL + TICK)
    conn(fine).pending = 500
    scheduler.advance(0.9 + 2 * LAG_CHECK_INTERVAL)
    assert mm.rooms()[0].stats.states_skipped == 0
    assert conn(slow).closed == (4002, "too slow: not reading")
    assert conn(fine).closed is None


# -- resuming after a dropped connection --------------------------------------------------------


def test_a_dropped_player_resumes_the_same_seat_with_its_token(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler, resume_grace=15.0)
    a, watcher = session(mm, 1, "ann"), session(mm, 2, "bob")
    send(a, {"type": "join", "mode": "arena"})
    send(watcher, {"type": "join", "mode": "arena"})
    joined = conn(a).of_type("joined")[0]
    token = joined["resume"]
    send(a, {"type": "input", "seq": 3, "dx": 1, "dy": 0})
    scheduler.advance(TICK * 4)
    a.disconnect()
    room = mm.rooms()[0]
    assert room.player_count == 2 and room.holds(joined["player"])
    scheduler.advance(10.0)  # gone for 10 s: the seat is still there, halted
    again = session(mm, 1, "ann")
    send(again, {"type": "join", "resume": token})
    rejoined = conn(again).of_type("joined")[0]
    assert rejoined["player"] == joined["player"] and rejoined["room"] == joined["room"]
    me = [p for p in rejoined["state"]["players"] if p[0] == joined["player"]][0]
    assert me[5] == 3  # its processed seq survived: the client can keep counting
    assert again.room is room and not room.holds(joined["player"])
    scheduler.advance(20.0)  # the old expiry timer was cancelled
    assert room.player_count == 2


class _NoComebacks:
    """A game that never takes a dropped player back (`on_join_attempt` refuses resumes)."""

    def __init__(self, room: Any) -> None:
        self.left: list[int] = []

    def on_join_attempt(self, seat: Any, resuming: bool) -> str | None:
        return "no comebacks" if resuming else None

    def on_leave(self, player: int, consented: bool) -> None:
        self.left.append(player)

    def view(self, player: int) -> dict[str, Any]:
        return {}

    def changes(self) -> Changes:
        return Changes(shared={})


def test_a_resume_the_game_refuses_still_lets_the_seat_expire(clock, scheduler) -> None:
    spec = GameSpec(name="strict", factory=_NoComebacks, messages={}, clock=EventDriven())
    mm = make_matchmaker(clock, scheduler, resume_grace=15.0, modes={"strict": spec})
    a = session(mm, 1, "ann")
    send(a, {"type": "join", "mode": "strict"})
    joined = conn(a).of_type("joined")[0]
    a.disconnect()
    room = mm.rooms()[0]
    again = session(mm, 1, "ann")
    send(again, {"type": "join", "resume": joined["resume"]})
    assert conn(again).of_type("error")[0]["code"] == "resume_failed"
    assert room.holds(joined["player"])
    scheduler.advance(15.1)  # the grace ends: the held seat goes, and the game hears it
    assert not room.holds(joined["player"]) and room.game.left == [joined["player"]]


def test_resume_is_refused_after_the_grace_or_for_another_account(clock, scheduler) -> None:
    results: list[int] = []
    mm = make_matchmaker(clock, scheduler, resume_grace=15.0,
                         on_result=lambda room, pairs: results.extend(w.id for w, _ in pairs))
    a = session(mm, 1, "ann")
    send(a, {"type": "join", "mode": "arena"})
    token = conn(a).of_type("joined")[0]["resume"]
    a.disconnect()
    thief = session(mm, 666, "mallory")
    send(thief, {"type": "join", "resume": token})
    assert conn(thief).of_type("error")[0]["code"] == "resume_failed"
    scheduler.advance(15.1)
    assert results == [1]  # the seat expired and its result was saved
    late = session(mm, 1, "ann")
    send(late, {"type": "join", "resume": token})
    assert conn(late).of_type("error")[0]["code"] == "resume_failed"
    send(late, {"type": "join", "mode": "arena"})  # and can simply join again
    assert late.room is not None


def test_leaving_on_purpose_gives_up_the_seat_at_once(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler, resume_grace=15.0)
    a = session(mm, 1, "ann")
    send(a, {"type": "join", "mode": "arena"})
    token = conn(a).of_type("joined")[0]["resume"]
    send(a, {"type": "leave"})
    a.disconnect()
    again = session(mm, 1, "ann")
    send(again, {"type": "join", "resume": token})
    assert conn(again).of_type("error")[0]["code"] == "resume_failed"


def test_held_seats_count_toward_a_full_room(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler, max_players=2, resume_grace=15.0)
    a, b, c = session(mm, 1), session(mm, 2), session(mm, 3)
    send(a, {"type": "join", "mode": "arena"})
    send(b, {"type": "join", "mode": "arena"})
    a.disconnect()
    send(c, {"type": "join", "room": "room0"})
    assert conn(c).of_type("error")[0]["code"] == "room_full"


def test_churn_leaves_nothing_behind(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler, resume_grace=2.0)
    keeper = session(mm, 0, "keeper")  # keeps the room alive throughout
    send(keeper, {"type": "join", "mode": "arena"})
    room = mm.rooms()[0]
    for i in range(1, 301):
        s = session(mm, i)
        send(s, {"type": "join", "mode": "arena"})
        scheduler.advance(TICK)
        if i % 2:
            send(s, {"type": "leave"})
        else:
            s.disconnect()  # held for a resume, then expired
    scheduler.advance(mm.empty_room_grace + 3.0)  # held seats expire, spare rooms are disposed
    assert mm.rooms() == [room]
    assert room.player_count == 1
    assert len(room._members) == 1 and not room._held and not room._fanout.lagging
    assert len(mm._seats) == 1  # the keeper's own
    assert not mm._disposals
    assert room.game.world.player_count == 1


def test_inputs_wait_for_the_tick_and_the_highest_seq_counts(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    a = session(mm, 1, "ann")
    send(a, {"type": "join", "mode": "arena"})
    room, game = a.room, a.room.game.world
    scheduler.advance(TICK)  # its spawn is reported
    x0 = game._players[a.player_id].x
    send(a, {"type": "input", "seq": 5, "dx": 1.0, "dy": 0.0})
    send(a, {"type": "input", "seq": 3, "dx": -1.0, "dy": 0.0})  # older, arrived later
    assert game._players[a.player_id].seq == -1  # nothing reaches the game between ticks
    scheduler.advance(TICK)
    assert game._players[a.player_id].x > x0  # the seq 5 direction, not the later seq 3
    states = conn(a).of_type("state")
    assert states[-1]["acks"] == [a.player_id, 5]
    send(a, {"type": "input", "seq": 4, "dx": -1.0, "dy": 0.0})  # stale against the game
    scheduler.advance(TICK)
    assert game._players[a.player_id].seq == 5 and game._players[a.player_id].dx == 1.0
    assert not any(room._latest.values())  # nothing kept past its tick


def test_an_input_sent_just_before_a_drop_does_not_move_the_held_player(clock, scheduler) -> None:
    mm = make_matchmaker(clock, scheduler)
    a = session(mm, 1, "ann")
    send(a, {"type": "join", "mode": "arena"})
    room, player_id = a.room, a.player_id
    scheduler.advance(TICK)
    spot = (room.game.world._players[player_id].x, room.game.world._players[player_id].y)
    send(a, {"type": "input", "seq": 1, "dx": 1.0, "dy": 0.0})
    a.disconnect()  # the seat is held for a resume
    assert room.holds(player_id)
    scheduler.advance(TICK * 5)
    assert (room.game.world._players[player_id].x, room.game.world._players[player_id].y) == spot
