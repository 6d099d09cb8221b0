"""How a load-generator player gets in (not measured): its own loopback source address, and a
guest login over one raw HTTP/1.1 keep-alive connection. The response-head helpers serve the
WebSocket handshake too."""

from __future__ import annotations

import asyncio

import orjson

SESSION_COOKIE = "arena_session"
XSRF_COOKIE = "_xsrf"
LOOPBACK_SOURCES = 253  # 127.0.0.2 .. 127.0.0.254


class PlayerFailed(Exception):
    """A player could not log in, connect or join; the message is its failure kind."""


def source_address(server_host: str, index: int) -> str | None:
    """Player `index`'s own loopback address (127.0.0.2 .. 127.0.0.254, round-robin) when the
    server is on 127.x, since the server caps sockets per address; else the system's choice."""
    if not server_host.startswith("127."):
        return None
    return f"127.0.0.{2 + index % LOOPBACK_SOURCES}"


def set_cookies(head: bytes) -> dict[str, str]:
    """`Set-Cookie` values of a response head by name, exactly as set (quotes included)."""
    cookies: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"set-cookie":
            pair = value.decode("latin-1").split(";", 1)[0]
            key, _, val = pair.partition("=")
            cookies[key.strip()] = val.strip()
    return cookies


def response_header(head: bytes, wanted: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == wanted:
            return value.strip()
    return None


def response_status(head: bytes) -> int:
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return 0


async def _http(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: bytes,
) -> tuple[int, bytes, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = response_header(head, b"content-length")
    body = await reader.readexactly(int(length)) if length else b""
    return response_status(head), head, body


async def guest_login(host: str, port: int, source: str | None, name: str) -> str:
    """Log in as a guest on one keep-alive connection; the `arena_session` value as set."""
    local = (source, 0) if source else None
    reader, writer = await asyncio.open_connection(host, port, local_addr=local)
    netloc = f"{host}:{port}"
    try:
        status, head, body = await _http(
            reader, writer,
            f"GET /api/xsrf HTTP/1.1\r\nHost: {netloc}\r\n\r\n".encode(),
        )
        cookie = set_cookies(head).get(XSRF_COOKIE)
        if status != 200 or not cookie:
            raise PlayerFailed(f"GET /api/xsrf: HTTP {status}" if status != 200
                               else "GET /api/xsrf set no _xsrf cookie")
        token = orjson.loads(body).get("xsrf") or cookie
        payload = orjson.dumps({"name": name})
        status, head, _ = await _http(
            reader, writer,
            (
                f"POST /api/guest HTTP/1.1\r\nHost: {netloc}\r\n"
                f"Cookie: {XSRF_COOKIE}={cookie}\r\nX-XSRFToken: {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            ).encode() + payload,
        )
        if status != 200:
            raise PlayerFailed(f"POST /api/guest: HTTP {status}")
        session = set_cookies(head).get(SESSION_COOKIE)
        if not session:
            raise PlayerFailed(f"POST /api/guest set no {SESSION_COOKIE} cookie")
        return session
    finally:
        writer.close()
