"""Login brute-force protection: the window logic with a manual clock, and the API's 429."""

from __future__ import annotations

import orjson

from game_server.throttle import LoginThrottle
from tests.conftest import ManualClock


async def test_per_username_failures_lock_that_name_for_the_rest_of_the_window() -> None:
    clock = ManualClock(0.0)
    t = LoginThrottle(per_user=3, per_address=100, window=60.0, clock=clock)
    for i in range(3):
        assert await t.retry_after("Ann", "1.1.1.1") == 0
        await t.failed("Ann", f"1.1.1.{i}")
        clock.now += 1.0
    assert await t.retry_after("ann", "9.9.9.9") == 57  # case-insensitive, any address
    assert await t.retry_after("bob", "1.1.1.1") == 0
    clock.now = 60.5
    assert await t.retry_after("ann", "1.1.1.1") == 0  # the first failure left the window


async def test_per_address_failures_lock_that_address_for_every_name() -> None:
    clock = ManualClock(0.0)
    t = LoginThrottle(per_user=100, per_address=4, window=10.0, clock=clock)
    for name in ("a", "b", "c", "d"):
        await t.failed(name, "6.6.6.6")
    assert await t.retry_after("zed", "6.6.6.6") == 10
    assert await t.retry_after("zed", "7.7.7.7") == 0


async def test_success_clears_the_name_but_not_the_address() -> None:
    clock = ManualClock(0.0)
    t = LoginThrottle(per_user=2, per_address=3, window=10.0, clock=clock)
    await t.failed("ann", "1.1.1.1")
    await t.succeeded("ann")
    await t.failed("ann", "1.1.1.1")
    assert await t.retry_after("ann", "2.2.2.2") == 0
    await t.failed("x", "1.1.1.1")
    assert await t.retry_after("y", "1.1.1.1") > 0


async def test_memory_stays_bounded_under_many_names() -> None:
    clock = ManualClock(0.0)
    t = LoginThrottle(per_user=5, per_address=10**9, window=60.0, max_keys=100, clock=clock)
    for i in range(10_000):
        await t.failed(f"user{i}", "1.1.1.1")
    assert t.local.keys <= 100


async def test_api_answers_429_with_retry_after_and_hides_whether_the_name_exists(
    client_factory,
) -> None:
    c = client_factory()
    await c.request("POST", "/api/register", {"username": "target", "password": "right-password"})
    for name in ("target", "ghost"):  # a real account and an unknown name behave the same
        for _ in range(5):
            r = await c.request("POST", "/api/login", {"username": name, "password": "guess123"})
            assert r.code == 401
        r = await c.request("POST", "/api/login", {"username": name, "password": "right-password"})
        assert r.code == 429, name
        assert int(r.headers["Retry-After"]) > 0
        assert orjson.loads(r.body)["error"] == "too_many_attempts"
    other = await c.request("POST", "/api/login", {"username": "someone", "password": "x" * 8})
    assert other.code == 401  # other names from this address are still checked
