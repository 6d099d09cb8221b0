"""`python -m bench.broadcast`: the per-recipient cost of sending one encoded state.

Starts an `ArenaServer` in this process, opens N real WebSockets to it from a helper process
(guest logins over the JSON API, the handshake with each session cookie, then a loop that reads
and discards everything so no kernel buffer fills), and times, in CPU time of this process:

- the server's send path: for every server-side connection what `Room.tick` does for a member
  (the backlog check, then `WireConnection.send_state(payload)`: `FrameCache` frames the payload
  once per round, then the asyncio transport's `write`), with a new payload object every round
  as a real tick has;
- the floor: `socket.send(frame)` of the same frame on the same server-side sockets.

Both run in alternation (`--repeats`) and the medians are printed, with their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import math
import multiprocessing
import os
import resource
import secrets
import selectors
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from tornado.httpclient import AsyncHTTPClient

from client.session import login_guest
from game_server.app import ArenaServer
from game_server.config import Config
from game_server.games.arena import ArenaGame, ArenaRules
from game_server.transport.frames import server_frame
from protocol import messages
from protocol.codec import encode

HANDSHAKE_TIMEOUT = 60.0


# -- the payload -------------------------------------------------------------------------------


def realistic_state(target_bytes: int = 290, *, players: int = 20, seed: int = 7) -> bytes:
    """An encoded `state` as a room of moving arena players produces it, trimmed (or grown) to
    about `target_bytes` by dropping or adding moving players."""
    game = ArenaGame(ArenaRules(), seed)
    rows = max(players, target_bytes // 12)
    for pid in range(1, rows + 1):
        game.add_player(pid, f"player-{pid}")
        angle = pid * 2.399963  # golden angle: every player heads somewhere else
        game.set_input(pid, 1, math.cos(angle), math.sin(angle))
    for _ in range(20):
        game.step(0.05)
        game.take_changes()
    game.step(0.05)
    changes = game.take_changes()
    changes.pop("leaderboard", None)
    ts = int(time.time() * 1000)
    moved: list[Any] = changes.get("moved", [])
    data = encode(messages.state(tick=game.tick, ts=ts, changes=changes))
    while len(data) > target_bytes and len(moved) > 3:
        del moved[-3:]  # one player's (id, dx, dy)
        data = encode(messages.state(tick=game.tick, ts=ts, changes=changes))
    return data


# -- the client side (a separate process) ------------------------------------------------------


def _handshake(port: int, cookie: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Cookie: {cookie}\r\n\r\n"  # no Origin header: the cookie is the credential
    ).encode()


def run_clients(port: int, cookies: list[str], ready: Event, stop: Event) -> None:
    """Open one WebSocket per cookie, then read and discard until `stop` is set."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
    _raise_fd_limit(len(cookies) + 64)
    socks: list[socket.socket] = []
    for cookie in cookies:
        sock = socket.create_connection(("127.0.0.1", port), timeout=HANDSHAKE_TIMEOUT)
        sock.sendall(_handshake(port, cookie))
        socks.append(sock)
    for sock in socks:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed a socket during the handshake")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise ConnectionError(f"handshake refused: {status.decode(errors='replace')}")
        sock.setblocking(False)
    selector = selectors.DefaultSelector()
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ)
    ready.set()
    while not stop.is_set() and selector.get_map():
        for key, _ in selector.select(0.1):
            sock = key.fileobj
            try:
                data = sock.recv(1 << 20)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                selector.unregister(sock)
    for sock in socks:
        sock.close()


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        limit = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


# -- measuring ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Phase:
    """One timed run of `rounds` rounds over `recipients` sockets."""

    cpu: float
    wall: float
    sends: int

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.sends * 1e6

    @property
    def wall_us(self) -> float:
        return self.wall / self.sends * 1e6


def server_path_round(connections: Sequence[Any], limit: int) -> Callable[[bytes], None]:
    """A round of what `Room.tick` does per member: `connection.send_state(payload, limit)`,
    which skips a connection whose backlog is over the room's limit."""
    if connections and hasattr(connections[0], "send_state"):

        def send_all(payload: bytes) -> None:
            for conn in connections:
                conn.send_state(payload, limit)
    else:

        def send_all(payload: bytes) -> None:
            for conn in connections:
                conn.send(payload)

    return send_all


