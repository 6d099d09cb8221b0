"""`python -m bench.floor_server`: the transport floor Arena is measured against.

A bare Tornado server with the known-good choices (TCP_NODELAY, one `PeriodicCallback` per
room, uvloop, states encoded and framed once per tick, 16 KiB frames, no compression) and
nothing else: the same HTTP login and `/ws` messages as Arena, rooms of 20 (join-or-create), a
state of a configured size to every member at 20 Hz, `pong` at once, the latest `input` per
player kept. No game, no storage, no limits.

`--data-path` picks how frames travel once the socket is open:

- `tornado` (the default, the yardstick): Tornado's stock `WebSocketProtocol13` reads the
  frames, and each tick's frame is written with Tornado's own `IOStream.write`. Of Arena's
  transport only the framing function (`server_frame`) is used.
- `wire`: Arena's own data path: after the handshake the socket leaves Tornado for Arena's
  asyncio protocol (`HandoffProtocol13` and its wire) and frames go straight to its transport.
  Arena against this floor is the cost of everything Arena adds above its transport.

    python -m bench.floor_server --port 8899 --state-bytes 460
    python -m bench.floor_server --port 8899 --data-path wire
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import secrets
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import tornado.web
import tornado.websocket
from tornado.httpserver import HTTPServer
from tornado.ioloop import PeriodicCallback
from tornado.netutil import bind_sockets
from tornado.websocket import WebSocketProtocol

from game_server.transport.frames import server_frame
from game_server.transport.handoff import HandoffProtocol13, can_hand_off

SESSION_COOKIE = "arena_session"
DEFAULT_STATE_BYTES = 460  # about what Arena sent per state when this was written
ROOM_SIZE = 20
TICK_RATE = 20
MAX_MESSAGE_SIZE = 16 * 1024
PING_INTERVAL = 20.0  # the same server pings as Arena's, to reap dead peers
FIRST_TICK = 10_000  # five digits for over an hour at 20 Hz, so the state size stays exact
TS_EXAMPLE = 1_700_000_000_000  # milliseconds since 1970 have 13 digits until 2286
DATA_PATHS = ("tornado", "wire")

log = logging.getLogger("arena.floor")


def state_body(size: int) -> bytes:
    """The part of a state after `{"type":"state","tick":T,"ts":MS,` that makes the whole
    payload exactly `size` bytes (with a five-digit tick and a millisecond `ts`): `moved` rows
    like Arena's, then JSON whitespace. A size below the smallest state gives the smallest."""
    room = size - len(state_head(FIRST_TICK, TS_EXAMPLE))
    rows: list[bytes] = []
    body = b'"moved":[]'
    for pid in itertools.count(1):
        row = b"[%d,%d,%d,%d,%d]" % (pid, 1000 + 7 * pid, 2000 - 5 * pid, 10 + pid, 100 + pid)
        if len(body) + len(row) + (1 if rows else 0) + 1 > room:
            break
        rows.append(row)
        body = b'"moved":[' + b",".join(rows) + b"]"
    return body + b" " * max(0, room - len(body) - 1) + b"}"


def state_head(tick: int, ts_ms: int) -> bytes:
    return b'{"type":"state","tick":%d,"ts":%d,' % (tick, ts_ms)


class Room:
    """Up to `ROOM_SIZE` sockets and one `PeriodicCallback`, started with the room, so the
    rooms' ticks are spread over the period."""

    __slots__ = ("members", "tick", "_body", "_callback", "_counters", "_send")

    def __init__(self, body: bytes, counters: dict[str, int],
                 send: Callable[[WebSocketProtocol, bytes], bool]) -> None:
        self.members: list[FloorSocket] = []
        self.tick = FIRST_TICK
        self._body = body
        self._counters = counters
        self._send = send
        self._callback = PeriodicCallback(self._tick, 1000.0 / TICK_RATE)
        self._callback.start()

    def stop(self) -> None:
        self._callback.stop()

    def _tick(self) -> None:
        self.tick += 1
        # Encoded once and framed once per tick, written straight to every member's socket.
        payload = state_head(self.tick, int(time.time() * 1000)) + self._body
        frame = server_frame(payload)
        send = self._send
        sent = 0
        for member in self.members:
            ws = member.ws_connection
            if ws is None:
                continue
            if not send(ws, frame):
                continue
            sent += 1
        counters = self._counters
        counters["states_sent"] += sent
        counters["state_bytes_sent"] += sent * len(payload)  # payload bytes, as Arena counts


