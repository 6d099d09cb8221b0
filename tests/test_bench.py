"""The benchmarks: locust against a test server, a short capacity run, and their pure helpers.

These test the bench, not the server's speed: no timing thresholds. locust runs on gevent, so it
only ever runs in a subprocess (importing it here would monkey-patch this test process).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench import capacity, redis_proc, sampling
from bench.broadcast import realistic_state
from bench.capacity_report import (
    Snapshot,
    render_markdown,
    step_holds,
    summarize_step,
)
from bench.capacity_search import headline, headline_text
from bench.capacity_split import WorkerPoint, WorkerReading, merge_metrics, redirects, split_text
from bench.locust_csv import percentile, read_locust_failures, read_locust_stats
from bench.procs import pinning
from bench.prom import (
    bucket_delta,
    histogram_buckets,
    histogram_quantile,
    metric_total,
    parse_prometheus,
)
from bench.sampling import ProcStat, parse_proc_stat, parse_rss_bytes
from game_server.app import ArenaServer
from tests.conftest import run_locust

# Measures rates, timing or memory: runs alone, after the parallel part of `make test`.
pytestmark = pytest.mark.serial

REPO = Path(__file__).resolve().parent.parent


# -- locust against a real server ---------------------------------------------------------------


async def test_locust_players_receive_states_and_pongs(server: ArenaServer, tmp_path: Path):
    log, stats, failures, code = await run_locust(server.url, 5, 6, tmp_path / "smoke")
    assert stats["WS connect+join"]["Request Count"] == 5, log
    assert stats["state latency"]["Request Count"] > 0, log
    assert stats["pong"]["Request Count"] > 0, log
    assert stats["states per user-second"]["Request Count"] > 0, log
    assert stats["Aggregated"]["Failure Count"] == 0, failures
    assert failures == []
    assert code == 0, log


async def test_locust_dice_players_play_matches_and_nothing_else(server: ArenaServer,
                                                                 tmp_path: Path):
    log, stats, failures, code = await run_locust(
        server.url, 4, 8, tmp_path / "dice", "--arena-mode", "dice",
        "--arena-options", '{"dice": 2}')
    assert stats["WS connect+join"]["Request Count"] == 4, log
    assert stats["dice match"]["Request Count"] >= 2, log  # both players of a finished match
    assert stats["dice move"]["Request Count"] > 0, log
    assert stats["WS rejoin"]["Request Count"] > 0, log  # and they joined again
    assert stats["pong"]["Request Count"] > 0, log
    assert "state latency" not in stats and "states per user-second" not in stats  # no arena
    assert stats["Aggregated"]["Failure Count"] == 0, failures
    assert failures == []
    assert code == 0, log
    await server.results.drain()
    board = await server.services.storage.top("dice", "rating", 10)
    assert len(board) >= 2 and board[0]["rating"] > 1500


def test_capacity_run_writes_json_markdown_and_plot(tmp_path: Path):
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench.capacity", "--steps", "5", "--step-seconds", "3",
         "--settle", "1", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    reports = list(out.glob("*-capacity.json"))
    assert len(reports) == 1, list(out.iterdir())
    stem = reports[0].with_suffix("")
    assert stem.with_suffix(".md").read_text().startswith("# Arena capacity")
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads(reports[0].read_text())
    assert report["machine"]["cores"] >= 1
    [step] = report["steps"]
    assert step["users"] == 5
    assert step["connected"] == 5, step
    assert step["states_per_second"] > 0, step
    assert "[1/1] 5 users: connected 5" in done.stdout
    # One step is never a capacity: it held (and was the largest tried), or it did not.
    assert ("Held every step up to 5 players (the largest tried)" in done.stdout
            or "No step held" in done.stdout), done.stdout


def _need_redis_server() -> None:
    if redis_proc.find_redis_server() is None:
        message = f"redis-server is not installed: {redis_proc.INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def test_capacity_run_with_two_server_processes(tmp_path: Path):
    """`--processes 2`: two workers on one port and a private Redis; the report splits each
    step's players and CPU across the workers, and the total is the whole process tree."""
    _need_redis_server()
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench.capacity", "--processes", "2", "--steps", "4,8",
         "--step-seconds", "3", "--settle", "1", "--mode-option", "arena.max_players=4", "--out",
         str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    [path] = out.glob("*-capacity.json")
    report = json.loads(path.read_text())
    assert report["config"]["processes"] == 2, report["config"]
    assert report["config"]["max_players"] == 4  # the arena as the server ran it
    assert report["config"]["redis"].startswith("redis-server")
    assert report["headline"]["server_processes"] == 2
    assert [s["users"] for s in report["steps"]] == [4, 8], output
    for step in report["steps"]:
        workers = step["workers"]
        assert len(workers) == 2, step
        assert all(w["pid"] for w in workers) and workers[0]["pid"] != workers[1]["pid"]
        assert workers[0]["url"] != workers[1]["url"]
        # Each worker's players, read from its own /metrics, add up to the step's.
        assert step["connected"] is not None, step
        assert sum(w["players"] for w in workers) == step["connected"], step
        # The server's CPU is its whole tree: the forking parent and the two workers.
        assert step["server_cpu_seconds"] == pytest.approx(
            sum(w["cpu_seconds"] for w in workers) + step["server_parent_cpu_seconds"], abs=1e-6
        ), step
        assert step["server_cpu_seconds"] > 0, step
        assert step["split"].endswith(" CPU") and " players, " in step["split"], step
        # Every join by mode was placed through Redis, here or by a redirect.
        placed = step["placements"]
        assert placed is not None and placed["here"] + placed["redirected"] >= step["users"]
        # Needs the locustfile to follow `redirect`s: a redirected user that does not never
        # gets `joined` (it fails with "no joined in time") and is not connected.
        assert step["connected"] == step["users"], step
        assert step["failures"] == 0, step["failure_kinds"]
    markdown = path.with_suffix(".md").read_text()
    assert "2 server processes sharing one port" in markdown
    assert "split across workers" in markdown
    assert path.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The verdict names the processes; whether 4 players overran this busy shared machine's
    # ticks (a knee) or not is the machine's load, not the benchmark's behaviour.
    assert re.search(r"(Held every step up to 8 players \(the largest tried\)|Knee between "
                     r"\d+ and \d+ players) on 2 server processes", done.stdout), output


