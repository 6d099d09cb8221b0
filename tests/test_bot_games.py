"""Bots playing the turn-based games over real servers: tic-tac-toe to the end (in process and
in a `python -m game_server --game arena_tictactoe:spec` subprocess), Liar's Dice to a winner
on the rating leaderboard, hidden dice at the wire, and the `client.bots` CLI for each mode."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from arena_tictactoe.bot import TicTacToePolicy
from tornado.httpclient import AsyncHTTPClient

from client.bots import Bot, run_bots
from client.policies import DicePolicy, view_of
from client.report import BotReport
from game_server.app import ArenaServer
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config, running
from tests.dice_views import _int_lists


async def get_json(url: str) -> Any:
    http = AsyncHTTPClient(force_instance=True)
    try:
        response = await http.fetch(url)
    finally:
        http.close()
    return orjson.loads(response.body)


async def leaderboard(url: str, mode: str, *, entries: int) -> list[dict[str, Any]]:
    """The mode's leaderboard once it has `entries` rows: results are written in the
    background, so a subprocess's may lag the match by a moment (bounded wait)."""
    async with asyncio.timeout(10):
        while True:
            board = (await get_json(f"{url}/api/leaderboard?mode={mode}"))["leaderboard"]
            if len(board) >= entries:
                return board
            await asyncio.sleep(0.05)


def check_tictactoe(report: BotReport, board: list[dict[str, Any]], matches: int) -> None:
    """Both bots finished `matches` matches each; the board counts them, and a winner's win."""
    assert report.ok, report.failures
    assert report.errors == {}
    assert report.matches == 2 * matches
    assert report.wins + report.draws // 2 == matches  # a draw is counted by both bots
    by_name = {row["name"]: row for row in board}
    assert set(by_name) == {s.name for s in report.bots}
    for stats in report.bots:
        assert stats.matches == matches
        assert by_name[stats.name]["played"] == matches
        if stats.wins:
            assert by_name[stats.name]["wins"] >= stats.wins


async def test_two_bots_play_tictactoe_to_the_end_and_again(server: ArenaServer) -> None:
    report = await run_bots(server.url, 2, 60.0, "tictactoe", "ttt", seed=1, matches=2)
    await server.results.drain()
    board = await leaderboard(server.url, "tictactoe", entries=2)
    check_tictactoe(report, board, matches=2)
    assert "matches:   4 finished" in report.format()
    assert "best mass" not in report.format()


async def test_tictactoe_loaded_with_game_plays_to_the_end_under_bots(tmp_path: Path) -> None:
    async with running(tmp_path, "--game", "arena_tictactoe:spec") as (_, url):
        modes = await get_json(f"{url}/api/modes")
        assert "tictactoe" in [mode["name"] for mode in modes["modes"]]
        report = await run_bots(url, 2, 60.0, "tictactoe", "cli-ttt", seed=2, matches=1)
        board = await leaderboard(url, "tictactoe", entries=2)
    check_tictactoe(report, board, matches=1)


async def test_four_dice_bots_play_a_match_to_a_rated_winner(server: ArenaServer) -> None:
    report = await run_bots(server.url, 4, 60.0, "dice", "dice", seed=3, matches=1,
                            options={"start_players": 4, "dice": 2})
    assert report.ok, report.failures
    assert report.errors == {}
    assert (report.matches, report.wins, report.draws) == (4, 1, 0)
    # Every challenge ended a round, and the match went on: each bot counted every round
    # (three players lost both their dice, the winner at most one) in the one room.
    assert {s.rounds for s in report.bots} in ({6}, {7})
    assert 0 < sum(s.round_wins for s in report.bots) < report.rounds  # one loser a round
    assert f"rounds:    {report.rounds} ended in the bots' matches" in report.format()
    winner = next(s.name for s in report.bots if s.wins)
    await server.results.drain()
    # all four sat at one table: one match, four placements, four ratings
    board = await leaderboard(server.url, "dice", entries=4)
    assert sorted(row["name"] for row in board) == sorted(s.name for s in report.bots)
    assert board[0]["name"] == winner and board[0]["rating"] > 1500


# -- hidden dice at the wire ----------------------------------------------------------------------


