"""The operator console's storage (storage/operators.py) on SQLite and PostgreSQL alike: the
role and its last holder, the audit log, bans that run out or are lifted, accounts found,
logged out and deleted (off the leaderboards)."""

from __future__ import annotations

from pathlib import Path

import pytest

from game_server.games.api import Outcome
from game_server.storage.operators import LastOperator

from .pg import postgres_server  # noqa: F401
from .test_storage import FACTORIES, ManualClock, StorageFactory, postgres_database  # noqa: F401


@pytest.fixture(params=FACTORIES)
def factory(request: pytest.FixtureRequest) -> StorageFactory:
    return request.param(request)


async def test_the_console_storage_keeps_roles_audit_bans_and_accounts(
        factory: StorageFactory, tmp_path: Path) -> None:
    clock = ManualClock()
    async with factory(tmp_path, clock) as storage:
        alice = await storage.create_user("Alice", "h")
        bob = await storage.create_user("bob", "h")
        guest = await storage.create_guest("Al the guest")
        assert await storage.set_operator("ALICE", True) is not None
        assert (await storage.get_user(alice.id)).is_operator
        assert await storage.set_operator("Al the guest", True) is None  # guests: never
        with pytest.raises(LastOperator):
            await storage.set_operator("alice", False)
        await storage.set_operator("bob", True)
        assert [u.name for u in await storage.operators()] == ["Alice", "bob"]
        await storage.set_operator("alice", False)
        assert [u.name for u in await storage.operators()] == ["bob"]
        session = await storage.create_session(bob.id, 3600)
        assert (await storage.session_user(session)).is_operator

        await storage.audit(bob, "kick", "room r1", "reason=spam")
        clock.advance(1)
        await storage.audit(None, "operator grant", "account Alice")
        log = await storage.audit_log()
        assert [(e["actor"], e["action"], e["target"]) for e in log] == [
            ("(command line)", "operator grant", "account Alice"), ("bob", "kick", "room r1")]

        with pytest.raises(ValueError):
            await storage.add_ban("account", str(alice.id), -1, "", "bob")
        ban = await storage.add_ban("account", str(alice.id), 60, "spam", "bob")
        await storage.add_ban("address", "203.0.113.7", 600, "", "bob")
        assert {b["kind"] for b in await storage.active_bans()} == {"account", "address"}
        clock.advance(61)  # the account's ban ran out
        assert [b["kind"] for b in await storage.active_bans()] == ["address"]
        assert not await storage.lift_ban(ban["id"])
        address = (await storage.active_bans())[0]
        assert await storage.lift_ban(address["id"])
        assert await storage.active_bans() == []

        await storage.record_outcomes("arena", "best_score", None,
                                      [(guest.id, Outcome(player=1, score=9))])
        found = await storage.find_accounts("al")
        assert [a["name"] for a in found] == ["Al the guest", "Alice"]
        assert await storage.find_accounts("%") == []  # a wildcard is a character here
        gone = await storage.create_session(guest.id, 3600)
        detail = await storage.account(guest.id)
        assert detail["guest"] and detail["results"][0]["best_score"] == 9
        assert [s["live"] for s in detail["sessions"]] == [True]
        assert len(await storage.revoke_sessions(guest.id)) == 1
        assert await storage.session_user(gone) is None
        assert await storage.delete_user(guest.id)
        assert await storage.account(guest.id) is None
        assert await storage.top("arena", "best_score") == []
        assert not await storage.delete_user(guest.id)
