"""The operator console: the page `/console` and its JSON API `/api/console/*`.

Only operators reach any of it: without a session 401, with a player's 403. Every POST needs
the XSRF token (the application's `xsrf_cookies`), and every action is written to the audit
log before it is answered. Room actions go to the process that holds the room
(game_server/console_bus.py); bans are stored, then every process reloads them and closes the
banned one's sockets.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from game_server.announce import check_text
from game_server.console_bus import ConsoleBus
from game_server.engine.admin import MESSAGE_RECORDS, RECENT_KEPT, AdminError
from game_server.engine.recorder import JOIN, LEAVE, MESSAGE
from game_server.journal.store import load_journal
from game_server.names import SERVER_NAME
from game_server.storage.base import User
from game_server.storage.operators import BAN_KINDS, OperatorStorage
from game_server.transport.base import ApiError, BaseHandler, JsonHandler
from protocol.errors import ProtocolError

MAX_BAN_SECONDS = 10 * 365 * 86400.0
log = logging.getLogger("arena.console")

_RECORD_WORDS = {"j": "joined", "d": "dropped", "r": "resumed", "l": "left", "m": "sent",
                 "c": "room closed"}


def describe_record(record: list[Any]) -> dict[str, Any]:
    """One journal record as the console lists it: `{"ms", "what", "player", "detail"}`."""
    code, ms = record[0], record[1] if len(record) > 1 else 0
    out: dict[str, Any] = {"ms": ms, "what": _RECORD_WORDS.get(code, code)}
    if code == JOIN:
        out.update(player=record[5] if len(record) > 5 else None, detail=record[3])
    elif code == MESSAGE:
        out.update(player=record[2], detail={"type": record[3], **(record[4] or {})}
                   if isinstance(record[4], dict) else record[3])
    elif code == LEAVE:
        out.update(player=record[2], detail=" ".join(map(str, record[3:])))
    elif code in ("d", "r"):
        out.update(player=record[2])
    else:
        out.update(detail=" ".join(map(str, record[2:])))
    return out


def _operator(handler: BaseHandler) -> User:
    user = handler.current_user
    if user is None:
        raise ApiError(401, "not_logged_in", "Log in as an operator first.")
    if not user.is_operator:
        raise ApiError(403, "not_operator", "Only operators may use the console.")
    return user  # type: ignore[no-any-return]


class ConsolePage(BaseHandler):
    """`GET /console`: the console's page (its data comes from the API, by console.js)."""

    async def prepare(self) -> None:
        await super().prepare()
        user = self.current_user
        if user is None or not user.is_operator:
            status = 401 if user is None else 403
            self.set_status(status)
            self.render("console_denied.html", status=status)
            return

    def get(self) -> None:
        self.render("console.html", user=self.current_user)


