"""`python -m bench.loadgen`: a lean asyncio load generator for Arena's protocol on raw sockets.

N players, each: a guest login over HTTP (`GET /api/xsrf`, `POST /api/guest`; not measured), a
raw WebSocket on `/ws` with the `arena_session` cookie and no Origin, `join`, then `input` 10
times a second and `ping` once a second, while counting `state` frames by a byte-prefix check
(never decoding them) and timing pongs. After the ramp and a warm-up it measures one window and
reports states/s per player, ping RTT, bytes received, failures and its own CPU, so every report
can say whether the load generator was the limit. `--state-latency` adds each state's latency
(arrival minus its `ts`), read from its first bytes.

    python -m bench.loadgen --url http://127.0.0.1:8888 --players 400 --seconds 30

`bench.floor` runs it as a subprocess: it reads the `loadgen: window open` / `window closed`
lines and the `--json-out` file, and passes `--server-pid` so the server's CPU and RSS are read
at exactly the window's edges; `bench.capacity --find-limit` runs it the same way, with
`--state-latency`. `bench.floor --side-by-side` runs one per server at once and passes
`--go-file`: each says `loadgen: ready` after its warm-up and waits for the file, so that every
window opens at the same moment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.loadgen_login import PlayerFailed, guest_login
from bench.loadgen_player import Player
from bench.report import rounded
from bench.sampling import CLK_TCK, proc_rss, proc_stat
from bench.wsframes import histogram_percentile, latency_histogram

CLOSE_GRACE = 2.0  # seconds to wait for the server's close before aborting the rest
GO_POLL = 0.01  # seconds between looks for --go-file

# How a player logs in: (host, port, source address or None, name) -> the session cookie value.
Login = Callable[[str, int, str | None, str], Awaitable[str]]


# -- a run -------------------------------------------------------------------------------------


@dataclass
class LoadOptions:
    url: str = "http://127.0.0.1:8888"
    players: int = 400
    seconds: float = 30.0
    warmup: float = 3.0
    mode: str = "arena"
    concurrency: int = 50  # logins and handshakes in flight during the ramp
    connect_seconds: float = 120.0  # bound on the whole ramp
    server_pid: int | None = None
    seed: int | None = None
    state_latency: bool = False  # count each state's latency (arrival minus its `ts`)
    linger: float = 0.0  # seconds the players stay on after the window, before closing
    go_file: Path | None = None  # after the warm-up, open the window only once this exists


class LoadRun:
    """All players of one run, the window's counters, and the failures by kind. `login` is how
    each player gets its session (default: `guest_login`)."""

    def __init__(self, options: LoadOptions, loop: asyncio.AbstractEventLoop,
                 login: Login | None = None) -> None:
        self.options = options
        self.loop = loop
        self.login = login or guest_login
        self.mode = options.mode
        self.rng = random.Random(options.seed)
        self.players: list[Player] = []
        self.failures: Counter[str] = Counter()
        self.recording = False
        self.stopping = False
        self.rtts: list[float] = []
        self.pings_sent = 0
        self.redirected = 0  # players that followed a redirect to another process
        self.redirects = 0  # redirects followed, all players together
        self.seat_fallbacks = 0  # redirect seats refused or unreachable: matchmade again
        # State latency histogram shared by every player's parser (`bench.wsframes`).
        self.latency = latency_histogram() if options.state_latency else None
        self._gone = asyncio.Event()

    def fail(self, kind: str) -> None:
        self.failures[kind] += 1

    def on_player_gone(self, player: Player) -> None:
        self._gone.set()

    async def start_players(self) -> float:
        """Log in, connect and join every player, `concurrency` at a time; returns seconds."""
        parts = urlsplit(self.options.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"--url must be http://host:port, not {self.options.url!r}")
        host, port = parts.hostname, parts.port or 80
        gate = asyncio.Semaphore(self.options.concurrency)
        started = time.perf_counter()

        async def start(player: Player) -> None:
            async with gate:
                try:
                    await player.start(host, port)
                except PlayerFailed as exc:
                    self.fail(str(exc))

        self.players = [Player(self, i) for i in range(self.options.players)]
        tasks = [asyncio.ensure_future(start(p)) for p in self.players]
        done, pending = await asyncio.wait(tasks, timeout=self.options.connect_seconds)
        for task in pending:
            task.cancel()
        if pending:
            self.failures["join failed: the ramp ran out of time"] += len(pending)
            await asyncio.wait(pending)
        return time.perf_counter() - started

    def open_count(self) -> int:
        return sum(1 for p in self.players if p.open)

    async def stop(self) -> None:
        """Close every socket with 1000, wait for the server's closes, abort what is left."""
        self.stopping = True
        live = [p for p in self.players if p.transport is not None and not p.lost]
        for player in self.players:
            player.stop()
        try:
            async with asyncio.timeout(CLOSE_GRACE):
                while any(not p.lost for p in live):
                    self._gone.clear()
                    await self._gone.wait()
        except TimeoutError:
            pass
        for player in live:
            if not player.lost and player.transport is not None:
                player.transport.abort()
        await asyncio.sleep(0)  # let the aborted transports report connection_lost


