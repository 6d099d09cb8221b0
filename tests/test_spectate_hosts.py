"""Spectating across hosts: two `python -m game_server` processes sharing a real Redis and a
real PostgreSQL (tests/test_hosts.py's deployment). A room of one host is watched from the
other as it is joined: a `redirect` whose signed token says "spectate", claimed over there.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import recv_until
from tests.pg import postgres_server  # noqa: F401 (fixture)
from tests.rd import private_redis  # noqa: F401 (fixture)
from tests.test_hosts import (  # noqa: F401 (fixtures)
    _answer,
    claim,
    database,
    login,
    pytestmark,
    rooms,
    send,
    two_hosts,  # noqa: F811
    until,
)

__all__ = ["pytestmark"]


async def test_a_room_of_one_host_is_watched_from_the_other(two_hosts, clients  # noqa: F811
                                                            ) -> None:
    (_, url_a), (_, url_b) = two_hosts
    ann = await login(clients, url_a, "ann")
    on_a = await ann.ws()
    send(on_a, type="create", mode="arena")
    joined = await recv_until(on_a, "joined")
    # From B: redirected to A with a spectator's pass, and watching there.
    eve = await login(clients, url_b, "eve")
    on_b = await eve.ws()
    send(on_b, type="join", room=joined["room"], spectate=True)
    redirect = await _answer(on_b)
    assert (redirect["type"], redirect["url"]) == ("redirect", "ws" + url_a[4:] + "/ws")
    watched = await claim(eve, redirect)
    assert (watched["type"], watched["room"], watched["player"], watched["spectator"]) == (
        "joined", joined["room"], 0, True)
    spectator = eve.sockets[-1]
    await recv_until(spectator, "state")
    # Both lobbies count the spectator, not as a player.

    async def counted() -> list[dict[str, Any]]:
        return [r for r in await rooms(url_b)
                if r["id"] == joined["room"] and r.get("spectators") == 1 and r["players"] == 1]

    await until(counted, "B's lobby counting A's spectator (and its one player)", 5)
    # A spectator's pass takes no seat: the game messages it sends are refused over there.
    send(spectator, type="input", seq=1, dx=1.0, dy=0.0)
    assert (await recv_until(spectator, "error"))["code"] == "not_a_player"
    # A room no host has, from B (another account: eve's socket on B made way for A's).
    fay = await (await login(clients, url_b, "fay")).ws()
    send(fay, type="join", room="nosuchroom", spectate=True)
    assert (await recv_until(fay, "error"))["code"] == "room_not_found"
    # The room closes (its only player leaves, the room is disposed): the spectator is told.
    send(on_a, type="leave")
    assert (await recv_until(spectator, "left", within=10))["reason"] == "room_closed"