def send_tornado(ws: WebSocketProtocol, frame: bytes) -> bool:
    """Tornado's own write path: the frame, made once, into the socket's `IOStream`."""
    if ws.is_closing():
        return False
    ws.stream.write(frame)  # type: ignore[attr-defined]
    return True


def send_wire(ws: WebSocketProtocol, frame: bytes) -> bool:
    """Arena's own write path (`WireConnection.send_state`): straight to the asyncio transport
    (or into the wire until it exists), so the floor keeps every transport choice Arena makes."""
    if ws.is_closing():
        return False
    if isinstance(ws, HandoffProtocol13):
        wire = ws.wire
        transport = wire.transport
        if transport is not None:
            transport.write(frame)
        else:
            wire.write(frame)
    else:  # a socket that could not leave Tornado: its own stream
        ws.stream.write(frame)  # type: ignore[attr-defined]
    return True


class Rooms:
    """Join-or-create: the fullest room with a free seat, else a new one."""

    def __init__(self, state_bytes: int, data_path: str = "tornado") -> None:
        if data_path not in DATA_PATHS:
            raise ValueError(f"data path {data_path!r} is not one of {', '.join(DATA_PATHS)}")
        self.data_path = data_path
        self.send = send_wire if data_path == "wire" else send_tornado
        self.body = state_body(state_bytes)
        self.state_bytes = len(state_head(FIRST_TICK, TS_EXAMPLE)) + len(self.body)
        self.rooms: dict[int, Room] = {}
        self.counters = {"states_sent": 0, "state_bytes_sent": 0}
        self._ids = itertools.count(1)

    def join(self, socket: FloorSocket) -> int:
        best_id, best = None, None
        for room_id, room in self.rooms.items():
            if len(room.members) < ROOM_SIZE and (best is None or len(room.members) >
                                                  len(best.members)):
                best_id, best = room_id, room
        if best is None or best_id is None:
            best_id, best = next(self._ids), Room(self.body, self.counters, self.send)
            self.rooms[best_id] = best
        best.members.append(socket)
        return best_id

    def leave(self, socket: FloorSocket, room_id: int) -> None:
        room = self.rooms.get(room_id)
        if room is None:
            return
        if socket in room.members:
            room.members.remove(socket)
        if not room.members:
            room.stop()
            del self.rooms[room_id]

    @property
    def players(self) -> int:
        return sum(len(room.members) for room in self.rooms.values())


# -- HTTP ------------------------------------------------------------------------------------


class XsrfHandler(tornado.web.RequestHandler):
    """`GET /api/xsrf`: sets the `_xsrf` cookie and returns the token."""

    def get(self) -> None:
        self.write({"xsrf": self.xsrf_token.decode("ascii")})


class GuestHandler(tornado.web.RequestHandler):
    """`POST /api/guest`: a signed session cookie with a random id; nothing is stored."""

    _ids = itertools.count(1)

    def post(self) -> None:
        try:
            body = orjson.loads(self.request.body or b"{}")
            name = str(body.get("name") or "guest")[:20]
        except (orjson.JSONDecodeError, AttributeError):
            name = "guest"
        self.set_signed_cookie(SESSION_COOKIE, secrets.token_urlsafe(18), httponly=True,
                               samesite="Lax")
        self.write({"user": {"id": next(self._ids), "name": name, "guest": True}})


class HealthHandler(tornado.web.RequestHandler):
    """`GET /healthz`: players, rooms and what the rooms sent."""

    def initialize(self, rooms: Rooms) -> None:
        self.rooms = rooms

    def get(self) -> None:
        self.write({"status": "ok", "data_path": self.rooms.data_path,
                    "rooms": len(self.rooms.rooms),
                    "players": self.rooms.players,
                    "state_payload_bytes": self.rooms.state_bytes, **self.rooms.counters})


# -- the WebSocket ---------------------------------------------------------------------------


