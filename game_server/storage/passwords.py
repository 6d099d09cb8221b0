"""Password hashing with scrypt on a thread pool, so a login never stalls the event loop.

Hashes are self-describing strings, ``scrypt$n$r$p$<salt b64>$<key b64>``, so the cost can be
raised later: old hashes still verify with their own parameters, and ``needs_rehash`` says
which to replace at the next successful login.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import hashlib
import hmac
import re
import secrets
from typing import NamedTuple

SALT_BYTES = 16
KEY_BYTES = 32
SCHEME = "scrypt"

# Refuse parameters needing more than this much memory, whether passed to the constructor or
# read from a stored hash, so a corrupt row cannot make one login allocate gigabytes.
MAX_MEMORY = 256 * 1024 * 1024
# hashlib.scrypt rejects a maxmem under what OpenSSL needs; give at least this much headroom.
MIN_MAXMEM = 64 * 1024 * 1024

_DECIMAL = re.compile(r"[1-9][0-9]{0,9}")


class _Params(NamedTuple):
    n: int
    r: int
    p: int
    salt: bytes
    key: bytes


def _memory(n: int, r: int, p: int) -> int:
    """Bytes OpenSSL's scrypt allocates: 128*r*p for B plus 128*r*(n+2) for V."""
    return 128 * r * (n + 2 + p)


def _check_cost(n: int, r: int, p: int) -> bool:
    return n > 1 and n & (n - 1) == 0 and r >= 1 and p >= 1 and _memory(n, r, p) <= MAX_MEMORY


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    """Run scrypt. A module-level function, so a process pool can run it as well."""
    maxmem = max(MIN_MAXMEM, _memory(n, r, p) + 1024 * 1024)
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)


def _encode_password(password: str) -> bytes:
    # surrogatepass: any str, even one with lone surrogates from a bad client, hashes
    # deterministically instead of raising.
    return password.encode("utf-8", "surrogatepass")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _parse(encoded: str) -> _Params | None:
    """Split a stored hash into its parts; None if it is malformed in any way."""
    if not isinstance(encoded, str) or not encoded.isascii():
        return None
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    if not all(_DECIMAL.fullmatch(part) for part in parts[1:4]):
        return None
    n, r, p = (int(part) for part in parts[1:4])
    if not _check_cost(n, r, p):
        return None
    try:
        salt, key = _b64decode(parts[4]), _b64decode(parts[5])
    except (binascii.Error, ValueError):
        return None
    if not salt or not 16 <= len(key) <= 64:
        return None
    return _Params(n, r, p, salt, key)


class PasswordHasher:
    """Hashes and checks passwords with scrypt on a thread pool, never on the event loop.

    Pass ``executor`` to share a pool; otherwise the hasher creates its own two-thread pool
    and ``close()`` shuts it down. ``n``, ``r`` and ``p`` are the scrypt cost for new hashes
    (tests use a small ``n`` to stay fast).
    """

    def __init__(
        self,
        executor: concurrent.futures.Executor | None = None,
        *,
        n: int = 2**14,
        r: int = 8,
        p: int = 1,
    ) -> None:
        if not _check_cost(n, r, p):
            raise ValueError(
                f"bad scrypt cost n={n} r={r} p={p}: n must be a power of two > 1, r and p"
                f" positive, and memory at most {MAX_MEMORY} bytes"
            )
        self._n, self._r, self._p = n, r, p
        self._owns_executor = executor is None
        self._executor: concurrent.futures.Executor = executor or (
            concurrent.futures.ThreadPoolExecutor(
                max_workers=2, thread_name_prefix="arena-passwords"
            )
        )
        self._closed = False
        # Unknown users are checked against this, at the same cost as a real hash.
        self._dummy_salt = secrets.token_bytes(SALT_BYTES)
        self._dummy_key = secrets.token_bytes(KEY_BYTES)

    async def hash(self, password: str) -> str:
        """Return ``scrypt$n$r$p$<salt b64>$<key b64>`` for a fresh 16-byte random salt."""
        salt = secrets.token_bytes(SALT_BYTES)
        key = await self._run(_encode_password(password), salt, self._n, self._r, self._p)
        return "$".join(
            (
                SCHEME,
                str(self._n),
                str(self._r),
                str(self._p),
                base64.b64encode(salt).decode("ascii"),
                base64.b64encode(key).decode("ascii"),
            )
        )

    async def verify(self, password: str, encoded: str | None) -> bool:
        """Return whether ``password`` matches the stored hash ``encoded``; never raises on it.

        ``encoded`` None (an unknown user) or malformed still costs one scrypt at the current
        cost and returns False, so response times do not reveal which usernames exist.
        """
        params = None if encoded is None else _parse(encoded)
        password_bytes = _encode_password(password)
        if params is None:
            key = await self._run(password_bytes, self._dummy_salt, self._n, self._r, self._p)
            hmac.compare_digest(key, self._dummy_key)
            return False
        try:
            key = await self._run(
                password_bytes, params.salt, params.n, params.r, params.p, len(params.key)
            )
        except (ValueError, MemoryError):
            return False
        return hmac.compare_digest(key, params.key)

    def needs_rehash(self, encoded: str) -> bool:
        """Return True if ``encoded`` is malformed or was made with another cost than ours."""
        params = _parse(encoded)
        return params is None or (params.n, params.r, params.p) != (self._n, self._r, self._p)

    def close(self) -> None:
        """Stop accepting work; shut the executor down if this hasher created it. Idempotent.

        Waits for a hash already running (tens of milliseconds at the default cost).
        """
        if self._closed:
            return
        self._closed = True
        if self._owns_executor:
            self._executor.shutdown(wait=True)

    async def _run(
        self, password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int = KEY_BYTES
    ) -> bytes:
        if self._closed:
            raise RuntimeError("PasswordHasher is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _derive, password, salt, n, r, p, dklen)
