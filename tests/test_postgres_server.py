"""The server on PostgreSQL: --database-url, and a database outage answered with 503."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tornado.httpclient import HTTPClientError

from game_server.app import ArenaServer
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


async def test_a_server_on_postgres_plays_and_survives_an_outage(
    private_postgres: PostgresServer, tmp_path: Path
) -> None:
    dsn = private_postgres.dsn("arena")
    srv = ArenaServer(make_config(tmp_path, database_url=dsn), passwords=PasswordHasher(n=2**10))
    await srv.start()
    c = Browserless(srv.url)
    try:
        r = await c.request("POST", "/api/register", {"username": "pgfan", "password": "elephant!"})
        assert r.code == 201
        ws = await c.ws()
        ws.write_message(orjson.dumps({"type": "join", "mode": "arena"}).decode())
        await recv_until(ws, "joined")

        private_postgres.stop()  # the database goes away; the game keeps ticking
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
    finally:
        await c.aclose()
        await srv.stop()
