"""Locust players for Arena: log in as a guest, open `/ws`, join, steer and ping like a client.

    locust -f bench/locustfile.py --headless -u 50 -r 10 -t 20s --host http://127.0.0.1:8888

A run has one kind of user: `ArenaPlayer` (below), or with `--arena-mode dice` the Liar's
Dice player `DicePlayer` (`bench.locust_dice`); naming user classes on the command line picks
them instead. Login, joining and redirects are `bench.locust_game.GamePlayer`, shared by both.

Besides locust's own `/login` and `/api/guest` rows, every user reports (request type `WS`):

- `WS connect+join`: from opening the TCP connection to the `joined` message (failures: the
  handshake refused with its HTTP status, or no `joined`);
- `WS redirect`: one per `redirect` followed (matchmaking put the user in a room of another
  process): from the redirect to the answer on the new server; its request count is the number
  of redirects. The user closes its socket (1000), connects to the redirect's host and port
  (from its own loopback address there too), upgrades `/ws?seat=TOKEN` with its cookie and joins
  with the seat. `WS seat refused` counts seats that were refused (or whose server could not be
  reached): the user joined by mode again where it was redirected from. At most 3 redirects per
  join, then `WS connect+join` fails with `too many redirects`;
- `pong`: round trip of a `ping`, sent once a second;
- `state latency`: one sample per `state` received: arrival wall clock minus the state's `ts`
  (same host, same clock), so its request count is the number of states received;
- `states per user-second`: once a second per user, how many states arrived in that second (the
  average is about the tick rate; `Min` shows a starved user);
- failures `WS closed` (with the close code), `error <code>` (an `error` message), `left room`,
  `pong missing`.

`--arena-warmup S` and `--arena-window S` limit the `pong`, `state latency` and `states ...`
samples to a window after the test starts, so a ramp-up does not pollute steady-state numbers
(`bench.capacity` uses them); connects and failures are always reported.

Each user opens its socket from its own loopback address (127.0.0.2 to 127.0.0.251) when the
server is on 127.x, as real players come from their own addresses: the server caps sockets per
address. This runs under gevent: the WebSocket handshake and sends go through
`websocket-client`, and the reader takes whole `recv(65536)` chunks off the socket and parses
every frame in them, because the load generator's cost per received message decides how many
users one locust process can drive.
"""

from __future__ import annotations

import math
import random
import re
import time
from typing import Any

import gevent
import orjson
import websocket
from locust import events, task

from bench.locust_dice import DicePlayer
from bench.locust_game import ConnectionClosed, GamePlayer
from bench.locust_window import Window
from bench.locust_wire import close_code
from bench.wsframes import OP_CLOSE, OP_PING, OP_TEXT

INPUT_HZ = 10  # inputs per second; a ping goes with every INPUT_HZ-th input
PONG_DEADLINE = 5.0  # a ping unanswered for this long is reported as `pong missing`

# `messages.state` puts type, tick and ts first; the fast path reads ts without decoding the state
# and falls back to a full decode for anything else.
_STATE_PREFIX = b'{"type":"state",'
_STATE_TS = re.compile(rb'"ts":(\d+)')

__all__ = ["ArenaPlayer", "ConnectionClosed", "DicePlayer"]


def random_direction(rng: random.Random) -> tuple[float, float]:
    angle = rng.uniform(0.0, 2.0 * math.pi)
    return math.cos(angle), math.sin(angle)


@events.init.add_listener
def _one_kind_of_user(environment: Any, **_: Any) -> None:
    """Run the dice player for `--arena-mode dice` and the arena player otherwise, unless user
    classes were named on the command line."""
    options = environment.parsed_options
    if options is None or getattr(options, "user_classes", None):
        return
    mode = getattr(options, "arena_mode", None) or "arena"
    wanted = DicePlayer if mode == DicePlayer.mode else ArenaPlayer
    environment.user_classes[:] = [wanted]


