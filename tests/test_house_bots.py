"""The server's own bots (game_server/house_bots.py) against a real server and real sockets:
they fill an arena room while few people play, make way one by one as people come, come back
when people leave, show as bots, and never reach the leaderboard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from client.session import ArenaSocket, login_guest
from client.world import World
from game_server.app import ArenaServer
from game_server.engine.room import Room
from game_server.games.arena_mode import DEFAULT_BOTS, arena_spec
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config


async def _start(tmp_path: Path, **overrides: Any) -> ArenaServer:
    srv = ArenaServer(make_config(tmp_path, **overrides), passwords=PasswordHasher(n=2**10))
    await srv.start()
    return srv


class Person:
    """A person in the arena over a real socket, with the world as its page would see it."""

    def __init__(self, sock: ArenaSocket) -> None:
        self.sock = sock
        self.world = World()
        self.bots: list[int] = []

    @classmethod
    async def join(cls, url: str, name: str, **join: Any) -> Person:
        person = cls(await ArenaSocket.connect(url, await login_guest(url, name)))
        person.sock.send({"type": "join", "mode": "arena", **join})
        await person.until(lambda p: p.world.joined)
        return person

    async def until(self, done: Callable[[Person], bool], within: float = 10.0) -> None:
        """Read the room's messages until `done` holds."""
        async with asyncio.timeout(within):
            while not done(self):
                msg = await self.sock.recv()
                assert msg is not None, "the socket closed"
                if self.world.apply(msg):
                    view = msg.get("state") if msg["type"] == "joined" else msg
                    if "bots" in view:
                        self.bots = view["bots"]

    def bot_names(self) -> set[str]:
        return {self.world.players[b].name for b in self.bots if b in self.world.players}


async def _until(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait for a condition on the in-process server (no event announces it)."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.fixture
async def arena(tmp_path: Path) -> AsyncIterator[ArenaServer]:
    """Bots on, the arena's rooms filled up to 4 (the operator's `--mode-option`)."""
    srv = await _start(tmp_path, house_bots=True, mode_options=("arena.bots=4",))
    try:
        yield srv
    finally:
        await srv.stop()


def test_the_arena_has_bots_by_default() -> None:
    assert arena_spec().options["bots"].default == DEFAULT_BOTS == 8


async def test_bots_fill_a_room_leave_as_people_come_and_come_back(arena) -> None:
    saved: list[int] = []  # every account whose result reaches the storage
    record = arena.storage.record_outcomes

    async def recording(mode: str, rule: Any, match_id: str, outcomes: Any) -> Any:
        saved.extend(user for user, _ in outcomes)
        return await record(mode, rule, match_id, outcomes)

    arena.storage.record_outcomes = recording  # type: ignore[method-assign]
    ann = await Person.join(arena.url, "Ann")
    # Alone in a new room: three bots make four, and her page sees them, flagged and named.
    await ann.until(lambda p: len(p.bot_names()) == 3)
    assert all(name.startswith("bot ") for name in ann.bot_names())
    assert len(ann.bot_names() | {"Ann"}) == 4  # distinct names
    (room,) = arena.matchmaker.rooms()
    assert (room.connected_count, room.bot_count, room.player_count) == (1, 3, 1)
    web = Browserless(arena.url)
    listed = orjson.loads((await web.request("GET", "/api/rooms")).body)
    assert [(r["connected"], r["players"], r["bots"]) for r in listed["rooms"]] == [(1, 1, 3)]

    # Quick play seats people by people: Bob and Cy come to Ann's room, a bot leaves for each.
    bob = await Person.join(arena.url, "Bob")
    assert bob.world.room == room.id
    await ann.until(lambda p: len(p.bot_names()) == 2)
    cy = await Person.join(arena.url, "Cy")
    await ann.until(lambda p: len(p.bot_names()) == 1)
    assert (room.connected_count, room.bot_count) == (3, 1)

    # Cy leaves: a bot comes back.
    cy.sock.send({"type": "leave"})
    await ann.until(lambda p: len(p.bot_names()) == 2)
    assert (room.connected_count, room.bot_count) == (2, 2)

    # Bots that left reported their mass like anyone; only people reach the leaderboard.
    for person in (ann, bob):
        person.sock.send({"type": "leave"})
    await _until(lambda: not arena.matchmaker.rooms())  # no people: the bots left, room gone
    try:
        async with asyncio.timeout(10):
            while True:
                board = orjson.loads((await web.request(
                    "GET", "/api/leaderboard?mode=arena")).body)
                names = {row["name"] for row in board["leaderboard"]}
                if {"Ann", "Bob", "Cy"} <= names:
                    break
                await asyncio.sleep(0.05)
        assert not [n for n in names if n.startswith("bot")], names
        assert len(saved) == 3 and min(saved) > 0, saved  # a bot's result is never saved
    finally:
        await web.aclose()
    for person in (ann, bob, cy):
        person.sock.close()


async def test_bots_keep_the_next_persons_seat_free_and_a_table_may_have_none(tmp_path) -> None:
    srv = await _start(tmp_path, house_bots=True, mode_options=("arena.max_players=3",))
    try:
        ann = await Person.join(srv.url, "Ann")
        await ann.until(lambda p: len(p.bot_names()) == 1)  # 8 wanted, but one seat stays free
        bob = await Person.join(srv.url, "Bob")
        assert bob.world.room == ann.world.room  # the bot made way
        await ann.until(lambda p: not p.bot_names())
        # A private table whose creator chose no bots gets none.
        cy = Person(await ArenaSocket.connect(srv.url, await login_guest(srv.url, "Cy")))
        cy.sock.send({"type": "create", "mode": "arena", "private": True,
                      "options": {"bots": 0}})
        await cy.until(lambda p: p.world.joined)
        table = srv.matchmaker.get(cy.world.room or "")
        assert isinstance(table, Room) and table.bot_target == 0
        srv.house_bots._balance(table)  # what the sweep does, now
        assert table.bot_count == 0 and srv.house_bots.bots(table) == []
        for person in (ann, bob, cy):
            person.sock.close()
    finally:
        await srv.stop()


async def test_no_bots_when_the_server_turns_them_off(tmp_path) -> None:
    srv = await _start(tmp_path, house_bots=False)
    try:
        assert srv.house_bots is None
        ann = await Person.join(srv.url, "Ann")
        await ann.until(lambda p: p.world.tick > 3)
        assert ann.bots == [] and len(ann.world.players) == 1
        ann.sock.close()
    finally:
        await srv.stop()
