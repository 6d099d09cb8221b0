"""The HTTP side against a real server on 127.0.0.1: accounts, sessions, XSRF, pages."""

from __future__ import annotations

import dataclasses
import re

import orjson
import pytest
import tornado.escape

from game_server.app import ArenaServer
from game_server.games.api import Outcome
from game_server.games.arena_mode import arena_spec
from game_server.names import room_name
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config


def body(response) -> dict:
    return orjson.loads(response.body)


async def test_healthz(client_factory) -> None:
    c: Browserless = client_factory()
    response = await c.request("GET", "/healthz")
    assert response.code == 200
    assert body(response) == {"status": "ok", "rooms": 0, "players_connected": 0,
                              "seats_held": 0, "seats_connected": 0, "seats_away": 0,
                              "spectators": 0}


async def test_register_login_me_logout(client_factory) -> None:
    c = client_factory()
    r = await c.request("POST", "/api/register", {"username": "ann", "password": "correct horse"})
    assert r.code == 201
    assert body(r)["user"] == {"id": 1, "name": "ann", "guest": False}
    assert "arena_session" in c.cookies
    me = await c.request("GET", "/api/me")
    assert me.code == 200 and body(me)["user"]["name"] == "ann"

    other = client_factory()
    r = await other.request("POST", "/api/login", {"username": "ANN", "password": "correct horse"})
    assert r.code == 200 and body(r)["user"]["id"] == 1

    r = await c.request("POST", "/api/logout")
    assert r.code == 200
    assert (await c.request("GET", "/api/me")).code == 401
    # the other session is untouched
    assert (await other.request("GET", "/api/me")).code == 200


async def test_register_refusals(client_factory) -> None:
    c = client_factory()
    assert (await c.request("POST", "/api/register",
                            {"username": "bob", "password": "longenough"})).code == 201
    taken = await c.request("POST", "/api/register", {"username": "BOB", "password": "longenough"})
    assert taken.code == 409 and body(taken)["error"] == "username_taken"
    short = await c.request("POST", "/api/register", {"username": "carol", "password": "short"})
    assert short.code == 400 and "8 characters" in body(short)["message"]
    for bad in ("ab", "x" * 21, "has space", "<script>", 42, None):
        r = await c.request("POST", "/api/register", {"username": bad, "password": "longenough"})
        assert r.code == 400 and body(r)["error"] == "bad_username", bad
    garbage = await c.request("POST", "/api/register", headers={}, body=None)
    assert garbage.code == 400


async def test_bad_json_bodies_get_a_json_400(client_factory) -> None:
    c = client_factory()
    await c.request("GET", "/api/xsrf")
    from tornado.httpclient import HTTPRequest
    req = HTTPRequest(c.base + "/api/login", method="POST", body=b"{oops",
                      headers={"X-XSRFToken": c.cookies["_xsrf"], "Cookie": c.cookie_header()})
    r = await c.http.fetch(req, raise_error=False)
    assert r.code == 400 and body(r)["error"] == "bad_json"


async def test_wrong_password_and_unknown_user_look_the_same(client_factory) -> None:
    c = client_factory()
    await c.request("POST", "/api/register", {"username": "dave", "password": "longenough"})
    wrong = await c.request("POST", "/api/login", {"username": "dave", "password": "nottheone"})
    unknown = await c.request("POST", "/api/login", {"username": "nobody", "password": "whatever1"})
    assert wrong.code == unknown.code == 401
    assert body(wrong) == body(unknown)


async def test_every_post_needs_the_xsrf_token(client_factory) -> None:
    c = client_factory()
    for path in ("/api/guest", "/api/register", "/api/login", "/api/logout"):
        r = await c.request("POST", path, {"name": "x"}, xsrf=False)
        assert r.code == 403, path
        assert body(r)["error"] == "xsrf"
    await c.request("GET", "/api/xsrf")
    forged = await c.request("POST", "/api/guest", {"name": "x"},
                             headers={"X-XSRFToken": "2|00|00|00"})
    assert forged.code == 403


async def test_guest_names(client_factory) -> None:
    c = client_factory()
    user = await c.guest("  Visitor   One ")
    assert user["name"] == "Visitor One" and user["guest"] is True
    assert (await c.guest("tab\there"))["name"] == "tab here"
    assert (await c.guest("<b>Zoë</b>"))["name"] == "<b>Zoë</b>"  # visible symbols are fine
    for bad in ("", "   ", "x" * 21, "bell\x07", 7, "admin\u202e", "zero\u200bwidth"):
        r = await c.request("POST", "/api/guest", {"name": bad})
        assert r.code == 400, bad


async def test_session_cookie_is_signed_httponly_and_lax(client_factory) -> None:
    c = client_factory()
    r = await c.request("POST", "/api/guest", {"name": "eve"})
    header = [h for h in r.headers.get_list("Set-Cookie") if h.startswith("arena_session=")][0]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    # a tampered value is not accepted
    c.cookies["arena_session"] = c.cookies["arena_session"][:-2] + "00"
    assert (await c.request("GET", "/api/me")).code == 401


