"""The browser client in real Chromium (Debian's), driven by Playwright, against a real server.

Skipped with a how-to outside CI when no Chromium is installed; under CI=true they must run.
Screenshots of the lobby and of a game in progress go to build/screenshots (or
$ARENA_SCREENSHOT_DIR); the path is printed.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from client.bots import run_bots
from game_server.app import ArenaServer
from game_server.games.api import Outcome
from game_server.storage.passwords import PasswordHasher
from tests.conftest import make_config

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parent.parent


def find_chromium() -> str | None:
    for candidate in (os.environ.get("ARENA_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


CHROMIUM = find_chromium()
if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI=true but no Chromium: .ci/run should install Debian's chromium")
    pytest.skip("no Chromium found: install Debian's with `apt-get install -y chromium` to run "
                "the browser tests", allow_module_level=True)

pytestmark = pytest.mark.asyncio(loop_scope="module")


# A 390x844 touch phone, as the phone tests of the browser files open it.
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
         "device_scale_factor": 2}


def screenshot_dir() -> Path:
    path = Path(os.environ.get("ARENA_SCREENSHOT_DIR", REPO / "build" / "screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ArenaServer]:
    srv = ArenaServer(make_config(tmp_path_factory.mktemp("browser"), empty_room_grace=2.0),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    yield srv
    await srv.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


class Pages:
    """Pages in fresh browser contexts (separate cookie jars) for one test, each opened by
    calling this. Page errors and console errors are collected, but those `allowed(text)` says
    the test causes on purpose; `close()` closes the contexts and fails the test on any error
    collected. The browser tests' `new_page` fixtures are one each."""

    def __init__(self, browser: Any, allowed: Callable[[str], Any] = lambda text: False,
                 **context: Any) -> None:
        self.browser = browser
        self.allowed = allowed
        self.context = context or {"viewport": {"width": 1280, "height": 800}}
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def _console(self, msg: Any) -> None:
        if msg.type == "error" and not self.allowed(msg.text):
            self.errors.append(msg.text)

    async def __call__(self) -> Any:
        context = await self.browser.new_context(**self.context)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()
        assert self.errors == [], self.errors


@pytest_asyncio.fixture(loop_scope="module")
async def new_page(browser: Any) -> AsyncIterator[Pages]:
    """Pages at 1280x800; console errors fail the test but a refused login (401) or
    registration (409), answered so on purpose (Chromium logs every 4xx page load)."""
    pages = Pages(browser, lambda text: re.search(r"status of 40[19]\b", text))
    yield pages
    await pages.close()


async def guest_login(page: Any, base: str, name: str) -> None:
    await page.goto(base + "/login")
    await page.fill("#guest-form input[name=name]", name)
    async with page.expect_navigation():
        await page.click("#guest-form button[type=submit]")


async def canvas_colours(page: Any) -> int:
    """How many distinct colours the page's game canvas shows (sampled): many once a world is
    drawn, one or two for a blank frame."""
    return int(await page.evaluate("""() => {
        const c = document.getElementById('game');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] << 16 | d[i+1] << 8 | d[i+2]);
        return seen.size;
    }"""))


async def play(page: Any, base: str, query: str = "mode=arena") -> dict[str, Any]:
    await page.goto(f"{base}/play?{query}")
    await page.wait_for_function(
        "window.arena && window.arena.connected && window.arena.room && window.arena.states > 2")
    return await page.evaluate("({room: window.arena.room, player: window.arena.player})")


async def test_guest_login_through_the_form(server: ArenaServer, new_page: Any) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Wanderer")
    assert page.url == server.url + "/"
    assert await page.text_content("#me") == "Wanderer"


