"""A browser on one host of an Arena is redirected into a room on another host, in Chromium.

Two servers on 127.0.0.2 and 127.0.0.3 (two origins, so the browser's cookie stays on the host
it logged in at) share one database, cookie secret and presence (an in-process `LocalPresence`
shared by both, standing in for Redis as in tests/test_cluster.py). The page logs in on B; quick
play finds the fullest room, which is on A: the browser follows the `redirect`, opens A's socket
with the seat token, and plays there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from client.bots import run_bots
from game_server.app import ArenaServer
from game_server.presence import LocalPresence
from game_server.storage.passwords import PasswordHasher
from tests.conftest import loopback_aliases_work, make_config
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, guest_login, screenshot_dir

HOSTS = ("127.0.0.2", "127.0.0.3")


pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not loopback_aliases_work(*HOSTS),
                       reason="127.0.0.2/.3 cannot be bound here"),
]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def hosts(tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[tuple[ArenaServer, ArenaServer]]:
    data: Path = tmp_path_factory.mktemp("hosts")
    presence_a = LocalPresence("A", shared=True)
    presence_b = presence_a.peer("B")  # one registry, as one Redis
    servers = []
    for address, presence in zip(HOSTS, (presence_a, presence_b), strict=True):
        server = ArenaServer(make_config(data, host=address, empty_room_grace=2.0),
                             passwords=PasswordHasher(n=2**10), presence=presence)
        await server.start()
        servers.append(server)
    yield servers[0], servers[1]
    for server in servers:
        await server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    assert CHROMIUM is not None
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def test_quick_play_on_one_host_plays_in_a_room_on_the_other(hosts, browser) -> None:
    a, b = hosts
    # Three bots open a room on A: the fullest room of the deployment.
    stop = asyncio.Event()
    bots = asyncio.create_task(run_bots(a.url, bots=3, duration=30.0, seed=5, stop=stop))
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    try:
        while not a.matchmaker.rooms() or a.matchmaker.rooms()[0].player_count < 3:
            assert not bots.done(), bots.result()
            await asyncio.sleep(0.05)
        room = a.matchmaker.rooms()[0]

        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        await guest_login(page, b.url, "Traveller")
        assert await page.text_content("#me") == "Traveller"
        # B's lobby lists A's room.
        await page.wait_for_selector(f"#rooms tr[data-room-id='{room.id}']", timeout=15000)
        async with page.expect_navigation():
            await page.click(".mode-card[data-mode=arena] a.quick")
        await page.wait_for_function(
            "window.arena && window.arena.connected && window.arena.room && "
            "window.arena.states > 2", timeout=15000)
        assert page.url.startswith(b.url + "/play")  # the page stays on B
        assert await page.evaluate("window.arena.room") == room.id  # the game is on A
        assert room.player_count == 4
        assert b.matchmaker.rooms() == []
        # It plays there: the others are drawn and steering moves the player.
        await page.wait_for_function("window.arena.others().length >= 3")
        start = await page.evaluate("window.arena.me()")
        await page.evaluate("window.arena.steer(1, 0)")
        await page.wait_for_function(f"window.arena.me().x > {start['x']} + 20")
        await page.screenshot(path=str(screenshot_dir() / "redirected.png"))
    finally:
        await context.close()
        stop.set()
        await bots
    assert errors == [], errors
