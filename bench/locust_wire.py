"""What the locust player (`bench/locustfile.py`) needs of the wire, pure and gevent-free: a reader
of server frames that returns every message, the close code, the WebSocket URL, the session cookie
as set, and each user's loopback source address."""

from __future__ import annotations

import struct

from bench.wsframes import OP_CONTINUATION

SESSION_COOKIE = "arena_session"
LOOPBACK_SOURCES = 250  # 127.0.0.2 .. 127.0.0.251


class FrameReader:
    """Parses server-to-client WebSocket frames (unmasked) out of a byte stream.

    `feed` takes whatever one `recv` returned and gives back every complete message and control
    frame in it as `(opcode, payload)`; fragmented messages are reassembled.
    """

    __slots__ = ("_buf", "_parts", "_parts_opcode")

    def __init__(self) -> None:
        self._buf = b""
        self._parts: list[bytes] | None = None
        self._parts_opcode = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf + data if self._buf else data
        out: list[tuple[int, bytes]] = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if end - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif n == 127:
                if end - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            if b1 & 0x80:
                raise ValueError("the server sent a masked frame")
            start = pos + head
            if end - start < n:
                break
            payload = buf[start : start + n]
            pos = start + n
            opcode = b0 & 0x0F
            if opcode >= 0x8:  # control frames are never fragmented, may come between fragments
                out.append((opcode, payload))
            elif b0 & 0x80 and opcode != OP_CONTINUATION and self._parts is None:
                out.append((opcode, payload))
            elif opcode != OP_CONTINUATION:
                self._parts, self._parts_opcode = [payload], opcode
            elif self._parts is None:
                raise ValueError("a continuation frame without a first fragment")
            else:
                self._parts.append(payload)
                if b0 & 0x80:
                    out.append((self._parts_opcode, b"".join(self._parts)))
                    self._parts = None
        self._buf = buf[pos:]
        return out


def websocket_url(host: str) -> str:
    """`http://h:p[/prefix]` → `ws://h:p[/prefix]/ws` (https → wss)."""
    scheme, sep, rest = host.partition("://")
    ws_scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(scheme)
    if not sep or ws_scheme is None:
        raise ValueError(f"--host must be an http(s) URL, not {host!r}")
    return f"{ws_scheme}://{rest.rstrip('/')}/ws"


def session_cookie(set_cookie_headers: list[str]) -> str | None:
    """The `arena_session` value exactly as the server set it (quotes included), or None."""
    value = None
    for header in set_cookie_headers:
        name, _, rest = header.partition("=")
        if name.strip() == SESSION_COOKIE:
            value = rest.split(";", 1)[0].strip() or None  # a later, empty one deletes it
    return value


def source_address(server_host: str, index: int) -> str | None:
    """The local address user number `index` connects from: its own 127.0.0.x when the server
    is on IPv4 loopback, as real players each come from their own address (the server caps
    sockets per address); None (the system's choice) for any other server."""
    if not server_host.startswith("127."):
        return None
    return f"127.0.0.{2 + index % LOOPBACK_SOURCES}"


def close_code(payload: bytes) -> int:
    """The code of a close frame's payload; 1005 (no status) when it has none."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
