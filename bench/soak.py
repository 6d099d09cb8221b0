"""`python -m bench.soak --minutes M`: churn and abuse a real server, and check nothing grows.

Starts its own server process on a free port, then for M minutes keeps bots joining and leaving
in waves while hostile clients misbehave (floods, slow readers, oversized and broken frames,
forged cookies, login brute force). Every few seconds it samples the server's RSS, open file
descriptors and tick duration p99 (from /metrics). The first `--warmup` seconds (60) are not
judged: a fresh server's RSS climbs while its first rooms, sessions, SQLite's page cache and the
allocator's arenas fill. After them it fails (exit 1) if RSS grows by more than 10% + 2 MB from
the first third of the judged samples to the last, descriptors beyond connections by more than
20, or tick p99 more than doubles; a run with fewer than three samples after the warm-up is too
short to judge and fails too. It writes bench/results/<date>-soak.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import re
import signal
import socket
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from client.bots import run_bots
from client.session import LoginError, login_guest, login_password

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    tick_p99_ms: float
    players: int
    spare_fds: int = 0


WARMUP_SECONDS = 60.0
MIN_JUDGED = 3  # samples after the warm-up: a first and a last third to compare
RSS_GROWTH = (1.10, 2.0)  # the last third's RSS may be at most 10% + 2 MB above the first's


@dataclass
class SoakReport:
    minutes: float
    samples: list[Sample] = field(default_factory=list)
    bot_waves: int = 0
    hostile_rounds: int = 0
    verdict: str = ""
    ok: bool = False
    warmup_s: float = WARMUP_SECONDS

    def judged(self) -> list[Sample]:
        """The samples taken after the warm-up: the only ones the verdict compares."""
        return [s for s in self.samples if s.t > self.warmup_s]

    def thirds(self, attr: str) -> tuple[float, float]:
        values = [getattr(s, attr) for s in self.judged()]
        third = max(1, len(values) // 3)
        return statistics.median(values[:third]), statistics.median(values[-third:])


def read_proc(pid: int) -> tuple[float, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss_kb / 1024.0, len(os.listdir(f"/proc/{pid}/fd"))


def histogram_buckets(text: str, name: str) -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) pairs of one Prometheus histogram."""
    found = []
    for m in re.finditer(rf'^{name}_bucket\{{le="([^"]+)"\}} (\S+)$', text, re.M):
        found.append((float(m.group(1)), float(m.group(2))))
    return found


