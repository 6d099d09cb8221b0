"""Replays over HTTP (transport/replays.py): a Liar's Dice match played through a real server by
two socket clients, recorded, then watched again through `GET /api/replays/<id>/stream`: who
may watch which view (a finished match: anyone, any player or the public view; a live one:
only your own seat), the errors (unknown id, bad viewer, not yours), what the stream holds, and
the pages (/replays, /replays/<id>, a missing replay). One server for the module.
"""

from __future__ import annotations

import asyncio
import gzip
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
import pytest_asyncio
from tornado.websocket import WebSocketClientConnection

from game_server.app import ArenaServer
from game_server.games import api as games_api
from game_server.journal.codec import encode_chunk
from game_server.journal.store import load_journal
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config, recv_until

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def until(check: Callable[[], Awaitable[Any]], within: float = 10.0) -> Any:
    """Await `check()` until it is truthy (it asks the server or the database each time)."""
    async with asyncio.timeout(within):
        while not (found := await check()):  # noqa: ASYNC110 - the database says when
            await asyncio.sleep(0.05)
    return found


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ArenaServer]:
    srv = ArenaServer(make_config(tmp_path_factory.mktemp("replays"), empty_room_grace=0.2),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    yield srv
    await srv.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def people(server: ArenaServer) -> AsyncIterator[Callable[[str], Awaitable[Browserless]]]:
    made: list[Browserless] = []

    async def make(name: str) -> Browserless:
        person = Browserless(server.url)
        made.append(person)
        person.user = await person.guest(name)  # type: ignore[attr-defined]
        return person

    yield make
    for person in made:
        await person.aclose()


async def seated(ws: WebSocketClientConnection, msg: dict[str, Any]) -> dict[str, Any]:
    await ws.write_message(orjson.dumps(msg).decode())
    return await recv_until(ws, "joined")


async def play_dice(server: ArenaServer, ann: Browserless, bob: Browserless) -> str:
    """Ann and Bob play a one-die match to its end and leave; the journal's id once stored."""
    a, b = await ann.ws(), await bob.ws()
    joined = await seated(a, {"type": "create", "mode": "dice", "options": {"dice": 1},
                              "private": True})
    await seated(b, {"type": "join", "code": joined["code"]})
    sockets = {}
    for ws in (a, b):
        state = await recv_until(ws, "state", where=lambda m: m.get("status") == "playing")
        sockets[state["me"]] = ws
    turn = state["turn"]
    other = next(p for p in sockets if p != turn)
    await sockets[turn].write_message(orjson.dumps({"type": "bid", "count": 1, "face": 2}).decode())
    await recv_until(sockets[other], "state", where=lambda m: bool(m.get("bid")))
    await sockets[other].write_message(orjson.dumps({"type": "challenge"}).decode())
    for ws in (a, b):
        await recv_until(ws, "state", where=lambda m: m.get("status") == "finished")
        await ws.write_message(orjson.dumps({"type": "leave"}).decode())
        await recv_until(ws, "left")

    async def ended() -> str | None:
        items = await server.storage.journals_list(mode="dice", user=ann.user["id"])  # type: ignore[attr-defined]
        return next((i["id"] for i in items if i["ended"] is not None), None)

    return await until(ended)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def match(server: ArenaServer) -> AsyncIterator[dict[str, Any]]:
    """One finished dice match, recorded: its id and its two players' clients."""
    ann, bob = Browserless(server.url), Browserless(server.url)
    ann.user = await ann.guest("Ann")  # type: ignore[attr-defined]
    bob.user = await bob.guest("Bob")  # type: ignore[attr-defined]
    journal_id = await play_dice(server, ann, bob)
    yield {"id": journal_id, "ann": ann, "bob": bob}
    await ann.aclose()
    await bob.aclose()


async def stream(person: Browserless, journal_id: str, query: str = "",
                 **headers: str) -> tuple[int, Any]:
    response = await person.request("GET", f"/api/replays/{journal_id}/stream{query}",
                                    headers=headers or None)
    return response.code, orjson.loads(response.body)


async def test_a_finished_match_streams_each_players_view_and_the_public_one(
        match: dict[str, Any], people: Callable[[str], Awaitable[Browserless]]) -> None:
    ann = match["ann"]
    status, data = await stream(ann, match["id"])
    assert status == 200, data
    # Without a viewer, a player gets their own seat.
    assert data["viewer"] == 1
    assert {k: data[k] for k in ("id", "mode", "version", "finished", "tick_rate")} == {
        "id": match["id"], "mode": "dice", "version": "1", "finished": True, "tick_rate": 0}
    assert data["viewers"] == [{"player": 1, "name": "Ann"}, {"player": 2, "name": "Bob"}]
    events = data["events"]
    # What the connection got, in order (a game may broadcast as a player joins, before its
    # `joined`): the first `joined` is the seat.
    first = next(m for _, m in events if m["type"] == "joined")
    assert first["player"] == 1
    assert "resume" not in first  # a seat's key is never shown
    assert [ms for ms, _ in events] == sorted(ms for ms, _ in events)
    assert data["duration_ms"] >= events[-1][0]
    views = [m for _, m in events if m["type"] == "state"]
    assert views[-1]["status"] == "finished"
    # Ann's view hides Bob's die until the reveal: it is what her connection received.
    playing = next(m for m in views if m["status"] == "playing")
    assert playing["me"] == 1 and len(playing["dice"]) == 1

    # Anyone may watch a finished match: Bob's seat, or everyone's (viewer 0).
    carol = await people("Carol")
    status, bobs = await stream(carol, match["id"], "?viewer=2")
    assert status == 200 and bobs["viewer"] == 2
    assert next(m for _, m in bobs["events"] if m["type"] == "joined")["player"] == 2
    status, public = await stream(carol, match["id"], "?viewer=0")
    if hasattr(games_api, "SPECTATOR"):
        assert status == 200 and public["viewer"] == 0
        assert all("dice" not in m for _, m in public["events"] if m["type"] == "state"
                   and m.get("status") == "playing")
        assert (await stream(carol, match["id"]))[1] == public  # a stranger's default
    else:
        # A server without spectators has no public view to show: said so, and a stranger
        # with no viewer asked gets the first seat's instead.
        assert status == 409 and public["error"] == "replay_unavailable"
        status, default = await stream(carol, match["id"])
        assert status == 200 and default["viewer"] == 1


async def test_the_stream_is_gzipped_when_asked(match: dict[str, Any]) -> None:
    plain = await match["bob"].request("GET", f"/api/replays/{match['id']}/stream?viewer=2")
    zipped = await match["bob"].request("GET", f"/api/replays/{match['id']}/stream?viewer=2",
                                        headers={"Accept-Encoding": "gzip"})
    # Tornado's client unzips by itself when it asked: ask with decompress off to see the bytes.
    assert plain.code == zipped.code == 200
    assert orjson.loads(plain.body) == orjson.loads(zipped.body)
    assert zipped.headers.get("Vary") == "Accept-Encoding"
    raw = await match["bob"].http.fetch(
        match["bob"].base + f"/api/replays/{match['id']}/stream?viewer=2",
        headers={"Accept-Encoding": "gzip", "Cookie": match["bob"].cookie_header()},
        decompress_response=False)
    assert raw.headers["Content-Encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(raw.body)) == orjson.loads(plain.body)


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/replays/0123456789abcdef0123456789abcdef/stream", 404, "replay_not_found"),
    ("/api/replays/not-an-id/stream", 404, "replay_not_found"),
    ("/api/replays/{id}/stream?viewer=two", 400, "bad_viewer"),
    ("/api/replays/{id}/stream?viewer=-1", 400, "bad_viewer"),
    ("/api/replays/{id}/stream?viewer=9", 400, "bad_viewer"),
])
async def test_bad_ids_and_viewers_get_a_clear_json_error(
        match: dict[str, Any], path: str, status: int, code: str) -> None:
    response = await match["ann"].request("GET", path.format(id=match["id"]))
    assert response.code == status
    body = orjson.loads(response.body)
    assert body["error"] == code and body["message"]


