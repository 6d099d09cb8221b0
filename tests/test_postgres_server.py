"""The server on PostgreSQL: --database-url, and a database outage answered with 503 (while
games go on, and only their recording in the match journal is dropped)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
from tornado.httpclient import HTTPClientError

from client.bots import run_bots
from game_server.app import ArenaServer
from game_server.journal.replay import Replay
from game_server.journal.store import load_journal
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config, recv_until
from tests.pg import PostgresServer, find_bindir, skip_unless_installed


@pytest.fixture
def private_postgres() -> PostgresServer:
    skip_unless_installed()
    bindir = find_bindir()
    assert bindir is not None
    with PostgresServer(bindir) as server:
        yield server


DICE = {"start_players": 2, "dice": 1}


async def dice_match(srv: ArenaServer, prefix: str, seed: int, count: int) -> list[dict[str, Any]]:
    """Two bots play a Liar's Dice match; the mode's finished journals once there are `count`
    (the empty room closes `--empty-room-grace` after the bots leave, and the writer ends its
    journal at its next flush)."""
    report = await run_bots(srv.url, 2, 60.0, "dice", prefix, seed=seed, matches=1,
                            options=DICE)
    assert report.ok, report.failures
    async with asyncio.timeout(10):
        while True:
            found = await srv.storage.journals_list(mode="dice", top=True)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)


async def test_a_server_on_postgres_plays_and_survives_an_outage(
    private_postgres: PostgresServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = private_postgres.dsn("arena")
    srv = ArenaServer(make_config(tmp_path, database_url=dsn), passwords=PasswordHasher(n=2**10))
    await srv.start()
    c = Browserless(srv.url)
    caplog.set_level(logging.INFO, logger="arena.journal")
    try:
        # A match's journal is stored in PostgreSQL and re-runs to the same states.
        [item] = await dice_match(srv, "dice", 5, 1)
        journal = await load_journal(srv.storage, item["id"])
        assert journal is not None and journal.finished
        assert Replay(journal.header, journal.records, journal.summary).verify().ok

        r = await c.request("POST", "/api/register", {"username": "pgfan", "password": "elephant!"})
        assert r.code == 201
        ws = await c.ws()
        ws.write_message(orjson.dumps({"type": "join", "mode": "arena"}).decode())
        await recv_until(ws, "joined")

        private_postgres.stop()  # the database goes away; the game keeps ticking
        await recv_until(ws, "state")
        # Its journal cannot be written: recording is dropped (said once), the game goes on.
        assert srv.journal is not None
        async with asyncio.timeout(20):
            while srv.journal.stats.dropped == 0:
                await recv_until(ws, "state")
        await recv_until(ws, "state")
        other = Browserless(srv.url)
        r = await other.request("POST", "/api/login", {"username": "pgfan",
                                                       "password": "elephant!"})
        assert r.code == 503 and orjson.loads(r.body)["error"] == "unavailable"
        assert r.headers["Retry-After"]
        with pytest.raises(HTTPClientError) as info:
            await c.ws()
        assert info.value.code == 503
        await other.aclose()

        private_postgres.start()  # back: logins work again
        again = Browserless(srv.url)
        r = await again.request("POST", "/api/login", {"username": "pgfan",
                                                       "password": "elephant!"})
        assert r.code == 200
        await again.aclose()
        # Recording works again for the next match, and the log says so.
        await dice_match(srv, "again", 6, 2)
        said = [r.getMessage() for r in caplog.records
                if r.name == "arena.journal" and r.levelno >= logging.WARNING]
        assert len(said) == 2 and "recording dropped" in said[0] and "work again" in said[1]
    finally:
        await c.aclose()
        await srv.stop()