async def test_rooms_list(server, client_factory) -> None:
    c = client_factory()
    await c.guest("ann")
    ws = await c.ws()
    ws.write_message(orjson.dumps({"type": "join", "mode": "arena"}).decode())
    from tests.conftest import recv_until
    joined = await recv_until(ws, "joined")
    listed = body(await c.request("GET", "/api/rooms"))
    assert listed["complete"] is True
    assert listed["rooms"] == [{
        "id": joined["room"], "mode": "arena", "players": 1, "connected": 1, "away": 0,
        "max_players": 20, "options": joined["options"], "process": server.presence.process_id,
        "url": server.url.replace("http", "ws") + "/ws",
        "name": room_name(joined["room"]),  # what the lobby calls it ("Amber Fox")
    }]
    ws.close()


async def test_the_first_screen_offers_play_and_login_to_anonymous_visitors(
    client_factory,
) -> None:
    c = client_factory()
    r = await c.request("GET", "/")
    # a name box (with a name offered) and Play, which makes a guest and lands in quick play
    assert r.code == 200 and b'id="play-form"' in r.body and b'name="_xsrf"' in r.body
    assert b'<form id="play-form" method="post" action="/">' in r.body
    assert re.search(rb'<input id="play-name" name="name" value="\w+ \w+"', r.body)
    assert b'href="/login?next=%2F"' in r.body  # logging in stays a click away
    await c.guest("frank")
    r = await c.request("GET", "/")
    assert r.code == 200 and b"frank" in r.body


@pytest.mark.parametrize(("name", "said"), [
    ("admin", b"reserved"),  # a name kept for the server's own
    ("x" * 21, b"1 to 20 visible characters"),  # too long
    ("Ann\u202eevil", b"1 to 20 visible characters"),  # a direction-changing character
])
async def test_the_first_screen_says_why_a_name_is_refused_and_keeps_it(
    client_factory, name: str, said: bytes,
) -> None:
    c = client_factory()
    await c.request("GET", "/")
    r = await c.request("POST", "/", form={"_xsrf": c.cookies["_xsrf"], "name": name},
                        xsrf=False)
    # The first screen again (not the login page), the error under the name as typed.
    assert r.code == 400 and b'id="play-form"' in r.body and b'id="guest-form"' not in r.body
    assert b'id="play-error"' in r.body and said in r.body.lower()
    assert ('value="' + tornado.escape.xhtml_escape(name) + '"').encode() in r.body
    assert (await c.request("GET", "/api/me")).code == 401  # no session was made
    # A good name: a guest, straight into the first game.
    r = await c.request("POST", "/", form={"_xsrf": c.cookies["_xsrf"], "name": "Nova"},
                        xsrf=False)
    assert r.code == 302 and r.headers["Location"] == "/play?mode=arena"
    assert (await c.request("GET", "/api/me")).code == 200


async def test_login_page_has_the_xsrf_form_field_and_the_form_logs_in(client_factory) -> None:
    c = client_factory()
    page = await c.request("GET", "/login")
    assert page.code == 200 and b'name="_xsrf"' in page.body and "_xsrf" in c.cookies
    await client_factory().request("POST", "/api/register",
                                   {"username": "gina", "password": "longenough"})
    r = await c.request("POST", "/login?next=/somewhere", form={
        "_xsrf": c.cookies["_xsrf"], "action": "login", "username": "gina",
        "password": "longenough"}, xsrf=False)
    assert r.code == 302 and r.headers["Location"] == "/somewhere"
    assert (await c.request("GET", "/api/me")).code == 200


async def test_login_form_errors_are_shown_inline_and_escaped(client_factory) -> None:
    c = client_factory()
    await c.request("GET", "/login")
    r = await c.request("POST", "/login", form={
        "_xsrf": c.cookies["_xsrf"], "action": "login", "username": "<b>x</b>",
        "password": "nope"}, xsrf=False)
    assert r.code == 401 and b"Wrong username or password" in r.body
    assert b"<b>x</b>" not in r.body and b"&lt;b&gt;x&lt;/b&gt;" in r.body


async def test_a_refused_guest_form_keeps_its_name_and_its_error(client_factory) -> None:
    c = client_factory()
    await c.request("GET", "/login")
    r = await c.request("POST", "/login", form={
        "_xsrf": c.cookies["_xsrf"], "action": "guest", "name": "<i>\u200b"}, xsrf=False)
    assert r.code == 400
    page = r.body.decode()
    guest = page[page.index('id="guest-form"'):]
    assert 'class="error"' in guest and 'value="&lt;i&gt;\u200b"' in guest
    assert 'class="error"' not in page[:page.index('id="guest-form"')]
    assert page.count('value="&lt;i&gt;') == 1


async def test_login_form_never_redirects_off_site(client_factory) -> None:
    c = client_factory()
    await c.request("GET", "/login")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        r = await c.request("POST", "/login?next=" + target, form={
            "_xsrf": c.cookies["_xsrf"], "action": "guest", "name": "h"}, xsrf=False)
        assert r.code == 302 and r.headers["Location"] == "/", target