async def test_no_session_no_stream(server: ArenaServer, match: dict[str, Any]) -> None:
    response = await Browserless(server.url).request("GET", f"/api/replays/{match['id']}/stream")
    assert response.code == 401
    assert orjson.loads(response.body)["error"] == "not_logged_in"


async def test_a_live_match_shows_only_your_own_seat(
        server: ArenaServer, people: Callable[[str], Awaitable[Browserless]]) -> None:
    dan = await people("Dan")
    ws = await dan.ws()
    joined = await seated(ws, {"type": "create", "mode": "dice", "private": True})
    room = next(r for r in server.matchmaker.rooms() if r.id == joined["room"])

    # A live match is in no list (they show finished ones): its room knows its id.
    journal_id = room.journal_id

    async def begun() -> bool:
        return await server.storage.journal_load(journal_id) is not None

    await until(begun)
    status, data = await stream(dan, journal_id)
    assert status == 200, data
    assert data["finished"] is False and data["viewer"] == joined["player"]
    assert data["events"][0][1]["type"] == "joined"
    for query in ("", "?viewer=0", f"?viewer={joined['player']}"):
        eve = await people("Eve")
        status, refused = await stream(eve, journal_id, query)
        assert status == 403 and refused["error"] == "forbidden", query
    status, refused = await stream(dan, journal_id, "?viewer=0")
    assert status == 403 and "only your own" in refused["message"]
    await ws.write_message(orjson.dumps({"type": "leave"}).decode())
    await recv_until(ws, "left")


