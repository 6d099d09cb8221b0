"""Cookie-secret rotation: new cookies use the newest secret, old ones stay valid until dropped."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from game_server.app import ArenaServer
from game_server.config import load_cookie_secret, parse_secrets, rotate_cookie_secret
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, make_config

OLD = "o" * 40
NEW = "n" * 40


def test_parse_plain_and_versioned_secrets() -> None:
    assert parse_secrets(OLD + "\n") == OLD
    assert parse_secrets(f"2 {NEW}\n1 {OLD}\n") == {2: NEW, 1: OLD}
    assert parse_secrets(f"2:{NEW},1:{OLD}") == {2: NEW, 1: OLD}
    with pytest.raises(ValueError):
        parse_secrets(f"two {NEW}\n1 {OLD}")


def test_rotation_adds_a_version_and_keeps_the_file_private(tmp_path: Path) -> None:
    first = load_cookie_secret(tmp_path, None)
    assert isinstance(first, str)
    assert rotate_cookie_secret(tmp_path) == 1
    assert rotate_cookie_secret(tmp_path) == 2
    versions = load_cookie_secret(tmp_path, None)
    assert isinstance(versions, dict) and sorted(versions) == [0, 1, 2]
    assert versions[0] == first  # the original secret verifies the cookies it signed
    assert stat.S_IMODE((tmp_path / "cookie_secret").stat().st_mode) == 0o600


async def login_cookie(url: str) -> str:
    c = Browserless(url)
    try:
        await c.guest("rotator")
        return c.cookies["arena_session"]
    finally:
        await c.aclose()


async def me_status(url: str, session_cookie: str) -> int:
    c = Browserless(url)
    try:
        return (await c.request("GET", "/api/me",
                                headers={"Cookie": f"arena_session={session_cookie}"})).code
    finally:
        await c.aclose()


async def test_a_new_secret_does_not_log_anyone_out_until_the_old_one_is_dropped(
    tmp_path: Path,
) -> None:
    async def serve(secret):  # noqa: ANN001, ANN202
        srv = ArenaServer(make_config(tmp_path, cookie_secret=secret),
                          passwords=PasswordHasher(n=2**10))
        await srv.start()
        return srv

    srv = await serve(OLD)
    old_cookie = await login_cookie(srv.url)
    await srv.stop()

    srv = await serve({0: OLD, 1: NEW})  # rotated: the old secret is version 0
    assert await me_status(srv.url, old_cookie) == 200
    new_cookie = await login_cookie(srv.url)
    assert new_cookie.strip('"').startswith("2|1:1|")  # signed with version 1
    await srv.stop()

    srv = await serve({1: NEW})  # the old secret retired
    try:
        assert await me_status(srv.url, old_cookie) == 401
        assert await me_status(srv.url, new_cookie) == 200
    finally:
        await srv.stop()
