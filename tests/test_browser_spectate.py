"""Watching in real Chromium (issue 23, spectators): the lobby's "Watch" opens an arena room
with no controls, a "Watching" badge and the spectator count, and the game moves on screen;
a dice table watched shows the match (nobody's dice) and none of the table's controls.
Screenshots go to build/screenshots (or $ARENA_SCREENSHOT_DIR), as in tests/test_browser.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from game_server.app import ArenaServer
from tests import test_browser
from tests.test_browser import guest_login, play, screenshot_dir

server = test_browser.server
browser = test_browser.browser
new_page = test_browser.new_page

pytestmark = pytest.mark.asyncio(loop_scope="module")

WATCHING = ("window.arena && window.arena.connected && window.arena.spectating "
            "&& window.arena.states > 2")
HIDDEN = ("#chat-form", ".hud-help")  # the arena page's controls a spectator has not


async def test_the_lobby_watches_an_arena_room_that_moves(server: ArenaServer,
                                                          new_page: Any) -> None:
    player = await new_page()
    await guest_login(player, server.url, "Runner")
    room = (await play(player, server.url))["room"]
    # Keeps running towards the middle of the world (never into a wall).
    await player.evaluate("window.arena.steer(window.arena.me().x < 800 ? 1 : -1, 0)")
    watcher = await new_page()
    await guest_login(watcher, server.url, "Onlooker")
    row = f'#rooms tr[data-room-id="{room}"]'
    await watcher.wait_for_selector(f"{row} a.watch")
    async with watcher.expect_navigation():
        await watcher.click(f"{row} a.watch")
    assert watcher.url.endswith(f"/play?room={room}&watch=1")
    await watcher.wait_for_function(WATCHING)
    assert await watcher.evaluate("window.arena.player") == 0
    assert await watcher.is_visible("#watching")
    await watcher.wait_for_function(
        "document.getElementById('spectator-count').textContent === '1 spectator'")
    for selector in HIDDEN:
        assert await watcher.is_hidden(selector), selector
    # The runner is drawn and moves on the spectator's screen.
    await watcher.wait_for_function("window.arena.others().length > 0")
    x = await watcher.evaluate("window.arena.others()[0].x")
    await watcher.wait_for_function(f"Math.abs(window.arena.others()[0].x - {x}) > 5")
    assert server.matchmaker.get(room).player_count == 1  # a spectator takes no seat
    await watcher.screenshot(path=str(screenshot_dir() / "arena-watching.png"))
    # The lobby counts the spectator.
    lobby = await new_page()
    await guest_login(lobby, server.url, "Counter")
    await lobby.wait_for_function(
        f"document.querySelector('{row} .room-players')?.textContent.includes('1 watching')")


async def test_a_watched_dice_table_shows_the_match_and_no_controls(server: ArenaServer,
                                                                    new_page: Any) -> None:
    ann = await new_page()
    await guest_login(ann, server.url, "Ann")
    await ann.goto(f"{server.url}/play?mode=dice&create=public")
    await ann.wait_for_function("window.arena && window.arena.room && window.arena.states > 0")
    room = await ann.evaluate("window.arena.room")
    bob = await new_page()
    await guest_login(bob, server.url, "Bob")
    await bob.goto(f"{server.url}/play?room={room}")
    watcher = await new_page()
    await guest_login(watcher, server.url, "Watcher")
    await watcher.goto(f"{server.url}/play?room={room}&watch=1")
    playing = "window.arena.state && window.arena.state.status === 'playing'"
    for page in (ann, bob, watcher):
        await page.wait_for_function(playing)
    assert await watcher.evaluate("window.arena.spectating") is True
    assert await watcher.is_visible("#watching")
    for selector in ("#bid", "#challenge", "#ready", ".controls"):
        assert await watcher.is_hidden(selector), selector
    assert await watcher.evaluate("'dice' in window.arena.state") is False  # nobody's hand
    # A bid at the table reaches the spectator's page.
    mover = ann if await ann.evaluate("window.arena.state.turn === window.arena.player") else bob
    await mover.click("#bid")
    await watcher.wait_for_function("window.arena.state.bid !== null")
    await watcher.screenshot(path=str(screenshot_dir() / "dice-watching.png"))