async def test_register_log_out_and_log_in(server: ArenaServer, new_page: Any) -> None:
    page = await new_page()
    await page.goto(server.url + "/login")
    await page.fill("#register-form input[name=username]", "ada")
    await page.fill("#register-form input[name=password]", "analytical engine")
    async with page.expect_navigation():
        await page.click("#register-form button[type=submit]")
    assert await page.text_content("#me") == "ada"
    async with page.expect_navigation():
        await page.click("#logout-form button[type=submit]")
    assert page.url.startswith(server.url + "/login")
    await page.fill("#login-form input[name=username]", "ada")
    await page.fill("#login-form input[name=password]", "wrong password")
    async with page.expect_navigation():
        await page.click("#login-form button[type=submit]")
    assert "Wrong username or password" in await page.text_content("#login-form .error")
    # the name stays where it was typed; the password is not sent back
    assert await page.input_value("#login-form input[name=username]") == "ada"
    assert await page.input_value("#login-form input[name=password]") == ""
    assert await page.input_value("#register-form input[name=username]") == ""
    await page.fill("#login-form input[name=username]", "ada")
    await page.fill("#login-form input[name=password]", "analytical engine")
    async with page.expect_navigation():
        await page.click("#login-form button[type=submit]")
    assert await page.text_content("#me") == "ada"


async def test_a_failed_registration_keeps_the_name_in_the_register_form(
    server: ArenaServer, new_page: Any
) -> None:
    await server.services.accounts.register("grace", "compiler compiler")
    page = await new_page()
    await page.goto(server.url + "/login")
    await page.fill("#register-form input[name=username]", "grace")
    await page.fill("#register-form input[name=password]", "another password")
    async with page.expect_navigation():
        await page.click("#register-form button[type=submit]")
    assert await page.input_value("#register-form input[name=username]") == "grace"
    assert await page.input_value("#register-form input[name=password]") == ""
    assert await page.input_value("#login-form input[name=username]") == ""
    # the error is shown in the form that failed, and only there
    assert "taken" in await page.text_content("#register-form .error")
    assert await page.locator(".error").count() == 1


async def test_lobby_lists_the_room_bots_play_in(server: ArenaServer, new_page: Any) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Spectator")
    bots = asyncio.create_task(run_bots(server.url, bots=3, duration=6.0, seed=3))
    try:
        # the lobby refreshes itself: no reload here
        await page.wait_for_selector("#rooms tr[data-room-id] .room-players >> text='3 / 20'",
                                     timeout=15000)
        room_id = await page.get_attribute("#rooms tr[data-room-id]", "data-room-id")
        assert room_id in [r.id for r in server.matchmaker.rooms()]
        await page.screenshot(path=str(screenshot_dir() / "lobby.png"))
    finally:
        report = await bots
    assert report.joined == 3


async def test_lobby_shows_the_leaderboard(server: ArenaServer, new_page: Any) -> None:
    best = await server.storage.create_guest("Topscorer")
    await server.storage.record_outcomes("arena", "best_score", "lobby-test",
                                         [(best.id, Outcome(player=1, score=4321))])
    page = await new_page()
    await guest_login(page, server.url, "Reader")
    await page.wait_for_function(
        "[...document.querySelectorAll('.leaderboard[data-mode=arena] li')]"
        ".some((li) => li.textContent === 'Topscorer 4321' && li.classList.contains('guest'))",
        timeout=10000)


async def test_quick_play_draws_moves_and_shows_others(server: ArenaServer,
                                                       new_page: Any) -> None:
    bots = asyncio.create_task(run_bots(server.url, bots=4, duration=12.0, seed=4))
    try:
        page = await new_page()
        await guest_login(page, server.url, "Pilot")
        async with page.expect_navigation():
            await page.click(".mode-card[data-mode=arena] a.quick")
        await page.wait_for_function(
            "window.arena && window.arena.connected && window.arena.states > 2")
        assert page.url.startswith(server.url + "/play")
        room = await page.evaluate("window.arena.room")
        assert room in [r.id for r in server.matchmaker.rooms()]

        # the canvas is drawn: many distinct colours, not a blank frame
        await page.wait_for_function("window.arena.frames > 10")
        assert await canvas_colours(page) > 5

        # steering moves the player: right, then down
        start = await page.evaluate("window.arena.me()")
        await page.evaluate("window.arena.steer(1, 0)")
        await page.wait_for_function(f"window.arena.me().x > {start['x']} + 20")
        await page.evaluate("window.arena.steer(0, 1)")
        mid = await page.evaluate("window.arena.me()")
        await page.wait_for_function(f"window.arena.me().y > {mid['y']} + 20")
        await page.evaluate("window.arena.steer(null)")
        # the server agrees with the prediction (the authoritative position moved too)
        assert await page.evaluate(
            f"window.arena.world.players.get(window.arena.player).x > {start['x']} + 10")

        # other players are visible, with their names
        await page.wait_for_function("window.arena.others().length >= 4")
        names = await page.evaluate("window.arena.others().map(o => o.name)")
        assert sum(1 for n in names if n.startswith("bot-")) >= 4
        await page.wait_for_function(
            "document.getElementById('hud-players').textContent.includes('5')")
        await page.wait_for_function(
            "document.getElementById('hud-ping').textContent.includes('ms')")
        await page.screenshot(path=str(screenshot_dir() / "game.png"))
        print(f"\nscreenshots in {screenshot_dir()}")
    finally:
        await bots