def test_capacity_with_processes_says_how_to_install_redis(monkeypatch, capsys, tmp_path: Path):
    monkeypatch.setattr(redis_proc, "find_redis_server", lambda: None)
    assert capacity.main(["--processes", "2", "--steps", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "redis-server" in err and "apt-get install -y redis-server" in err
    assert list(tmp_path.iterdir()) == []


def test_broadcast_runs_and_compares_with_the_floor():
    done = subprocess.run(
        [sys.executable, "-m", "bench.broadcast", "-n", "20", "--rounds", "5", "--repeats", "1",
         "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["connections"] == 20
    assert result["server_path_cpu_us"] > 0 and result["floor_cpu_us"] > 0
    assert "x the floor" in done.stdout


def test_probe_times_functions_inside_the_servers_a_command_starts(tmp_path: Path):
    from bench.probe import collect
    message = "game_server.games.contract:RoomRules.message"
    tick = "game_server.engine.room_clock:RoomClock.tick"
    done = subprocess.run(
        [sys.executable, "-m", "bench.probe", "--out", str(tmp_path / "probe"),
         "--function", message, "--function", tick, "--function", "game_server.nosuch:f",
         "--", "-m", "bench.floor", "--players", "10", "--servers", "arena",
         "--rounds", "1", "--seconds", "2", "--warm-runs", "0", "--warmup", "1", "--no-pin",
         "--out", str(tmp_path / "floor")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (server,) = collect(tmp_path / "probe").values()  # the game server, not its load generator
    assert server["processes"] == 1 and server["absent"] == ["game_server.nosuch:f"]
    # Ten players sending ten inputs a second for the 2 s window and more: every one timed.
    assert server["functions"][message]["calls"] >= 100
    assert server["functions"][message]["seconds"] > 0
    assert server["functions"][tick]["calls"] >= 40  # 20 ticks a second
    assert f"{message}: [0] " in done.stdout and "[0] has no game_server.nosuch:f" in done.stdout


def test_realistic_state_is_an_encoded_state_of_about_the_size_asked():
    data = realistic_state(290)
    msg = json.loads(data)
    assert msg["type"] == "state" and isinstance(msg["ts"], int)
    assert 200 <= len(data) <= 290
    assert msg["moved"]


# -- the locust player's wire helpers (bench.locust_wire; in a subprocess, away from gevent) --


def test_locustfile_helpers():
    script = textwrap.dedent(
        """
        import struct
        from bench.locust_wire import (
            FrameReader, session_cookie, source_address, websocket_url,
            close_code as _close_code,
        )

        def frame(opcode, payload, fin=True):
            n = len(payload)
            head = bytes([(0x80 if fin else 0) | opcode])
            if n < 126:
                head += bytes([n])
            elif n < 65536:
                head += bytes([126]) + struct.pack("!H", n)
            else:
                head += bytes([127]) + struct.pack("!Q", n)
            return head + payload

        big = b"x" * 300
        huge = b"y" * 70000
        stream = (frame(1, b'{"type":"state","tick":1,"ts":5}') + frame(9, b"hi")
                  + frame(1, big) + frame(1, b"ab", fin=False) + frame(10, b"")
                  + frame(0, b"cd", fin=False) + frame(0, b"ef") + frame(2, huge)
                  + frame(8, struct.pack("!H", 1001)))
        want = [(1, b'{"type":"state","tick":1,"ts":5}'), (9, b"hi"), (1, big), (10, b""),
                (1, b"abcdef"), (2, huge), (8, struct.pack("!H", 1001))]
        assert FrameReader().feed(stream) == want
        for cut in range(0, len(stream), 7):  # any split between two recv()s
            reader = FrameReader()
            assert reader.feed(stream[:cut]) + reader.feed(stream[cut:]) == want, cut
        reader = FrameReader()
        got = []
        for i in range(0, 400):
            got += reader.feed(stream[i:i + 1])
        got += reader.feed(stream[400:])
        assert got == want
        try:
            FrameReader().feed(bytes([0x81, 0x81, 0, 0, 0, 0, 0]))
        except ValueError:
            pass
        else:
            raise AssertionError("a masked server frame must be refused")
        assert _close_code(struct.pack("!H", 4001) + b"bye") == 4001
        assert _close_code(b"") == 1005

        assert session_cookie([
            '_xsrf=2|ab|cd|12; Path=/',
            'arena_session="2|1:0|10:17|13:arena_session|8:YWJj|ff=="; HttpOnly; Path=/',
        ]) == '"2|1:0|10:17|13:arena_session|8:YWJj|ff=="'
        assert session_cookie(["_xsrf=1; Path=/"]) is None
        assert websocket_url("http://127.0.0.1:8888") == "ws://127.0.0.1:8888/ws"
        assert websocket_url("https://example.test/game/") == "wss://example.test/game/ws"
        assert source_address("127.0.0.1", 0) == "127.0.0.2"
        assert source_address("127.0.0.1", 250) == "127.0.0.2"
        assert source_address("10.1.2.3", 5) is None
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("ok")


# -- capacity's pure helpers ----------------------------------------------------------------------

STATS_CSV = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,\
90%,95%,98%,99%,99.9%,99.99%,100%
WS,pong,227,0,0.12,0.65,0.12,13.28,0.0,25.19,0.0,0,0,0,0,1,1,7,11,13,13,13
WS,state latency,4776,0,1,1.39,0.12,7.99,387.3,530.1,0.0,1,2,2,2,2,2,3,3,8,8,8
WS,WS connect+join,30,2,12,12.39,9.04,20.24,0.0,3.33,0.0,12,13,13,14,15,18,20,20,20,20,20
WS,states per user-second,227,0,20,20.13,19.96,22.2,19.85,25.19,0.0,20,20,20,20,21,21,21,22,22,22,22
WS,never,0,0,0,0,0,0,0,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A
,Aggregated,5260,2,1,2.35,0.12,24.72,359.52,590.58,0.0,1,2,2,2,3,13,20,20,22,25,25
"""


def test_percentiles_from_locust_csv(tmp_path: Path):
    path = tmp_path / "run_stats.csv"
    path.write_text(STATS_CSV)
    stats = read_locust_stats(path)
    assert percentile(stats["state latency"], "99%") == 3
    assert percentile(stats["state latency"], "50%") == 1
    assert percentile(stats["pong"], "99%") == 11
    assert percentile(stats["never"], "99%") is None  # no samples, "N/A"
    assert percentile(stats.get("missing"), "99%") is None
    assert stats["Aggregated"]["Failure Count"] == 2

    failures = tmp_path / "run_failures.csv"
    failures.write_text(
        "Method,Name,Error,Occurrences\n"
        'WS,WS connect+join,"ConnectionClosed(\'handshake refused: HTTP 429\')",2\n'
    )
    assert read_locust_failures(failures) == [{
        "method": "WS", "name": "WS connect+join",
        "error": "ConnectionClosed('handshake refused: HTTP 429')", "occurrences": 2,
    }]
    assert read_locust_failures(tmp_path / "absent.csv") == []


def test_proc_parsing():
    stat = "4242 (python -m (x) y) S 4200 4242 4242 0 -1 4194560 1 0 0 0 150 37 0 0 20 0 3 0"
    assert parse_proc_stat(stat) == ProcStat(pid=4242, ppid=4200, utime=150, stime=37)
    assert parse_proc_stat(stat).cpu_ticks == 187
    status = "Name:\tpython\nVmPeak:\t  9000 kB\nVmRSS:\t   34512 kB\nThreads:\t3\n"
    assert parse_rss_bytes(status) == 34512 * 1024
    assert parse_rss_bytes("Name:\tzombie\nState:\tZ (zombie)\n") is None


def test_proc_of_this_process():
    stat = sampling.proc_stat(__import__("os").getpid())
    assert stat is not None and stat.cpu_ticks > 0
    assert sampling.proc_rss(__import__("os").getpid()) > 0
    assert __import__("os").getpid() in sampling.process_tree(__import__("os").getpid())


METRICS = """\
# HELP arena_players_connected Open game sockets (connected players, in a room or not)
# TYPE arena_players_connected gauge
arena_players_connected 40.0
# TYPE arena_ticks_total counter
arena_ticks_total 1000.0
arena_ticks_overrun_total 5.0
arena_state_bytes_sent_total 3.967767e+06
arena_errors_total{code="bad_field"} 3.0
arena_errors_total{code="not_in_room"} 2.0
arena_connections_refused_total{reason="ip_limit"} 7.0
# TYPE arena_tick_duration_seconds histogram
arena_tick_duration_seconds_bucket{le="0.001"} 500.0
arena_tick_duration_seconds_bucket{le="0.002"} 900.0
arena_tick_duration_seconds_bucket{le="0.005"} 990.0
arena_tick_duration_seconds_bucket{le="0.1"} 1000.0
arena_tick_duration_seconds_bucket{le="+Inf"} 1000.0
arena_tick_duration_seconds_count 1000.0
arena_tick_duration_seconds_sum 1.5
arena_tick_duration_seconds_created 1.7955568581953013e+09
arena_http_request_duration_seconds_bucket{le="0.01",route="/api/guest"} 3.0
arena_http_request_duration_seconds_bucket{le="+Inf",route="/api/guest"} 4.0
arena_http_request_duration_seconds_bucket{route="/login",le="0.01"} 1.0
arena_http_request_duration_seconds_bucket{route="/login",le="+Inf"} 1.0
odd_label{path="a\\"b\\\\c",x="1"} 2 1700000000000
"""


def test_prometheus_text_parsing():
    m = parse_prometheus(METRICS)
    assert metric_total(m, "arena_players_connected") == 40
    assert metric_total(m, "arena_errors_total") == 5
    assert metric_total(m, "arena_errors_total", code="bad_field") == 3
    assert metric_total(m, "arena_errors_total", code="nope") is None
    assert metric_total(m, "arena_connections_refused_total", reason="ip_limit") == 7
    assert metric_total(m, "arena_state_bytes_sent_total") == 3967767
    assert metric_total(m, "absent") is None
    assert metric_total(None, "arena_players_connected") is None
    assert m["odd_label"] == [({"path": 'a"b\\c', "x": "1"}, 2.0)]
    assert histogram_buckets(m, "arena_tick_duration_seconds") == [
        (0.001, 500.0), (0.002, 900.0), (0.005, 990.0), (0.1, 1000.0), (math.inf, 1000.0)
    ]
    # Summed over the other labels (route), by bound.
    assert histogram_buckets(m, "arena_http_request_duration_seconds") == [
        (0.01, 4.0), (math.inf, 5.0)
    ]


def test_histogram_quantile_and_deltas():
    buckets = [(0.001, 500.0), (0.002, 900.0), (0.005, 990.0), (0.1, 1000.0), (math.inf, 1000.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.001)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.005)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.0015)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.0005)
    # Past the last finite bound: the bound itself (what Prometheus answers).
    assert histogram_quantile(0.99, [(0.1, 10.0), (math.inf, 20.0)]) == pytest.approx(0.1)
    assert histogram_quantile(0.99, [(0.1, 0.0), (math.inf, 0.0)]) is None
    assert histogram_quantile(0.99, []) is None
    before = [(0.001, 100.0), (0.01, 150.0), (math.inf, 150.0)]
    after = [(0.001, 300.0), (0.01, 350.0), (math.inf, 360.0)]
    assert bucket_delta(after, before) == [(0.001, 200.0), (0.01, 200.0), (math.inf, 210.0)]


def _step(users: int, **values: object) -> dict[str, object]:
    step: dict[str, object] = {
        "users": users, "connected": users, "latency_p99_ms": 20.0, "overrun_fraction": 0.0,
        "server_cpu_percent": 10.0, "cpu_seconds_per_player_second": 0.0008,
        "cpu_us_per_player_second": 800.0,
    }
    step.update(values)
    return step


def test_the_headline_rule():
    assert step_holds(_step(50))
    assert not step_holds(_step(50, connected=49))
    assert not step_holds(_step(50, connected=None))
    assert not step_holds(_step(50, latency_p99_ms=100.0))
    assert not step_holds(_step(50, latency_p99_ms=None))
    assert not step_holds(_step(50, overrun_fraction=0.01))
    assert step_holds(_step(50, overrun_fraction=0.0099))
    assert step_holds(_step(50, overrun_fraction=None))  # a server without /metrics

    steps = [_step(50), _step(100), _step(200, latency_p99_ms=150.0), _step(400),
             _step(800, connected=700, loadgen_busy=True)]
    head = headline(steps)
    assert head["users"] == 400  # the largest step that holds, even after one that did not
    assert head["cpu_us_per_player_second"] == 800.0
    assert head["loadgen_busy_at"] == [800]
    text = headline_text(head)
    # 200 failed first: that is the knee, whatever 400 did after it.
    assert "Knee between 100 and 200 players on one server process" in text, text
    assert "state latency p99 150 ms, limit 100 ms" in text, text
    assert "400 players held as well, above the knee" in text and "800 µs" in text
    assert "The load generator (locust) was near 100% of a core at 800 players" in text
    assert headline([_step(50, connected=3)])["users"] is None
    assert "No step held" in headline_text(headline([]))


def test_summarize_step_from_csv_and_snapshots(tmp_path: Path):
    path = tmp_path / "run_stats.csv"
    path.write_text(STATS_CSV)
    m0 = parse_prometheus(METRICS)
    m1 = parse_prometheus(
        METRICS.replace("arena_ticks_total 1000.0", "arena_ticks_total 1200.0")
        .replace("arena_ticks_overrun_total 5.0", "arena_ticks_overrun_total 6.0")
        .replace("3.967767e+06", "4.967767e+06")
        .replace('le="0.005"} 990.0', 'le="0.005"} 1190.0')
        .replace('le="0.1"} 1000.0', 'le="0.1"} 1200.0')
        .replace('le="+Inf"} 1000.0', 'le="+Inf"} 1200.0')
    )
    clk = sampling.CLK_TCK
    before = Snapshot(at=100.0, server_ticks=0, loadgen_ticks={1: 0, 2: 0}, metrics=m0)
    after = Snapshot(at=110.0, server_ticks=5 * clk, loadgen_ticks={1: 2 * clk, 2: 9 * clk},
                     metrics=m1)
    step = summarize_step(40, 10.0, read_locust_stats(path), [], before, after, [40, 40], [2**20])
    assert step["connected"] == 40 and step["joined"] == 28
    assert step["states_per_second"] == pytest.approx(477.6)
    assert step["latency_p99_ms"] == 3 and step["ping_p99_ms"] == 11
    assert step["server_cpu_percent"] == pytest.approx(50.0)
    assert step["loadgen_cpu_percent"] == pytest.approx(110.0)
    assert step["loadgen_max_process_cpu_percent"] == pytest.approx(90.0)
    assert step["loadgen_busy"] is True
    assert step["ticks"] == 200 and step["ticks_overrun"] == 1
    assert step["overrun_fraction"] == pytest.approx(0.005)
    # All 200 ticks of the window fell in (2, 5] ms: p99 interpolates to 2 + 3 * 0.99.
    assert step["tick_p99_ms"] == pytest.approx(4.97)
    assert step["bytes_per_player_second"] == pytest.approx(1_000_000 / 400)
    assert step["cpu_seconds_per_player_second"] == pytest.approx(5 / 400)
    assert step["cpu_us_per_player_second"] == pytest.approx(12_500)
    assert step["server_rss_mib"] == 1.0
    assert step["failures"] == 2 and step["holds"] is True

    report = {
        "date": "2026-01-02", "command": "python -m bench.capacity", "steps": [step],
        "headline": headline([step]),
        "machine": {"cpu": "Test CPU", "cores": 2, "ram_gib": 4.0, "os": "Linux",
                    "python": "3.11", "tornado": "6.6", "locust": "2.47"},
        "config": {"tick_rate": 20, "max_players": 20, "step_seconds": 30, "spawn_rate": 50,
                   "settle": 3, "pinning": "no CPU pinning", "processes": 1,
                   "locust_workers": 0},
    }
    markdown = render_markdown(report)
    assert "| 40 | 40 | 478 | 1 / 2 / 3 | 11 | 2 |" in markdown
    assert "Test CPU, 2 cores" in markdown and "Held every step up to 40 players" in markdown
    assert "one server process" in markdown and "split" not in markdown
    assert "workers" not in step and "locust in one process" in markdown


def test_summarize_step_split_across_workers(tmp_path: Path):
    path = tmp_path / "run_stats.csv"
    path.write_text(STATS_CSV + "WS,WS redirect,7,0,3,3,1,9,0,1,0,3,3,3,3,3,9,9,9,9,9,9\n")
    clk = sampling.CLK_TCK
    m0 = parse_prometheus(METRICS)
    m1 = parse_prometheus(METRICS.replace("arena_ticks_total 1000.0", "arena_ticks_total 1100.0"))
    a, b = "http://127.0.0.1:9001", "http://127.0.0.1:9002"
    before = Snapshot(
        at=100.0, server_ticks=10, loadgen_ticks={}, metrics=merge_metrics([m0, m0]),
        parent_ticks=10, redis_ticks=0,
        workers=[WorkerReading(a, 11, 0, m0), WorkerReading(b, 12, 0, m0)],
    )
    after = Snapshot(
        at=110.0, server_ticks=10 + 3 * clk + 1 * clk, loadgen_ticks={},
        metrics=merge_metrics([m1, m1]), parent_ticks=10, redis_ticks=clk // 10,
        workers=[WorkerReading(a, 11, 3 * clk, m1), WorkerReading(b, 12, 1 * clk, m1)],
    )
    samples = [
        {a: WorkerPoint(24, 2, 40 * 2**20), b: WorkerPoint(16, 1, 30 * 2**20)},
        {a: WorkerPoint(22, 2, 41 * 2**20), b: WorkerPoint(16, 1, 30 * 2**20)},  # lowest: 38
        {a: WorkerPoint(None, None, None), b: WorkerPoint(17, 1, 30 * 2**20)},  # incomplete
    ]
    placements = 'arena_placements_total{outcome="%s"} %d\n'
    start = parse_prometheus(placements % ("here", 5) + placements % ("redirected", 1))
    end = parse_prometheus(placements % ("here", 40) + placements % ("redirected", 9)
                           + placements % ("claimed", 8))
    stats = read_locust_stats(path)
    # No placements in the metrics (a server without them): none reported.
    assert summarize_step(40, 10.0, stats, [], before, after, [], [], samples=samples,
                          start=start)["placements"] is None
    after.metrics = merge_metrics([m1, end])
    # `players` (999) is ignored: with workers, the total is summed from their samples.
    step = summarize_step(40, 10.0, stats, [], before, after, [999], [2**20],
                          samples=samples, start=start)
    assert step["connected"] == 38 and step["players_avg"] == 39.0
    assert [w["players"] for w in step["workers"]] == [22, 16]
    assert [w["players_avg"] for w in step["workers"]] == [23.0, 16.0]
    assert [w["rooms"] for w in step["workers"]] == [2, 1]
    assert [w["cpu_seconds"] for w in step["workers"]] == [3.0, 1.0]
    assert [w["cpu_percent"] for w in step["workers"]] == [30.0, 10.0]
    assert [w["rss_mib"] for w in step["workers"]] == [41.0, 30.0]
    assert step["server_cpu_seconds"] == 4.0 and step["server_parent_cpu_seconds"] == 0.0
    assert step["server_cpu_percent"] == 40.0 and step["server_processes"] == 2
    assert step["cpu_seconds_per_player_second"] == pytest.approx(4.0 / 390)
    assert step["split"] == "22/16 players, 75%/25% CPU"
    assert step["redis_cpu_percent"] == pytest.approx(1.0, abs=0.1)
    assert step["placements"] == {"here": 35, "redirected": 8, "claimed": 8, "local": 0}
    assert step["locust_redirects"] == 7 and step["locust_seats_refused"] is None

    assert headline([step], processes=2)["users"] is None  # 38 of 40 connected
    head = headline([{**step, "connected": 40}], processes=2)
    assert head["server_processes"] == 2 and head["split"] == step["split"]
    assert "up to 40 players (the largest tried) on 2 server processes" in headline_text(head)
    assert "split 22/16 players, 75%/25% CPU" in headline_text(head)
    report = {
        "date": "2026-01-02", "command": "python -m bench.capacity --processes 2",
        "steps": [step], "headline": head,
        "machine": {"cpu": "Test CPU", "cores": 4, "ram_gib": 4.0, "os": "Linux",
                    "python": "3.11", "tornado": "6.6", "locust": "2.47"},
        "config": {"tick_rate": 20, "max_players": 20, "step_seconds": 10, "spawn_rate": 50,
                   "settle": 3, "pinning": "server on CPUs 0-1", "processes": 2,
                   "locust_workers": 0, "redis": "redis-server 7.0.15"},
    }
    markdown = render_markdown(report)
    assert "2 server processes sharing one port (Redis presence, redis-server 7.0.15)" in markdown
    assert "| 22/16 players, 75%/25% CPU | 1.0 | 8 of 43 joins (locust followed 7) |" in markdown
    assert "| 40 | http://127.0.0.1:9001 (pid 11) | 22 (23.0) | 2 | 30.0 | 41.0 |" in markdown


def test_redirects_without_locust_rows_or_placements():
    assert redirects({}, None, None) == {
        "placements": None, "joins_redirected": None, "locust_redirects": None,
        "locust_seats_refused": None,
    }
    assert split_text([{"players": 3, "cpu_seconds": 0.0}, {"players": 1, "cpu_seconds": None}]) \
        == "3/1 players, –/– CPU"
    assert merge_metrics([parse_prometheus("a 1"), None]) is None
    assert merge_metrics([]) is None
    both = merge_metrics([parse_prometheus("a 1\nb 2"), parse_prometheus("a 3")])
    assert metric_total(both, "a") == 4 and metric_total(both, "b") == 2


def test_listening_ports_tell_processes_apart():
    with socket.socket() as listener, socket.socket() as other:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        other.bind(("127.0.0.1", 0))  # bound, not listening
        port = listener.getsockname()[1]
        ports = sampling.listening_ports(os.getpid())
        assert port in ports and other.getsockname()[1] not in ports
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 "
        "0 4242 1 0000000000000000 100 0 0 10 0\n"
        "   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 "
        "0 4343 1 0000000000000000 100 0 0 10 0\n"
        "   2: 0100007F:1F92 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000 "
        "0 4444 1 0000000000000000 100 0 0 10 0\n"
    )
    assert sampling.parse_listening(table, {"4242", "4444"}) == {8080}


def test_pinning():
    assert pinning(2, "/usr/bin/taskset") == (
        ["/usr/bin/taskset", "-c", "0"], ["/usr/bin/taskset", "-c", "1"]
    )
    assert pinning(8, "taskset")[1] == ["taskset", "-c", "1-7"]
    assert pinning(1, "taskset") == ([], [])
    assert pinning(4, None) == ([], [])
    # One CPU per server process, the rest for locust; none left over: no pinning.
    assert pinning(4, "taskset", 2) == (["taskset", "-c", "0-1"], ["taskset", "-c", "2-3"])
    assert pinning(3, "taskset", 2) == (["taskset", "-c", "0-1"], ["taskset", "-c", "2"])
    assert pinning(2, "taskset", 2) == ([], [])
    assert pinning(8, "taskset", 8) == ([], [])
