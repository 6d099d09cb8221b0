"""The table pages when things go wrong or end, in real Chromium (issue #22, items 1, 2, 8, 9):
a table lost to a server restart and a wrong code say so plainly and offer the ways on; disabled
buttons look disabled; an operator's announcement is a banner on a dice table and in the arena;
the reveal and the end of a Liar's Dice match come above the controls. Screenshots of each state
go to build/screenshots (or $ARENA_SCREENSHOT_DIR), as in tests/test_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from game_server.app import ArenaServer
from tests import test_browser
from tests.conftest import TEST_SECRET, running
from tests.servers import free_port
from tests.test_announce import announce
from tests.test_browser import CHROMIUM, PHONE, Pages, guest_login, play, screenshot_dir

server = test_browser.server
browser = test_browser.browser

pytestmark = pytest.mark.asyncio(loop_scope="module")

JOINED = "window.arena && window.arena.connected && window.arena.room && window.arena.states > 0"
PLAYING = "window.arena.state && window.arena.state.status === 'playing'"
# A refused login or registration is answered so on purpose (as in tests/test_browser.py).
REFUSED = re.compile(r"status of 40[19]\b")
# While a server stops and is down, Chromium logs each connection that fails (the WebSocket's
# reconnect attempts, the SDK's session check): expected then, and only then.
NETWORK = re.compile(r"WebSocket connection to .* failed|Failed to load resource: net::ERR_"
                     r"|WebSocket is already in CLOSING or CLOSED state")

assert CHROMIUM is not None  # test_browser skipped this module otherwise


@pytest_asyncio.fixture(loop_scope="module")
async def new_page(browser: Any) -> AsyncIterator[Pages]:
    """Pages at 1280x800; any page error or console error but a refusal answered on purpose,
    or a failed connection while `new_page.server_down` is set, fails the test."""
    pages = Pages(browser, lambda text: REFUSED.search(text) or (
        getattr(pages, "server_down", False) and NETWORK.search(text)))
    yield pages
    await pages.close()


async def seat_two(new_page: Callable[..., Awaitable[Any]], url: str, dice: int
                   ) -> tuple[Any, Any, str]:
    """Ann makes a private table with `dice` dice each, Bob joins it by code: the match is on."""
    ann = await new_page()
    await guest_login(ann, url, "Ann")
    await ann.goto(f"{url}/play?mode=dice&create=private&dice={dice}")
    await ann.wait_for_function(JOINED + " && window.arena.code")
    code = await ann.evaluate("window.arena.code")
    bob = await new_page()
    await guest_login(bob, url, "Bob")
    await bob.goto(f"{url}/play?mode=dice&code={code}")
    await bob.wait_for_function(JOINED)
    for page in (ann, bob):
        await page.wait_for_function(PLAYING)
    return ann, bob, code


async def on_turn(ann: Any, bob: Any) -> tuple[Any, Any]:
    """(the page whose turn it is, the other)."""
    view = await ann.evaluate("window.arena.state")
    me = await ann.evaluate("window.arena.player")
    return (ann, bob) if view["turn"] == me else (bob, ann)


async def box(page: Any, selector: str) -> dict[str, float]:
    found = await page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not drawn"
    return found  # type: ignore[no-any-return]


# -- item 1: a dead table says so --------------------------------------------------------------

async def test_a_bad_code_says_there_is_no_such_table(server: ArenaServer, new_page: Any) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Wrongcode")
    await page.goto(server.url + "/play?mode=dice&code=zzzz9")
    await page.wait_for_function("window.arena.gone")
    assert await page.text_content("#status") == "No table with code ZZZZ9."
    # No controls of a table that does not exist, no "Connecting..." left up.
    for selector in ("#game-root", "#bid", "#challenge", "#ready", "#notice"):
        assert await page.is_hidden(selector), selector
    assert await page.get_attribute("#gone-lobby", "href") == "/"
    assert await page.get_attribute("#gone-new", "href") == "/play?mode=dice&create=private"
    await page.screenshot(path=str(screenshot_dir() / "dice-bad-code.png"))
    # The ways on work: a new private table, joined.
    async with page.expect_navigation():
        await page.click("#gone-new")
    await page.wait_for_function(JOINED + " && window.arena.code")
    assert await page.is_visible("#ready")
    assert await page.is_hidden("#gone")


async def test_a_table_lost_to_a_restart_says_it_is_gone(tmp_path: Path, new_page: Any) -> None:
    """A real server process stopped mid-match and started again on the same port and data
    directory: the pages drop the dead table (no "Your turn", clock, dice or live Bid) and say
    the table is gone, with the lobby and a new table on offer."""
    data, port = tmp_path / "data", free_port()
    env = {"ARENA_COOKIE_SECRET": "", "ARENA_REDIS_URL": ""}
    async with running(data, "--port", str(port), env=env) as (proc, url):
        ann, bob, _ = await seat_two(new_page, url, dice=3)
        first, _ = await on_turn(ann, bob)
        assert "Your turn" in await first.text_content("#status")
        await first.screenshot(path=str(screenshot_dir() / "dice-play.png"))
        new_page.server_down = True
        proc.terminate()
        await proc.wait()
    for page in (ann, bob):
        # While the server is down, the table shown is dimmed, inert, and not "Your turn".
        await page.wait_for_function("document.getElementById('game').classList.contains('stale')")
        assert "Your turn" not in await page.text_content("#status")
        assert await page.evaluate("document.getElementById('game-root').inert")
    async with running(data, "--port", str(port), env=env) as (_, again):
        assert again == url
        for page in (ann, bob):
            await page.wait_for_function("window.arena.gone", timeout=20000)
            assert await page.text_content("#status") == "This table is gone."
            assert "server restarted" in await page.text_content("#gone")
            for selector in ("#game-root", "#bid", "#challenge", "#clock", "#my-dice", "#banner",
                             "#notice", "#room-line"):
                assert await page.is_hidden(selector), selector
            assert "Your turn" not in await page.inner_text("body")
            assert await page.evaluate("window.arena.state") is None
        new_page.server_down = False  # the pages gave up asking: nothing may fail from here
        await first.screenshot(path=str(screenshot_dir() / "dice-gone.png"))
        # The lobby is one click away, and the session outlived the restart.
        async with first.expect_navigation():
            await first.click("#gone-lobby")
        assert first.url == url + "/"
        for page in (ann, bob):
            await page.close()  # before this server goes too (each retry would log an error)


async def test_a_quick_play_table_lost_to_a_restart_is_replaced_and_says_so(
        tmp_path: Path, new_page: Any) -> None:
    """Quick play (no code) finds a new table of the same game after a restart: the page says
    the old one is gone rather than passing the new table off as it."""
    data, port = tmp_path / "data", free_port()
    env = {"ARENA_COOKIE_SECRET": "", "ARENA_REDIS_URL": ""}
    async with running(data, "--port", str(port), env=env) as (proc, url):
        page = await new_page()
        await guest_login(page, url, "Drifter")
        await page.goto(url + "/play?mode=dice")
        await page.wait_for_function(JOINED)
        old_room = await page.evaluate("window.arena.room")
        new_page.server_down = True
        proc.terminate()
        await proc.wait()
    await page.wait_for_function("document.getElementById('game').classList.contains('stale')")
    async with running(data, "--port", str(port), env=env):
        await page.wait_for_function(
            f"window.arena.room && window.arena.room !== {old_room!r} && window.arena.states > 0",
            timeout=20000)
        new_page.server_down = False
        assert "Your table is gone" in await page.text_content("#banner")
        assert await page.is_visible("#ready")
        assert await page.is_visible("#game-root:not([inert])")
        await page.close()


# -- item 2: disabled buttons look disabled --------------------------------------------------

STYLE = """(id) => { const s = getComputedStyle(document.getElementById(id));
  return {opacity: Number(s.opacity), cursor: s.cursor, background: s.backgroundColor,
          disabled: document.getElementById(id).disabled}; }"""


async def test_disabled_buttons_look_disabled(server: ArenaServer, new_page: Any) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Waiting")
    await page.goto(server.url + "/play?mode=dice&create=private")
    await page.wait_for_function(JOINED)
    # Waiting: Ready can be pressed, Bid and Challenge cannot, and they look it.
    ready = await page.evaluate(STYLE, "ready")
    assert ready["disabled"] is False and ready["opacity"] == 1 and ready["cursor"] == "pointer"
    for button in ("bid", "challenge"):
        style = await page.evaluate(STYLE, button)
        assert style["disabled"] is True
        assert style["opacity"] <= 0.6 and style["cursor"] == "not-allowed", style
        assert style["background"] != ready["background"], style
    # Hovering a disabled button does not light it up.
    await page.hover("#bid", force=True)
    assert (await page.evaluate(STYLE, "bid"))["background"] != ready["background"]
    await page.click("#ready")
    await page.wait_for_function("document.getElementById('ready').disabled")
    style = await page.evaluate(STYLE, "ready")
    assert style["opacity"] <= 0.6 and style["cursor"] == "not-allowed", style

    # In play, the player not on turn: Bid and Challenge look disabled too.
    ann, bob, _ = await seat_two(new_page, server.url, dice=2)
    first, second = await on_turn(ann, bob)
    for button in ("bid", "challenge"):
        style = await second.evaluate(STYLE, button)
        assert style["disabled"] is True
        assert style["opacity"] <= 0.6 and style["cursor"] == "not-allowed", style
    live = await first.evaluate(STYLE, "bid")
    assert live["disabled"] is False and live["opacity"] == 1 and live["cursor"] == "pointer"
    await second.screenshot(path=str(screenshot_dir() / "dice-not-your-turn.png"))


# -- item 9: the reveal and the end, above the controls --------------------------------------

async def test_the_reveal_and_the_end_come_above_the_controls(server: ArenaServer,
                                                              new_page: Any) -> None:
    ann, bob, _ = await seat_two(new_page, server.url, dice=2)
    saw_reveal_in_play = False
    while (await ann.evaluate("window.arena.state.status")) == "playing":
        first, second = await on_turn(ann, bob)
        turn = await first.evaluate("window.arena.state.turn_number")
        if await first.evaluate("window.arena.state.bid === null"):
            await first.click("#bid")
        else:
            await first.click("#challenge")
        await first.wait_for_function(
            f"window.arena.state.turn_number !== {turn} || window.arena.state.status !== 'playing'")
        await second.wait_for_function(
            f"window.arena.state.turn_number !== {turn} || window.arena.state.status !== 'playing'")
        if (not saw_reveal_in_play and await ann.evaluate(PLAYING)
                and await ann.evaluate("window.arena.state.reveal !== null")):
            # A round was challenged and the match goes on: the reveal is read before the
            # table and the controls.
            saw_reveal_in_play = True
            page = (await on_turn(ann, bob))[0]
            await page.wait_for_function("document.querySelectorAll('#reveal .die').length > 0")
            reveal, controls = await box(page, "#reveal"), await box(page, ".controls")
            assert reveal["y"] + reveal["height"] <= (await box(page, "#players"))["y"]
            assert reveal["y"] + reveal["height"] <= controls["y"]
            assert reveal["y"] < 800, "the reveal is on the first screen"
            await page.screenshot(path=str(screenshot_dir() / "dice-reveal.png"))
    assert saw_reveal_in_play  # two dice each: the first challenge never ends the match

    for page in (ann, bob):
        await page.wait_for_function("window.arena.state.status === 'finished'")
        view = await page.evaluate("window.arena.state")
        me = await page.evaluate("window.arena.player")
        winner = next(p["name"] for p in view["players"] if p["id"] == view["winner"])
        loser = next(p["name"] for p in view["players"] if p["id"] != view["winner"])
        title = "You win!" if view["winner"] == me else f"{winner} wins."
        assert await page.text_content("#result") == title
        why = await page.text_content("#why")
        assert "the last with dice" in why and "lost the last die" in why, why
        assert (loser if view["winner"] == me else "you") in why
        # The end comes first: above the reveal, the players and everything else of the table.
        outcome = await box(page, "#outcome")
        for below in ("#reveal", "#players"):
            assert outcome["y"] + outcome["height"] <= (await box(page, below))["y"], below
        assert outcome["y"] < 300
        # A finished table shows no current bid, and no controls.
        assert await page.is_hidden("#bid-line")
        assert "Current bid" not in await page.inner_text("body")
        assert await page.is_hidden(".controls")
    winner_page = ann if (await ann.evaluate("window.arena.state.winner")) == (
        await ann.evaluate("window.arena.player")) else bob
    await winner_page.screenshot(path=str(screenshot_dir() / "dice-end.png"))


# -- item 8: announcements are a banner on every game page -----------------------------------

async def test_an_announcement_is_a_banner_on_a_table_and_in_the_arena(
        server: ArenaServer, new_page: Any) -> None:
    table = await new_page()
    await guest_login(table, server.url, "Tabled")
    await table.goto(server.url + "/play?mode=dice&create=private")
    await table.wait_for_function(JOINED)
    arena = await new_page()
    await guest_login(arena, server.url, "Roamer")
    await play(arena, server.url)
    for page in (table, arena):
        assert await page.is_hidden("#announcements")

    plain = "Maintenance at 14:00 UTC: finish your rounds."
    hostile = "<img src=x onerror=alert(1)> hi"
    for text in (plain, hostile):
        code, output = await announce(text, "--url", server.url, env={
            "ARENA_COOKIE_SECRET": TEST_SECRET, "ARENA_REDIS_URL": ""})
        assert code == 0, output
        for page in (table, arena):
            await page.wait_for_function(
                "(text) => [...document.querySelectorAll('#announcements .announcement-text')]"
                ".some((node) => node.textContent === text)", arg=text)
            banner = await box(page, "#announcements")
            assert banner["y"] < 50, "at the top of the page"
        if text == plain:
            await table.screenshot(path=str(screenshot_dir() / "announcement-table.png"))
            await arena.screenshot(path=str(screenshot_dir() / "announcement-arena.png"))
    for page in (table, arena):
        # Drawn as text: the markup in it stays characters.
        assert await page.locator("#announcements img").count() == 0
        assert await page.locator("#announcements .announcement").count() == 2
        # Dismissed, each goes; the game plays on.
        for _ in range(2):
            await page.locator(".announcement-close").first.click()
        await page.wait_for_selector("#announcements", state="hidden")
        assert await page.evaluate("window.arena.connected")


async def test_an_announcement_is_a_banner_on_the_lobby_the_first_screen_and_the_login_page(
        server: ArenaServer, new_page: Any) -> None:
    """Pages without a game socket ask for what was announced lately and show it the same way;
    one made after the announcement shows it too (it stays up for minutes, not for a moment)."""
    lobby = await new_page()
    await guest_login(lobby, server.url, "Lobbyist")
    await lobby.goto(server.url + "/")
    first = await new_page()
    await first.goto(server.url + "/")  # anonymous: the first screen
    assert await first.locator("#play").count() == 1
    text = "Tournament at 18:00 in the dice room: sign up in the lobby."
    code, output = await announce(text, "--url", server.url, env={
        "ARENA_COOKIE_SECRET": TEST_SECRET, "ARENA_REDIS_URL": ""})
    assert code == 0, output
    login = await new_page()
    await login.goto(server.url + "/login")
    for page in (lobby, first, login):
        await page.wait_for_function(
            "(text) => [...document.querySelectorAll('#announcements .announcement-text')]"
            ".some((node) => node.textContent === text)", arg=text)
        assert await page.evaluate(  # shown once, however many times the page asked
            "(text) => [...document.querySelectorAll('#announcements .announcement-text')]"
            ".filter((node) => node.textContent === text).length", text) == 1
        banner = await box(page, "#announcements")
        assert banner["y"] < 50, "at the top of the page"
    await lobby.screenshot(path=str(screenshot_dir() / "announcement-lobby.png"))
    while await lobby.locator(".announcement-close").count():
        await lobby.locator(".announcement-close").first.click()
    await lobby.wait_for_selector("#announcements", state="hidden")


# -- on a phone: the same states fit a 390x844 touch screen ----------------------------------

async def test_on_a_phone_the_gone_table_and_an_announcement_fit_the_screen(
        server: ArenaServer, browser: Any) -> None:
    context = await browser.new_context(**PHONE)
    errors: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await guest_login(page, server.url, "Pocket")
        await page.goto(server.url + "/play?mode=dice&create=private")
        await page.wait_for_function(JOINED)
        code, output = await announce("Back in 5 minutes.", "--url", server.url, env={
            "ARENA_COOKIE_SECRET": TEST_SECRET, "ARENA_REDIS_URL": ""})
        assert code == 0, output
        await page.wait_for_selector("#announcements .announcement", state="visible")
        banner = await box(page, "#announcements")
        assert banner["x"] >= 0 and banner["x"] + banner["width"] <= 390, banner
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.screenshot(path=str(screenshot_dir() / "announcement-phone.png"))
        await page.tap(".announcement-close")
        await page.wait_for_selector("#announcements", state="hidden")

        await page.goto(server.url + "/play?mode=dice&code=nope7")
        await page.wait_for_function("window.arena.gone")
        for selector in ("#status", "#gone-lobby", "#gone-new"):
            found = await box(page, selector)
            assert found["x"] + found["width"] <= 390, selector
            assert found["y"] + found["height"] <= 844, selector
        await page.screenshot(path=str(screenshot_dir() / "dice-bad-code-phone.png"))
    finally:
        await context.close()
    assert errors == []
