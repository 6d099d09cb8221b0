"""In Chromium: the lobby and the arena HUD count the players who are there and say how many are
away (their connection dropped, their seat held for a resume), not "Players 3" for two people
(issue #22, item 4). Fixtures and helpers are tests/test_browser.py's."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from client.session import ArenaSocket, login_guest
from game_server.app import ArenaServer
from game_server.storage.passwords import PasswordHasher
from tests.conftest import make_config
from tests.test_browser import REPO, browser, guest_login, new_page, play

# Fixtures used by name below; importing them is what makes pytest see them here.
__all__ = ["browser", "new_page"]

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _seated(url: str, name: str) -> ArenaSocket:
    sock = await ArenaSocket.connect(url, await login_guest(url, name))
    sock.send({"type": "join", "mode": "arena"})
    while (msg := await sock.recv()) is not None and msg["type"] != "joined":
        pass
    assert msg is not None, f"{name} was not seated"
    return sock


async def test_lobby_and_hud_count_players_there_and_away(tmp_path: Path,
                                                          new_page: Any) -> None:
    srv = ArenaServer(make_config(tmp_path, resume_grace=60.0),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    try:
        ann = await _seated(srv.url, "ann")
        bob = await _seated(srv.url, "bob")
        bob.close()  # dropped: his seat is held for a resume
        async with asyncio.timeout(10):
            while srv.matchmaker.away_count != 1:  # noqa: ASYNC110 - no event says "held"
                await asyncio.sleep(0.02)
        page = await new_page()
        await guest_login(page, srv.url, "Visitor")
        await page.wait_for_selector(
            "#rooms tr[data-room-id] .room-players >> text='1 / 20 (1 away)'", timeout=15000)
        shots = REPO / "docs" / "screenshots"
        await page.locator("#rooms tr[data-room-id]").scroll_into_view_if_needed()
        await page.screenshot(path=str(shots / "lobby-away.png"))
        await play(page, srv.url)
        # ann and the visitor are there; bob is away.
        await page.wait_for_function(
            "document.getElementById('hud-players').textContent === '2 (1 away)'")
        await page.screenshot(path=str(shots / "arena-away.png"))
        ann.close()
    finally:
        await srv.stop()