def check_frames_hide_dice(frames: list[str], me: int) -> int:
    """Fail if any frame one player received shows another player's dice before the reveal
    of their round. Frames are parsed one by one, in the order received: a list of integers
    may only be this player's own hand (`dice` in its view) or a hand inside a reveal of a
    round that has ended (a `reveal` message, or a view's `reveal` of an earlier round, or of
    the last round once the match is finished). Afterwards each own hand is checked against
    its round's reveal, and no other player's revealed hand may appear (as JSON) in any frame
    before its reveal, outside the places above. Returns the number of reveals seen."""
    reveals: dict[int, dict[int, list[int]]] = {}
    own: dict[int, list[int]] = {}
    before_reveal: list[tuple[int, bytes]] = []  # (round under way, the frame's other text)
    current = 0
    for raw in frames:
        msg = orjson.loads(raw)
        kind = msg["type"]
        view = view_of(msg)
        if view is not None and isinstance(view.get("round"), int):
            current = view["round"]
        found: list[tuple[tuple[Any, ...], list[int]]] = []
        _int_lists(msg, (), found)
        for path, values in found:
            hand = _revealed_hand(msg, kind, view, path, current)
            if hand is not None:
                round_, player, dice = hand
                assert reveals.setdefault(round_, {}).setdefault(player, dice) == dice
                continue
            own_path = ("state", "dice") if kind == "joined" else ("dice",)
            assert path == own_path and view is not None, f"dice at {path} in {kind}: {raw}"
            assert view.get("me") == me, f"a hand in a view that is not mine: {raw}"
            assert own.setdefault(current, values) == values, "my hand changed mid-round"
        rest = {k: v for k, v in (view or msg).items() if k not in ("dice", "reveal", "hands")}
        before_reveal.append((current, orjson.dumps(rest)))
    for round_, hand in own.items():
        if round_ in reveals:
            assert reveals[round_][me] == hand, f"round {round_}: my hand was not what I saw"
    for round_, text in before_reveal:
        for player, hand in reveals.get(round_, {}).items():
            if player != me:
                assert orjson.dumps(hand) not in text, f"{player}'s hand of round {round_}"
    return len(reveals)


def _revealed_hand(msg: dict[str, Any], kind: str, view: dict[str, Any] | None,
                   path: tuple[Any, ...], current: int) -> tuple[int, int, list[int]] | None:
    """(round, player, dice) when `path` is a hand inside a reveal that may be shown."""
    if len(path) < 3 or path[-3] != "hands" or path[-1] != "dice":
        return None
    container: Any = msg
    for key in path[:-3]:
        container = container[key]
    if kind == "reveal" and path[:-3] == ():
        ended = True  # the challenge that ends the round is what sends it
    elif view is not None and path[:-3] in (("reveal",), ("state", "reveal")):
        ended = container["round"] < current or view.get("status") == "finished"
    else:
        return None
    assert ended, f"the hands of round {container['round']}, still under way"
    entry = container["hands"][path[-2]]
    return container["round"], entry["player"], entry["dice"]


def test_the_wire_check_catches_a_hand_shown_too_early() -> None:
    joined = {"type": "joined", "player": 1,
              "state": {"status": "playing", "round": 1, "me": 1, "dice": [2, 5]}}
    shown = {"type": "state", "tick": 1, "ts": 0, "status": "playing", "round": 1, "me": 1,
             "dice": [2, 5], "others": {"2": [3, 3]}}
    reveal = {"type": "reveal", "round": 1, "hands": [{"player": 1, "dice": [2, 5]},
                                                      {"player": 2, "dice": [3, 3]}]}
    fine = [orjson.dumps(m).decode() for m in (joined, reveal)]
    assert check_frames_hide_dice(fine, me=1) == 1
    with pytest.raises(AssertionError, match="dice at"):
        check_frames_hide_dice([fine[0], orjson.dumps(shown).decode(), fine[1]], me=1)
    early = {"type": "state", "tick": 2, "ts": 0, "status": "playing", "round": 1,
             "reveal": {"round": 1, "hands": reveal["hands"]}}
    with pytest.raises(AssertionError, match="still under way"):
        check_frames_hide_dice([fine[0], orjson.dumps(early).decode()], me=1)
    mine_wrong = {**joined, "state": {**joined["state"], "dice": [4, 4]}}
    with pytest.raises(AssertionError, match="my hand"):
        check_frames_hide_dice([orjson.dumps(mine_wrong).decode(), fine[1]], me=1)


