"""The server's own bots: they fill a room while few people play and make way as people come.

A mode that declares the `bots` option (games/api.py, `BOTS_OPTION`; the arena does) names how
many occupants a room should have. While at least one person is in such a room, `HouseBots`
seats bots up to that many (people and held seats count, and one seat always stays free for
the next person); each person who comes takes a bot's place at once, and when people leave the
bots come back. A room with nobody but bots has none: its bots leave and the room is disposed
of as any empty room.

A bot is a player like any other as far as the room can tell: a `PlayerSession` on an
in-memory connection, joined with a `join` message, its inputs sent as the frames a socket
would carry, so they take the room's normal path (validation, rate limits, latest-only). Its
moves come from the mode's bots' policy (the same `client/policies.py` policy `client.bots`
plays with, found by the app and handed in: the engine never imports the client). States reach
it as the bytes the room's fanout writes; bots of a room that see the same view decode each
state once. A bot's account id is negative (`is_bot`), which is how the room counts people
apart from bots and why no result of a bot is ever recorded (app.py).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from game_server.engine.limits import Limits
from game_server.engine.matchmaker import Matchmaker
from game_server.engine.room import Member, Room
from game_server.engine.session import PlayerSession
from protocol.closes import CloseCode

log = logging.getLogger("arena.bots")

# What a bot plays under: "bot " and one of these, distinct within a room (then numbered).
BOT_NAMES = ("Rook", "Wren", "Otter", "Finch", "Lynx", "Heron", "Puffin", "Badger", "Kestrel",
             "Marten", "Plover", "Raven", "Stoat", "Swift", "Vole", "Egret", "Ibis", "Newt")
BOT_PREFIX = "bot "

SWEEP_SECONDS = 1.0  # how often every room's bots are counted again (a leave has no hook)
ACT_SECONDS = 0.05  # the clock of real-time policies (each acts on its own `interval`)

_LEAVE = orjson.dumps({"type": "leave"})


class Policy(Protocol):
    """What a bot's policy does (client/policies.py `Policy`): it reads every message and
    says what to send; real-time ones also act every `interval` seconds."""

    interval: float | None

    def on_message(self, msg: dict[str, Any]) -> list[dict[str, Any]]: ...

    def act(self) -> list[dict[str, Any]]: ...

    @property
    def finished(self) -> Any: ...


PolicyFactory = Callable[[random.Random], Policy]
# The factory of a mode's policy, or an exception when the mode has none.
PolicyFinder = Callable[[str], PolicyFactory]


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """A bot's account, which does not exist: a negative id and a name that says "bot"."""

    id: int
    name: str


def bots_wanted(room: Room) -> int:
    """How many bots `room` should have now: up to its target of occupants while a person is
    there, never its last free seat (the next person's), none in a room nobody is in."""
    people = room.connected_count
    if people == 0 or room.closed:
        return 0
    occupied = people + room.away_count
    return max(0, min(room.bot_target - occupied, room.max_players - occupied - 1))


class _Link:
    """A bot's connection: what the room writes goes straight to the bot."""

    __slots__ = ("bot",)

    def __init__(self, bot: _Bot) -> None:
        self.bot = bot

    def send(self, data: bytes) -> None:
        self.bot.receive(data)

    def send_state(self, data: bytes, limit: int) -> bool:
        self.bot.receive(data)
        return True

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        self.bot.owner.defer(self.bot.leave)  # the engine closes only a misbehaving link

    def backlog(self) -> int:
        return 0

    def lag(self, now: float) -> float:
        return 0.0


class _BotSession(PlayerSession):
    """A bot's session: tells the bot when the room let it go (it left, was kicked, the room
    closed)."""

    __slots__ = ("bot",)

    def on_room_left(self, room: Room, reason: str) -> None:
        super().on_room_left(room, reason)
        self.bot.gone(room)


