"""Bans in force, kept in memory by every process: checked at login and at the WebSocket
handshake with two dict lookups, never a query.

The database holds the bans (storage/operators.py); each process loads those in force when it
starts, again whenever an operator bans or lifts a ban anywhere (the console publishes
`KIND_BANS` through the presence), and every `refresh_every` seconds in case a message was lost
while the presence was unreachable. A ban that runs out stops counting at once: each entry
keeps its end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from game_server.storage.base import StorageError

if TYPE_CHECKING:
    from game_server.storage.operators import OperatorStorage

log = logging.getLogger("arena.bans")


@dataclass(frozen=True, slots=True)
class Ban:
    """One ban in force: of an account (`value` is its id) or of an address."""

    id: int
    kind: str
    value: str
    until: float  # wall clock
    reason: str

    def message(self, now: float) -> str:
        """What the banned player is told."""
        minutes = max(1, round((self.until - now) / 60.0))
        why = f": {self.reason}" if self.reason else ""
        return f"banned for another {minutes} min{why}"


class BanList:
    """The bans in force, by account id and by address."""

    def __init__(self, storage: OperatorStorage, *, clock: Callable[[], float] = time.time
                 ) -> None:
        self._storage = storage
        self._clock = clock
        self._accounts: dict[int, Ban] = {}
        self._addresses: dict[str, Ban] = {}

    async def load(self) -> None:
        """Read the bans in force from the database (a failure keeps the last list)."""
        try:
            rows = await self._storage.active_bans()
        except StorageError as exc:
            log.warning("could not load the bans, keeping the last list: %s", exc)
            return
        self.replace(rows)

    def replace(self, rows: list[dict[str, Any]]) -> None:
        accounts: dict[int, Ban] = {}
        addresses: dict[str, Ban] = {}
        for row in rows:
            ban = Ban(int(row["id"]), str(row["kind"]), str(row["value"]), float(row["until"]),
                      str(row["reason"]))
            if ban.kind == "account":
                accounts[int(ban.value)] = ban
            else:
                addresses[ban.value] = ban
        self._accounts, self._addresses = accounts, addresses

    def of(self, user_id: int | None, address: str | None) -> Ban | None:
        """The ban in force on this account or address, if any."""
        now = self._clock()
        ban = self._accounts.get(user_id) if user_id is not None else None
        if ban is None or ban.until <= now:
            ban = self._addresses.get(address) if address else None
        if ban is None or ban.until <= now:
            return None
        return ban

    def __len__(self) -> int:
        return len(self._accounts) + len(self._addresses)
