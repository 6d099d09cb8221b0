"""Operator announcements: `python -m game_server announce TEXT` reaches every player of every
process as global chat from "server", through Redis or, without it, the one server's signed
`POST /api/announce`; nobody without the cookie secret can send one."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from tornado.websocket import WebSocketClientConnection

from game_server.announce import AnnouncementVerifier, sign
from game_server.app import ArenaServer
from game_server.storage.passwords import PasswordHasher
from tests.conftest import TEST_SECRET, Browserless, make_config, recv_until, running
from tests.rd import RedisServer, redis_server, redis_url  # noqa: F401 (fixtures)

ANNOUNCEMENT = "Maintenance in 5 minutes: finish your rounds."


def expected(text: str = ANNOUNCEMENT) -> dict[str, object]:
    return {"type": "chat", "player": 0, "name": "server", "text": text, "scope": "global"}


async def announce(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the command; its exit code and output (killed if it outlives 30 s)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "game_server", "announce", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={k: v for k, v in {**os.environ, **(env or {})}.items() if v})
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, output.decode()


async def in_a_room(clients: list[Browserless], url: str, name: str
                    ) -> tuple[WebSocketClientConnection, str]:
    client = Browserless(url)
    clients.append(client)
    await client.guest(name)
    ws = await client.ws()
    ws.write_message(orjson.dumps({"type": "join", "mode": "arena"}).decode())
    return ws, (await recv_until(ws, "joined"))["room"]


@pytest.fixture
async def two_processes(tmp_path: Path, redis_url: str  # noqa: F811
                        ) -> AsyncIterator[tuple[ArenaServer, ArenaServer]]:
    """Two servers, each with its own connection to one Redis; one player a room, so each
    player's room is on the process they joined."""
    servers = []
    try:
        for _ in range(2):  # one database, as every process of one Arena shares
            server = ArenaServer(make_config(tmp_path, redis_url=redis_url,
                                             mode_options=("arena.max_players=1",)),
                                 passwords=PasswordHasher(n=2**10))
            await server.start()
            servers.append(server)
        yield servers[0], servers[1]
    finally:
        for server in servers:
            await server.stop()


async def test_an_announcement_reaches_rooms_on_every_process_through_redis(
        two_processes, redis_url: str, clients) -> None:  # noqa: F811
    a, b = two_processes
    on_a, room_a = await in_a_room(clients, a.url, "ann")
    on_b, room_b = await in_a_room(clients, b.url, "bob")
    assert a.matchmaker.get(room_a) is not None and b.matchmaker.get(room_b) is not None
    code, output = await announce(ANNOUNCEMENT, env={"ARENA_REDIS_URL": redis_url})
    assert code == 0, output
    for ws in (on_a, on_b):
        assert await recv_until(ws, "chat") == expected()


async def test_without_redis_the_command_reaches_the_running_server(
        tmp_path: Path, clients) -> None:
    data = tmp_path / "data"
    async with running(data, env={"ARENA_COOKIE_SECRET": "", "ARENA_REDIS_URL": ""}) as (_, url):
        ws, _ = await in_a_room(clients, url, "ann")
        # The server generated its cookie secret in its data directory; the command reads it.
        code, output = await announce(ANNOUNCEMENT, "--url", url, "--data-dir", str(data),
                                      env={"ARENA_COOKIE_SECRET": "", "ARENA_REDIS_URL": ""})
        assert code == 0, output
        assert await recv_until(ws, "chat") == expected()
        # Another data directory has another secret (or none): refused, nothing sent.
        code, output = await announce("forged", "--url", url, "--data-dir",
                                      str(tmp_path / "elsewhere"), env={"ARENA_REDIS_URL": ""})
        assert code == 2 and "no cookie secret" in output
        code, output = await announce("forged", "--url", url, env={
            "ARENA_COOKIE_SECRET": "another-secret-" + "y" * 40, "ARENA_REDIS_URL": ""})
        assert code == 2 and "403" in output, output


async def test_the_command_says_clearly_when_it_cannot_announce(tmp_path: Path) -> None:
    code, output = await announce("", env={"ARENA_COOKIE_SECRET": TEST_SECRET})
    assert code == 2 and "1 to 200 characters" in output
    code, output = await announce("hello", "--url", "http://127.0.0.1:9", env={
        "ARENA_COOKIE_SECRET": TEST_SECRET, "ARENA_REDIS_URL": ""})
    assert code == 1 and "cannot reach" in output, output
    code, output = await announce("hello", "--redis-url", "redis://127.0.0.1:9/0")
    assert code == 1 and "cannot reach" in output, output


async def test_only_a_fresh_unused_signature_of_this_secret_announces(
        server, client_factory) -> None:
    listener = client_factory()
    await listener.guest("ann")
    ws = await listener.ws()
    operator = client_factory()  # no session, no XSRF cookie: the signature is the credential

    async def post(token: object) -> tuple[int, dict[str, object]]:
        response = await operator.request("POST", "/api/announce", {"token": token}, xsrf=False)
        return response.code, orjson.loads(response.body)

    now = __import__("time").time()
    for token in (sign("another-secret-" + "y" * 40, "forged"),
                  sign(TEST_SECRET, "stale", clock=lambda: now - 120),
                  # a session cookie's value is signed with the same secret, under another name
                  (await operator.guest("eve") and operator.cookies["arena_session"]),
                  "not a token", 42):
        code, answer = await post(token)
        assert (code, answer["error"]) == (403, "bad_signature"), token
    token = sign(TEST_SECRET, "Welcome!")
    assert await post(token) == (200, {"ok": True})
    assert await recv_until(ws, "chat") == expected("Welcome!")
    code, answer = await post(token)  # a replay
    assert (code, answer["error"]) == (403, "bad_signature")


def test_a_verifier_accepts_each_rotated_secret_version() -> None:
    secret = {1: "old-" + "o" * 40, 2: "new-" + "n" * 40}
    verifier = AnnouncementVerifier(secret)
    assert verifier.verify(sign(secret, "hi")) == "hi"
    assert verifier.verify(sign({1: secret[1]}, "from the old one")) == "from the old one"


def test_recent_announcements_keep_the_newest_few_for_a_while() -> None:
    from game_server.announce import RecentAnnouncements

    now = [1000.0]
    recent = RecentAnnouncements(keep=2, max_age=60.0, clock=lambda: now[0])
    assert recent.recent() == []
    recent.add("one")
    now[0] += 10
    recent.add("two")
    recent.add("three")  # only the newest two are kept
    assert [a["text"] for a in recent.recent()] == ["two", "three"]
    assert recent.recent()[0]["at"] == 1_010_000  # ms since the epoch
    now[0] += 61  # past their age: gone from what pages are told
    assert recent.recent() == []
