"""The operator console in real Chromium: a player reaches none of it (403 on the page and on
the API); an operator sees the player in its room, kicks it with a reason the player's page
shows, announces to every room (a banner on the player's page, as text), finds the account,
and reads both actions in the audit log. Its screenshot goes where tests/test_browser.py puts
them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from game_server.app import ArenaServer
from tests import test_browser
from tests.test_browser import Pages, guest_login, screenshot_dir

server = test_browser.server
browser = test_browser.browser

pytestmark = pytest.mark.asyncio(loop_scope="module")

JOINED = "window.arena && window.arena.connected && window.arena.room && window.arena.states > 0"


@pytest_asyncio.fixture(loop_scope="module")
async def new_page(browser: Any) -> AsyncIterator[Pages]:
    """Pages at 1280x900; page errors and console errors but the 403s the player is meant to
    get fail the test."""
    pages = Pages(browser, lambda text: "status of 403" in text,
                  viewport={"width": 1280, "height": 900})
    yield pages
    await pages.close()


def answer_dialogs(page: Any, text: str = "") -> None:
    """Accept every confirm, and answer every prompt with `text`."""
    page.on("dialog", lambda dialog: asyncio.ensure_future(
        dialog.accept(text) if dialog.type == "prompt" else dialog.accept()))


async def test_a_player_cannot_reach_the_console_and_an_operator_acts_from_it(
        server: ArenaServer, new_page: Any) -> None:
    player = await new_page()
    await guest_login(player, server.url, "Rowdy")
    response = await player.goto(server.url + "/console")
    assert response.status == 403
    assert "not an operator" in await player.text_content("#denied")
    statuses = await player.evaluate("""async () => {
        const token = (await (await fetch('/api/xsrf')).json()).xsrf;
        const post = (name, body) => fetch('/api/console/' + name, {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-XSRFToken': token},
            body: JSON.stringify(body)}).then((r) => r.status);
        return [
            (await fetch('/api/console/hosts')).status,
            (await fetch('/api/console/audit')).status,
            await post('announce', {text: 'not from a player'}),
            await post('ban', {kind: 'address', value: '127.0.0.1', minutes: 5}),
        ];
    }""")
    assert statuses == [403, 403, 403, 403]
    await player.goto(server.url + "/play?mode=dice&create=private")
    await player.wait_for_function(JOINED)

    await server.services.accounts.register("chief", "correct horse battery")
    await server.storage.set_operator("chief", True)
    # Two points of the hour's chart, as its timer takes them every 10 s.
    server.live.sample_history()
    server.live.sample_history()
    console = await new_page()
    await console.goto(server.url + "/login?next=/console")
    await console.fill("#login-form input[name=username]", "chief")
    await console.fill("#login-form input[name=password]", "correct horse battery")
    async with console.expect_navigation():
        await console.click("#login-form button[type=submit]")
    assert console.url == server.url + "/console"
    answer_dialogs(console, "Please keep the chat friendly")
    row = console.locator(".players tr", has_text="Rowdy")
    await row.wait_for()
    # What the room costs, and the host's figures; the chart of the last hour, drawn as SVG.
    cost = console.locator("article.room p.cost")
    await cost.wait_for()
    text = await cost.text_content()
    assert "CPU" in text and "game" in text and "encode" in text and "send" in text
    assert "of the host's CPU" in text and "state " in text
    assert "tick p99" in await console.text_content(".host p.figures")
    label = console.locator("#charts svg.chart-players text.label")
    await label.wait_for()
    assert (await label.text_content()).startswith("players: 1")
    assert await console.locator("#charts svg.chart-tick_p99_ms").count() == 1
    assert await console.locator("#charts svg.chart-bytes_per_second").count() == 1
    await console.screenshot(path=str(screenshot_dir() / "console.png"), full_page=True)

    await console.locator("article.room button.inspect").click()
    await console.wait_for_selector("#inspect-state:has-text('Rowdy')")
    await console.fill("#inspect-search", "rowdy")
    await console.wait_for_selector("#inspect-count:has-text('lines match')")
    assert "Rowdy" in await console.text_content("#inspect-state")

    await row.locator("button.kick").click()
    await player.wait_for_function(
        "document.body.innerText.includes('Please keep the chat friendly')")
    await console.wait_for_selector("#status:has-text('kicked Rowdy')")

    hostile = "<b>Restart</b> at noon"
    await console.fill("#announce-text", hostile)
    await console.click("#announce-form button[type=submit]")
    await player.wait_for_function(
        "(text) => [...document.querySelectorAll('#announcements .announcement-text')]"
        ".some((node) => node.textContent === text)", arg=hostile)
    assert await player.locator("#announcements b").count() == 0

    await console.fill("#accounts-name", "row")
    await console.click("#accounts-form button[type=submit]")
    await console.locator("#accounts tr", has_text="Rowdy").locator("button.open").click()
    await console.wait_for_selector("#account h3:has-text('Rowdy')")

    await console.wait_for_function(
        "[...document.querySelectorAll('#audit td.what')].map((td) => td.textContent)"
        ".join(',').startsWith('announce,kick')")