class _Bot:
    """One bot in one room: its session, its policy, and when it acts next."""

    __slots__ = ("owner", "room", "identity", "policy", "session", "due", "leaving", "think")

    def __init__(self, owner: HouseBots, room: Room, identity: BotIdentity,
                 policy: Policy) -> None:
        self.owner = owner
        self.room = room
        self.identity = identity
        self.policy = policy
        self.session = _BotSession(identity, _Link(self), owner.matchmaker, limits=owner.limits)
        self.session.bot = self
        self.due = 0.0
        self.leaving = False
        self.think = float(getattr(policy, "think", 0.0) or 0.0)

    def receive(self, data: bytes) -> None:
        """A frame from the room (maybe in the middle of its fanout: replies wait a turn)."""
        if self.leaving:
            return
        msg = self.owner.decode(self.room, data)
        if msg is None:
            return
        try:
            out = self.policy.on_message(msg)
            finished = self.policy.finished
        except Exception:
            log.exception("bot %s: its policy failed", self.identity.name)
            self.owner.defer(self.leave)
            return
        if out:
            self.owner.defer(lambda: self.send(out), self.think)
        if finished is not None:  # its match is over: it makes way (and may be replaced)
            self.owner.defer(self.leave, self.think)

    def act(self, now: float) -> None:
        interval = self.policy.interval
        if interval is None or now < self.due or self.leaving:
            return
        self.due = now + interval
        try:
            out = self.policy.act()
        except Exception:
            log.exception("bot %s: its policy failed", self.identity.name)
            self.leave()
            return
        self.send(out)

    def send(self, messages: list[dict[str, Any]]) -> None:
        """Frames, as a socket would carry them, through the session's normal path."""
        if self.leaving or self.session.room is None:
            return
        for msg in messages:
            self.session.handle(orjson.dumps(msg))

    def leave(self) -> None:
        if self.leaving:
            return
        self.leaving = True
        if self.session.room is not None:
            self.session.handle(_LEAVE)
        self.gone(self.room)

    def gone(self, room: Room) -> None:
        self.leaving = True
        self.owner.forget(self)


