"""A crashed worker of `--processes`: a real `python -m game_server --processes 2` on a private
Redis, players on both workers, one worker killed with SIGKILL.

The parent (Tornado's `fork_processes`) starts a new worker in its place, on the same worker
port; the players of the other worker see nothing; the dead worker's rooms leave the lobby once
`--presence-ttl` has passed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError

from bench.sampling import listening_ports, process_tree
from tests.conftest import TEST_SECRET, Browserless
from tests.rd import RedisServer, private_redis  # noqa: F401 (fixture)
from tests.servers import free_port
from tests.test_hosts import join, login, rooms, send, until

PRESENCE_TTL = 1.5
ROOM_SIZE = 4  # players per room: each worker gets one full room

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(),
                                reason="finds the workers through /proc (Linux)")


def free_port_pair() -> int:
    """A port P such that P and P + 1 are both free on 127.0.0.1 (the two workers' ports)."""
    for _ in range(50):
        first = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", first + 1))
            except OSError:
                continue
            return first
    raise RuntimeError("no two adjacent free ports")


@dataclass
class Workers:
    """A forked server: its parent process, the log so far, and each worker's URL by port."""

    proc: asyncio.subprocess.Process
    log: list[str] = field(default_factory=list)
    listening: list[str] = field(default_factory=list)  # one URL per "listening" line, in order
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def pids_by_port(self) -> dict[int, int]:
        """The live workers' own ports (the shared one left out) -> their pids."""
        found: dict[int, set[int]] = {}
        for pid in process_tree(self.proc.pid)[1:]:
            for port in listening_ports(pid):
                found.setdefault(port, set()).add(pid)
        return {port: pids.pop() for port, pids in found.items() if len(pids) == 1}

    async def wait_listening(self, count: int, within: float) -> list[str]:
        """Wait until `count` "Arena listening" lines were logged in all; return their URLs."""
        async with asyncio.timeout(within):
            while len(self.listening) < count:
                assert self.proc.returncode is None, "".join(self.log[-30:])
                self.changed.clear()
                await self.changed.wait()
        return self.listening[:count]


@asynccontextmanager
async def forked_server(data_dir: Path, redis_url: str) -> AsyncIterator[Workers]:
    """`python -m game_server --processes 2` with worker ports P and P + 1; its log drained all
    along and printed if the test fails; the parent stopped with SIGTERM (its workers with it)."""
    first = free_port_pair()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "game_server", "--port", "0", "--worker-port", str(first),
        "--processes", "2", "--redis-url", redis_url, "--data-dir", str(data_dir),
        "--presence-ttl", str(PRESENCE_TTL), "--mode-option", f"arena.max_players={ROOM_SIZE}",
        "--max-connections-per-ip", "0", "--empty-room-grace", "30",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "ARENA_COOKIE_SECRET": TEST_SECRET})
    workers = Workers(proc)

    async def drain() -> None:
        assert proc.stderr is not None
        while line := (await proc.stderr.readline()).decode():
            workers.log.append(line)
            if "Arena listening on " in line:
                workers.listening.append(line.split("Arena listening on ")[1].split()[0])
            workers.changed.set()
        workers.changed.set()

    drainer = asyncio.get_running_loop().create_task(drain())
    try:
        yield workers
    except BaseException:
        sys.stderr.write("--- server log ---\n" + "".join(workers.log[-60:]))
        raise
    finally:
        workers_left = _pidfds(process_tree(proc.pid)[1:])  # before they can go (and pids reused)
        if proc.returncode is None:
            proc.terminate()  # the workers stop with their parent
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await drainer
        await _reap(workers_left)


def _pidfds(pids: list[int]) -> list[int]:
    fds = []
    for pid in pids:
        with suppress(ProcessLookupError):
            fds.append(os.pidfd_open(pid))
    return fds


async def _reap(pidfds: list[int], within: float = 15.0) -> None:
    """Wait until these workers (stopping with their parent) have exited; SIGKILL any that
    take longer than `within`. A pidfd becomes readable when its process exits."""
    loop = asyncio.get_running_loop()
    for fd in pidfds:
        exited: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, lambda done=exited: done.done() or done.set_result(None))
        try:
            await asyncio.wait_for(exited, within)
        except TimeoutError:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        finally:
            loop.remove_reader(fd)
            os.close(fd)


