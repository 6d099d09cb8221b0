"""The operator console across processes: actions and answers over the presence's pub/sub.

A room or a player lives in one process; the console may be open on any. An action names the
process that holds its target (the console knows it from the snapshot it shows): the request
goes out as `KIND_CONSOLE`, that process acts through `RoomAdmin` (the game's own handle calls)
and answers with `KIND_CONSOLE_REPLY`, which the asking process hands back to the operator. A
snapshot asks every process ("*") and gathers the answers that arrive in time. With one process
the same messages go through the in-memory presence.

Bans travel as `KIND_BANS`: every process reloads the bans from the database into its
`BanList` and closes the banned account's or address's sockets it holds.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from game_server.bans import BanList
from game_server.engine.admin import AdminError, RoomAdmin
from game_server.presence.base import (
    KIND_BANS,
    KIND_CONSOLE,
    KIND_CONSOLE_REPLY,
    Presence,
    PresenceUnavailable,
)
from protocol.closes import CloseCode

if TYPE_CHECKING:
    from game_server.transport.ws import SocketRegistry

log = logging.getLogger("arena.console")

ANSWER_TIMEOUT = 3.0  # seconds an action waits for the process that holds its target
SNAPSHOT_TIMEOUT = 0.5  # seconds a snapshot waits for processes it has not heard from yet
SNAPSHOT_EVERY = 1.0  # seconds a snapshot is served again to every console that asks
HISTORY_SHARED = 5.0  # seconds the hosts' chart points are served again
_FORGET_AFTER = 30.0  # seconds: a process silent this long is no longer waited for

# Actions one process performs on its own rooms when asked.
ROOM_ACTIONS = ("kick", "close", "lock", "signal", "inspect")


class ConsoleBus:
    """This process's end of the console's messages."""

    def __init__(self, presence: Presence, admin: RoomAdmin, bans: BanList,
                 sockets: SocketRegistry, *, describe: Callable[[], dict[str, Any]],
                 set_draining: Callable[[bool], None]) -> None:
        self.presence = presence
        self.admin = admin
        self.bans = bans
        self._sockets = sockets
        self._describe = describe  # this process: url, counts, draining
        self._set_draining = set_draining
        self._ids = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._gathering: dict[str, list[dict[str, Any]]] = {}
        self._heard: dict[str, float] = {}  # process id -> loop time it last answered
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] = lambda: None
        self._snapshot: tuple[float, list[dict[str, Any]]] | None = None  # (taken at, hosts)
        self._history: tuple[float, list[dict[str, Any]]] | None = None  # the same, for charts

    @property
    def process_id(self) -> str:
        return self.presence.process_id

    def start(self) -> None:
        self._unsubscribe = self.presence.subscribe(self._deliver)

    def stop(self) -> None:
        self._unsubscribe()
        for future in self._waiting.values():
            future.cancel()

    # -- asking -------------------------------------------------------------------------------

    async def ask(self, process: str, action: str, args: dict[str, Any]) -> Any:
        """Have `process` do `action`; its answer, or `AdminError` (its refusal, or no answer
        in time: the process is gone or unreachable)."""
        self.forget_snapshot()
        request_id = f"{self._prefix}-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            await self.presence.publish({"kind": KIND_CONSOLE, "id": request_id,
                                         "from": self.process_id, "to": process,
                                         "action": action, "args": args})
            async with asyncio.timeout(ANSWER_TIMEOUT):
                answer = await future
        except PresenceUnavailable as exc:
            raise AdminError("unavailable", f"the presence is unreachable: {exc}") from None
        except TimeoutError:
            raise AdminError("no_answer", f"process {process} did not answer: it may be "
                             "gone") from None
        finally:
            self._waiting.pop(request_id, None)
        if not answer.get("ok"):
            raise AdminError(str(answer.get("error")), str(answer.get("message")))
        return answer.get("reply")

    async def snapshot(self) -> list[dict[str, Any]]:
        """Every process's own description and rooms (with players), from those that answer
        within `SNAPSHOT_TIMEOUT`; this process's always (answered directly). Taken at most
        once per `SNAPSHOT_EVERY` seconds however many consoles are open: they share it."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._snapshot is not None and now - self._snapshot[0] < SNAPSHOT_EVERY:
            return self._snapshot[1]
        hosts = await self._take_snapshot(loop, now)
        self._snapshot = (now, hosts)
        return hosts

    def forget_snapshot(self) -> None:
        """An action changed what the snapshot shows: the next one is taken afresh."""
        self._snapshot = None

    async def history(self) -> list[dict[str, Any]]:
        """Every answering process's chart points (engine/livestats.py: an hour, one point per
        10 s), this process's first; taken at most once per `HISTORY_SHARED` seconds."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._history is not None and now - self._history[0] < HISTORY_SHARED:
            return self._history[1]
        hosts = await self._gather("history", loop, now)
        self._history = (now, hosts)
        return hosts

    async def _take_snapshot(self, loop: asyncio.AbstractEventLoop, now: float
                             ) -> list[dict[str, Any]]:
        return await self._gather("snapshot", loop, now)

    async def _gather(self, action: str, loop: asyncio.AbstractEventLoop, now: float
                      ) -> list[dict[str, Any]]:
        """`action` asked of every process ("*"): this process's answer first, then those that
        arrive within `SNAPSHOT_TIMEOUT` (all of them, once every process known to hold a room
        or to have answered lately has)."""
        expected = {p for p, at in self._heard.items() if now - at < _FORGET_AFTER}
        if self.presence.shared:
            try:  # every process that holds a room answers too
                expected.update(record.process for record in await self.presence.rooms())
            except PresenceUnavailable:
                pass
        expected.discard(self.process_id)
        # The first time, nothing is known of processes without rooms: wait the whole time.
        patient = not self._heard
        request_id = f"{self._prefix}-{next(self._ids)}"
        answers: list[dict[str, Any]] = []
        self._gathering[request_id] = answers
        try:
            if self.presence.shared:
                await self.presence.publish({"kind": KIND_CONSOLE, "id": request_id,
                                             "from": self.process_id, "to": "*",
                                             "action": action, "args": {}})
                deadline = now + SNAPSHOT_TIMEOUT
                # Polled: answers arrive as separate messages; stop once all expected came.
                while loop.time() < deadline:
                    if not patient and expected <= {a.get("process") for a in answers}:
                        break
                    await asyncio.sleep(0.02)
        except PresenceUnavailable:
            log.info("presence unreachable: the console shows this process only")
        finally:
            self._gathering.pop(request_id, None)
        mine = self._act(action, {})
        others = [a for a in answers if a.get("process") != self.process_id]
        return [mine, *sorted(others, key=lambda a: str(a.get("process")))]

    async def bans_changed(self, user: int | None, address: str | None, reason: str) -> None:
        """Tell every process (this one too) to reload the bans and close the banned one's
        sockets."""
        await self.presence.publish({"kind": KIND_BANS, "user": user, "address": address,
                                     "reason": reason})

    # -- answering ----------------------------------------------------------------------------

    def _deliver(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        try:
            if kind == KIND_CONSOLE:
                self._request(message)
            elif kind == KIND_CONSOLE_REPLY:
                self._reply(message)
            elif kind == KIND_BANS:
                self._spawn(self._apply_bans(message))
        except Exception:
            log.exception("could not act on a console message %r", message)

    def _request(self, message: dict[str, Any]) -> None:
        to = message.get("to")
        if to not in (self.process_id, "*"):
            return
        if message.get("from") == self.process_id and to == "*":
            return  # a snapshot answers its own process directly
        try:
            answer = {"ok": True, "reply": self._act(str(message.get("action")),
                                                     dict(message.get("args") or {}))}
        except AdminError as exc:
            answer = {"ok": False, "error": exc.code, "message": exc.message}
        except Exception as exc:
            log.exception("console action %r failed", message.get("action"))
            answer = {"ok": False, "error": "failed", "message": f"the action failed: {exc}"}
        self._spawn(self._answer({"kind": KIND_CONSOLE_REPLY, "id": message.get("id"),
                                  "from": self.process_id, "to": message.get("from"),
                                  **answer}))

    async def _answer(self, reply: dict[str, Any]) -> None:
        try:
            await self.presence.publish(reply)
        except PresenceUnavailable as exc:
            log.info("could not answer a console request: %s", exc)

    def _reply(self, message: dict[str, Any]) -> None:
        if message.get("to") != self.process_id:
            return
        sender = str(message.get("from"))
        self._heard[sender] = asyncio.get_running_loop().time()
        request_id = str(message.get("id"))
        gathering = self._gathering.get(request_id)
        if gathering is not None:
            if message.get("ok") and isinstance(message.get("reply"), dict):
                gathering.append(message["reply"])
            return
        future = self._waiting.get(request_id)
        if future is not None and not future.done():
            future.set_result(message)

    def _act(self, action: str, args: dict[str, Any]) -> Any:
        admin = self.admin
        if action == "snapshot":
            return {**self._describe(), "process": self.process_id, "rooms": admin.snapshot()}
        if action == "history":
            live = admin.live
            return {"process": self.process_id,
                    "points": live.history() if live is not None else []}
        if action == "drain":
            self._set_draining(bool(args.get("on", True)))
            return "draining: no new rooms here" if args.get("on", True) else "taking new rooms"
        room = str(args.get("room", ""))
        if action == "kick":
            return admin.kick(room, _int(args.get("player")), str(args.get("reason", "")))
        if action == "close":
            return admin.close(room, str(args.get("reason", "")))
        if action == "lock":
            return admin.lock(room, bool(args.get("locked", True)))
        if action == "signal":
            return admin.signal(room, args.get("name"), args.get("payload"))
        if action == "inspect":
            return admin.inspect(room)
        raise AdminError("unknown_action", f"no console action {action!r}")

    async def _apply_bans(self, message: dict[str, Any]) -> None:
        await self.bans.load()
        user, address = message.get("user"), message.get("address")
        reason = str(message.get("reason") or "")
        text = "You are banned" + (f": {reason}" if reason else "")
        for handler in self._sockets:
            account = handler.current_user.id if handler.current_user else None
            if (user is not None and account == user) or (
                    address and handler.request.remote_ip == address):
                if account is not None:
                    self.admin.kick_user(account, text)
                handler.close(CloseCode.SESSION_ENDED, "banned")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AdminError("bad_player", "a player is given by its number in the room")
    return value
