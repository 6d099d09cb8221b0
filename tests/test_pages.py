"""`GET /play` serves each mode's own page: the arena canvas, the table page running the
mode's module (dice, tic-tac-toe), or the generic table page for a mode without one."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from game_server.app import ArenaServer
from game_server.games.dice import dice_spec
from game_server.games.loading import server_modes
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config


def page_module(html: bytes) -> str:
    """The module script a page runs."""
    found = re.findall(r'<script type="module" src="/client/([^"]+)"', html.decode())
    assert len(found) == 1, found
    return found[0]


async def test_each_mode_gets_its_page(tmp_path: Path) -> None:
    # "plain" is the dice game under another name: a mode the browser client has no page for.
    modes = {**server_modes(), "plain": replace(dice_spec(), name="plain")}
    server = ArenaServer(make_config(tmp_path), passwords=PasswordHasher(n=2**10), modes=modes)
    await server.start()
    client = Browserless(server.url)
    try:
        await client.guest("Visitor")
        pages = {}
        for query in ("mode=arena", "mode=dice", "mode=tictactoe", "mode=plain", "",
                      "mode=dice&create=private&dice=1", "mode=dice&code=ABCD",
                      "mode=../../README", "mode=nosuchmode"):
            response = await client.request("GET", f"/play?{query}")
            assert response.code == 200, query
            pages[query] = page_module(response.body)
        assert pages == {
            "mode=arena": "play.js", "": "play.js",
            "mode=dice": "games/dice.js", "mode=dice&create=private&dice=1": "games/dice.js",
            "mode=dice&code=ABCD": "games/dice.js",
            "mode=tictactoe": "games/tictactoe.js",
            "mode=plain": "games/generic.js",
            # a mode the server does not run: the arena page, whose join is refused there
            "mode=../../README": "play.js", "mode=nosuchmode": "play.js",
        }
        # A room by id: the page of that room's mode.
        dice_room = server.matchmaker.create_room("dice")
        arena_room = server.matchmaker.create_room("arena")
        for room, module in ((dice_room, "games/dice.js"), (arena_room, "play.js"),
                             (None, "play.js")):
            room_id = room.id if room else "gone1234"
            response = await client.request("GET", f"/play?room={room_id}")
            assert page_module(response.body) == module
    finally:
        await client.aclose()
        await server.stop()


async def test_the_lobby_lists_every_mode(tmp_path: Path) -> None:
    server = ArenaServer(make_config(tmp_path), passwords=PasswordHasher(n=2**10))
    await server.start()
    client = Browserless(server.url)
    try:
        await client.guest("Visitor")
        html = (await client.request("GET", "/")).body.decode()
        cards = re.findall(r'<article class="mode-card" data-mode="([^"]+)"', html)
        assert cards == list(server.matchmaker.modes)
        assert 'href="/play?mode=dice&amp;create=private"' in html
        assert "Leaderboard <span class=\"muted\">by rating</span>" in html
    finally:
        await client.aclose()
        await server.stop()