class ArenaPlayer(GamePlayer):
    """One player: guest login, `/ws`, `join`, then inputs at 10 Hz and a ping a second."""

    def on_start(self) -> None:
        super().on_start()
        self._states = 0  # received since the writer last reported them

    @task
    def play(self) -> None:
        """Log in once, connect and join, then read until the socket ends; the next run
        of this task (after `wait_time`) reconnects with the same session."""
        if self._cookie is None:
            self._cookie = self._login()
            if self._cookie is None:
                return
        ws = self._connect_and_join()
        if ws is None:
            return
        self._writer = gevent.spawn(self._write, ws)
        try:
            self._read(ws)
        except Exception:
            self._disconnect(wait_for_close=False)
            raise
        # Not in a `finally`: when locust stops this user (GreenletExit), on_stop closes cleanly.
        self._disconnect(wait_for_close=False)


    # -- playing --------------------------------------------------------------------------------

    def _read(self, ws: websocket.WebSocket) -> None:
        """Read every message until the socket ends: the hot loop of the load generator."""
        recv = ws.sock.recv
        feed = self._frames.feed
        fire = self._fire
        loads = orjson.loads
        prefix = _STATE_PREFIX
        find_ts = _STATE_TS.search
        while True:
            try:
                data = recv(65536)
            except OSError as exc:
                self._closed(f"connection lost: {exc}")
                return
            if not data:
                self._closed("connection lost without a close frame")
                return
            now = time.time()
            recording = Window.start <= now < Window.end
            now_ms = now * 1000.0
            try:
                frames = feed(data)
            except ValueError as exc:
                self._closed(f"bad frame: {exc}")
                return
            for opcode, payload in frames:
                if opcode == OP_TEXT:
                    if payload.startswith(prefix):
                        self._states += 1
                        if recording:
                            match = find_ts(payload)
                            ts = int(match.group(1)) if match else loads(payload)["ts"]
                            fire(
                                request_type="WS",
                                name="state latency",
                                response_time=max(0.0, now_ms - ts),
                                response_length=len(payload),
                                exception=None,
                                context={},
                            )
                    else:
                        self._on_message(loads(payload), recording)
                elif opcode == OP_PING:
                    ws.pong(payload)
                elif opcode == OP_CLOSE:
                    self._closed(f"closed by the server with code {close_code(payload)}")
                    return

    def _on_message(self, msg: dict[str, Any], recording: bool) -> None:
        kind = msg.get("type")
        if kind == "state":
            self._states += 1  # a state whose keys came in another order
            if recording:
                latency = max(0.0, time.time() * 1000.0 - msg["ts"])
                self._sample("state latency", latency)
        elif kind == "pong":
            sent = self._pings.pop(msg.get("id"), None)
            if sent is not None and recording:
                self._sample("pong", (time.perf_counter() - sent) * 1000.0)
        elif kind == "error":
            code = msg.get("code")
            self._failure(f"error {code}", 0.0, f"{code}: {msg.get('message')}")
        elif kind == "left" and not Window.stopping:
            self._failure("left room", 0.0, f"left the room: {msg.get('reason')}")

    def _write(self, ws: websocket.WebSocket) -> None:
        """Send `input` at INPUT_HZ with a new direction about every second, and `ping` every
        second; report the states counted by the reader once a second."""
        rng = self._rng
        period = 1.0 / INPUT_HZ
        gevent.sleep(rng.uniform(0.0, period))  # users out of phase, as real players are
        seq = 0
        ping_id = 0
        turn_in = rng.randint(INPUT_HZ - 2, INPUT_HZ + 2)
        dx, dy = random_direction(rng)
        last_report = time.monotonic()
        next_at = last_report
        try:
            while True:
                seq += 1
                turn_in -= 1
                if turn_in <= 0:
                    dx, dy = random_direction(rng)
                    turn_in = rng.randint(INPUT_HZ - 2, INPUT_HZ + 2)
                ws.send(f'{{"type":"input","seq":{seq},"dx":{dx:.4f},"dy":{dy:.4f}}}')
                if seq % INPUT_HZ == 0:
                    ping_id += 1
                    now = time.monotonic()
                    self._pings[ping_id] = time.perf_counter()
                    ws.send(f'{{"type":"ping","id":{ping_id}}}')
                    self._report_states(now - last_report)
                    self._expire_pings()
                    last_report = now
                next_at += period
                delay = next_at - time.monotonic()
                if delay < -period:  # fell behind (a stalled process): don't send a burst
                    next_at = time.monotonic()
                gevent.sleep(max(0.0, delay))
        except (OSError, websocket.WebSocketException):
            return  # the reader sees the end of the socket and reports it

    def _report_states(self, elapsed: float) -> None:
        count, self._states = self._states, 0
        now = time.time()
        if elapsed > 0 and Window.start <= now - elapsed and now <= Window.end:
            self._sample("states per user-second", count / elapsed, length=count)

    def _expire_pings(self) -> None:
        deadline = time.perf_counter() - PONG_DEADLINE
        for ping_id, sent in list(self._pings.items()):
            if sent < deadline:
                del self._pings[ping_id]
                self._failure("pong missing", 0.0, f"no pong within {PONG_DEADLINE:g} s")
