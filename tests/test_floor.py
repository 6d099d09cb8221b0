"""The floor benchmark: the load generator's frame parser, the floor server, and a tiny
`python -m bench.floor` run against both servers. These test the bench, not anyone's speed: no
timing thresholds."""

from __future__ import annotations

import asyncio
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.util import _websocket_mask
from tornado.websocket import WebSocketProtocol13, websocket_connect

from bench import floor, floor_report, loadgen, wsframes
from bench.floor_server import FIRST_TICK, Rooms, build_app, state_body, state_head
from bench.loadgen import LoadOptions, percentile, run_load
from bench.loadgen_login import guest_login, set_cookies, source_address
from bench.wsframes import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    FrameParser,
    ProtocolError,
    client_frame,
)
from game_server.transport.handoff import HandoffProtocol13

# Measures rates, timing or memory: runs alone, after the parallel part of `make test`.
pytestmark = pytest.mark.serial

REPO = Path(__file__).resolve().parent.parent


def server_frame(payload: bytes, opcode: int = OP_TEXT, fin: bool = True) -> bytes:
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes((b0, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", b0, 126, n) + payload
    return struct.pack("!BBQ", b0, 127, n) + payload


STATE = b'{"type":"state","tick":5,"ts":1700000000000,"moved":[[1,2,3,10,4]]}'
PONG = b'{"type":"pong","id":7,"ts":1700000000000}'


# -- the frame parser --------------------------------------------------------------------------


def test_states_are_counted_and_other_messages_returned():
    parser = FrameParser()
    out = parser.feed(server_frame(STATE) + server_frame(PONG) + server_frame(STATE))
    assert parser.states == 2
    assert out == [(OP_TEXT, PONG)]


def test_frames_split_at_every_byte_come_out_whole():
    big = b'{"type":"joined","pad":"' + b"x" * 300 + b'"}'  # a 16-bit length
    stream = server_frame(STATE) + server_frame(big) + server_frame(PONG) + server_frame(STATE)
    for cut in range(1, len(stream)):
        parser = FrameParser()
        out = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
        assert parser.states == 2, cut
        assert out == [(OP_TEXT, big), (OP_TEXT, PONG)], cut


def test_one_byte_at_a_time():
    stream = server_frame(STATE) + server_frame(PONG) + server_frame(b"", OP_CLOSE)
    parser = FrameParser()
    out = []
    for i in range(len(stream)):
        out += parser.feed(stream[i : i + 1])
    assert parser.states == 1
    assert out == [(OP_TEXT, PONG), (OP_CLOSE, b"")]


def test_16_and_64_bit_lengths():
    state = STATE[:-2] + b',"pad":"' + b"y" * 1000 + b'"}'
    huge = b'{"type":"x","pad":"' + b"z" * 70000 + b'"}'
    frames = server_frame(state) + server_frame(huge)
    assert frames[1] == 126
    assert frames[len(server_frame(state)) + 1] == 127
    parser = FrameParser()
    assert parser.feed(frames) == [(OP_TEXT, huge)]
    assert parser.states == 1


def test_close_ping_and_binary_frames():
    close = server_frame(struct.pack("!H", 1009) + b"message too big", OP_CLOSE)
    parser = FrameParser()
    out = parser.feed(server_frame(b"hi", OP_PING) + server_frame(b"\x00\x01", OP_BINARY) + close)
    assert out == [(OP_PING, b"hi"), (OP_BINARY, b"\x00\x01"),
                   (OP_CLOSE, struct.pack("!H", 1009) + b"message too big")]
    assert wsframes.close_code(out[-1][1]) == 1009
    assert wsframes.close_code(b"") is None


def test_fragments_are_reassembled_around_a_control_frame():
    parser = FrameParser()
    stream = (
        server_frame(STATE[:10], OP_TEXT, fin=False)
        + server_frame(b"ping", OP_PING)
        + server_frame(STATE[10:30], 0, fin=False)
        + server_frame(STATE[30:], 0, fin=True)
        + server_frame(PONG[:5], OP_TEXT, fin=False)
        + server_frame(PONG[5:], 0, fin=True)
    )
    assert parser.feed(stream) == [(OP_PING, b"ping"), (OP_TEXT, PONG)]
    assert parser.states == 1


def test_a_masked_or_orphan_frame_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        FrameParser().feed(bytes((0x81, 0x80 | 2)) + b"abcd" + b"hi")
    with pytest.raises(ProtocolError):
        FrameParser().feed(server_frame(b"tail", 0))


def test_a_state_with_other_key_order_is_returned_for_decoding():
    other = b'{"tick":5,"type":"state"}'
    parser = FrameParser()
    assert parser.feed(server_frame(other)) == [(OP_TEXT, other)]
    assert parser.states == 0


# -- client frames and small helpers -----------------------------------------------------------


@pytest.mark.parametrize("size", [0, 60, 125, 126, 300, 70000])
def test_client_frames_are_masked(size: int):
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    mask = b"\x01\x02\x03\x04"
    frame = client_frame(payload, mask)
    assert frame[0] == 0x81
    assert frame[1] & 0x80
    head = 2 if size < 126 else 4 if size < 65536 else 10
    assert frame[head : head + 4] == mask
    assert _websocket_mask(mask, frame[head + 4 :]) == payload


def test_source_addresses_round_robin_over_loopback():
    assert source_address("127.0.0.1", 0) == "127.0.0.2"
    assert source_address("127.0.0.1", 252) == "127.0.0.254"
    assert source_address("127.0.0.1", 253) == "127.0.0.2"
    assert source_address("example.org", 3) is None


def test_set_cookie_values_are_kept_as_set():
    head = (b"HTTP/1.1 200 OK\r\nSet-Cookie: _xsrf=2|ab|cd|1; Path=/\r\n"
            b'set-cookie: arena_session="2|1:0|10:17|x=="; HttpOnly')
    assert set_cookies(head) == {"_xsrf": "2|ab|cd|1", "arena_session": '"2|1:0|10:17|x=="'}


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0


# -- the floor server --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [120, 287, 460, 1000, 5000])
def test_floor_states_have_the_size_asked_for(size: int):
    payload = state_head(FIRST_TICK + 1, 1_732_480_000_123) + state_body(size)
    assert len(payload) == size
    assert orjson.loads(payload)["type"] == "state"
    assert payload.startswith(wsframes.STATE_PREFIX)


@pytest.fixture(params=["tornado", "wire"])
async def floor_url(request: pytest.FixtureRequest):
    rooms = Rooms(300, request.param)
    server = HTTPServer(build_app(rooms))
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    try:
        yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    finally:
        server.stop()
        for room in list(rooms.rooms.values()):
            room.stop()
        await server.close_all_connections()


async def test_floor_refuses_a_socket_without_a_session(floor_url: str):
    client = AsyncHTTPClient()
    request_headers = {"Connection": "Upgrade", "Upgrade": "websocket",
                       "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZQ=="}
    with pytest.raises(HTTPClientError) as caught:
        await client.fetch(floor_url + "/ws", headers=request_headers)
    assert caught.value.code == 401
    with pytest.raises(HTTPClientError) as caught:
        await client.fetch(floor_url + "/ws", headers={**request_headers,
                                                       "Cookie": "arena_session=forged"})
    assert caught.value.code == 401


async def test_loadgen_players_get_states_and_pongs_from_the_floor(floor_url: str):
    result = await run_load(
        LoadOptions(url=floor_url, players=6, seconds=2.5, warmup=0.5, seed=1), announce=False
    )
    assert result["joined"] == 6
    assert result["failures"] == 0, result["failure_kinds"]
    assert 10 <= result["states_per_player_second_min"] <= 30  # about the 20 Hz tick
    assert result["pongs"] > 0 and result["ping_p99_ms"] is not None
    assert result["bytes_received"] > 0
    assert result["cpu_percent"] is not None


async def test_each_data_path_keeps_its_own_protocol():
    """`tornado` is the bare floor: Tornado's stock protocol reads and its IOStream writes;
    `wire` hands the socket to Arena's asyncio protocol."""
    for data_path, expected in (("tornado", WebSocketProtocol13), ("wire", HandoffProtocol13)):
        rooms = Rooms(300, data_path)
        server = HTTPServer(build_app(rooms, cookie_secret="s" * 32))
        sockets = bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        try:
            cookie = await guest_login("127.0.0.1", port, None, "p")
            conn = await websocket_connect(HTTPRequest(
                f"ws://127.0.0.1:{port}/ws", headers={"Cookie": f"arena_session={cookie}"}))
            conn.write_message(orjson.dumps({"type": "join"}).decode())
            assert orjson.loads(await conn.read_message())["type"] == "joined"
            state = orjson.loads(await conn.read_message())
            assert state["type"] == "state"
            [member] = rooms.rooms[1].members
            assert type(member.ws_connection) is expected, data_path
            conn.close()
        finally:
            server.stop()
            for room in list(rooms.rooms.values()):
                room.stop()
            await server.close_all_connections()
    with pytest.raises(ValueError, match="not one of tornado, wire"):
        Rooms(300, "nginx")


async def test_loadgen_reports_a_refused_handshake(floor_url: str, monkeypatch):
    async def forged_login(*_args: object) -> str:
        return "forged"

    monkeypatch.setattr(loadgen, "guest_login", forged_login)
    result = await run_load(
        LoadOptions(url=floor_url, players=3, seconds=0.3, warmup=0.0), announce=False
    )
    assert result["joined"] == 0
    assert result["failure_kinds"] == {"handshake refused: HTTP 401": 3}


async def test_loadgen_opens_its_window_only_once_the_go_file_exists(
        floor_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    go = tmp_path / "go"
    task = asyncio.ensure_future(run_load(LoadOptions(
        url=floor_url, players=3, seconds=0.2, warmup=0.0, seed=1, go_file=go)))
    out = ""
    while "loadgen: ready" not in out:
        assert not task.done()
        await asyncio.sleep(0.02)
        out += capsys.readouterr().out
    await asyncio.sleep(0.5)  # longer than the window: without the wait it would be over
    out += capsys.readouterr().out
    assert "window open" not in out and not task.done()
    go.touch()
    result = await task
    out += capsys.readouterr().out
    assert out.index("ready") < out.index("window open") < out.index("window closed")
    assert result["joined"] == 3 and result["failures"] == 0, result["failure_kinds"]


async def test_a_go_file_that_never_comes_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ValueError, match="did not appear within"):
        await loadgen.wait_for_file(tmp_path / "never", 0.05)


# -- the whole comparison ----------------------------------------------------------------------


def run_floor(out: Path, *args: str) -> tuple[dict[str, Any], str]:
    """A tiny `python -m bench.floor` (20 players, 3 s windows) into `out`; its JSON report and
    its Markdown."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.floor", "--players", "20", "--seconds", "3",
         "--warmup", "1", "--rounds", "1", "--out", str(out), *args],
        cwd=REPO, capture_output=True, text=True, timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    reports = sorted(out.glob("*-floor.json"))
    assert len(reports) == 1
    return json.loads(reports[0].read_text()), reports[0].with_suffix(".md").read_text()


def assert_clean_run(run: dict[str, Any]) -> None:
    assert run["connected"] == 20, run
    assert run["failures"] == 0, run["failure_kinds"]
    assert 10 <= run["states_per_player_second_min"] <= 30, run  # about the tick rate
    assert run["pongs"] > 0, run
    assert run["cpu_us_per_player_second"] is not None
    assert run["loadgen_cpu_percent"] is not None


def test_floor_run_writes_the_report(tmp_path: Path):
    out = tmp_path / "results"
    report, markdown = run_floor(out, "--servers", "floor,arena")
    runs = report["runs"]
    assert report["config"]["mode"] == "alternating"
    # One unmeasured warm-up run of each server, then the measured round, Arena first.
    assert [(r["server"], bool(r.get("warm_up"))) for r in runs] == [
        ("arena", True), ("floor", True), ("arena", False), ("floor", False)]
    assert report["summary"][0]["arena"]["runs"] == 1  # the warm-up is not in the medians
    for run in runs:
        assert_clean_run(run)
        assert run["side_by_side"] is False
    # The floor's states are sized to what Arena sent in the run before.
    assert runs[1]["floor_state_bytes"] == round(runs[0]["state_bytes"])
    assert runs[3]["floor_state_bytes"] == round(runs[2]["state_bytes"])
    assert report["summary"][0]["ratios"]["arena/floor"] is not None
    assert report["rounds"] == []  # no side-by-side rounds
    assert "| 20 | arena / floor | **" in markdown
    assert "Reproduce: `python -m bench.floor" in markdown
    assert "one at a time" in markdown and "Each round (side by side)" not in markdown


def test_side_by_side_run_measures_both_servers_at_once(tmp_path: Path):
    out = tmp_path / "results"
    report, markdown = run_floor(out, "--servers", "arena,floor", "--side-by-side",
                       "--warm-runs", "0")
    assert report["config"]["mode"] == "side-by-side"
    runs = report["runs"]
    assert [r["server"] for r in runs] == ["arena", "floor"]
    for run in runs:
        assert_clean_run(run)
        assert run["side_by_side"] is True and run["round"] == 1
    assert runs[0]["group"] == runs[1]["group"]
    [row] = report["summary"]
    ratio = row["ratios"]["arena/floor"]
    assert ratio == round(runs[0]["cpu_us_per_player_second"]
                          / runs[1]["cpu_us_per_player_second"], 3)
    assert row["round_ratios"] == {"arena/floor": [ratio]}
    [shared] = report["rounds"]
    assert shared["ratios"] == {"arena/floor": ratio}
    assert shared["cpu0_percent"] == round(
        runs[0]["server_cpu_percent"] + runs[1]["server_cpu_percent"], 1)
    assert f"arena {runs[0]['cpu_us_per_player_second']:,.0f} µs (" in report["headline"][0]
    assert f"arena/floor {ratio:.2f}x" in report["headline"][1]
    assert "side by side: each round starts" in markdown
    assert "## Each round (side by side)" in markdown and "arena / floor" in markdown


def _run(server: str, round_no: int, cpu: float, **more: object) -> dict[str, Any]:
    return {"server": server, "players": 400, "round": round_no,
            "cpu_us_per_player_second": cpu, "failures": 0, **more}


def test_summary_takes_medians_and_pairs_rounds():
    runs = [_run("arena", 1, 900.0), _run("floor", 1, 600.0),
            _run("arena", 2, 700.0), _run("floor", 2, 700.0),
            _run("arena", 0, 5000.0, profiled=True), _run("floor", 0, 1.0, warm_up=True)]
    [row] = floor_report.summarize(runs)
    assert row["servers"] == ["arena", "floor"]
    assert row["arena"]["cpu_us_per_player_second"] == 800.0
    assert row["floor"]["cpu_us_per_player_second"] == 650.0
    assert row["ratios"] == {"arena/floor": round(800 / 650, 3)}
    assert row["round_ratios"] == {"arena/floor": [1.5, 1.0]}
    servers, ratios = floor_report.headline_lines([row])
    assert "arena 800 µs (ping p99" in servers and "floor 650 µs (ping p99" in servers
    assert ratios == ("400 players, ratios of the medians: arena/floor 1.23x (each round 1.50, "
                      "1.00; median 1.25x)")


def test_every_arena_is_compared_with_every_floor_and_the_baseline():
    runs = [_run(kind, round_no, cpu)
            for round_no in (1, 2)
            for kind, cpu in (("arena", 500.0), ("arena-baseline", 400.0), ("floor", 625.0),
                              ("floor-wire", 250.0 * round_no))]
    [row] = floor_report.summarize(runs)
    assert row["servers"] == ["arena", "arena-baseline", "floor", "floor-wire"]
    assert row["ratios"] == {"arena/floor": 0.8, "arena/floor-wire": round(500 / 375, 3),
                             "arena-baseline/floor": 0.64,
                             "arena-baseline/floor-wire": round(400 / 375, 3),
                             "arena/arena-baseline": 1.25}
    assert row["round_ratios"]["arena/floor-wire"] == [2.0, 1.0]
    assert row["round_ratios"]["arena/arena-baseline"] == [1.25, 1.25]
    for run in runs:
        run.update(group=run["round"], side_by_side=True, server_cpu_percent=20.0)
    rounds = floor_report.shared_rounds(runs)
    assert [r["ratios"]["arena/floor-wire"] for r in rounds] == [2.0, 1.0]
    assert [r["contended"] for r in rounds] == [False, False]  # 80% of CPU 0


def test_side_by_side_rounds_warn_when_the_servers_competed_for_the_cpu():
    def together(group: int, round_no: int, cpus: tuple[float, float]) -> list[dict]:
        return [_run(kind, round_no, cpu_us, group=group, side_by_side=True,
                     server_cpu_percent=percent)
                for kind, cpu_us, percent in zip(("arena", "floor"), (420.0, 600.0),
                                                 cpus, strict=True)]

    runs = [*together(1, 0, (50.0, 50.0)),  # a warm-up: not a measured round
            *together(2, 1, (50.0, 30.0)), *together(3, 2, (50.0, 40.0))]
    for run in runs[:2]:
        run["warm_up"] = True
    rounds = floor_report.shared_rounds(runs)
    assert [(r["round"], r["cpu0_percent"], r["contended"]) for r in rounds] == [
        (1, 80.0, False), (2, 90.0, True)]
    assert rounds[0]["ratios"] == {"arena/floor": 0.7}
    lines = floor_report.headline_lines(floor_report.summarize(runs), rounds)
    assert [line for line in lines if line.startswith("warning")] == [
        "warning: 400 players round 2: the servers used 90.0% of CPU 0 together (over 85% of "
        "a core), so they competed for it: these figures are not clean"]


def test_plan_for_both_servers_mirrors_every_other_round():
    assert floor.plan(floor.Options(players=[8, 4], rounds=2)) == [
        (("arena",), 4, 1), (("floor",), 4, 1),
        (("arena",), 8, 1), (("floor",), 8, 1),
        (("floor",), 8, 2), (("arena",), 8, 2),
        (("floor",), 4, 2), (("arena",), 4, 2)]


def test_plan_side_by_side_runs_every_server_of_a_round_together():
    options = floor.Options(players=[8, 4], rounds=3, side_by_side=True,
                            servers=("arena", "floor"))
    assert floor.plan(options) == [
        (("arena", "floor"), 4, 1), (("arena", "floor"), 8, 1),
        (("floor", "arena"), 8, 2), (("floor", "arena"), 4, 2),
        (("arena", "floor"), 4, 3), (("arena", "floor"), 8, 3)]


@pytest.mark.parametrize("argv, message", [
    (["--servers", "arena,nginx"], "--servers takes each of"),
    (["--servers", "floor,floor"], "--servers takes each of"),
    (["--servers", "floor", "--side-by-side"], "--side-by-side needs at least two"),
    (["--servers", "floor", "--profile"], "--profile profiles Arena"),
    (["--servers", "arena,arena-baseline"], "arena-baseline in --servers and --baseline DIR"),
    (["--baseline", "."], "arena-baseline in --servers and --baseline DIR"),
    (["--servers", "arena,arena-baseline", "--baseline", "/nonexistent"], "no .venv/bin/python"),
    (["--baseline-args", "--ws-transport protocol"], "--baseline-args needs --baseline"),
    (["--servers", "arena,arena-baseline", "--baseline", ".", "--baseline-args", "'open"],
     "--baseline-args: "),
])
def test_bad_server_choices_are_clear_errors(argv: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        floor.parse_args(argv)
    assert message in capsys.readouterr().err


def test_servers_run_arena_first_whatever_the_order_given():
    assert floor.parse_args(["--servers", "floor,arena"]).server_list == ("arena", "floor")
    assert floor.parse_args(["--servers", "floor-wire,floor,arena"]).server_list == (
        "arena", "floor", "floor-wire")


@pytest.fixture
def second_checkout(tmp_path: Path):
    """A `git worktree` of HEAD sharing this checkout's .venv: `-m game_server` run in it
    imports its own copy of the code (the working directory comes first on sys.path)."""
    checkout = tmp_path / "base"
    subprocess.run(["git", "worktree", "add", "--detach", str(checkout), "HEAD"], cwd=REPO,
                   check=True, capture_output=True, timeout=60)
    try:
        (checkout / ".venv").symlink_to(REPO / ".venv")
        yield checkout
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=REPO,
                       check=True, capture_output=True, timeout=60)


def test_baseline_runs_the_arena_of_another_checkout(tmp_path: Path, second_checkout: Path):
    # A flag only the baseline gets: the baseline's server must take it and run.
    report, markdown = run_floor(
        tmp_path / "results", "--servers", "arena,arena-baseline,floor", "--side-by-side",
        "--warm-runs", "0", "--baseline", str(second_checkout),
        "--baseline-args", "--empty-room-grace 7")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=second_checkout,
                          capture_output=True, text=True, check=True).stdout.strip()
    assert report["config"]["baseline"] == {"dir": str(second_checkout.resolve()),
                                            "commit": head, "args": ["--empty-room-grace", "7"]}
    runs = report["runs"]
    assert [r["server"] for r in runs] == ["arena", "arena-baseline", "floor"]
    for run in runs:
        assert_clean_run(run)
    [row] = report["summary"]
    cpu = {r["server"]: r["cpu_us_per_player_second"] for r in runs}
    assert row["ratios"] == {
        "arena/floor": round(cpu["arena"] / cpu["floor"], 3),
        "arena-baseline/floor": round(cpu["arena-baseline"] / cpu["floor"], 3),
        "arena/arena-baseline": round(cpu["arena"] / cpu["arena-baseline"], 3),
    }
    assert "arena/arena-baseline" in report["headline"][1]
    assert f"`arena-baseline`: the Arena of another checkout, `{second_checkout.resolve()}` at " \
           f"{head}" in markdown
    assert "| 20 | arena / arena-baseline | **" in markdown
