"""The arena page's rough edges in real Chromium against a real server (issue #22): a bad code
says why and offers the way on, the death screen, our rank below the top list, the phone
layout at 390x844 with touch, a private table made with the arena's options and the room's
readable name in the HUD, and the server's own bots. Same server, fixtures and screenshots as
tests/test_browser.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from client.bots import run_bots
from game_server.app import ArenaServer
from game_server.names import room_name
from game_server.storage.passwords import PasswordHasher
from tests import test_browser
from tests.conftest import make_config
from tests.test_browser import PHONE, guest_login, play, screenshot_dir

server = test_browser.server
browser = test_browser.browser
new_page = test_browser.new_page

pytestmark = pytest.mark.asyncio(loop_scope="module")


IN_VIEW = """() => {
    const me = window.arena.me(), view = window.arena.view();
    if (!me) return 0;
    return window.arena.others().filter((o) => Math.abs(o.x - me.x) <= view.width / 2
        && Math.abs(o.y - me.y) <= view.height / 2).length;
}"""


async def test_a_newcomer_sees_others_on_screen(server: ArenaServer, new_page: Any) -> None:
    stop = asyncio.Event()
    bots = asyncio.create_task(run_bots(server.url, bots=8, duration=60.0, seed=5, stop=stop))
    try:
        page = await new_page()
        await guest_login(page, server.url, "Newcomer")
        await page.goto(f"{server.url}/play?mode=arena")
        await page.wait_for_function("window.arena && window.arena.others().length >= 8")
        await page.wait_for_function(f"({IN_VIEW})() >= 2")
        await page.screenshot(path=str(screenshot_dir() / "arena-desktop.png"))
    finally:
        stop.set()
        await bots


async def test_a_bad_code_says_no_room_has_it_and_offers_quick_play_and_the_lobby(
        server: ArenaServer, new_page: Any) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Lost")
    await page.goto(f"{server.url}/play?mode=arena&code=NOPE42")
    await page.wait_for_selector("#join-failed:not([hidden])")
    text = await page.text_content("#join-failed-text")
    assert "NOPE42" in text and "reload" not in text.lower()
    assert await page.get_attribute("#join-failed-quick", "href") == "/play?mode=arena"
    assert await page.is_visible("#join-failed a[href='/']")
    assert not await page.is_visible("#banner")  # no "reload this page" advice
    await page.screenshot(path=str(screenshot_dir() / "arena-bad-code.png"))
    async with page.expect_navigation():
        await page.click("#join-failed-quick")
    await page.wait_for_function("window.arena && window.arena.room && window.arena.states > 2")


async def test_the_death_screen_says_who_ate_us_our_score_and_time_and_play_again_resumes(
        server: ArenaServer, new_page: Any) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Prey")
    joined = await play(page, server.url)
    world = server.matchmaker.get(joined["room"]).game.world
    me = joined["player"]
    # A big player lands on us (a ghost in the game only: the room seats nobody for it).
    shark = 900_001
    world.add_player(shark, "Shark")
    try:
        x, y = next((r[2], r[3]) for r in world.full_state()["players"] if r[0] == me)
        world.place_player(shark, x, y, mass=400)
        await page.wait_for_selector("#death:not([hidden])")
        assert await page.text_content("#death-by") == "Shark"
        # The mass we reached: the start mass, or a pellet more if one lay where we stood.
        assert await page.text_content("#death-score") == str(world.best_mass(me))
        assert world.best_mass(me) >= 10
        assert (await page.text_content("#death-time")).endswith(" s")
        await page.wait_for_selector("#play-again:not([disabled])")  # respawned
        await page.screenshot(path=str(screenshot_dir() / "arena-death.png"))
        await page.click("#play-again")
        await page.wait_for_selector("#death", state="hidden")
        assert await page.evaluate("window.arena.me().alive")
    finally:
        world.remove_player(shark)


async def test_our_rank_shows_below_the_top_ten(server: ArenaServer, new_page: Any) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Small")
    joined = await play(page, server.url, "mode=arena&create=public")
    world = server.matchmaker.get(joined["room"]).game.world
    ghosts = range(900_100, 900_112)
    for i, ghost in enumerate(ghosts):  # twelve bigger players, far from us
        world.add_player(ghost, f"big{i}")
        world.place_player(ghost, 50.0 + i * 40, 50.0, mass=200 + i)
    try:
        await page.wait_for_function(
            "document.querySelector('#room-leaderboard li.me-below')?.value === 13")
        assert await page.text_content("#hud-rank") == "13 of 13"
        assert await page.text_content("#room-leaderboard li.me-below .lb-name") == "Small"
        assert await page.locator("#room-leaderboard li").count() == 11
    finally:
        for ghost in ghosts:
            world.remove_player(ghost)
    await page.wait_for_function("document.querySelector('#hud-rank').textContent === '1 of 1'")


async def test_on_a_phone_the_hud_folds_the_view_fits_and_touch_is_explained(
        server: ArenaServer, browser: Any) -> None:
    context = await browser.new_context(**PHONE)
    errors: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await guest_login(page, server.url, "Thumb")
        await play(page, server.url)
        area = 0.0
        for selector in (".hud-top-left", ".hud-stats", ".hud-leaderboard", ".hud-chat",
                         "#touch-hint"):
            box = await page.locator(selector).bounding_box()
            area += box["width"] * box["height"]
        assert area < 0.12 * 390 * 844, area  # was about 30% with stats and leaderboard alone
        assert await page.is_visible("#touch-hint")
        assert not await page.is_visible(".hud-help")
        assert await page.get_attribute("#chat-input", "placeholder") == "Tap here to chat"
        view = await page.evaluate("window.arena.view()")
        assert 550 <= view["width"] <= 800, view  # was about 390 units across
        await page.screenshot(path=str(screenshot_dir() / "arena-phone.png"))
        # A tap opens the chat, and the stats.
        await page.tap("#chat-toggle")
        assert await page.is_visible("#chat-input")
        await page.tap(".hud-stats")
        assert await page.is_visible("#hud-ping")
    finally:
        await context.close()
    assert errors == []


async def test_a_private_table_takes_the_arenas_options_and_the_hud_names_the_room(
        server: ArenaServer, new_page: Any) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Host")
    # The lobby's arena card offers the arena's options, by their labels, with their hints.
    card = page.locator(".mode-card[data-mode=arena]")
    await card.locator(".create-details summary").click()
    await card.get_by_label("Players", exact=True).fill("6")
    await card.get_by_label("Bots", exact=True).fill("0")
    assert "bots fill the room" in (await card.locator(
        ".option[data-option=bots] .option-hint").text_content()).lower()
    await card.screenshot(path=str(screenshot_dir() / "lobby-arena-options.png"))
    async with page.expect_navigation():
        await card.get_by_role("button", name="Create this table").click()
    await page.wait_for_function(
        "window.arena && window.arena.connected && window.arena.world.room "
        "&& window.arena.states > 2 && document.getElementById('room-code').textContent.length"
        " === 5")
    code = await page.text_content("#room-code")
    room = next(r for r in server.matchmaker.rooms() if r.code == code)
    assert room.private and room.max_players == 6 and dict(room.options)["bots"] == 0
    # The HUD names the room as the lobby does, not by its hex id.
    await page.wait_for_function(
        f"document.getElementById('room-id').textContent === {room_name(room.id)!r}")
    assert room.id not in await page.text_content(".hud-stats")
    await page.screenshot(path=str(screenshot_dir() / "arena-private-table.png"))


async def test_the_servers_bots_fill_the_room_show_as_bots_and_make_way(
        tmp_path: Any, new_page: Any) -> None:
    """A server whose arena has its bots on (the default, up to 8 players): alone, a person
    meets 7 bots, named and listed as bots; a second person takes one's place."""
    srv = ArenaServer(make_config(tmp_path, house_bots=True), passwords=PasswordHasher(n=2**10))
    await srv.start()
    try:
        page = await new_page()
        await guest_login(page, srv.url, "Ann")
        await play(page, srv.url)
        await page.wait_for_function(
            "document.getElementById('hud-players').textContent === '1 + 7 bots'")
        names = await page.evaluate("window.arena.others().map((o) => o.name)")
        assert len(names) == 7 and all(n.startswith("bot ") for n in names)
        assert await page.evaluate(
            "window.arena.others().every((o) => window.arena.world.isBot(o.id))")
        await page.wait_for_selector("#room-leaderboard li.bot")
        await page.wait_for_function("window.arena.states > 60")  # the bots have spread out
        await page.screenshot(path=str(screenshot_dir() / "arena-bots.png"))
        other = await new_page()
        await guest_login(other, srv.url, "Bob")
        # The lobby counts people, and the bots apart.
        await other.wait_for_function(
            "[...document.querySelectorAll('#rooms td.room-players')]"
            ".some((td) => td.textContent === '1 / 20 + 7 bots')")
        assert await other.text_content(".mode-card[data-mode=arena] .mode-counts") == \
            "1 online · 1 room"
        await play(other, srv.url)
        await page.wait_for_function(
            "document.getElementById('hud-players').textContent === '2 + 6 bots'")
    finally:
        await srv.stop()
