"""The first screen and the lobby in real Chromium, on a desktop (1280x800) and a phone (390x844,
touch): a first visit goes from the first page to playing in one click; the lobby shows each
game as a card (picture, players online, live room count), rooms by readable names, and room
options by the labels and hints the games declare; the private-table form with options makes a
table with those options. Screenshots go where tests/test_browser.py puts them
(ARENA_SCREENSHOT_DIR=docs/screenshots refreshes the README's).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from client.bots import run_bots
from game_server.app import ArenaServer
from game_server.names import room_name
from game_server.storage.passwords import PasswordHasher
from tests import test_browser
from tests.conftest import make_config
from tests.test_browser import Pages, guest_login, screenshot_dir

browser = test_browser.browser  # Chromium, shared by the module

pytestmark = pytest.mark.asyncio(loop_scope="module")

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
}
PLAYING = ("window.arena && window.arena.connected && window.arena.room && "
           "window.arena.states > 2")


@pytest_asyncio.fixture(loop_scope="module")
async def server(tmp_path: Path) -> AsyncIterator[ArenaServer]:
    """A server of its own per test, so the lobby's counts are this test's rooms only."""
    srv = ArenaServer(make_config(tmp_path, empty_room_grace=2.0),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    yield srv
    await srv.stop()


@pytest_asyncio.fixture(loop_scope="module", params=list(VIEWPORTS))
async def new_page(request: pytest.FixtureRequest, browser: Any) -> AsyncIterator[Pages]:
    """Pages of one viewport (`new_page.viewport`); page errors and console errors fail the
    test but a refused guest name, answered 400 on purpose."""
    pages = Pages(browser, lambda text: "status of 400" in text, **VIEWPORTS[request.param])
    pages.viewport = request.param  # type: ignore[attr-defined]
    yield pages
    await pages.close()


async def test_a_first_visit_plays_in_one_click(server: ArenaServer, new_page: Any) -> None:
    page = await new_page()
    await page.goto(server.url + "/")
    assert page.url == server.url + "/"  # no detour through the login page
    offered = await page.input_value("#play-name")
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", offered)  # a name is ready: no typing
    assert await page.is_visible("#login-link")
    await page.screenshot(path=str(screenshot_dir() / f"first-screen-{new_page.viewport}.png"))
    async with page.expect_navigation():
        await page.click("#play")  # the one click
    await page.wait_for_function(PLAYING, timeout=15000)
    assert page.url.startswith(server.url + "/play")
    room = await page.evaluate("window.arena.room")
    assert {r.id: r.mode.name for r in server.matchmaker.rooms()}[room] == "arena"
    # The guest has the offered name: the lobby greets them by it.
    await page.goto(server.url + "/")
    assert await page.text_content("#me") == offered


async def test_a_typed_name_plays_and_an_account_is_a_click_away(server: ArenaServer,
                                                                new_page: Any) -> None:
    page = await new_page()
    await page.goto(server.url + "/")
    await page.fill("#play-name", "Nova")
    async with page.expect_navigation():
        await page.press("#play-name", "Enter")
    await page.wait_for_function(PLAYING, timeout=15000)
    await page.goto(server.url + "/")
    assert await page.text_content("#me") == "Nova"
    # A refused name is said on the first screen itself, under the name as typed: reserved,
    # too long (past the box's own limit, as a script or an old browser would send it), or
    # with a character a name may not have.
    other = await new_page()
    await other.goto(server.url + "/")
    for name, said in (("server", "reserved"), ("x" * 25, "1 to 20 visible characters"),
                       ("Ann\u202eevil", "1 to 20 visible characters")):
        await other.evaluate("document.getElementById('play-name').removeAttribute('maxlength')")
        await other.fill("#play-name", name)
        async with other.expect_navigation():
            await other.click("#play")
        assert other.url == server.url + "/"  # not the login page
        assert said in (await other.text_content("#play-error")).lower()
        assert await other.input_value("#play-name") == name
        assert await other.get_attribute("#play-name", "aria-invalid") == "true"
        assert await other.locator("#guest-form").count() == 0
        if name == "server":
            await other.screenshot(
                path=str(screenshot_dir() / f"first-screen-refused-{new_page.viewport}.png"))
    # Put right, the same box plays.
    await other.fill("#play-name", "Vera")
    async with other.expect_navigation():
        await other.click("#play")
    await other.wait_for_function(PLAYING, timeout=15000)
    # Logging in instead: the first screen links to it, and back to the lobby after.
    other = await new_page()
    await other.goto(server.url + "/")
    async with other.expect_navigation():
        await other.click("#login-link")
    assert other.url.startswith(server.url + "/login")
    await other.fill("#register-form input[name=username]", "vega")
    await other.fill("#register-form input[name=password]", "a long password")
    async with other.expect_navigation():
        await other.click("#register-form button[type=submit]")
    assert other.url == server.url + "/"
    assert await other.text_content("#me") == "vega"


async def test_the_lobby_shows_games_as_cards_rooms_by_name_and_labelled_options(
    server: ArenaServer, new_page: Any,
) -> None:
    table = server.matchmaker.create_room("dice")
    bots = asyncio.create_task(run_bots(server.url, bots=3, duration=8.0, seed=7))
    try:
        page = await new_page()
        await guest_login(page, server.url, "Looker")
        arena = ".mode-card[data-mode=arena]"
        # live counts, refreshed without a reload: three bots in one arena room
        await page.wait_for_selector(f"{arena} .mode-players >> text='3'", timeout=15000)
        assert await page.text_content(f"{arena} .mode-counts") == "3 online · 1 room"
        assert await page.text_content(".mode-card[data-mode=dice] .mode-counts") == \
            "0 online · 1 room"
        for card in await page.query_selector_all(".mode-card"):
            picture = await card.query_selector("img.mode-picture")
            assert await picture.evaluate("(img) => img.complete && img.naturalWidth > 0")
        # rooms by a readable name (the same the server gives), games by title; no hex ids
        rows = "#rooms tr[data-room-id]"
        await page.wait_for_selector(f"{rows}[data-mode=arena]", timeout=15000)
        assert await page.text_content(
            f"#rooms tr[data-room-id='{table.id}'] td.room-name") == room_name(table.id)
        assert await page.text_content(
            f"#rooms tr[data-room-id='{table.id}'] td.room-mode") == "Liar's Dice"
        # the table's options by their labels, as the refreshed row shows them
        await page.wait_for_function(
            f"document.querySelector(\"#rooms tr[data-room-id='{table.id}'] td.room-meta\")"
            ".textContent.includes('Players to start 2')", timeout=10000)
        meta = await page.text_content(f"#rooms tr[data-room-id='{table.id}'] td.room-meta")
        assert "Dice per player 5" in meta and "Ones are wild yes" in meta
        assert "_" not in meta
        shown = await page.text_content("#rooms")
        for room in server.matchmaker.rooms():
            assert room.id not in shown
            assert room_name(room.id) in shown
        # options by their labels, with their hints
        dice = ".mode-card[data-mode=dice]"
        await page.click(f"{dice} .create-details summary")
        turn = page.locator(dice).get_by_label("Seconds per turn")
        assert await turn.input_value() == "30"
        hint = page.locator(f"{dice} .option[data-option=turn_seconds] .option-hint")
        assert await hint.text_content() == "Wait longer and the lowest legal move is played " \
                                            "for you."
        assert await hint.is_visible()
        assert "turn seconds" not in (await page.text_content(dice)).lower()
        await page.screenshot(path=str(screenshot_dir() / f"lobby-{new_page.viewport}.png"),
                              full_page=True)
    finally:
        await bots


async def test_a_private_table_with_options_from_the_lobby(server: ArenaServer,
                                                          new_page: Any) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Host")
    dice = page.locator(".mode-card[data-mode=dice]")
    await dice.locator(".create-details summary").click()
    await dice.get_by_label("Dice per player").fill("2")
    await dice.get_by_label("Seconds per turn").fill("45")
    await dice.get_by_label("Ones are wild").select_option("false")
    async with page.expect_navigation():
        await dice.get_by_role("button", name="Create this table").click()
    await page.wait_for_function(
        "window.arena && window.arena.connected && window.arena.code", timeout=15000)
    code = await page.evaluate("window.arena.code")
    room = next(r for r in server.matchmaker.rooms() if r.code == code)
    assert dict(room.options) == {"dice": 2, "turn_seconds": 45, "ones_wild": False,
                                  "start_players": 2}
    # the table page's "another table" form has the same labels and hints
    await page.wait_for_selector("#create-options .option[data-option=dice]")
    assert await page.locator("#create-options").get_by_label("Dice per player").input_value() \
        == "5"
    assert "lose them all" in await page.text_content("#create-options")
