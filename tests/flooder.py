"""A flooding client, run as its own process so it never shares the server's event loop.

`python -m tests.flooder PORT COOKIE SECONDS KIND` completes the WebSocket handshake by hand,
joins a room, then sends small masked frames as fast as loopback takes them (KIND `message`:
28-byte JSON `ping` messages; `control`: WebSocket ping frames) until the server drops the
connection or SECONDS pass. It prints one JSON line: how many frames it sent and after how many
seconds of flooding the server closed the connection (null if it never did).
"""

from __future__ import annotations

import base64
import os
import socket
import sys
import time

import orjson

from bench.wsframes import OP_PING, OP_TEXT, client_frame


def handshake(port: int, cookie: str) -> socket.socket:
    return upgrade(socket.create_connection(("127.0.0.1", port)), port, cookie)


def upgrade(sock: socket.socket, port: int, cookie: str) -> socket.socket:
    """Send the WebSocket upgrade for `/ws` on `sock` (plain or TLS) and read the answer, one
    byte at a time so that nothing after the head is consumed; `sock` once upgraded."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1)
        if not data:
            raise SystemExit("the server closed the connection during the handshake")
        head += data
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"handshake refused: {head[:40]!r}")
    return sock


def main() -> None:
    port, cookie, seconds, kind = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
    sock = handshake(port, cookie)
    mask = os.urandom(4)
    sock.sendall(client_frame(b'{"type":"join","mode":"arena"}', mask, OP_TEXT))
    if kind == "message":
        one = client_frame(b'{"type":"ping","id":1}', mask, OP_TEXT)
    else:
        one = client_frame(b"flood", mask, OP_PING)
    batch = one * 512
    sock.settimeout(1.0)
    sent = 0
    closed_after = None
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            sock.sendall(batch)
        except TimeoutError:
            continue  # the server is not reading: keep trying until it drops us
        except OSError:  # reset or broken pipe: the server dropped the connection
            closed_after = time.monotonic() - start
            break
        sent += 512
    sock.close()
    print(orjson.dumps({"sent": sent, "closed_after": closed_after}).decode(), flush=True)


if __name__ == "__main__":
    main()
