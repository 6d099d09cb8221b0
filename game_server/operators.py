"""`python -m game_server operator grant NAME | revoke NAME | list`: who may use the console.

The role lives on the account in the server's database (the one `--database-url`, or SQLite in
`--data-dir`, names: the same flags and variables as the server's), so it is given where the
server runs, by whoever may read its database; no page can grant it. Every change is written
to the audit log as done by "(command line)". The last operator cannot be revoked: the console
would have no one left to hand the role on from.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from game_server.config import DATABASE_FILE
from game_server.storage import open_storage
from game_server.storage.base import StorageError
from game_server.storage.operators import LastOperator, OperatorStorage


def _env(environ: Mapping[str, str], name: str, default: str) -> str:
    return environ.get("ARENA_" + name.upper().replace("-", "_"), default)


def parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="game-server operator",
        description="Give or take the operator role (the console at /console), or list who "
                    "has it, in the server's database.")
    p.add_argument("action", choices=("grant", "revoke", "list"))
    p.add_argument("name", nargs="?", help="the registered account's username (grant, revoke)")
    p.add_argument("--database-url", default=_env(environ, "database-url", ""),
                   help="the server's database (default: ARENA_DATABASE_URL, else SQLite in "
                        "--data-dir)")
    p.add_argument("--data-dir", type=Path, default=Path(_env(environ, "data-dir", "data")),
                   help="the server's data directory (default: %(default)s)")
    return p


async def run(storage: OperatorStorage, action: str, name: str | None) -> str:
    """Do `action` on an open storage; the line to print. ValueError says what is wrong."""
    if action == "list":
        names = [user.name for user in await storage.operators()]
        return "\n".join(names) if names else "no operators yet: grant one with operator grant NAME"
    if not name:
        raise ValueError(f"operator {action} needs the account's NAME")
    user = await storage.set_operator(name, action == "grant")
    if user is None:
        raise ValueError(f"no registered account is named {name!r} (guests cannot be operators)")
    await storage.audit(None, f"operator {action}", f"account {user.name} ({user.id})")
    return f"{user.name} is {'now' if action == 'grant' else 'no longer'} an operator"


def main(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    args = parser(environ).parse_args(argv)
    if args.action != "list" and not args.name:
        print(f"game-server operator: {args.action} needs the account's NAME", file=sys.stderr)
        return 2

    async def go() -> str:
        storage = open_storage(args.database_url or args.data_dir / DATABASE_FILE)
        await storage.open()
        try:
            return await run(storage, args.action, args.name)  # type: ignore[arg-type]
        finally:
            await storage.close()

    try:
        print(asyncio.run(go()))
    except LastOperator as exc:
        print(f"game-server operator: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"game-server operator: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"game-server operator: cannot use the database: {exc}", file=sys.stderr)
        return 1
    return 0