class ConsoleApi(JsonHandler):
    """`/api/console/NAME`: GET reads, POST acts; each NAME is a method below."""

    READS = ("hosts", "history", "audit", "bans", "accounts", "account", "inspect")
    ACTIONS = ("room", "announce", "drain", "ban", "lift", "revoke", "delete")

    @property
    def bus(self) -> ConsoleBus:
        assert self.services.console is not None
        return self.services.console

    @property
    def store(self) -> OperatorStorage:
        return self.services.storage  # type: ignore[return-value]

    async def prepare(self) -> None:
        await super().prepare()
        self.operator = _operator(self)

    async def get(self, name: str) -> None:
        if name not in self.READS:
            raise ApiError(404, "unknown", f"no console read {name!r}")
        self.send_json(await getattr(self, f"read_{name}")())

    async def post(self, name: str) -> None:
        if name not in self.ACTIONS:
            raise ApiError(404, "unknown", f"no console action {name!r}")
        body = self.json_body()
        try:
            reply = await getattr(self, f"do_{name}")(body)
        except AdminError as exc:
            raise ApiError(_status(exc.code), exc.code, exc.message) from None
        self.send_json({"ok": True, "reply": reply})

    async def audit(self, action: str, target: str, detail: str = "") -> None:
        await self.store.audit(self.operator, action, target, detail)

    # -- reads ----------------------------------------------------------------------------------

    async def read_hosts(self) -> dict[str, Any]:
        return {"hosts": await self.bus.snapshot(), "me": self.operator.to_json()}

    async def read_history(self) -> dict[str, Any]:
        """Each host's chart points: players, tick p99, bytes sent per second, CPU, every 10 s
        over the last hour (kept in memory by each process)."""
        return {"hosts": await self.bus.history()}

    async def read_audit(self) -> dict[str, Any]:
        return {"audit": await self.store.audit_log(100)}

    async def read_bans(self) -> dict[str, Any]:
        return {"bans": await self.store.active_bans()}

    async def read_accounts(self) -> dict[str, Any]:
        name = self.get_query_argument("name", "").strip()
        if not 1 <= len(name) <= 64:
            raise ApiError(400, "bad_name", "Give 1 to 64 characters of the account's name.")
        return {"accounts": await self.store.find_accounts(name)}

    async def read_account(self) -> dict[str, Any]:
        user_id = _id(self.get_query_argument("id", ""), "account")
        account = await self.store.account(user_id)
        if account is None:
            raise ApiError(404, "unknown_account", f"No account {user_id}.")
        ban = self.services.bans.of(user_id, None) if self.services.bans else None
        return {"account": account, "banned_until": ban.until if ban else None}

    async def read_inspect(self) -> dict[str, Any]:
        room = self.get_query_argument("room", "")
        process = self.get_query_argument("process", "") or self.bus.process_id
        try:
            found = await self.bus.ask(process, "inspect", {"room": room})
        except AdminError as exc:
            raise ApiError(_status(exc.code), exc.code, exc.message) from None
        recent = await self._recent(found.pop("journal", None), found.pop("unwritten", []))
        return {"process": process, **found, "recent": recent}

    async def _recent(self, journal_id: str | None, unwritten: list[list[Any]]
                      ) -> list[dict[str, Any]]:
        """The room's recent messages (joins, leaves, players' messages...), newest last: the
        stored part of its match journal, then what its host has not written yet."""
        records: list[list[Any]] = []
        if journal_id and hasattr(self.services.storage, "journal_load"):
            try:
                stored = await load_journal(self.services.storage, journal_id)
            except Exception as exc:  # a damaged chunk, an outage: the state still shows
                log.warning("console: could not read journal %s: %s", journal_id, exc)
                stored = None
            if stored is not None:
                records = [r for r in stored.records if r and r[0] in MESSAGE_RECORDS]
        records = (records + list(unwritten))[-RECENT_KEPT:]
        return [describe_record(r) for r in records]

    # -- actions --------------------------------------------------------------------------------

    async def do_room(self, body: dict[str, Any]) -> Any:
        """`{"process", "room", "action": kick|close|lock|unlock|signal, ...}`."""
        action = body.get("action")
        room = body.get("room")
        if not isinstance(room, str) or not room:
            raise ApiError(400, "bad_room", "Name the room.")
        process = body.get("process") or self.bus.process_id
        args: dict[str, Any] = {"room": room}
        if action == "kick":
            args.update(player=body.get("player"), reason=_text(body.get("reason"), 200))
        elif action == "close":
            args.update(reason=_text(body.get("reason"), 200))
        elif action in ("lock", "unlock"):
            args.update(locked=action == "lock")
        elif action == "signal":
            name = body.get("name")
            if not isinstance(name, str) or not 1 <= len(name) <= 64:
                raise ApiError(400, "bad_signal", "A signal's name is 1 to 64 characters.")
            args.update(name=name, payload=body.get("payload"))
        else:
            raise ApiError(400, "bad_action",
                           "action is one of kick, close, lock, unlock, signal.")
        await self.audit(str(action), f"room {room} on {process}",
                         ", ".join(f"{k}={v}" for k, v in args.items() if k != "room"))
        return await self.bus.ask(process, "lock" if action == "unlock" else str(action), args)

    async def do_announce(self, body: dict[str, Any]) -> Any:
        try:
            text = check_text(body.get("text"))
        except ValueError as exc:
            raise ApiError(400, "bad_text", str(exc)) from None
        await self.audit("announce", "every room", text)
        try:
            await self.services.cluster.announce(SERVER_NAME, text)
        except ProtocolError as exc:
            raise ApiError(503, "unavailable", exc.message) from None
        return "announced"

    async def do_drain(self, body: dict[str, Any]) -> Any:
        process = body.get("process") or self.bus.process_id
        on = body.get("on", True)
        if not isinstance(on, bool):
            raise ApiError(400, "bad_on", "on is true (drain) or false (take rooms again).")
        await self.audit("drain" if on else "undrain", f"process {process}")
        return await self.bus.ask(str(process), "drain", {"on": on})

    async def do_ban(self, body: dict[str, Any]) -> Any:
        """`{"kind": account|address, "value", "minutes", "reason"}`."""
        kind = body.get("kind")
        if kind not in BAN_KINDS:
            raise ApiError(400, "bad_kind", "A ban is of an account or an address.")
        minutes = body.get("minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not (
                math.isfinite(minutes) and minutes > 0):
            raise ApiError(400, "bad_duration", "A ban lasts a positive number of minutes.")
        seconds = min(float(minutes) * 60.0, MAX_BAN_SECONDS)
        reason = _text(body.get("reason"), 200)
        user_id: int | None = None
        address: str | None = None
        if kind == "account":
            user_id = _id(body.get("value"), "account")
            target = await self.services.storage.get_user(user_id)
            if target is None:
                raise ApiError(404, "unknown_account", f"No account {user_id}.")
            if target.id == self.operator.id:
                raise ApiError(400, "self_ban", "An operator cannot ban itself.")
            value, shown = str(user_id), f"account {target.name} ({user_id})"
        else:
            address = body.get("value") if isinstance(body.get("value"), str) else ""
            address = address.strip()
            if not 1 <= len(address) <= 64 or " " in address:
                raise ApiError(400, "bad_address", "Give the address to ban, like 203.0.113.7.")
            value, shown = address, f"address {address}"
        ban = await self.store.add_ban(kind, value, seconds, reason, self.operator.name)
        await self.audit("ban", shown, f"{minutes:g} min" + (f": {reason}" if reason else ""))
        await self.bus.bans_changed(user_id, address, reason)
        return ban

    async def do_lift(self, body: dict[str, Any]) -> Any:
        ban_id = _id(body.get("id"), "ban")
        if not await self.store.lift_ban(ban_id):
            raise ApiError(404, "unknown_ban", f"No ban {ban_id} in force.")
        await self.audit("lift ban", f"ban {ban_id}")
        await self.bus.bans_changed(None, None, "")
        return "lifted"

    async def do_revoke(self, body: dict[str, Any]) -> Any:
        """End every session of an account: its pages log out, its game sockets close."""
        user_id = _id(body.get("id"), "account")
        if await self.services.storage.get_user(user_id) is None:
            raise ApiError(404, "unknown_account", f"No account {user_id}.")
        hashes = await self.store.revoke_sessions(user_id)
        await self.audit("revoke sessions", f"account {user_id}", f"{len(hashes)} sessions")
        for session_hash in hashes:
            self.services.cluster.kick_session(session_hash)
        return f"{len(hashes)} sessions ended"

    async def do_delete(self, body: dict[str, Any]) -> Any:
        """Delete an account: its sessions end and its results leave every leaderboard."""
        user_id = _id(body.get("id"), "account")
        target = await self.services.storage.get_user(user_id)
        if target is None:
            raise ApiError(404, "unknown_account", f"No account {user_id}.")
        if target.id == self.operator.id:
            raise ApiError(400, "self_delete", "An operator cannot delete its own account here.")
        hashes = await self.store.revoke_sessions(user_id)
        for session_hash in hashes:
            self.services.cluster.kick_session(session_hash)
        await self.store.delete_user(user_id)
        await self.audit("delete account", f"account {target.name} ({user_id})")
        return f"deleted {target.name}"


def _id(value: object, what: str) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise ApiError(400, f"bad_{what}", f"Give the {what}'s number.")
    return value


def _text(value: object, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _status(code: str) -> int:
    if code.startswith("unknown"):
        return 404
    if code in ("no_answer", "unavailable"):
        return 503
    return 400
