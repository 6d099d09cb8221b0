"""`GET /play` serves the page each mode's spec declares: the arena canvas, the table page
running the mode's module (dice, tic-tac-toe's from its own package), or the generic table page
for a mode without one; `GET /games/<mode>/<path>` serves the files of a mode's page and
nothing else."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import arena_tictactoe

from game_server.app import ArenaServer
from game_server.games.dice import dice_spec
from game_server.games.loading import server_modes
from game_server.names import room_name
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config


def page_module(html: bytes) -> str:
    """The module script a page runs."""
    found = re.findall(r'<script type="module" src="([^"]+)"', html.decode())
    assert len(found) == 1, found
    return found[0]


async def test_each_mode_gets_its_page(tmp_path: Path) -> None:
    # "plain" is the dice game under another name, declaring no page.
    modes = {**server_modes(), "plain": replace(dice_spec(), name="plain", page=None)}
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
            "mode=arena": "/games/arena/play.js", "": "/games/arena/play.js",
            "mode=dice": "/games/dice/dice.js",
            "mode=dice&create=private&dice=1": "/games/dice/dice.js",
            "mode=dice&code=ABCD": "/games/dice/dice.js",
            "mode=tictactoe": "/games/tictactoe/page.js",
            "mode=plain": "/client/games/generic.js",
            # a mode the server does not run: the generic page, whose join is refused there
            "mode=../../README": "/client/games/generic.js",
            "mode=nosuchmode": "/client/games/generic.js",
        }
        # Each page on the template its spec names: the arena's canvas, the others' table.
        arena = (await client.request("GET", "/play?mode=arena")).body.decode()
        assert '<canvas id="game"' in arena and 'id="game-root"' not in arena
        dice = (await client.request("GET", "/play?mode=dice")).body.decode()
        assert 'id="game-root"' in dice and "<title>Liar&#x27;s Dice · Arena</title>" in dice
        # A room by id: the page of that room's mode (a room gone: the generic page says so).
        dice_room = server.matchmaker.create_room("dice")
        arena_room = server.matchmaker.create_room("arena")
        for room, module in ((dice_room, "/games/dice/dice.js"),
                             (arena_room, "/games/arena/play.js"),
                             (None, "/client/games/generic.js")):
            room_id = room.id if room else "gone1234"
            response = await client.request("GET", f"/play?room={room_id}")
            assert page_module(response.body) == module
    finally:
        await client.aclose()
        await server.stop()


async def test_a_mode_page_is_served_from_its_directory_and_nothing_else(tmp_path: Path) -> None:
    server = ArenaServer(make_config(tmp_path), passwords=PasswordHasher(n=2**10))
    await server.start()
    client = Browserless(server.url)
    web = Path(arena_tictactoe.__file__).parent / "web"
    try:
        # tic-tac-toe's page, from its package's directory (no login needed, as /client/)
        response = await client.request("GET", "/games/tictactoe/page.js")
        assert response.code == 200
        assert response.body == (web / "page.js").read_bytes()
        assert response.headers["Content-Type"] == "text/javascript; charset=UTF-8"
        assert response.headers["Cache-Control"] == "no-cache"
        head = await client.request("HEAD", "/games/tictactoe/page.js")
        assert head.code == 200 and head.body == b""
        # Arena's own games declare theirs the same way: the dice page and its text helpers
        for path in ("/games/dice/dice.js", "/games/dice/dice-text.js", "/games/arena/play.js",
                     "/games/arena/net/drops.js"):
            assert (await client.request("GET", path)).code == 200, path
        # A file out of the directory however asked for, a directory, a missing file, a mode
        # the server does not run: the same 404, whatever lies there.
        assert (web.parent / "game.py").is_file()
        for path in ("/games/tictactoe/../game.py", "/games/tictactoe/..%2Fgame.py",
                     "/games/tictactoe/%2E%2E/game.py", "/games/tictactoe/..%2F..%2Fpyproject.toml",
                     "/games/tictactoe/%2Fetc%2Fpasswd", "/games/tictactoe/", "/games/tictactoe/.",
                     "/games/tictactoe/nope.js", "/games/chess/page.js", "/games/../app.py",
                     "/games/dice/..%2Fplay.js"):
            response = await client.request("GET", path)
            assert response.code == 404, path
            assert b"import" not in response.body and b"root" not in response.body, path
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
        # each card's picture: the mode's own, served from its page directory
        pictures = re.findall(r'<img class="mode-picture" src="([^"]+)"', html)
        assert pictures[:2] == ["/games/arena/pictures/arena.svg", "/games/dice/dice.svg"]
        for src in pictures:
            picture = await client.request("GET", src)
            assert picture.code == 200 and picture.headers["Content-Type"] == "image/svg+xml"
        # a room by its readable name, its game by title, with the cards' live counts
        room = server.matchmaker.create_room("dice")
        html = (await client.request("GET", "/")).body.decode()
        assert f'<td class="room-name">{room_name(room.id)}</td>' in html
        assert room.id not in re.sub(r'data-room-id="[^"]+"|room=[0-9a-f]+', "", html)
        assert "<td class=\"room-mode\">Liar&#x27;s Dice</td>" in html
        meta = re.search(r'<td class="room-meta">([^<]*)</td>', html).group(1)
        assert "Dice per player 5" in meta and "Ones are wild yes" in meta and "_" not in meta
        dice_card = html[html.index('data-mode="dice"'):]
        assert re.search(r'class="mode-rooms">1</span> room\b', dice_card)
    finally:
        await client.aclose()
        await server.stop()
