"""Quick play fills rooms with the people who are there: held seats (players whose connection
dropped, waiting for a resume) still take room in a room, but a room of only held seats is
empty of people, and the counts say who is connected and who is away (issue #22, item 4)."""

from __future__ import annotations

import asyncio

import orjson
from tornado.httpclient import AsyncHTTPClient

from client.bots import run_bots
from client.session import ArenaSocket, login_guest
from game_server.app import ArenaServer
from game_server.storage.passwords import PasswordHasher
from tests.conftest import make_config


async def _get(url: str) -> dict:
    response = await AsyncHTTPClient().fetch(url)
    return orjson.loads(response.body)


async def _until(check, what: str, within: float = 20.0) -> None:
    """`check()` holds: the server's counts have no event to await, so they are polled,
    within a bound."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_after_bots_drop_new_bots_and_a_person_play_together_not_beside_ghosts(
        tmp_path) -> None:
    # The server: the arena's 20 seats, a dropped seat held for 15 s (longer than
    # this test), one process.
    srv = ArenaServer(make_config(tmp_path, resume_grace=60.0),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    try:
        # 15 bots play in one room and drop (their sockets close without `leave`).
        first = await run_bots(srv.url, bots=15, duration=1.0, seed=1, name_prefix="old")
        assert first.joined == 15, first.failures
        await _until(lambda: srv.matchmaker.connected_count == 0, "the drops noticed")
        health = await _get(f"{srv.url}/healthz")
        assert (health["players_connected"], health["seats_held"], health["seats_connected"],
                health["seats_away"]) == (0, 15, 0, 15)
        [old] = srv.matchmaker.rooms()
        assert (old.connected_count, old.away_count) == (0, 15)

        # 10 new bots: a room of only held seats has nobody in it, so they play together
        # in one room rather than 5 beside the ghosts and 5 in another.
        stop = asyncio.Event()
        playing = asyncio.create_task(run_bots(srv.url, bots=10, duration=60.0, seed=2,
                                               name_prefix="new", stop=stop))
        await _until(lambda: srv.matchmaker.connected_count == 10 or playing.done(),
                     "ten new bots seated")
        by_room = {r.id: (r.connected_count, r.away_count) for r in srv.matchmaker.rooms()}
        assert by_room.pop(old.id) == (0, 15), "nobody new sits beside the held seats"
        assert list(by_room.values()) == [(10, 0)], by_room

        # A person joining by mode plays with the ten, not alone.
        cookie = await login_guest(srv.url, "person")
        person = await ArenaSocket.connect(srv.url, cookie)
        person.send({"type": "join", "mode": "arena"})
        while (msg := await person.recv()) is not None and msg["type"] != "joined":
            pass
        assert msg is not None and msg["room"] in by_room
        assert msg["away"] == []
        # The lobby's list says who is connected and who is away.
        rooms = {r["id"]: r for r in (await _get(f"{srv.url}/api/rooms"))["rooms"]}
        assert (rooms[msg["room"]]["connected"], rooms[msg["room"]]["away"]) == (11, 0)
        assert (rooms[old.id]["players"], rooms[old.id]["connected"],
                rooms[old.id]["away"]) == (15, 0, 15)
        person.close()
        stop.set()
        report = await playing
        assert report.joined == 10, report.failures
    finally:
        await srv.stop()