@dataclass
class Edge:
    """One edge of the measured window."""

    wall: float
    cpu: float
    states: list[int]
    open_flags: list[bool]
    bytes_in: int
    pongs: int
    open: int
    server_ticks: int | None
    latency: list[int] | None


def _edge(run: LoadRun) -> Edge:
    server = proc_stat(run.options.server_pid) if run.options.server_pid else None
    return Edge(
        wall=time.perf_counter(),
        cpu=time.process_time(),
        states=[p.parser.states for p in run.players],
        open_flags=[p.open for p in run.players],
        bytes_in=sum(p.bytes_in for p in run.players),
        pongs=sum(p.pongs for p in run.players),
        open=run.open_count(),
        server_ticks=server.cpu_ticks if server else None,
        latency=list(run.latency) if run.latency is not None else None,
    )


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return type(loop).__module__.split(".")[0]


async def run_load(options: LoadOptions, *, announce: bool = True) -> dict[str, Any]:
    """One bounded run: ramp, warm-up, the measured window, then every socket closed."""
    loop = asyncio.get_running_loop()
    run = LoadRun(options, loop)
    cpu0 = time.process_time()

    def say(text: str) -> None:
        if announce:
            print(f"loadgen: {text}", flush=True)

    try:
        ramp = await run.start_players()
        joined = run.open_count()
        say(f"{joined}/{options.players} players joined in {ramp:.1f} s "
            f"({loop_name(loop)} loop); warm-up {options.warmup:g} s")
        await asyncio.sleep(options.warmup)
        if options.go_file is not None:
            say("ready")
            await wait_for_file(options.go_file, options.connect_seconds)
        run.recording = True
        first = _edge(run)
        say("window open")
        rss: list[int] = []
        deadline = first.wall + options.seconds
        while (left := deadline - time.perf_counter()) > 0:
            await asyncio.sleep(min(1.0, left))
            if options.server_pid:
                size = proc_rss(options.server_pid)
                if size is not None:
                    rss.append(size)
        last = _edge(run)
        run.recording = False
        say("window closed")
        missing = sum(p.pongs_missing() for p in run.players)
        if missing:
            run.failures["pong missing"] += missing
        await asyncio.sleep(options.linger)  # whoever measures the server too ends its window
    finally:
        await run.stop()
    return summarize(options, run, ramp, joined, first, last, rss,
                     total_cpu=time.process_time() - cpu0, loop=loop_name(loop))


