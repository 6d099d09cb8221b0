"""Lantern's page in real Chromium, served from its package: quick play with options from the
address, the maze drawn, the keys steering the player and space lighting a flare. Same server,
fixtures and screenshots as tests/test_browser.py."""

from __future__ import annotations

from typing import Any

import pytest

from game_server.app import ArenaServer
from tests import test_browser
from tests.test_browser import guest_login, screenshot_dir

# The browser tests' own fixtures (a server, Chromium, pages in fresh contexts), used by name.
server = test_browser.server
browser = test_browser.browser
new_page = test_browser.new_page

pytestmark = pytest.mark.asyncio(loop_scope="module")

MINE = "window.arena.state.players.find((p) => p[0] === window.arena.player)"


async def test_one_player_walks_the_maze_and_lights_a_flare(server: ArenaServer,
                                                           new_page: Any) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Lena")
    await page.goto(server.url + "/play?mode=lantern&size=16&round_seconds=60")
    await page.wait_for_function("window.arena && window.arena.connected && "
                                 "window.arena.states > 2")
    assert [r.options for r in server.matchmaker.rooms() if r.mode.name == "lantern"] == [
        {"size": 16, "round_seconds": 60, "fog": True}]
    await page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('Round 1:')")
    size = await page.evaluate("[document.getElementById('maze').width, "
                               "document.getElementById('maze').height]")
    assert size[0] == size[1] > 0  # a 16 x 16 maze, drawn
    assert await page.text_content("#leaders li") == "Lena0 gems"

    start = await page.evaluate(f"{MINE}.slice(1, 3)")
    moved = False
    for key in ("ArrowRight", "ArrowDown", "ArrowLeft", "ArrowUp"):  # one way is open
        await page.keyboard.down(key)
        try:
            await page.wait_for_function(
                f"(({{x, y}}) => {MINE}[1] !== x || {MINE}[2] !== y)"
                f"({{x: {start[0]}, y: {start[1]}}})", timeout=1500)
            moved = True
        except Exception:  # walled in that way: try the next
            pass
        await page.keyboard.up(key)
        if moved:
            break
    assert moved
    walker = next(r for r in server.matchmaker.rooms() if r.mode.name == "lantern").game.walkers
    assert [(w.x, w.y) for w in walker.values()] != [tuple(start)]

    await page.keyboard.press("Space")
    await page.wait_for_function(f"{MINE}[4] === 1 && {MINE}[5] === 1")
    await page.wait_for_function(
        "document.getElementById('status').textContent.endsWith('· 1 flare (space)')")
    await page.screenshot(path=str(screenshot_dir() / "lantern.png"))