async def test_form_logout_revokes_the_session(client_factory) -> None:
    c = client_factory()
    await c.guest("ivy")
    old = c.cookie_header()
    r = await c.request("POST", "/logout", form={"_xsrf": c.cookies["_xsrf"]}, xsrf=False)
    assert r.code == 302 and r.headers["Location"] == "/login"
    r = await c.request("GET", "/api/me", headers={"Cookie": old})
    c.cookies.clear()
    assert (await c.request("GET", "/api/me", headers={})).code == 401


# -- leaderboards ------------------------------------------------------------------------------


async def _record(server, mode: str, rule: str, match: str, *results: tuple[int, Outcome]):
    assert await server.storage.record_outcomes(mode, rule, match, list(results))


async def test_leaderboard_of_the_default_mode_and_unknown_modes(server, client_factory) -> None:
    c = client_factory()
    assert body(await c.request("GET", "/api/leaderboard")) == {
        "mode": "arena", "rule": "best_score", "leaderboard": []}
    ann, bob = await c.guest("ann"), await client_factory().guest("bob")
    await _record(server, "arena", "best_score", "life-1",
                  (ann["id"], Outcome(1, score=30)), (bob["id"], Outcome(2, score=70)))
    expected = {"mode": "arena", "rule": "best_score", "leaderboard": [
        {"rank": 1, "name": "bob", "guest": True, "score": 70},
        {"rank": 2, "name": "ann", "guest": True, "score": 30},
    ]}
    assert body(await client_factory().request("GET", "/api/leaderboard")) == expected
    assert body(await c.request("GET", "/api/leaderboard?mode=arena")) == expected
    for query in ("mode=chess", "mode=", "mode=%3Cb%3E"):
        r = await c.request("GET", "/api/leaderboard?" + query)
        assert r.code == 404 and body(r)["error"] == "unknown_mode", query


async def test_leaderboard_around_me(server, client_factory) -> None:
    anonymous = client_factory()
    r = await anonymous.request("GET", "/api/leaderboard?around=me")
    assert r.code == 401 and body(r)["error"] == "not_logged_in"
    c = client_factory()
    me = await c.guest("me")
    assert body(await c.request("GET", "/api/leaderboard?mode=arena&around=me")) == {
        "mode": "arena", "rule": "best_score", "you": None, "around": []}
    others = [await client_factory().guest(f"p{i}") for i in range(5)]
    await _record(server, "arena", "best_score", "m1", (me["id"], Outcome(0, score=50)),
                  *((o["id"], Outcome(0, score=100 - 10 * i)) for i, o in enumerate(others)))
    answer = body(await c.request("GET", "/api/leaderboard?around=me"))
    assert answer["you"] == {"rank": 6, "name": "me", "guest": True, "score": 50}
    assert [(e["rank"], e["name"]) for e in answer["around"]] == [(4, "p3"), (5, "p4"),
                                                                  (6, "me")]
    bad = await c.request("GET", "/api/leaderboard?around=everyone")
    assert bad.code == 400 and body(bad)["error"] == "bad_around"


async def test_each_mode_ranks_by_its_own_rule(tmp_path) -> None:
    modes = {"arena": arena_spec()}
    modes["dice"] = dataclasses.replace(arena_spec(), name="dice", leaderboard="rating")
    modes["duel"] = dataclasses.replace(arena_spec(), name="duel", leaderboard="wins")
    server = ArenaServer(make_config(tmp_path / "data"), passwords=PasswordHasher(n=2**10),
                         modes=modes)
    await server.start()
    ann, bob = Browserless(server.url), Browserless(server.url)
    try:
        a, b = await ann.guest("ann"), await bob.guest("bob")
        for i in range(3):
            await _record(server, "dice", "rating", f"d{i}",
                          (a["id"], Outcome(0, placement=1)), (b["id"], Outcome(1, placement=2)))
        await _record(server, "duel", "wins", "w1",
                      (a["id"], Outcome(0, won=False)), (b["id"], Outcome(1, won=True)))
        dice = body(await ann.request("GET", "/api/leaderboard?mode=dice"))
        assert dice["rule"] == "rating"
        assert [(e["name"], e["rank"]) for e in dice["leaderboard"]] == [("ann", 1), ("bob", 2)]
        assert dice["leaderboard"][0]["rating"] > 1500 > dice["leaderboard"][1]["rating"]
        duel = body(await bob.request("GET", "/api/leaderboard?mode=duel&around=me"))
        assert duel["you"] == {"rank": 1, "name": "bob", "guest": True, "wins": 1, "played": 1}
        assert [e["name"] for e in duel["around"]] == ["bob", "ann"]
        assert body(await ann.request("GET", "/api/leaderboard?mode=arena"))["leaderboard"] == []
    finally:
        await ann.aclose()
        await bob.aclose()
        await server.stop()