def raw_round(socks: Sequence[socket.socket], short: list[int]) -> Callable[[bytes], None]:
    """A round of `sock.send(frame)` on every socket (the frame is built once per round)."""

    def send_all(payload: bytes) -> None:
        frame = server_frame(payload)
        size = len(frame)
        for sock in socks:
            try:
                if sock.send(frame) != size:
                    short[0] += 1
            except BlockingIOError:
                short[0] += 1

    return send_all


async def timed(send_all: Callable[[bytes], None], payloads: Sequence[bytes],
                recipients: int) -> Phase:
    """CPU and wall time of sending every payload to every recipient, letting the IOLoop run
    between rounds (as it runs between ticks) so writes the kernel did not take finish."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for payload in payloads:
        send_all(payload)
        await asyncio.sleep(0)
    return Phase(time.process_time() - cpu0, time.perf_counter() - wall0,
                 len(payloads) * recipients)


async def _wait_idle(handlers: Sequence[Any], within: float = 10.0) -> None:
    """Until no server-side stream has bytes waiting, so raw sends never cut into a frame."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(h.ws_connection is not None and h.ws_connection.wire.queued()
                   for h in handlers):
            return
        await asyncio.sleep(0.01)


def _server_config(data_dir: Path) -> Config:
    wanted = {
        "host": "127.0.0.1",
        "port": 0,
        "data_dir": data_dir,
        "cookie_secret": secrets.token_hex(32),
        "max_connections_per_ip": 0,  # every socket comes from 127.0.0.1
        "ws_ping_interval": 3600.0,  # the drain process answers no pings
        "ws_ping_timeout": 3600.0,
    }
    known = {f.name for f in dataclasses.fields(Config)}
    return Config(**{k: v for k, v in wanted.items() if k in known})


async def _login_all(base_url: str, count: int) -> list[str]:
    http = AsyncHTTPClient(force_instance=True, max_clients=32)
    try:
        return list(await asyncio.gather(
            *(login_guest(base_url, f"bench-{i}", http_client=http) for i in range(count))
        ))
    finally:
        http.close()


async def measure(connections: int, payload: bytes, rounds: int, repeats: int,
                  seconds: float) -> dict[str, Any]:
    _raise_fd_limit(connections + 256)
    with tempfile.TemporaryDirectory(prefix="arena-broadcast-") as tmp:
        server = ArenaServer(_server_config(Path(tmp)))
        await server.start()
        ctx = multiprocessing.get_context("spawn")
        ready, stop = ctx.Event(), ctx.Event()
        clients = None
        try:
            cookies = await _login_all(server.url, connections)
            clients = ctx.Process(target=run_clients, args=(server.port, cookies, ready, stop),
                                  daemon=True)
            clients.start()
            deadline = time.monotonic() + HANDSHAKE_TIMEOUT
            while not ready.is_set() or len(server.services.sockets) < connections:
                if not clients.is_alive():
                    raise RuntimeError("the client process failed (see its error above)")
                if time.monotonic() > deadline:
                    raise RuntimeError("the WebSockets did not all open in time")
                await asyncio.sleep(0.02)
            return await _run_phases(server, payload, rounds, repeats, seconds)
        finally:
            stop.set()
            if clients is not None:
                clients.join(5)
                if clients.is_alive():
                    clients.kill()
                    clients.join(5)
            await asyncio.wait_for(server.stop(), 30)


