"""The turn-based games' pages in real Chromium, two people in two browser contexts: a Liar's
Dice match at a private table found by its code, a tic-tac-toe game from quick play (its page
served from its own package), and the lobby's modes with a leaderboard each. Same server,
fixtures and screenshots as tests/test_browser.py.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from game_server.app import ArenaServer
from game_server.games.api import Outcome
from game_server.games.loading import server_modes
from game_server.scaffold import scaffold
from game_server.storage.passwords import PasswordHasher
from tests import test_browser
from tests.conftest import make_config
from tests.test_browser import guest_login, screenshot_dir

# The browser tests' own fixtures (a server, Chromium, pages in fresh contexts), used by name.
server = test_browser.server
browser = test_browser.browser
new_page = test_browser.new_page

pytestmark = pytest.mark.asyncio(loop_scope="module")

JOINED = "window.arena && window.arena.connected && window.arena.room && window.arena.states > 0"


async def state(page: Any) -> dict[str, Any]:
    return await page.evaluate("({view: window.arena.state, me: window.arena.player})")


async def test_two_people_play_liars_dice_at_a_private_table(server: ArenaServer,
                                                             new_page: Any) -> None:
    ann = await new_page()
    await guest_login(ann, server.url, "Ann")
    # The lobby's dice card makes a private table (default options) ...
    async with ann.expect_navigation():
        await ann.click(".mode-card[data-mode=dice] a.create")
    await ann.wait_for_function(JOINED)
    assert await ann.is_visible("#room-code")
    # ... and the table page makes another with one die each: one challenge ends the match.
    await ann.fill("#option-dice", "1")
    async with ann.expect_navigation():
        await ann.click("#create-private")
    await ann.wait_for_function(JOINED + " && window.arena.code")
    code = await ann.evaluate("window.arena.code")
    assert await ann.text_content("#room-code") == code
    assert code in ann.url  # the address names the table: a friend can be sent it
    rooms = server.matchmaker.rooms()
    assert [r.options["dice"] for r in rooms if r.code == code] == [1]
    # the first table was left, not held for a resume
    assert [r.player_count for r in rooms if r.code != code] == [0]

    bob = await new_page()
    await guest_login(bob, server.url, "Bob")
    await bob.fill(".mode-card[data-mode=dice] .code-form input[name=code]", code.lower())
    async with bob.expect_navigation():
        await bob.click(".mode-card[data-mode=dice] .code-form button")
    await bob.wait_for_function(JOINED)
    assert await bob.evaluate("window.arena.room") == await ann.evaluate("window.arena.room")

    # Two seated: the match starts. Each sees one die of their own, the table and a clock.
    pages = {}
    for page in (ann, bob):
        await page.wait_for_function("window.arena.state.status === 'playing'")
        assert await page.locator("#my-dice .die").count() == 1
        assert await page.locator("#players li").count() == 2
        await page.wait_for_function(
            "/^\\d+ s$/.test(document.getElementById('clock').textContent)")
        seen = await state(page)
        pages[seen["me"]] = page
    view = seen["view"]
    first, second = pages[view["turn"]], pages[next(p for p in pages if p != view["turn"])]
    assert "Your turn" in await first.text_content("#status")
    assert await second.is_disabled("#bid")
    assert await second.is_disabled("#challenge")
    assert await first.is_disabled("#challenge")  # no bid to challenge yet

    # The player on turn bids the lowest raise the page offers (1 x 2); the other challenges.
    await first.click("#bid")
    await second.wait_for_function("window.arena.state.bid && !document.getElementById("
                                   "'challenge').disabled")
    assert "1 × 2" in await second.text_content("#bid-line")
    await second.click("#challenge")

    for page in (ann, bob):
        await page.wait_for_function("window.arena.state.status === 'finished'")
        # The reveal shows both hands; the result, first on the page, names the winner.
        assert await page.locator("#reveal .die").count() == 2
        winner = (await state(page))["view"]["winner"]
        name = "Ann" if pages[winner] is ann else "Bob"
        assert await page.text_content("#result") == (
            "You win!" if pages[winner] is page else f"{name} wins.")
    winner_page = pages[winner]
    await winner_page.screenshot(path=str(screenshot_dir() / "dice.png"))


async def test_two_people_play_tic_tac_toe_to_a_win(server: ArenaServer, new_page: Any) -> None:
    xavier = await new_page()
    await guest_login(xavier, server.url, "Xavier")
    async with xavier.expect_navigation():
        await xavier.click(".mode-card[data-mode=tictactoe] a.quick")
    await xavier.wait_for_function(JOINED)
    olga = await new_page()
    await guest_login(olga, server.url, "Olga")
    async with olga.expect_navigation():
        await olga.click(".mode-card[data-mode=tictactoe] a.quick")
    await olga.wait_for_function(JOINED)
    assert await olga.evaluate("window.arena.room") == await xavier.evaluate("window.arena.room")

    # X (seated first) takes the top row; O plays the middle row.
    for page, cell in ((xavier, 0), (olga, 3), (xavier, 1), (olga, 4), (xavier, 2)):
        button = f"#board button[data-cell='{cell}']"
        await page.wait_for_function(f"!document.querySelector(\"{button}\").disabled")
        await page.click(button)
    for page in (xavier, olga):
        await page.wait_for_function("window.arena.state.status === 'finished'")
        assert await page.locator("#board button.line").count() == 3
    assert await xavier.text_content("#status") == "You win!"
    assert await olga.text_content("#status") == "Xavier (X) wins."
    # The page came from the game's own package (arena_tictactoe/web), not from Arena's client;
    # beside it, the package's other files, a missing one and Arena's old copy are all 404
    # (asked outside the page, whose console would show each 404 as an error).
    assert await olga.get_attribute("script[type=module]", "src") == "/games/tictactoe/page.js"
    statuses = [(await olga.request.get(server.url + path)).status for path in (
        "/games/tictactoe/page.js", "/games/tictactoe/..%2Fgame.py", "/games/tictactoe/..%2Fbot.py",
        "/games/tictactoe/nope.js", "/games/nosuchmode/page.js", "/client/games/tictactoe.js")]
    assert statuses == [200, 404, 404, 404, 404, 404]
    await xavier.screenshot(path=str(screenshot_dir() / "tictactoe.png"))


async def test_the_scaffolded_page_plays_in_the_browser(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_page: Any) -> None:
    """`new-game`'s page stub, as written: two people press, one wins, no console error."""
    scaffold("press_race", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "press_race"))
    spec = importlib.import_module("press_race").spec
    srv = ArenaServer(make_config(tmp_path / "data"), passwords=PasswordHasher(n=2**10),
                      modes={**server_modes(), spec.name: spec})
    await srv.start()
    try:
        pages = []
        for name in ("Ada", "Bea"):
            page = await new_page()
            await guest_login(page, srv.url, name)
            await page.goto(f"{srv.url}/play?mode=press_race")
            await page.wait_for_function(JOINED)
            pages.append(page)
        ada, bea = pages
        assert await ada.get_attribute("script[type=module]", "src") == (
            "/games/press_race/page.js")
        await bea.wait_for_function("!document.getElementById('press').disabled")
        assert await bea.text_content("#status") == "Press!"
        assert await bea.locator("#players li").count() == 2
        await bea.click("#press")
        for page in pages:
            await page.wait_for_function("window.arena.state.status === 'finished'")
            assert await page.is_disabled("#press")
        assert await bea.text_content("#status") == "You win!"
        assert await ada.text_content("#status") == "Too slow."
    finally:
        await srv.stop()