@dataclass
class Player:
    """One player that steers 10 times a second and notes every state it gets."""

    ws: WebSocketClientConnection
    room: str
    ticks: list[int] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    fulls: int = 0  # `full` states: sent only to a reader that fell behind
    errors: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False

    async def play(self) -> None:
        loop = asyncio.get_running_loop()
        steering = loop.create_task(self._steer())
        try:
            while (raw := await self.ws.read_message()) is not None:
                msg = orjson.loads(raw)
                if msg["type"] == "state":
                    self.ticks.append(msg["tick"])
                    self.arrivals.append(loop.time())
                    self.fulls += "full" in msg
                elif msg["type"] == "error":
                    self.errors.append(msg)
            self.closed = True
        finally:
            steering.cancel()
            with suppress(asyncio.CancelledError):
                await steering

    async def _steer(self) -> None:
        seq = 0
        while True:
            seq += 1
            with suppress(WebSocketClosedError):
                send(self.ws, type="input", seq=seq, dx=1 if seq % 20 < 10 else -1, dy=0.5)
            await asyncio.sleep(0.1)

    def states_since(self, moment: float) -> int:
        return sum(1 for t in self.arrivals if t >= moment)

    def longest_gap(self) -> float:
        return max(b - a for a, b in zip(self.arrivals, self.arrivals[1:], strict=False))


async def seat(clients: list[Browserless], url: str, name: str) -> Player:
    """Log in at `url` (one worker's own port) and join by mode."""
    ws, joined = await join(await login(clients, url, name))
    return Player(ws, joined["room"])


async def answers(url: str) -> bool:
    client = Browserless(url)
    try:
        return (await client.request("GET", "/healthz")).code == 200
    except OSError:
        return False
    finally:
        client.http.close()


async def test_a_killed_worker_is_replaced_and_the_other_workers_players_see_nothing(
        tmp_path: Path, private_redis: RedisServer, clients) -> None:  # noqa: F811
    async with forked_server(tmp_path / "data", private_redis.url) as server:
        urls = await server.wait_listening(2, 30)
        ports = {int(url.rsplit(":", 1)[1]): url for url in urls}
        assert len(ports) == 2, urls  # each worker on its own port
        pids = server.pids_by_port()
        assert set(pids) == set(ports), (pids, ports)
        doomed_port, other_port = sorted(ports)

        # One full room on each worker: joins at a worker with no open room anywhere open a
        # room there, so the doomed worker's room is filled first, then the other's.
        doomed = [await seat(clients, ports[doomed_port], f"d{i}") for i in range(ROOM_SIZE)]
        others = [await seat(clients, ports[other_port], f"o{i}") for i in range(ROOM_SIZE)]
        doomed_room, other_room = doomed[0].room, others[0].room
        assert {p.room for p in doomed} == {doomed_room}
        assert {p.room for p in others} == {other_room} != {doomed_room}
        listed = {r["id"]: r["url"] for r in await rooms(ports[other_port])}
        assert listed[doomed_room].endswith(f":{doomed_port}/ws")
        assert listed[other_room].endswith(f":{other_port}/ws")

        playing = [asyncio.create_task(p.play()) for p in doomed + others]
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await until(lambda: _states_since(doomed + others, started), "states for all")
            killed_at = loop.time()
            os.kill(pids[doomed_port], signal.SIGKILL)

            # The dead worker's players lose their sockets ...
            await asyncio.wait_for(asyncio.gather(*playing[:ROOM_SIZE]), 10)
            assert all(p.closed for p in doomed)
            # ... and a new worker serves on the same port within seconds.
            await until(lambda: answers(ports[doomed_port]), "a new worker on the port", 15)
            replaced = server.pids_by_port()
            assert set(replaced) == set(ports)
            assert replaced[doomed_port] != pids[doomed_port]
            assert replaced[other_port] == pids[other_port]  # the other worker was left alone
            assert any("killed by signal 9, restarting" in line for line in server.log)

            # The dead worker's room leaves the lobby once the presence TTL has passed; the
            # other worker's room stays listed all along.
            async def dead_room_gone() -> bool:
                listed = {r["id"] for r in await rooms(ports[other_port])}
                assert other_room in listed
                return doomed_room not in listed

            await until(dead_room_gone, "the dead worker's room to leave the lobby",
                        PRESENCE_TTL * 4)
            # A newcomer at the new worker plays (in a new room there: the other one is full).
            newcomer = await seat(clients, ports[doomed_port], "new")
            assert newcomer.room not in (doomed_room, other_room)
            listed = {r["id"]: r["url"] for r in await rooms(ports[other_port])}
            assert listed[newcomer.room].endswith(f":{doomed_port}/ws")

            # The other worker's players noticed nothing: sockets open, no error, no resync,
            # a state for every tick from before the kill until now.
            now = loop.time()
            await until(lambda: _states_since(others, now), "states after all that")
            for player in others:
                assert not player.closed and player.ws.close_code is None
                assert player.errors == [] and player.fulls == 0
                assert player.states_since(killed_at) > 0
                assert player.ticks == sorted(set(player.ticks))  # one room, in order
                # 50 ms apart at 20 Hz; a restart or a resync would show as seconds.
                assert player.longest_gap() < 1.0
        finally:
            for task in playing:
                task.cancel()
            await asyncio.gather(*playing, return_exceptions=True)


async def _states_since(players: list[Player], moment: float) -> bool:
    return all(p.states_since(moment) > 0 for p in players)
