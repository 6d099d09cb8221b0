"""Names that impersonate the server are refused, for accounts and guests alike."""

from __future__ import annotations

import re

import orjson
import pytest

from game_server.names import RESERVED_NAMES, SERVER_NAME, is_reserved, skeleton
from tests.conftest import Browserless

SERVER_LOOKALIKES = ["server", "Server", "SERVER", "s e r v e r", "server.", "SERVER_",
                     "ser-ver", "s.e.r.v.e.r", "5erver", "serv3r", "sérver",
                     "\u0455\u0435rv\u0435r",  # Cyrillic dze and ie
                     "\uff53\uff45\uff52\uff56\uff45\uff52",  # fullwidth
                     "\U0001d42c\U0001d41e\U0001d42b\U0001d42f\U0001d41e\U0001d42b"]  # bold


@pytest.mark.parametrize("name", SERVER_LOOKALIKES + ["Admin", "adm1n", "adrnin", "SYSTEM",
                                                      "5y5tem", "Arena", "r00t", "Moderator"])
def test_lookalikes_of_reserved_names_are_reserved(name: str) -> None:
    assert is_reserved(name), skeleton(name)


@pytest.mark.parametrize("name", ["ann", "Visitor", "servers", "server1", "the server",
                                  "arenas", "Bernard", "tester", "rooted"])
def test_other_names_are_free(name: str) -> None:
    assert not is_reserved(name)


def test_the_server_name_is_reserved_by_its_own_rule() -> None:
    assert SERVER_NAME in RESERVED_NAMES and is_reserved(SERVER_NAME)


@pytest.mark.parametrize("name", ["Server", "s e r v e r", "5erver", SERVER_LOOKALIKES[-2],
                                  "admin"])
async def test_a_guest_cannot_take_a_reserved_name(client_factory, name: str) -> None:
    c: Browserless = client_factory()
    response = await c.request("POST", "/api/guest", {"name": name})
    assert response.code == 400
    assert orjson.loads(response.body)["error"] == "reserved_name"
    assert "arena_session" not in c.cookies


@pytest.mark.parametrize("name", ["Server", "server.", "SERVER_", "5erver", "Adm1n"])
async def test_an_account_cannot_take_a_reserved_name(client_factory, name: str) -> None:
    c: Browserless = client_factory()
    response = await c.request("POST", "/api/register",
                               {"username": name, "password": "correct horse"})
    assert response.code == 400
    assert orjson.loads(response.body)["error"] == "reserved_name"
    assert "arena_session" not in c.cookies


async def test_the_login_form_refuses_a_reserved_guest_name(client_factory) -> None:
    c: Browserless = client_factory()
    await c.request("GET", "/login")
    response = await c.request("POST", "/login", form={
        "action": "guest", "name": "SERVER", "_xsrf": c.cookies["_xsrf"]}, xsrf=False)
    assert response.code == 400
    assert b"reserved" in response.body
    assert "arena_session" not in c.cookies


def test_rooms_have_readable_names_the_same_everywhere() -> None:
    from game_server.names import display_name, guest_suggestion, room_name

    ids = [f"{n:08x}" for n in range(0, 2**32, 2**32 // 500)]
    names = [room_name(i) for i in ids]
    assert names == [room_name(i) for i in ids]  # deterministic: every process agrees
    assert all(re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", n) for n in names)
    assert len(set(names)) > 400  # 500 ids, few shared names
    assert not any(is_reserved(n) for n in names)
    # a game's own `name` metadata wins; blank or non-text names do not
    assert display_name({"id": "ab12cd34", "metadata": {"name": "Friday night"}}) == "Friday night"
    assert display_name({"id": "ab12cd34", "metadata": {"name": " "}}) == room_name("ab12cd34")
    assert display_name({"id": "ab12cd34", "metadata": {"name": 3}}) == room_name("ab12cd34")
    # a first-screen guest name fits the guest rules (1 to 20 characters, not reserved)
    for seed in range(0, 1 << 16, 97):
        offered = guest_suggestion(seed)
        assert 1 <= len(offered) <= 20 and not is_reserved(offered)