async def test_a_dice_player_receives_no_other_players_dice_before_a_reveal(
        server: ArenaServer, clients: list[Browserless]) -> None:
    """One player on a raw WebSocket plays a whole match with the dice policy against two
    bots; every frame it receives, as received, passes the wire check."""
    options = {"start_players": 3, "dice": 3}
    watcher = Browserless(server.url)
    clients.append(watcher)
    await watcher.guest("watcher")
    ws = await watcher.ws()
    ws.write_message(orjson.dumps({"type": "join", "mode": "dice", "options": options}))
    policy = DicePolicy(random.Random(4))
    frames: list[str] = []
    me = None
    bots = asyncio.create_task(run_bots(server.url, 2, 60.0, "dice", "hider", seed=4,
                                        matches=1, options=options))
    try:
        async with asyncio.timeout(60):
            while True:
                raw = await ws.read_message()
                assert isinstance(raw, str), f"the socket ended: {raw!r}"
                frames.append(raw)
                msg = orjson.loads(raw)
                if msg["type"] == "joined":
                    me = msg["player"]
                for answer in policy.on_message(msg):
                    ws.write_message(orjson.dumps(answer))
                if policy.finished is not None:  # the state after `game_over`
                    break
    finally:
        report = await bots
    assert report.ok, report.failures
    assert me is not None
    reveals = check_frames_hide_dice(frames, me)
    assert reveals >= 3 * 3 - 3  # a reveal per die lost: all but the winner's (1 to 3)
    assert any(orjson.loads(raw)["type"] == "game_over" for raw in frames)


# -- the command line ----------------------------------------------------------------------------


async def bots_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "client.bots", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("mode", ["dice", "tictactoe"])
async def test_bots_cli_plays_a_turn_based_mode(server: ArenaServer, mode: str) -> None:
    code, out, err = await bots_cli("--url", server.url, "--mode", mode, "--bots", "2",
                                    "--duration", "60", "--matches", "1",
                                    "--options", '{"dice": 2}' if mode == "dice" else "{}")
    assert code == 0, err
    assert err == ""
    assert f"2/2 connected, 2 joined (mode {mode}" in out
    assert "matches:   2 finished by the bots" in out and "errors:    none" in out


async def test_bots_cli_refuses_a_mode_without_a_policy_and_names_those_known() -> None:
    code, out, err = await bots_cli("--mode", "chess", "--bots", "1")
    assert code == 2 and out == ""
    assert "no bot policy for mode 'chess' (policies: arena, dice, lantern, tictactoe)" in err
    assert "--policy" in err
    code, _, err = await bots_cli("--mode", "chess", "--policy", "client.policies:Nope")
    assert code == 2 and "client.policies has no Nope" in err
    code, _, err = await bots_cli("--mode", "dice", "--options", "[1]")
    assert code == 2 and "expected a JSON object" in err


# -- a dropped bot takes its seat back --------------------------------------------------------


async def test_a_bot_dropped_mid_match_resumes_its_seat_and_finishes(tmp_path: Path) -> None:
    srv = ArenaServer(make_config(tmp_path, resume_grace=15.0), passwords=PasswordHasher(n=2**10))
    await srv.start()
    stop = asyncio.Event()
    try:
        loop = asyncio.get_running_loop()
        a, b = (Bot(f"seat-{n}", srv.url, "tictactoe", policy=TicTacToePolicy(random.Random(n)),
                    matches=1, rng=random.Random(n)) for n in (1, 2))
        deadline = loop.time() + 20.0
        runs = [asyncio.create_task(bot.run(stop, deadline)) for bot in (a, b)]
        async with asyncio.timeout(20):
            # the bots' own state, in this process: wait for the match to be under way
            while not (a.policy.view or {}).get("status") == "playing":  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        room = srv.matchmaker.rooms()[0].id
        assert a._socket is not None
        a._socket.close()  # the network drops: the server holds the seat
        stats = await asyncio.gather(*runs)
        await srv.results.drain()
        board = await srv.services.storage.top("tictactoe", "wins", 10)
    finally:
        stop.set()
        await srv.stop()
    for s in stats:
        assert s.failure is None and s.matches == 1, s
    assert (stats[0].reconnects, stats[0].resumes) == (1, 1)
    assert stats[1].reconnects == 0
    assert a.policy.view is not None and a.policy.view["status"] == "finished"
    # one match, with both in it: the dropped bot came back to the same room
    assert sorted((row["name"], row["played"]) for row in board) == [("seat-1", 1), ("seat-2", 1)]
    assert [r.id for r in srv.matchmaker.rooms()] in ([room], [])
