"""The WebSocket wire as the load generator (`bench.loadgen`) sees it: server frames parsed out
of a byte stream (states counted by their first bytes, never decoded), masked client frames, and
the handshake's GUID (RFC 6455)."""

from __future__ import annotations

import math
import re
import struct
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from tornado.util import _websocket_mask

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

MAX_REDIRECTS = 3  # redirects a load-generator player follows in one join attempt

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

# `protocol.messages.state` puts `type` first and orjson keeps insertion order, so a state is
# recognised by its first bytes; a state with its keys in another order is still counted after
# a full decode.
STATE_PREFIX = b'{"type":"state",'

# State latency (arrival wall clock minus the state's `ts`, in ms, same host) is counted in a
# histogram of `LATENCY_STEPS_PER_MS` buckets per millisecond up to `LATENCY_TOP_MS`; the last
# bucket holds everything later. `ts` comes right after `type` and `tick`, so it is looked for
# only in a state's first `TS_SEARCH_BYTES`.
LATENCY_STEPS_PER_MS = 10
LATENCY_TOP_MS = 10_000
LATENCY_BUCKETS = LATENCY_TOP_MS * LATENCY_STEPS_PER_MS + 1
TS_SEARCH_BYTES = 64
_FIND_TS = re.compile(rb'"ts":(\d+)').search


def latency_histogram() -> list[int]:
    """An empty state latency histogram for `FrameParser.latency`."""
    return [0] * LATENCY_BUCKETS


def histogram_percentile(counts: list[int], q: float) -> float | None:
    """The `q`th percentile (0..100) of a latency histogram, in ms (the bucket's upper edge,
    so a percentile is never reported lower than it was); None when it is empty."""
    total = sum(counts)
    if not total:
        return None
    rank = max(1, math.ceil(q / 100.0 * total))
    seen = 0
    for bucket, count in enumerate(counts):
        seen += count
        if seen >= rank:
            return (bucket + 1) / LATENCY_STEPS_PER_MS
    return None  # not reached: seen == total >= rank at the last bucket


class ProtocolError(Exception):
    """The server broke RFC 6455 (a masked frame, a continuation without a start)."""


class FrameParser:
    """Server-to-client WebSocket frames out of a byte stream that may split them anywhere.

    `feed(data)` counts every complete text message starting with `STATE_PREFIX` in `states`
    (without copying it out) and returns every other complete message as `(opcode, payload)`:
    other text, binary, and control frames (close, ping, pong). Fragmented messages are
    reassembled; control frames may come between fragments.

    With a `latency` histogram (`latency_histogram()`, may be shared by many parsers) each
    unfragmented state's latency is counted in it too: the wall clock when its bytes were fed
    minus its `ts`.
    """

    __slots__ = ("_buf", "_parts", "_parts_opcode", "latency", "states")

    def __init__(self, latency: list[int] | None = None) -> None:
        self._buf = b""
        self._parts: list[bytes] | None = None
        self._parts_opcode = 0
        self.states = 0
        self.latency = latency

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf + data if self._buf else data
        pos = 0
        end = len(buf)
        out: list[tuple[int, bytes]] = []
        states = 0
        latency = self.latency
        now_ms = 0.0
        while end - pos >= 2:
            b0 = buf[pos]
            n = buf[pos + 1]
            if n & 0x80:
                raise ProtocolError("the server sent a masked frame")
            if n < 126:
                start = pos + 2
            elif n == 126:
                if end - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            else:
                if end - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            stop = start + n
            if stop > end:
                break
            pos = stop
            if b0 == 0x81 and self._parts is None:  # a whole text message: the hot path
                if buf.startswith(STATE_PREFIX, start, stop):
                    states += 1
                    if latency is not None:
                        found = _FIND_TS(buf, start, min(stop, start + TS_SEARCH_BYTES))
                        if found is not None:
                            if not now_ms:
                                now_ms = time.time() * 1000.0
                            bucket = int((now_ms - int(found.group(1))) * LATENCY_STEPS_PER_MS)
                            latency[min(max(bucket, 0), LATENCY_BUCKETS - 1)] += 1
                else:
                    out.append((OP_TEXT, buf[start:stop]))
                continue
            opcode = b0 & 0x0F
            payload = buf[start:stop]
            if opcode >= 0x8:
                out.append((opcode, payload))
            elif opcode != OP_CONTINUATION:
                if self._parts is not None:
                    raise ProtocolError("a new message before the last one's final fragment")
                if b0 & 0x80:
                    out.append((opcode, payload))
                else:
                    self._parts, self._parts_opcode = [payload], opcode
            elif self._parts is None:
                raise ProtocolError("a continuation frame without a first fragment")
            else:
                self._parts.append(payload)
                if b0 & 0x80:
                    message = b"".join(self._parts)
                    self._parts = None
                    if self._parts_opcode == OP_TEXT and message.startswith(STATE_PREFIX):
                        states += 1
                    else:
                        out.append((self._parts_opcode, message))
        self._buf = buf[pos:] if pos else buf
        if states:
            self.states += states
        return out


def client_frame(payload: bytes, mask: bytes, opcode: int = OP_TEXT) -> bytes:
    """One masked client-to-server frame (RFC 6455 5.3): every client frame must be masked."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + _websocket_mask(mask, payload)


def close_code(payload: bytes) -> int | None:
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None


@dataclass(frozen=True, slots=True)
class RedirectTarget:
    """Where a `redirect` sends a player (PROTOCOL.md, section 4): connect to `host`:`port`,
    upgrade `path` (the redirect's path with `?seat=TOKEN`), then send `join` with `seat`."""

    host: str
    port: int
    path: str
    seat: str
    expires_in: float

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{self.path}"


def redirect_target(msg: dict[str, Any]) -> RedirectTarget | None:
    """The target of a `redirect` message; None when it cannot be followed over plain TCP
    (not a `ws://` URL, no seat)."""
    url, seat = msg.get("url"), msg.get("seat")
    if not isinstance(url, str) or not isinstance(seat, str) or not seat:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port or 80
    except ValueError:
        return None
    if parts.scheme != "ws" or not parts.hostname:
        return None
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "seat"]
    query.append(("seat", seat))
    path = f"{parts.path or '/'}?{urlencode(query, quote_via=quote, safe='')}"
    expires = msg.get("expires_in")
    ok = isinstance(expires, int | float) and not isinstance(expires, bool) and expires > 0
    return RedirectTarget(parts.hostname, port, path, seat, float(expires) if ok else 5.0)