async def test_chat_reaches_a_second_page_and_hostile_names_stay_text(
    server: ArenaServer, new_page: Any
) -> None:
    hostile = "<svg onload=pwn()>"
    first = await new_page()
    await first.add_init_script("window.pwned = false; window.pwn = () => { window.pwned = true }")
    await guest_login(first, server.url, "Host")
    where = await play(first, server.url)
    second = await new_page()
    await second.add_init_script("window.pwned = false; window.pwn = () => { window.pwned = true }")
    await guest_login(second, server.url, hostile)
    await play(second, server.url, f"room={where['room']}")

    await second.fill("#chat-input", "hello <b>world</b>")
    await second.press("#chat-input", "Enter")
    line = first.locator("#chat-log .chat-line").last
    await line.wait_for()
    assert await line.locator(".chat-text").text_content() == "hello <b>world</b>"
    assert await line.locator(".chat-name").text_content() == hostile
    # the hostile name is drawn as text everywhere: no element was made from it, nothing ran
    await first.wait_for_function(
        f"document.getElementById('room-leaderboard').textContent.includes({hostile!r})")
    for page in (first, second):
        assert await page.evaluate("document.querySelectorAll('#chat-log svg, #chat-log b,"
                                   " #room-leaderboard svg').length") == 0
        assert await page.evaluate("window.pwned") is False


async def test_connection_drop_shows_a_banner_and_reconnects(server: ArenaServer,
                                                            new_page: Any) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Phoenix")
    first = await play(page, server.url)
    assert await page.is_hidden("#banner")
    # the server drops this player's socket
    for handler in list(server.services.sockets):
        if handler.current_user.name == "Phoenix":
            handler.close(1011, "test drop")
    await page.wait_for_function("!window.arena.connected")
    assert await page.is_visible("#banner")
    # 1011 says nothing about a restart: the banner says only what is known
    assert await page.text_content("#banner") == "Lost connection to the server — reconnecting…"
    await page.wait_for_function("window.arena.connected && window.arena.room", timeout=15000)
    await page.wait_for_function("document.getElementById('banner').hidden")
    assert await page.evaluate("window.arena.room") == first["room"]


async def test_a_stopped_server_is_shutting_down_not_restarting(
    tmp_path: Path, new_page: Any
) -> None:
    srv = ArenaServer(make_config(tmp_path), passwords=PasswordHasher(n=2**10))
    await srv.start()
    try:
        page = await new_page()
        await guest_login(page, srv.url, "Witness")
        await play(page, srv.url)
    finally:
        await srv.stop()  # as on SIGTERM: server_closing, then close 1001
    await page.wait_for_function("!window.arena.connected")
    assert await page.text_content("#banner") == "The server is shutting down — reconnecting…"
    await page.close()  # before its retries reach the closed port (each logs an error)


async def test_logout_returns_to_login_and_the_old_cookie_is_refused(
    server: ArenaServer, new_page: Any
) -> None:
    page = await new_page()
    await guest_login(page, server.url, "Leaver")
    cookies = await page.context.cookies()
    header = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
    ws = await websocket_connect(HTTPRequest(server.url.replace("http", "ws") + "/ws",
                                             headers={"Cookie": header}))
    ws.close()
    async with page.expect_navigation():
        await page.click("#logout-form button[type=submit]")
    assert page.url.startswith(server.url + "/login")
    with pytest.raises(HTTPClientError) as info:
        await websocket_connect(HTTPRequest(server.url.replace("http", "ws") + "/ws",
                                            headers={"Cookie": header}))
    assert info.value.code == 401
