"""The Liar's Dice locust player: quick play in mode `dice`, the bots' own policy
(`client.policies.DicePolicy`, on `client.dice_brain`), a ping a second; after each match it
leaves and joins again on the same socket.

Run with `--arena-mode dice` (bench/locustfile.py then runs only this player); it reports, as
request type `WS`, besides the shared `WS connect+join` and `WS redirect` rows:

- `dice move`: from sending a move (after the policy's think time) to the next `state`, the
  server's answer to it;
- `dice match`: one per match the user finished, from its `joined` to the state that ended it;
- `WS rejoin`: from `leave` after a match to `joined` in the next room;
- `pong`, and failures `error <code>`, `WS closed`, `left room` as the arena player's.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
import orjson
import websocket
from locust import task

from bench.locust_game import ConnectionClosed, GamePlayer
from bench.locust_window import Window
from bench.locust_wire import close_code, websocket_url
from bench.wsframes import OP_CLOSE, OP_PING, OP_TEXT
from client.policies import DicePolicy

PING_INTERVAL = 1.0
PONG_DEADLINE = 5.0


class DicePlayer(GamePlayer):
    """One Liar's Dice player (see the module docstring)."""

    mode = "dice"

    def join_mode(self) -> str:
        return self.mode

    @task
    def play(self) -> None:
        """Log in once, connect and join, then play match after match until the socket
        ends; the next run of this task reconnects with the same session."""
        if self._cookie is None:
            self._cookie = self._login()
            if self._cookie is None:
                return
        ws = self._connect_and_join()
        if ws is None:
            return
        try:
            self._play(ws)
        except Exception:
            self._disconnect(wait_for_close=False)
            raise
        self._disconnect(wait_for_close=False)

    def _play(self, ws: websocket.WebSocket) -> None:
        self._room = 0  # rooms joined on this socket: a late move for an earlier one is dropped
        self._seated(ws)
        next_ping = time.monotonic() + self._rng.uniform(0.0, PING_INTERVAL)
        ping_id = 0
        while True:
            ws.sock.settimeout(max(0.01, next_ping - time.monotonic()))
            try:
                data = ws.sock.recv(65536)
            except TimeoutError:
                data = None
            except OSError as exc:
                self._closed(f"connection lost: {exc}")
                return
            if data == b"":
                self._closed("connection lost without a close frame")
                return
            if time.monotonic() >= next_ping:
                ping_id += 1
                self._pings[ping_id] = time.perf_counter()
                self._send(ws, [{"type": "ping", "id": ping_id}, *self._policy.act()])
                self._expire_pings()
                next_ping = time.monotonic() + PING_INTERVAL
            if data is None:
                continue
            try:
                frames = self._frames.feed(data)
            except ValueError as exc:
                self._closed(f"bad frame: {exc}")
                return
            for opcode, payload in frames:
                if opcode == OP_TEXT:
                    ws = self._on_message(ws, orjson.loads(payload))
                    if ws is None:
                        return
                elif opcode == OP_PING:
                    ws.pong(payload)
                elif opcode == OP_CLOSE:
                    self._closed(f"closed by the server with code {close_code(payload)}")
                    return

    def _seated(self, ws: websocket.WebSocket) -> None:
        """A new room: a new policy, fed `joined` and what came with it."""
        self._room += 1
        self._policy = DicePolicy(self._rng)
        self._match_started = time.perf_counter()
        self._move_sent: float | None = None
        self._leaving = False
        self._leave_sent = 0.0
        self._answer(ws, self._joined)
        for payload in self._after_joined:
            self._answer(ws, orjson.loads(payload))

    def _on_message(self, ws: websocket.WebSocket,
                    msg: dict[str, Any]) -> websocket.WebSocket | None:
        """Handle one message; the socket to go on with (None: stop)."""
        kind = msg.get("type")
        if kind == "pong":
            sent = self._pings.pop(msg.get("id"), None)
            if sent is not None and Window.start <= time.time() < Window.end:
                self._sample("pong", (time.perf_counter() - sent) * 1000.0)
        elif kind == "error":
            code = msg.get("code")
            self._failure(f"error {code}", 0.0, f"{code}: {msg.get('message')}")
        elif kind == "left":
            if not self._leaving:
                if not Window.stopping:
                    self._failure("left room", 0.0, f"left the room: {msg.get('reason')}")
                return None
            return self._rejoin(ws)
        else:
            self._answer(ws, msg)
        return ws

    def _answer(self, ws: websocket.WebSocket, msg: dict[str, Any]) -> None:
        if self._leaving:
            return
        if msg.get("type") == "state" and self._move_sent is not None:
            self._sample("dice move", (time.perf_counter() - self._move_sent) * 1000.0)
            self._move_sent = None
        answers = self._policy.on_message(msg)
        if answers:
            gevent.spawn_later(self._policy.think, self._move, ws, self._room, answers)
        if self._policy.finished is not None:
            self._sample("dice match", (time.perf_counter() - self._match_started) * 1000.0)
            self._leaving = True
            self._send(ws, [{"type": "leave"}])
            self._leave_sent = time.perf_counter()

    def _move(self, ws: websocket.WebSocket, room: int, answers: list[dict[str, Any]]) -> None:
        if room == self._room and not self._leaving:
            self._move_sent = time.perf_counter()
            self._send(ws, answers)

    def _rejoin(self, ws: websocket.WebSocket) -> websocket.WebSocket | None:
        """Out of the finished match's room: join by mode again (following redirects)."""
        try:
            ws = self._join_following(ws, websocket_url(self.host))
        except (OSError, ValueError, ConnectionClosed, websocket.WebSocketException) as exc:
            self._failure("WS rejoin", self._leave_sent, f"join failed: {exc}")
            return None
        self._sample("WS rejoin", (time.perf_counter() - self._leave_sent) * 1000.0)
        self._seated(ws)
        return ws

    def _send(self, ws: websocket.WebSocket, messages: list[dict[str, Any]]) -> None:
        try:
            for message in messages:
                ws.send(orjson.dumps(message).decode())
        except (OSError, websocket.WebSocketException):
            pass  # the reader sees the end of the socket and reports it

    def _expire_pings(self) -> None:
        deadline = time.perf_counter() - PONG_DEADLINE
        for ping_id, sent in list(self._pings.items()):
            if sent < deadline:
                del self._pings[ping_id]
                self._failure("pong missing", 0.0, f"no pong within {PONG_DEADLINE:g} s")