class FloorSocket(tornado.websocket.WebSocketHandler):
    """`/ws`: join, ping and input; everything else is ignored."""

    def initialize(self, rooms: Rooms) -> None:
        self.rooms = rooms
        self.room_id: int | None = None
        self.input: Any = None

    def prepare(self) -> None:
        # Before the upgrade: a missing or forged cookie gets a plain 401 and no socket.
        if self.get_signed_cookie(SESSION_COOKIE) is None:
            raise tornado.web.HTTPError(401, "no valid session")

    def get_websocket_protocol(self) -> WebSocketProtocol | None:
        stock = super().get_websocket_protocol()
        if stock is None or self.rooms.data_path == "tornado":
            return stock
        params = stock.params  # type: ignore[attr-defined]
        return HandoffProtocol13(self, False, params) if can_hand_off(self, params) else stock

    def open(self, *args: str, **kwargs: str) -> None:
        self.set_nodelay(True)

    def on_message(self, message: str | bytes) -> None:
        if type(message) is bytes:
            return
        try:
            msg = orjson.loads(message)
            kind = msg.get("type")
        except (orjson.JSONDecodeError, AttributeError):
            return
        if kind == "input":
            self.input = msg
        elif kind == "ping":
            self._send({"type": "pong", "id": msg.get("id"), "ts": int(time.time() * 1000)})
        elif kind == "join" and self.room_id is None:
            self.room_id = self.rooms.join(self)
            self._send({"type": "joined", "room": str(self.room_id), "mode": "arena",
                        "player": len(self.rooms.rooms[self.room_id].members),
                        "tick_rate": TICK_RATE})

    def on_close(self) -> None:
        if self.room_id is not None:
            self.rooms.leave(self, self.room_id)
            self.room_id = None

    def _send(self, msg: dict[str, Any]) -> None:
        ws = self.ws_connection
        if ws is None or ws.is_closing():
            return
        self.rooms.send(ws, server_frame(orjson.dumps(msg)))


def build_app(rooms: Rooms, cookie_secret: str | None = None) -> tornado.web.Application:
    deps = {"rooms": rooms}
    return tornado.web.Application(
        [
            (r"/api/xsrf", XsrfHandler),
            (r"/api/guest", GuestHandler),
            (r"/healthz", HealthHandler, deps),
            (r"/ws", FloorSocket, deps),
        ],
        cookie_secret=cookie_secret or secrets.token_hex(32),
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"samesite": "Lax", "path": "/"},
        websocket_max_message_size=MAX_MESSAGE_SIZE,
        websocket_ping_interval=PING_INTERVAL,
        websocket_ping_timeout=PING_INTERVAL,
        log_function=lambda handler: None,  # no access log: the floor does nothing it need not
    )


async def serve(host: str, port: int, state_bytes: int, data_path: str = "tornado") -> None:
    rooms = Rooms(state_bytes, data_path)
    server = HTTPServer(build_app(rooms))
    sockets = bind_sockets(port, host)
    server.add_sockets(sockets)
    actual = sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"floor listening on http://{host}:{actual} ({data_path} data path, state "
          f"{rooms.state_bytes} bytes, rooms "
          f"of {ROOM_SIZE}, {TICK_RATE} Hz, {type(loop).__module__.split('.')[0]} loop)",
          flush=True)
    await stop.wait()
    server.stop()
    for room in list(rooms.rooms.values()):
        room.stop()
    await server.close_all_connections()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_server",
                                     description="Arena's protocol with no game and no storage.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8899, help="0 picks a free port")
    parser.add_argument("--state-bytes", type=int, default=DEFAULT_STATE_BYTES,
                        help="payload size of each state (default %(default)s)")
    parser.add_argument("--data-path", choices=DATA_PATHS, default="tornado",
                        help="tornado: Tornado's own frame reader and IOStream writes (the "
                             "bare Tornado floor); wire: Arena's asyncio data path "
                             "(default %(default)s)")
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)
    if args.state_bytes < 1 or args.state_bytes > MAX_MESSAGE_SIZE * 4:
        parser.error("--state-bytes must be between 1 and 65536")
    logging.basicConfig(level=logging.WARNING)
    from bench.loadgen import run_with_loop

    try:
        run_with_loop(serve(args.host, args.port, args.state_bytes, args.data_path),
                      use_uvloop=not args.no_uvloop)
    except OSError as exc:
        print(f"floor: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