async def _run_phases(server: ArenaServer, payload: bytes, rounds: int, repeats: int,
                      seconds: float) -> dict[str, Any]:
    handlers = [h for h in server.services.sockets if h.session is not None]
    connections = [h.session.connection for h in handlers]
    # The sockets the asyncio transports write to (transport/handoff.py): nothing is queued in
    # them between phases (`_wait_idle`), so raw sends never cut into a frame.
    socks = [h.ws_connection.sock for h in handlers]
    n = len(connections)
    limit = getattr(server.config, "max_backlog_bytes", 1 << 30)
    server_path = server_path_round(connections, limit)
    short = [0]
    floor_path = raw_round(socks, short)

    def fresh(count: int) -> list[bytes]:
        # A new bytes object per round, as every tick encodes a new state: FrameCache frames
        # the first recipient's copy and reuses it for the rest.
        return [bytes(bytearray(payload)) for _ in range(count)]

    await timed(server_path, fresh(3), n)  # warm up both paths
    await _wait_idle(handlers)
    await timed(floor_path, fresh(3), n)
    if rounds <= 0:  # enough rounds for the server path to take `seconds` in all
        probe = await timed(server_path, fresh(5), n)
        per_round = max(probe.wall / 5, 1e-6)
        rounds = max(5, math.ceil(seconds / repeats / per_round))
    real: list[Phase] = []
    floor: list[Phase] = []
    for _ in range(repeats):
        await _wait_idle(handlers)
        real.append(await timed(server_path, fresh(rounds), n))
        await _wait_idle(handlers)
        floor.append(await timed(floor_path, fresh(rounds), n))
    real_cpu = statistics.median(p.cpu_us for p in real)
    floor_cpu = statistics.median(p.cpu_us for p in floor)
    return {
        "connections": n,
        "payload_bytes": len(payload),
        "frame_bytes": len(server_frame(payload)),
        "rounds": rounds,
        "repeats": repeats,
        "server_path_cpu_us": round(real_cpu, 2),
        "server_path_wall_us": round(statistics.median(p.wall_us for p in real), 2),
        "floor_cpu_us": round(floor_cpu, 2),
        "floor_wall_us": round(statistics.median(p.wall_us for p in floor), 2),
        "ratio": round(real_cpu / floor_cpu, 2) if floor_cpu > 0 else None,
        "server_path_cpu_us_each": [round(p.cpu_us, 2) for p in real],
        "floor_cpu_us_each": [round(p.cpu_us, 2) for p in floor],
        "floor_short_sends": short[0],
    }


def render(result: dict[str, Any]) -> str:
    r = result
    lines = [
        f"broadcast: {r['connections']} WebSockets, {r['payload_bytes']}-byte state "
        f"({r['frame_bytes']}-byte frame), {r['repeats']} x {r['rounds']} rounds per path "
        f"(alternating; medians)",
        f"  server send path  (backlog check + WireConnection.send -> transport.write):  "
        f"{r['server_path_cpu_us']:6.2f} µs CPU per recipient "
        f"(wall {r['server_path_wall_us']:.2f})",
        f"  floor             (socket.send of the same frame, same sockets):            "
        f"{r['floor_cpu_us']:6.2f} µs CPU per recipient (wall {r['floor_wall_us']:.2f})",
        f"  ratio             {r['ratio']}x the floor",
    ]
    if r["floor_short_sends"]:
        lines.append(f"  note: {r['floor_short_sends']} raw sends did not fit the kernel buffer")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.broadcast",
        description="Per-recipient CPU cost of the server's state send path vs raw socket.send.",
    )
    parser.add_argument("--connections", "-n", type=int, default=1000,
                        help="WebSockets to send to (default 1000)")
    parser.add_argument("--payload-bytes", type=int, default=290,
                        help="size of the encoded state (default 290, a 20-player room's)")
    parser.add_argument("--rounds", type=int, default=0,
                        help="rounds per timed phase (default: enough for --seconds)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed phases per path, alternating (default 3)")
    parser.add_argument("--seconds", type=float, default=2.5,
                        help="target time of all server-path phases when --rounds is 0")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.payload_bytes < 40 or args.repeats < 1:
        parser.error("--connections and --repeats must be >= 1, --payload-bytes >= 40")
    payload = realistic_state(args.payload_bytes)
    try:
        result = asyncio.run(
            measure(args.connections, payload, args.rounds, args.repeats, args.seconds)
        )
    except (RuntimeError, OSError) as exc:
        print(f"bench.broadcast: {exc}", file=sys.stderr)
        return 1
    print(render(result))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