class HouseBots:
    """Seats and removes the server's bots in this process's rooms of modes that have them.

    `policies` finds a mode's bots' policy (raising for a mode without one: its rooms get no
    bots, said once in the log); `limits` are the bots' message limits, a person's.
    """

    def __init__(self, matchmaker: Matchmaker, policies: PolicyFinder, *,
                 limits: Limits | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.matchmaker = matchmaker
        self.limits = limits or Limits()
        self._policies = policies
        self._factories: dict[str, PolicyFactory | None] = {}
        self._monotonic = monotonic
        self._ids: Iterator[int] = itertools.count(-1, -1)
        self._rng = random.Random()
        self._bots: dict[str, list[_Bot]] = {}  # room id -> its bots, oldest first
        self._decoded: dict[str, tuple[bytes, dict[str, Any]]] = {}  # room id -> last frame
        self._pending: set[str] = set()  # rooms to balance at the next turn of the loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._actor: asyncio.TimerHandle | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Follow the matchmaker's rooms (on the running loop)."""
        self._loop = asyncio.get_running_loop()
        self.matchmaker.room_seated_hooks.append(self._seated)
        self.matchmaker.room_counts_hooks.append(self._counts_changed)
        self._sweeper = self._loop.call_later(SWEEP_SECONDS, self._sweep)

    def stop(self) -> None:
        """Stop seating bots; those seated leave with their rooms."""
        for timer in (self._sweeper, self._actor):
            if timer is not None:
                timer.cancel()
        self._sweeper = self._actor = None
        self._loop = None
        for hooks, hook in ((self.matchmaker.room_seated_hooks, self._seated),
                            (self.matchmaker.room_counts_hooks, self._counts_changed)):
            if hook in hooks:
                hooks.remove(hook)

    def bots(self, room: Room) -> list[str]:
        """The names of the bots seated in `room` (for tests and logs)."""
        return [bot.identity.name for bot in self._bots.get(room.id, ()) if not bot.leaving]

    # -- what changes the numbers --------------------------------------------------------------

    def _seated(self, room: Room, member: Member) -> None:
        if room.bot_target and member.identity.id >= 0:
            self._make_way(room)  # at once: the person's seat is taken, the next one stays free
            self._soon(room)

    def _counts_changed(self, room: Room) -> None:
        if room.bot_target:
            self._make_way(room)
            self._soon(room)

    def _sweep(self) -> None:
        """Every room counted again: people who left (no hook says so) bring bots back, and
        a room whose people all left loses its bots."""
        if self._loop is None:
            return
        self._sweeper = self._loop.call_later(SWEEP_SECONDS, self._sweep)
        for room in self.matchmaker.rooms():
            if room.bot_target or room.id in self._bots:
                self._balance(room)

    def _soon(self, room: Room) -> None:
        if self._loop is None:
            return
        if not self._pending:
            self._loop.call_soon(self._balance_pending)
        self._pending.add(room.id)

    def _balance_pending(self) -> None:
        room_ids = list(self._pending)
        self._pending.clear()
        for room_id in room_ids:
            room = self.matchmaker.get(room_id)
            if room is not None:
                self._balance(room)

    def _make_way(self, room: Room) -> None:
        """Bots over the number wanted leave, the newest first."""
        seated = [bot for bot in self._bots.get(room.id, ()) if not bot.leaving]
        for bot in reversed(seated[bots_wanted(room):]):
            bot.leave()

    def _balance(self, room: Room) -> None:
        self._make_way(room)
        missing = bots_wanted(room) - len(self._bots.get(room.id, ()))
        for _ in range(missing):
            if not self._add(room):
                return

    # -- one bot ------------------------------------------------------------------------------

    def _factory(self, mode: str) -> PolicyFactory | None:
        if mode not in self._factories:
            try:
                self._factories[mode] = self._policies(mode)
            except Exception as exc:
                log.warning("mode %s asks for bots but has no bots' policy (%s): no bots",
                            mode, exc)
                self._factories[mode] = None
        return self._factories[mode]

    def _name(self, room: Room) -> str:
        taken = {bot.identity.name for bot in self._bots.get(room.id, ())}
        for lap in itertools.count(1):
            for name in BOT_NAMES:
                full = f"{BOT_PREFIX}{name}" + (f" {lap}" if lap > 1 else "")
                if full not in taken:
                    return full
        raise AssertionError("unreachable")

    def _add(self, room: Room) -> bool:
        """Seat one more bot in `room` by a `join` message; whether it got a seat."""
        factory = self._factory(room.mode.name)
        if factory is None:
            return False
        identity = BotIdentity(next(self._ids), self._name(room))
        bot = _Bot(self, room, identity, factory(random.Random(self._rng.getrandbits(32))))
        self._bots.setdefault(room.id, []).append(bot)
        join: dict[str, Any] = {"type": "join"}
        if room.private:
            join["code"] = room.code
        else:
            join["room"] = room.id
        bot.session.handle(orjson.dumps(join))
        if bot.session.room is not room:  # refused (an error frame went to the bot)
            bot.gone(room)
            return False
        if bot.policy.interval is not None:
            self._act_soon()
        return True

    def forget(self, bot: _Bot) -> None:
        bots = self._bots.get(bot.room.id)
        if bots is not None and bot in bots:
            bots.remove(bot)
            if not bots:
                del self._bots[bot.room.id]
                self._decoded.pop(bot.room.id, None)

    def decode(self, room: Room, data: bytes) -> dict[str, Any] | None:
        """The message a frame carries: bots of a room that see the same view (one object,
        written to each) decode it once. Policies read messages, never change them."""
        last = self._decoded.get(room.id)
        if last is not None and last[0] is data:
            return last[1]
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        if type(msg) is not dict:
            return None
        self._decoded[room.id] = (data, msg)
        return msg

    # -- the clock of real-time policies ---------------------------------------------------------

    def _act_soon(self) -> None:
        if self._actor is None and self._loop is not None:
            self._actor = self._loop.call_later(ACT_SECONDS, self._act)

    def _act(self) -> None:
        self._actor = None
        now = self._monotonic()
        for bots in list(self._bots.values()):
            for bot in list(bots):
                bot.act(now)
        if self._bots:
            self._act_soon()

    def defer(self, action: Callable[[], None], delay: float = 0.0) -> None:
        """Run `action` after `delay` seconds (at the next turn of the loop at least): never
        inside the room's own call that reached the bot."""
        if self._loop is None:
            return
        if delay > 0:
            self._loop.call_later(delay, action)
        else:
            self._loop.call_soon(action)
