"""Tests for game_server.storage.passwords: scrypt hashing off the event loop."""

from __future__ import annotations

import base64
import concurrent.futures
import threading
from collections.abc import Iterator

import pytest

from game_server.storage import passwords
from game_server.storage.passwords import PasswordHasher

FAST_N = 2**10


@pytest.fixture
def hasher() -> Iterator[PasswordHasher]:
    h = PasswordHasher(n=FAST_N)
    yield h
    h.close()


@pytest.fixture
def scrypt_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the thread ident of every scrypt call."""
    idents: list[int] = []
    real = passwords.hashlib.scrypt

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        idents.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(passwords.hashlib, "scrypt", spy)
    return idents


async def test_round_trip(hasher: PasswordHasher) -> None:
    encoded = await hasher.hash("correct horse battery staple")
    assert await hasher.verify("correct horse battery staple", encoded)


async def test_format(hasher: PasswordHasher) -> None:
    encoded = await hasher.hash("pw")
    scheme, n, r, p, salt, key = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(FAST_N), "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(key)) == 32


async def test_wrong_password_is_false(hasher: PasswordHasher) -> None:
    encoded = await hasher.hash("secret")
    assert not await hasher.verify("Secret", encoded)
    assert not await hasher.verify("", encoded)


async def test_unknown_user_is_false_but_costs_one_scrypt(
    hasher: PasswordHasher, scrypt_threads: list[int]
) -> None:
    assert not await hasher.verify("anything", None)
    assert len(scrypt_threads) == 1


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "garbage",
        "scrypt$1024$8$1$c2FsdA==",
        "bcrypt$1024$8$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44,
        "scrypt$1000$8$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44,  # n not a power of two
        "scrypt$1024$0$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44,
        "scrypt$+1024$8$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44,
        "scrypt$1024$8$1$not base64!$" + "A" * 44,
        "scrypt$1024$8$1$c2FsdHNhbHRzYWx0c2FsdA==$QQ==",  # key too short
        "scrypt$1048576$64$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44,  # cost too high
        "scrypt$1024$8$1$c2FsdA==$" + "A" * 44 + "$extra",
        "scrypt$1024$8$1$séle$" + "A" * 44,
    ],
)
async def test_malformed_is_false(hasher: PasswordHasher, encoded: str) -> None:
    assert not await hasher.verify("pw", encoded)


async def test_same_password_hashes_differ(hasher: PasswordHasher) -> None:
    first = await hasher.hash("same")
    second = await hasher.hash("same")
    assert first != second
    assert await hasher.verify("same", first)
    assert await hasher.verify("same", second)


async def test_unicode_and_lone_surrogates(hasher: PasswordHasher) -> None:
    encoded = await hasher.hash("pässwörd \ud800")
    assert await hasher.verify("pässwörd \ud800", encoded)
    assert not await hasher.verify("pässwörd", encoded)


async def test_scrypt_never_runs_on_event_loop_thread(
    hasher: PasswordHasher, scrypt_threads: list[int]
) -> None:
    loop_thread = threading.get_ident()
    encoded = await hasher.hash("pw")
    await hasher.verify("pw", encoded)
    await hasher.verify("pw", None)
    await hasher.verify("pw", "malformed")
    assert len(scrypt_threads) == 4
    assert loop_thread not in scrypt_threads


async def test_old_cost_still_verifies_and_needs_rehash() -> None:
    old = PasswordHasher(n=2**8)
    new = PasswordHasher(n=FAST_N)
    try:
        encoded = await old.hash("pw")
        assert await new.verify("pw", encoded)
        assert new.needs_rehash(encoded)
        assert not old.needs_rehash(encoded)
        assert new.needs_rehash("garbage")
    finally:
        old.close()
        new.close()


async def test_default_cost_round_trip() -> None:
    hasher = PasswordHasher()
    try:
        encoded = await hasher.hash("pw")
        assert encoded.startswith("scrypt$16384$8$1$")
        assert await hasher.verify("pw", encoded)
    finally:
        hasher.close()


async def test_shared_executor_is_not_shut_down() -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        hasher = PasswordHasher(pool, n=FAST_N)
        await hasher.hash("pw")
        hasher.close()
        assert pool.submit(lambda: 42).result() == 42


async def test_close_is_idempotent_and_stops_work() -> None:
    hasher = PasswordHasher(n=FAST_N)
    hasher.close()
    hasher.close()
    with pytest.raises(RuntimeError):
        await hasher.hash("pw")


def test_rejects_bad_cost() -> None:
    with pytest.raises(ValueError):
        PasswordHasher(n=1000)
    with pytest.raises(ValueError):
        PasswordHasher(n=2**20, r=64)