async def test_the_replays_page_and_a_matchs_page(match: dict[str, Any]) -> None:
    ann = match["ann"]
    lobby = await ann.request("GET", "/")
    assert b'href="/replays"' in lobby.body
    listing = await ann.request("GET", "/replays")
    assert listing.code == 200
    assert b'id="mine"' in listing.body and b'data-mode="dice"' in listing.body
    page = await ann.request("GET", f"/replays/{match['id']}?viewer=2")
    assert page.code == 200
    # The dice game's own page (the table template and its module), run by the SDK as a replay.
    assert b'data-mode="dice"' in page.body
    assert b"/client/games/dice.js" in page.body or b"/games/dice/" in page.body
    missing = await ann.request("GET", "/replays/0123456789abcdef0123456789abcdef")
    assert missing.code == 404
    assert "No replay has the id" in missing.body.decode()
    assert (await ann.request("GET", "/replays/%3Cscript%3E")).body.count(b"<script>") == 0
    anonymous = await Browserless(ann.base).request("GET", f"/replays/{match['id']}")
    assert anonymous.code == 302 and "/login" in anonymous.headers["Location"]



async def copy_of(server: ArenaServer, journal_id: str, *, version: str | None = None,
                  chunk: bytes | None = None) -> str:
    """The recorded match stored again under a new id: at another game `version`, or with
    `chunk` in place of its records (as storage keeps it: the records' compressed bytes)."""
    data = await load_journal(server.storage, journal_id)
    assert data is not None
    new_id = uuid.uuid4().hex
    header = {**data.header, "id": new_id}
    if version is not None:
        header["version"] = version
    await server.storage.journal_begin(header)
    await server.storage.journal_append(new_id, 0, chunk if chunk is not None
                                        else encode_chunk(data.records))
    await server.storage.journal_end(new_id, data.summary or {})
    return new_id


async def test_a_match_this_server_cannot_rerun_says_why(server: ArenaServer,
                                                         match: dict[str, Any]) -> None:
    ann = match["ann"]
    # Recorded with a dice version this server no longer has: both versions named.
    old = await copy_of(server, match["id"], version="0")
    status, body = await stream(ann, old)
    assert status == 409 and body["error"] == "replay_unavailable"
    assert "'0'" in body["message"] and "'1'" in body["message"]
    # The page is still the game's (its mode is known): the SDK shows the refusal.
    assert (await ann.request("GET", f"/replays/{old}")).code == 200
    # A damaged journal: the stream and the page both say so, and nothing else is hurt.
    broken = await copy_of(server, match["id"], chunk=b"not a journal chunk")
    status, body = await stream(ann, broken)
    assert status == 409 and "damaged" in body["message"]
    page = await ann.request("GET", f"/replays/{broken}")
    assert page.code == 409 and "damaged" in page.body.decode()
    status, _ = await stream(ann, match["id"], "?viewer=2")
    assert status == 200


async def test_a_match_longer_than_the_limit_is_refused_not_rerun(tmp_path: Any) -> None:
    srv = ArenaServer(make_config(tmp_path, empty_room_grace=0.2, replay_max_bytes=64),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    ann, bob = Browserless(srv.url), Browserless(srv.url)
    try:
        ann.user = await ann.guest("Ann")  # type: ignore[attr-defined]
        bob.user = await bob.guest("Bob")  # type: ignore[attr-defined]
        journal_id = await play_dice(srv, ann, bob)
        status, body = await stream(ann, journal_id)
        assert status == 413 and body["error"] == "replay_too_long"
        assert f"replay export {journal_id}" in body["message"]
        # The page is the game's all the same: its SDK shows the refusal.
        assert (await ann.request("GET", f"/replays/{journal_id}")).code == 200
    finally:
        await ann.aclose()
        await bob.aclose()
        await srv.stop()