async def wait_for_file(path: Path, seconds: float) -> None:
    """Poll until `path` exists (the players keep playing meanwhile); ValueError when it has
    not appeared within `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            while not path.exists():  # noqa: ASYNC110, ASYNC240 - a file, no event; one stat
                await asyncio.sleep(GO_POLL)
    except TimeoutError:
        raise ValueError(f"--go-file {path} did not appear within {seconds:g} s") from None


def summarize(
    options: LoadOptions,
    run: LoadRun,
    ramp: float,
    joined: int,
    first: Edge,
    last: Edge,
    rss: Sequence[int],
    *,
    total_cpu: float,
    loop: str,
) -> dict[str, Any]:
    seconds = max(1e-9, last.wall - first.wall)
    players_avg = (first.open + last.open) / 2.0
    player_seconds = players_avg * seconds
    per_player = [(b - a) / seconds for a, b in zip(first.states, last.states, strict=True)]
    # The slowest player among those connected through the whole window.
    live = [rate for rate, a, b in zip(per_player, first.open_flags, last.open_flags, strict=True)
            if a and b]
    states = sum(last.states) - sum(first.states)
    rtts = sorted(x * 1000.0 for x in run.rtts)
    cpu = last.cpu - first.cpu
    result: dict[str, Any] = {
        "loadgen": f"bench.loadgen (asyncio over raw sockets, {loop} loop, one process)",
        "url": options.url,
        "players": options.players,
        "joined": joined,
        "open_at_start": first.open,
        "open_at_end": last.open,
        "players_avg": players_avg,
        "ramp_seconds": round(ramp, 2),
        "warmup_seconds": options.warmup,
        "window_seconds": round(seconds, 3),
        "states": states,
        "states_per_second": round(states / seconds, 1),
        "states_per_player_second": round(states / player_seconds, 2) if player_seconds else None,
        "states_per_player_second_min": round(min(live), 2) if live else None,
        "states_per_player_second_max": round(max(live), 2) if live else None,
        "pings_sent": run.pings_sent,
        "pongs": len(rtts),
        "ping_p50_ms": rounded(percentile(rtts, 50), 3),
        "ping_p99_ms": rounded(percentile(rtts, 99), 3),
        "ping_max_ms": rounded(rtts[-1] if rtts else None, 3),
        "bytes_received": last.bytes_in - first.bytes_in,
        "bytes_per_player_second": round((last.bytes_in - first.bytes_in) / player_seconds, 1)
        if player_seconds else None,
        "failures": sum(run.failures.values()),
        "failure_kinds": dict(run.failures.most_common()),
        "redirected": run.redirected,
        "redirects": run.redirects,
        "seat_fallbacks": run.seat_fallbacks,
        "cpu_seconds": round(cpu, 3),
        "cpu_percent": round(cpu / seconds * 100.0, 1),
        "cpu_total_seconds": round(total_cpu, 3),
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "server": None,
    }
    if first.latency is not None and last.latency is not None:
        window = [b - a for a, b in zip(first.latency, last.latency, strict=True)]
        result.update({
            "state_latency_samples": sum(window),
            "state_latency_p50_ms": histogram_percentile(window, 50),
            "state_latency_p95_ms": histogram_percentile(window, 95),
            "state_latency_p99_ms": histogram_percentile(window, 99),
            "state_latency_max_ms": histogram_percentile(window, 100),
        })
    if options.server_pid and first.server_ticks is not None and last.server_ticks is not None:
        server_cpu = (last.server_ticks - first.server_ticks) / CLK_TCK
        result["server"] = {
            "pid": options.server_pid,
            "cpu_seconds": round(server_cpu, 3),
            "cpu_percent": round(server_cpu / seconds * 100.0, 1),
            "cpu_us_per_player_second": round(server_cpu / player_seconds * 1e6, 1)
            if player_seconds else None,
            "rss_max_bytes": max(rss) if rss else None,
            "rss_last_bytes": rss[-1] if rss else None,
        }
    return result


def summary_text(result: dict[str, Any]) -> str:
    def num(value: Any, fmt: str = ",.0f") -> str:
        return "–" if value is None else format(value, fmt)

    lines = [
        f"loadgen: {result['joined']}/{result['players']} players joined "
        f"({result['ramp_seconds']:g} s ramp), window {result['window_seconds']:.1f} s "
        f"after {result['warmup_seconds']:g} s warm-up",
        f"  states/s per player  {num(result['states_per_player_second'], '.2f')} "
        f"(min {num(result['states_per_player_second_min'], '.2f')}, "
        f"max {num(result['states_per_player_second_max'], '.2f')}); "
        f"{num(result['states_per_second'])} states/s in all",
        f"  ping RTT             p50 {num(result['ping_p50_ms'], '.2f')} ms, "
        f"p99 {num(result['ping_p99_ms'], '.2f')} ms, max {num(result['ping_max_ms'], '.2f')} ms "
        f"({result['pongs']} pongs of {result['pings_sent']} pings)",
        f"  received             {num(result['bytes_per_player_second'])} B per player-second "
        "(WebSocket frames, all messages)",
        f"  failures             {result['failures']}"
        + "".join(f"\n    {count} x {kind}" for kind, count in result["failure_kinds"].items()),
    ]
    if result.get("state_latency_samples") is not None:
        lines.append(
            f"  state latency        p50 {num(result['state_latency_p50_ms'], '.1f')} ms, "
            f"p95 {num(result['state_latency_p95_ms'], '.1f')} ms, "
            f"p99 {num(result['state_latency_p99_ms'], '.1f')} ms "
            f"({result['state_latency_samples']} states; arrival minus `ts`)"
        )
    if result.get("redirects") or result.get("seat_fallbacks"):
        # Only with matchmaking across processes: a single server never redirects.
        lines.append(
            f"  redirected           {result['redirected']} players to another process "
            f"({result['redirects']} redirects, {result['seat_fallbacks']} seats refused)"
        )
    lines += [
        f"  load generator CPU   {num(result['cpu_percent'], '.1f')}% of one core "
        f"({result['loadgen']})",
    ]
    server = result.get("server")
    if server:
        lines.append(
            f"  server pid {server['pid']}        CPU {num(server['cpu_percent'], '.1f')}%, "
            f"{num(server['cpu_us_per_player_second'])} µs per player-second, "
            f"RSS {num((server['rss_max_bytes'] or 0) / 2**20, '.1f')} MiB"
        )
    return "\n".join(lines)


# -- the command -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loadgen",
        description="Drive an Arena (or floor) server with N simulated players over raw sockets.",
    )
    parser.add_argument("--url", default="http://127.0.0.1:8888", help="the server (http://)")
    parser.add_argument("--players", type=int, default=400, help="simulated players")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window (s)")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds between the last join and the window")
    parser.add_argument("--mode", default="arena", help="game mode to join")
    parser.add_argument("--concurrency", type=int, default=50,
                        help="logins and handshakes in flight during the ramp")
    parser.add_argument("--connect-seconds", type=float, default=120.0,
                        help="bound on the ramp; players not joined by then are failures")
    parser.add_argument("--server-pid", type=int, default=None,
                        help="read this process's CPU and RSS at the window's edges")
    parser.add_argument("--seed", type=int, default=None, help="seed for directions and phases")
    parser.add_argument("--state-latency", action="store_true",
                        help="also measure each state's latency (arrival minus its ts)")
    parser.add_argument("--linger", type=float, default=0.0,
                        help="seconds the players stay connected after the window")
    parser.add_argument("--go-file", type=Path, default=None,
                        help="after the warm-up print `loadgen: ready` and open the window only "
                             "once this file exists (at most --connect-seconds later), so that "
                             "several load generators measure the same seconds")
    parser.add_argument("--no-uvloop", action="store_true", help="asyncio's default loop")
    parser.add_argument("--json-out", type=Path, default=None, help="write the result here")
    args = parser.parse_args(argv)
    if args.players <= 0 or args.seconds <= 0 or args.warmup < 0 or args.concurrency <= 0:
        parser.error("--players, --seconds and --concurrency must be positive, --warmup not "
                     "negative")
    return args


def run_with_loop(coro: Any, use_uvloop: bool = True) -> Any:
    """`asyncio.run`, on uvloop when it is installed and wanted."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = LoadOptions(
        url=args.url.rstrip("/"),
        players=args.players,
        seconds=args.seconds,
        warmup=args.warmup,
        mode=args.mode,
        concurrency=args.concurrency,
        connect_seconds=args.connect_seconds,
        server_pid=args.server_pid,
        seed=args.seed,
        state_latency=args.state_latency,
        linger=max(0.0, args.linger),
        go_file=args.go_file,
    )
    try:
        result = run_with_loop(run_load(options), use_uvloop=not args.no_uvloop)
    except KeyboardInterrupt:
        return 130
    except ValueError as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 2
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(summary_text(result), flush=True)
    return 0 if result["joined"] == options.players and not result["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