async def test_lobby_lists_the_modes_with_a_leaderboard_each(server: ArenaServer,
                                                            new_page: Any) -> None:
    modes = server.matchmaker.modes
    assert {"arena", "dice", "tictactoe"} <= set(modes)
    champion = await server.storage.create_guest("Champion")
    runner_up = await server.storage.create_guest("Runner-up")
    for mode, first, second in (
            ("dice", Outcome(player=1, placement=1, won=True), Outcome(player=2, placement=2)),
            ("tictactoe", Outcome(player=1, placement=1, won=True),
             Outcome(player=2, placement=2)),
            ("arena", Outcome(player=1, score=777), Outcome(player=2, score=5))):
        await server.storage.record_outcomes(mode, modes[mode].leaderboard, f"lobby-{mode}",
                                             [(champion.id, first), (runner_up.id, second)])
    page = await new_page()
    await guest_login(page, server.url, "Browser")
    for mode in modes:
        card = f".mode-card[data-mode={mode}]"
        assert await page.text_content(f"{card} h3") == (modes[mode].title or mode)
        assert await page.get_attribute(f"{card} a.quick", "href") == f"/play?mode={mode}"
    # Each figure as its mode ranks: a best score, a number of wins, an Elo rating.
    for mode, expected in (("arena", "Champion 777"), ("tictactoe", "Champion 1")):
        await page.wait_for_function(
            f"[...document.querySelectorAll('.leaderboard[data-mode={mode}] li')]"
            f".some((li) => li.textContent === {expected!r})", timeout=10000)
    rating = await page.wait_for_function(
        "[...document.querySelectorAll('.leaderboard[data-mode=dice] li')]"
        ".map((li) => li.textContent).find((t) => t.startsWith('Champion '))", timeout=10000)
    assert int((await rating.json_value()).split()[-1]) > 1500  # won a rated match
    await page.screenshot(path=str(screenshot_dir() / "lobby-modes.png"), full_page=True)