def p99_between(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> float:
    """The p99 upper bound of the observations made between two scrapes."""
    deltas = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    total = deltas[-1][1] if deltas else 0
    if total <= 0:
        return 0.0
    for le, count in deltas:
        if count >= 0.99 * total:
            return le
    return float("inf")


# -- hostile clients ----------------------------------------------------------------------------


async def _raw_ws(port: int, cookie: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n").encode())
    return sock


def _masked(payload: bytes, opcode: int = 0x1) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    head = bytes((0x80 | opcode, 0x80 | n)) if n < 126 else (
        bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big"))
    return head + mask + body


async def hostile_round(url: str, port: int, rng: random.Random) -> None:
    """One round of abuse; every client here is expected to be refused, limited or closed."""
    http = AsyncHTTPClient(force_instance=True)
    ws_url = url.replace("http", "ws", 1) + "/ws"
    try:
        cookie = await login_guest(url, f"hostile{rng.randrange(1000)}", http_client=http)
        kind = rng.choice(["flood", "slow", "oversize", "garbage", "forged", "brute"])
        if kind == "flood":
            ws = await websocket_connect(HTTPRequest(ws_url, headers={"Cookie": cookie}))
            for i in range(500):
                if ws.protocol is None:
                    break
                ws.write_message(orjson.dumps({"type": "ping", "id": i}).decode())
            await asyncio.sleep(1)
            ws.close()
        elif kind == "slow":
            sock = await _raw_ws(port, cookie)
            await asyncio.get_running_loop().sock_sendall(
                sock, _masked(b'{"type":"join","mode":"arena"}'))
            await asyncio.sleep(rng.uniform(3, 12))  # never reads
            sock.close()
        elif kind == "oversize":
            sock = await _raw_ws(port, cookie)
            await asyncio.get_running_loop().sock_sendall(sock, _masked(b"x" * 20000)[:4000])
            await asyncio.sleep(0.5)
            sock.close()
        elif kind == "garbage":
            sock = await _raw_ws(port, cookie)
            await asyncio.get_running_loop().sock_sendall(sock, os.urandom(rng.randrange(1, 300)))
            await asyncio.sleep(0.5)
            sock.close()
        elif kind == "forged":
            forged = "arena_session=2|1:0|10:1|13:arena_session|4:eA==|00"
            with contextlib.suppress(Exception):
                await websocket_connect(HTTPRequest(ws_url, headers={"Cookie": forged}))
        else:  # brute force a name: 401s, then 429s once the throttle closes in
            for _ in range(8):
                with contextlib.suppress(LoginError):
                    await login_password(url, "admin", f"guess-{rng.randrange(10**6)}",
                                         http_client=http)
    except Exception:
        pass  # refusals and closes are the point
    finally:
        http.close()


# -- the run ------------------------------------------------------------------------------------


async def soak(minutes: float, bots: int, sample_every: float,
               warmup: float = WARMUP_SECONDS) -> SoakReport:
    report = SoakReport(minutes=minutes, warmup_s=warmup)
    data_dir = tempfile.mkdtemp(prefix="arena-soak-")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "game_server", "--port", "0", "--data-dir", data_dir,
        "--max-connections-per-ip", "0",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        start_new_session=True)
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            while True:
                line = (await proc.stderr.readline()).decode()
                if not line:
                    raise RuntimeError("the server exited before it was ready")
                found = re.search(r"(http://\S+)", line)
                if found and "listening" in line:
                    url = found.group(1)
                    break
    except BaseException:
        proc.kill()
        raise
    # Keep draining the server's log so it never blocks on a full pipe.
    drain = asyncio.ensure_future(proc.stderr.read())
    port = int(url.rsplit(":", 1)[1])
    rng = random.Random(7)
    deadline = asyncio.get_running_loop().time() + minutes * 60
    stop = asyncio.Event()
    http = AsyncHTTPClient(force_instance=True)

    async def waves() -> None:
        while not stop.is_set():
            n = rng.randrange(max(1, bots // 2), bots + 1)
            await run_bots(url, n, rng.uniform(5, 20), name_prefix=f"w{report.bot_waves}",
                           seed=rng.randrange(10**6), stop=stop)
            report.bot_waves += 1

    async def abuse() -> None:
        while not stop.is_set():
            await asyncio.gather(*(hostile_round(url, port, rng) for _ in range(3)))
            report.hostile_rounds += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    tasks = [asyncio.ensure_future(waves()), asyncio.ensure_future(waves()),
             asyncio.ensure_future(abuse())]
    start = asyncio.get_running_loop().time()
    try:
        previous = histogram_buckets(
            (await http.fetch(url + "/metrics")).body.decode(), "arena_tick_duration_seconds")
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(sample_every)
            text = (await http.fetch(url + "/metrics")).body.decode()
            buckets = histogram_buckets(text, "arena_tick_duration_seconds")
            rss, fds = read_proc(proc.pid)
            players = int(float(
                re.search(r"^arena_players_connected (\S+)$", text, re.M).group(1)))
            sample = Sample(round(asyncio.get_running_loop().time() - start, 1), round(rss, 1),
                            fds, p99_between(previous, buckets) * 1000, players)
            previous = buckets
            report.samples.append(sample)
            print(f"soak t={sample.t:6.0f}s rss={sample.rss_mb:6.1f} MB fds={sample.fds:4d} "
                  f"tick p99<={sample.tick_p99_ms:g} ms players={sample.players}", flush=True)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        http.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        drain.cancel()
    judge(report)
    return report


def judge(report: SoakReport) -> None:
    """Flat means: after the warm-up, the last third of the samples is within a small margin
    of the first third. The verdict says how long the warm-up was and what RSS did in it, so
    a climb there is visible without being mistaken for a leak (or hidden by a loose margin)."""
    # Descriptors beyond one per connected player: what a leak would add to.
    for sample in report.samples:
        sample.spare_fds = sample.fds - sample.players
    judged = report.judged()
    warm = [s for s in report.samples if s.t <= report.warmup_s]
    warmup = f"after a {report.warmup_s:g} s warm-up"
    if warm:
        warmup += f" (RSS {warm[0].rss_mb:.1f} -> {warm[-1].rss_mb:.1f} MB in it, not judged)"
    if len(judged) < MIN_JUDGED:
        report.ok = False
        report.verdict = (f"too short to judge: {len(judged)} samples {warmup}, at least "
                          f"{MIN_JUDGED} needed (a longer --minutes, or a shorter --warmup)")
        return
    rss0, rss1 = report.thirds("rss_mb")
    fd0, fd1 = report.thirds("spare_fds")
    tick0, tick1 = report.thirds("tick_p99_ms")
    problems = []
    factor, extra = RSS_GROWTH
    if rss1 > rss0 * factor + extra:
        problems.append(f"RSS grew {rss0:.1f} -> {rss1:.1f} MB (more than "
                        f"{(factor - 1) * 100:g}% + {extra:g} MB)")
    if fd1 > fd0 + 20:
        problems.append(f"descriptors beyond connections grew {fd0:.0f} -> {fd1:.0f}")
    if tick1 > max(tick0 * 2, tick0 + 5):
        problems.append(f"tick p99 grew {tick0:g} -> {tick1:g} ms")
    report.ok = not problems
    report.verdict = f"{warmup}: " + ("; ".join(problems) or (
        f"flat: RSS {rss0:.1f} -> {rss1:.1f} MB, descriptors beyond connections "
        f"{fd0:.0f} -> {fd1:.0f}, tick p99 {tick0:g} -> {tick1:g} ms"))


def write(report: SoakReport, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{dt.date.today().isoformat()}-soak"
    stem.with_suffix(".json").write_text(json.dumps(asdict(report), indent=2))
    lines = [f"# Soak: {report.minutes:g} minutes", "", f"**{'PASS' if report.ok else 'FAIL'}**:"
             f" {report.verdict}", "", f"Bot waves: {report.bot_waves}; hostile rounds: "
             f"{report.hostile_rounds} (3 clients each).", "",
             "| t (s) | RSS (MB) | open fds | tick p99 (ms, bucket bound) | players |",
             "|---|---|---|---|---|"]
    lines += [f"| {s.t:g} | {s.rss_mb} | {s.fds} | {s.tick_p99_ms:g} | {s.players} |"
              for s in report.samples]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return stem.with_suffix(".md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--bots", type=int, default=15, help="bots per wave (two waves at once)")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds")
    parser.add_argument("--warmup", type=float, default=WARMUP_SECONDS,
                        help="seconds at the start that are sampled but not judged "
                             "(default: %(default)g)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = asyncio.run(soak(args.minutes, args.bots, args.sample_every, args.warmup))
    path = write(report, args.out)
    print(f"soak {'PASS' if report.ok else 'FAIL'}: {report.verdict} ({path})")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
