"""Replays in real Chromium: matches played by bots through a real server (a Liar's Dice match,
an arena room), found on /replays and watched on the game's own page in replay mode: played,
scrubbed back, sped up, from another player's view; a bad id and a view that is not there say
so. Fixtures, login and screenshots as in tests/test_browser.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from client.bots import run_bots
from game_server.app import ArenaServer
from game_server.games import api as games_api
from game_server.storage.passwords import PasswordHasher
from tests import test_browser
from tests.conftest import make_config
from tests.test_browser import canvas_colours, guest_login, screenshot_dir

browser = test_browser.browser
new_page = test_browser.new_page

pytestmark = pytest.mark.asyncio(loop_scope="module")

REPLAY = "window.arena && window.arena.sdk && window.arena.sdk.replay"
LOADED = f"{REPLAY} && window.arena.sdk.replay.connected"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ArenaServer]:
    # Rooms end soon after their players leave: their journals end with them.
    srv = ArenaServer(make_config(tmp_path_factory.mktemp("replays"), empty_room_grace=0.2),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    yield srv
    await srv.stop()


async def finished_journal(server: ArenaServer, mode: str, within: float = 15.0) -> dict[str, Any]:
    """The newest finished journal of `mode` (awaited: the room ends, then its journal)."""
    async with asyncio.timeout(within):
        while True:  # noqa: ASYNC110 - the database says when
            items = await server.storage.journals_list(mode=mode, limit=5)
            done = [i for i in items if i["ended"] is not None]
            if done:
                return done[0]
            await asyncio.sleep(0.05)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def dice_match(server: ArenaServer) -> dict[str, Any]:
    report = await run_bots(server.url, 2, duration=30.0, mode="dice", options={"dice": 2},
                            matches=1, seed=23)
    assert report.joined == 2, report
    return await finished_journal(server, "dice")


async def seek(page: Any, ms: int) -> None:
    """Drag the timeline to `ms` as a person would: input events, then change."""
    await page.evaluate("""(ms) => {
        const t = document.getElementById('replay-timeline');
        t.value = String(ms);
        t.dispatchEvent(new Event('input'));
        t.dispatchEvent(new Event('change'));
    }""", ms)


async def test_a_dice_match_is_found_on_replays_and_played_back(
        server: ArenaServer, new_page: Any, dice_match: dict[str, Any]) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Watcher")
    # From the lobby to the list of replays, then to the match.
    async with page.expect_navigation():
        await page.click("#replays-link")
    link = f".replay-list.top[data-mode=dice] li[data-id='{dice_match['id']}'] a"
    await page.wait_for_selector(link)
    assert "bot" in (await page.text_content(link) or "")
    await page.screenshot(path=str(screenshot_dir() / "replays-list.png"))
    async with page.expect_navigation():
        await page.click(link)
    assert page.url == f"{server.url}/replays/{dice_match['id']}"
    await page.wait_for_function(LOADED)

    # A replay, said so; the table's own controls and forms are gone; nothing is sent.
    assert await page.text_content("#replay-badge") == "Replay"
    assert not await page.is_visible("#setup")
    assert await page.evaluate("document.getElementById('game-root').inert")
    assert await page.evaluate("window.arena.sdk.send('ready')") is False

    # Follow the bot not shown now: its dice as it saw them.
    shown = await page.evaluate("window.arena.sdk.replay.viewer")
    players = sorted((p["player"] for p in dice_match["players"]), key=lambda p: p == shown)
    await page.select_option("#replay-viewer", str(players[0]))
    await page.wait_for_function(f"window.arena.player === {players[0]}")
    assert f"viewer={players[0]}" in page.url  # a reload or a shared link shows the same view
    await page.select_option("#replay-speed", "8")
    assert await page.evaluate("window.arena.sdk.replay.speed") == 8
    if not await page.evaluate("window.arena.sdk.replay.playing"):
        await page.click("#replay-play")
    # Played to the end: the outcome and a reveal's dice faces.
    await page.wait_for_function("window.arena.state && window.arena.state.status === 'finished'")
    await page.wait_for_selector("#result")
    assert await page.locator("#reveal .die").count() >= 2
    await page.wait_for_function("!window.arena.sdk.replay.playing")
    duration = await page.evaluate("window.arena.sdk.replay.duration")
    assert await page.text_content("#replay-time") == await page.evaluate(
        "(d) => { const s = Math.floor(d / 1000); return `${Math.floor(s / 60)}:"
        "${String(s % 60).padStart(2, '0')} / ${Math.floor(s / 60)}:"
        "${String(s % 60).padStart(2, '0')}`; }", duration)
    await page.screenshot(path=str(screenshot_dir() / "replay-dice.png"))

    # Scrubbed back to the start: the table as it was then (the page joined again).
    states = await page.evaluate("window.arena.states")
    await seek(page, 0)
    await page.wait_for_function(f"window.arena.states > {states}")
    assert await page.evaluate("window.arena.state.status") != "finished"
    assert not await page.is_visible("#result")
    # The keyboard: Space plays and pauses (the match is short: it may end first).
    await page.click("h1")
    await page.keyboard.press(" ")
    await page.wait_for_function("window.arena.sdk.replay.playing || window.arena.sdk.replay.ended")
    if await page.evaluate("window.arena.sdk.replay.playing"):
        await page.keyboard.press(" ")
        await page.wait_for_function("!window.arena.sdk.replay.playing")
    # ... and the other bot's view from there, played to the end again.
    await page.select_option("#replay-viewer", str(players[1]))
    await page.wait_for_function(f"window.arena.player === {players[1]}")
    await page.click("#replay-play")
    await page.wait_for_function("window.arena.state.status === 'finished'")


async def test_an_arena_room_is_played_back_on_its_canvas(server: ArenaServer,
                                                          new_page: Any) -> None:
    report = await run_bots(server.url, bots=8, duration=3.0, seed=5)
    assert report.joined == 8
    match = await finished_journal(server, "arena")
    viewer = match["players"][0]["player"]
    page = await new_page()
    await guest_login(page, server.url, "Arena watcher")
    await page.goto(f"{server.url}/replays/{match['id']}?viewer={viewer}")
    await page.wait_for_function(
        "window.arena.replaying && window.arena.player !== null && window.arena.states > 5")
    assert await page.text_content("#replay-badge") == "Replay"
    assert not await page.is_visible("#chat-form")
    # The others, drawn where the recording had them, at the replay's own pace.
    await page.wait_for_function("window.arena.others().length >= 2 && window.arena.frames > 10")
    assert await canvas_colours(page) > 5
    await page.screenshot(path=str(screenshot_dir() / "replay-arena.png"))
    # Paused, the world holds still; scrubbed back, it is the room at the start again.
    await page.click("#replay-play") if await page.evaluate(
        "document.getElementById('replay-play').textContent === 'Pause'") else None
    await page.wait_for_function("document.getElementById('replay-play').textContent === 'Play'")
    states = await page.evaluate("window.arena.states")
    await seek(page, 0)
    await page.wait_for_function("document.getElementById('replay-time').textContent"
                                 ".startsWith('0:00 /')")
    assert await page.evaluate("window.arena.states") <= states + 1
    assert await page.evaluate("window.arena.player") == viewer
    if hasattr(games_api, "SPECTATOR"):
        # Everyone's view: a spectator's, no player of its own, every player drawn.
        await page.select_option("#replay-viewer", "0")
        await page.click("#replay-play")
        await page.wait_for_function(
            "window.arena.player === 0 && window.arena.others().length >= 8")


async def test_a_game_from_its_own_package_replays_on_its_own_page(server: ArenaServer,
                                                                   new_page: Any) -> None:
    report = await run_bots(server.url, 2, duration=20.0, mode="tictactoe", matches=1, seed=9)
    assert report.joined == 2, report
    match = await finished_journal(server, "tictactoe")
    page = await new_page()
    await guest_login(page, server.url, "Board watcher")
    await page.goto(f"{server.url}/replays/{match['id']}")
    # Tic-tac-toe's page, from its package: its board, played to the end, not to be clicked.
    assert await page.get_attribute("script[type=module]", "src") == "/games/tictactoe/page.js"
    await page.wait_for_function(LOADED)
    await page.select_option("#replay-speed", "4")
    await page.wait_for_function("window.arena.state && window.arena.state.status === 'finished'")
    assert await page.locator("#board button").count() == 9
    assert await page.evaluate("document.getElementById('game-root').inert")


async def test_a_live_match_is_only_its_players_to_watch(server: ArenaServer, browser: Any,
                                                         new_page: Any) -> None:
    player = await new_page()
    await guest_login(player, server.url, "Playing")
    await player.goto(f"{server.url}/play?mode=dice&create=private")
    await player.wait_for_function("window.arena && window.arena.room")
    room = await player.evaluate("window.arena.room")
    journal_id = next(r.journal_id for r in server.matchmaker.rooms() if r.id == room)
    async with asyncio.timeout(10):  # the journal writer stores it on its own timer
        while await server.storage.journal_load(journal_id) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    # The player, in another tab: their own view so far, the other views closed until the end.
    watch = await player.context.new_page()
    await watch.goto(f"{server.url}/replays/{journal_id}")
    await watch.wait_for_function(LOADED)
    assert await watch.evaluate("window.arena.sdk.replay.finished") is False
    assert await watch.is_disabled("#replay-viewer")
    assert "still being played" in (await watch.text_content("#replay-message") or "")
    assert await watch.is_visible("#replay-refresh")
    fetched = await watch.evaluate("window.arena.sdk.replay.events.length")
    await watch.click("#replay-refresh")
    await watch.wait_for_function(f"window.arena.sdk.replay.events.length >= {fetched}"
                                  " && !document.getElementById('replay-refresh').disabled")
    assert await watch.evaluate("window.arena.player") == await player.evaluate(
        "window.arena.player")
    # Someone else is refused, and told why (a context of its own: the 403 is logged).
    context = await browser.new_context()
    try:
        other = await context.new_page()
        await guest_login(other, server.url, "Peeking")
        await other.goto(f"{server.url}/replays/{journal_id}")
        await other.wait_for_selector("#gone")
        assert "only its players" in (await other.text_content("#gone") or "")
    finally:
        await context.close()


async def test_a_bad_id_and_a_missing_view_say_so(server: ArenaServer, browser: Any,
                                                  dice_match: dict[str, Any]) -> None:
    # Its own context: the 404 and 400 asked for here are logged by Chromium as console
    # errors, which new_page's pages count as failures; a script error still fails it.
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await _bad_id_and_view(server, page, dice_match)
    finally:
        await context.close()
    assert errors == []


async def _bad_id_and_view(server: ArenaServer, page: Any, dice_match: dict[str, Any]) -> None:
    await guest_login(page, server.url, "Lost")
    response = await page.goto(f"{server.url}/replays/0123456789abcdef0123456789abcdef")
    assert response.status == 404
    assert "No replay has the id" in (await page.text_content("#replay-missing-title") or "")
    await page.screenshot(path=str(screenshot_dir() / "replay-missing.png"))
    # A viewer the match never had: the SDK's fetch is refused, the page says why.
    await page.goto(f"{server.url}/replays/{dice_match['id']}?viewer=99")
    await page.wait_for_selector("#gone")
    assert await page.text_content("#status") == "This replay cannot be shown."
    assert "Player 99 is not in this match" in (await page.text_content("#gone") or "")
    assert await page.is_visible("#gone-replays")