async def test_a_private_arena_room_by_code(server: ArenaServer, new_page: Any) -> None:
    host = await new_page()
    await guest_login(host, server.url, "Hostess")
    async with host.expect_navigation():
        await host.click(".mode-card[data-mode=arena] a.create")
    await host.wait_for_function("window.arena && window.arena.room && window.arena.states > 2")
    code = await host.text_content("#room-code")
    room = next(r for r in server.matchmaker.rooms() if r.code == code)
    assert room.private and await host.evaluate("window.arena.room") == room.id
    assert f"code={code}" in host.url
    friend = await new_page()
    await guest_login(friend, server.url, "Friend")
    await friend.fill(".mode-card[data-mode=arena] .code-form input[name=code]", code)
    async with friend.expect_navigation():
        await friend.click(".mode-card[data-mode=arena] .code-form button")
    await friend.wait_for_function("window.arena && window.arena.room && window.arena.states > 2")
    assert await friend.evaluate("window.arena.room") == room.id
    assert room.player_count == 2


async def test_a_kick_and_a_closed_room_show_the_games_reason(server: ArenaServer,
                                                              new_page: Any) -> None:
    banner_up = "!document.getElementById('banner').hidden"
    # The table page (tic-tac-toe): the game kicks the player.
    kim = await new_page()
    await guest_login(kim, server.url, "Kim")
    async with kim.expect_navigation():
        await kim.click(".mode-card[data-mode=tictactoe] a.create")
    await kim.wait_for_function(JOINED + " && window.arena.code")
    room = server.matchmaker.get(await kim.evaluate("window.arena.room"))
    assert room is not None
    room.handle.kick(await kim.evaluate("window.arena.player"), "no <b>bots</b> at this table")
    await kim.wait_for_function(banner_up)
    assert await kim.text_content("#banner") == (
        "You were removed from the room: no <b>bots</b> at this table")  # text, not markup
    assert await kim.evaluate("window.arena.room") is None
    # The arena's page: the game closes the room.
    host = await new_page()
    await guest_login(host, server.url, "Hal")
    async with host.expect_navigation():
        await host.click(".mode-card[data-mode=arena] a.create")
    await host.wait_for_function("window.arena && window.arena.room && window.arena.states > 2")
    room = server.matchmaker.get(await host.evaluate("window.arena.room"))
    assert room is not None
    room.handle.close("the round is over")
    await host.wait_for_function(banner_up)
    assert await host.text_content("#banner") == "The room was closed: the round is over"
    await host.screenshot(path=str(screenshot_dir() / "arena-room-closed.png"))
