"""A room's spectators: who watches, how many may, and how late they see the match.

Spectators are not players: they take no seat, the game never hears of them (it is asked only
for its public view, `view(SPECTATOR)`), and they send no game messages. They receive the
room's public stream: `joined` (player 0, `spectator: true`, the public view), then each
state's public part (a game's `private[SPECTATOR]` when it gives one, else `shared`, encoded
once per state for every spectator), the game's broadcasts and the room's chat.

With a delay (`--spectate-delay MODE=SECONDS`) that stream is held back: every message is kept
in a buffer with its time and released `delay` seconds later, so a spectator cannot feed a
player live information. The buffer also keeps the public full view (an encoded `joined`)
about once a second; a spectator who comes later gets the latest one that is `delay` old,
then the messages after it, so its first view matches the delayed moment exactly. A room
starts its buffer when its first spectator comes (nobody watching costs nothing), so that
first spectator waits the delay for its `joined`; the buffer is dropped with the last one.

A spectator whose connection falls behind (a state skipped as for a slow player) is let go
with `left` "too_slow": it may come back and gets a fresh view.

`Spectators` is the watchers of one room; `RoomSpectating` is the room's side (mixed into
`Room`, engine/room.py): adding and removing a spectator, the count, their `joined`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from game_server.engine.ticker import Scheduler, Timer
from game_server.games.api import SPECTATOR
from protocol import messages
from protocol.codec import encode
from protocol.errors import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from game_server.engine.fanout import StateFanout
    from game_server.engine.room import Member, Room
    from game_server.games.api import Game, GameSpec

# How often a delayed room's buffer keeps a full public view for spectators who come later.
SNAPSHOT_EVERY = 1.0

# A buffered message: when it was sent live, its bytes (None: a snapshot alone), and the
# encoded `joined` of the public full view right after it (None: no snapshot there).
_Entry = tuple[float, bytes | None, bytes | None]


class Spectators:
    """One room's spectators (created with its first, dropped with its last).

    `joined()` is the room's encoded `joined` for a spectator, at this moment; `on_count` is
    called when the number of spectators changed (the lobby shows it).
    """

    def __init__(self, room: Room, *, limit: int, delay: float, max_backlog: int,
                 scheduler: Scheduler | None, monotonic: Callable[[], float],
                 joined: Callable[[], bytes]) -> None:
        self.room = room
        self.limit = limit
        self.max_backlog = max_backlog
        self.delay = delay if scheduler is not None else 0.0
        self._scheduler = scheduler
        self._monotonic = monotonic
        self._joined = joined
        # Spectators who got their `joined`, and those waiting for the buffer's first view.
        self.watching: dict[Member, None] = {}
        self._waiting: dict[Member, None] = {}
        self._pending: deque[_Entry] = deque()  # not yet `delay` old
        self._history: list[_Entry] = []  # released since (and from) the last snapshot
        self._last_snapshot = -1e18
        self._timer: Timer | None = None
        self._slow: list[Member] = []

    def __len__(self) -> int:
        return len(self.watching) + len(self._waiting)

    def __contains__(self, member: object) -> bool:
        return member in self.watching or member in self._waiting

    # -- who watches ----------------------------------------------------------------------------

    def add(self, member: Member) -> None:
        """Let `member` watch: its `joined` now, or when the delayed view is ready.

        `spectators_full` when the room has its `limit` of spectators."""
        if member in self:
            raise ProtocolError(ErrorCode.ALREADY_IN_ROOM,
                                f"already watching room {self.room.id}")
        if len(self) >= self.limit:
            raise ProtocolError(ErrorCode.SPECTATORS_FULL, (
                f"room {self.room.id} has its {self.limit} spectators; try again later"
                if self.limit else "this server takes no spectators"))
        if not self.delay:
            member.connection.send(self._joined())
            self.watching[member] = None
            return
        if not self._pending and not self._history:  # the first: the buffer starts now
            self._push(None, snapshot=True)
        if self._history:  # a view `delay` old, and what followed it
            self._catch_up(member)
        else:
            self._waiting[member] = None

    def remove(self, member: Member, reason: str, message: str | None = None) -> bool:
        """Stop `member` watching and tell it `left`; False if it was not watching."""
        if member not in self:
            return False
        self.watching.pop(member, None)
        self._waiting.pop(member, None)
        member.connection.send(encode(messages.left(room=self.room.id, reason=reason,
                                                    message=message)))
        member.on_room_left(self.room, reason)
        return True

    def close(self, reason: str, message: str | None) -> None:
        """The room closed: every spectator gets `left`; timers stop."""
        for member in [*self.watching, *self._waiting]:
            self.remove(member, reason, message)
        self.stop()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()
        self._history.clear()

    def count_changed(self) -> None:
        """Tell those watching how many watch (live: the count is no game information)."""
        data = encode({"type": "spectators", "count": len(self)})
        for member in self.watching:
            member.connection.send(data)

    # -- what they receive ----------------------------------------------------------------------

    def state(self, shared: bytes, private: Mapping[int, Mapping[str, Any]] | None,
              encoded: Mapping[int, bytes], tick: int, ts: int) -> None:
        """One state: its public part (`private[SPECTATOR]`, else the `shared` bytes the
        players got; a view some player shares is not encoded again: `encoded`, by id)."""
        data = shared
        if private:
            view = private.get(SPECTATOR)
            if view is not None:
                data = encoded.get(id(view)) or encode(
                    messages.state(tick=tick, ts=ts, changes=view))
        if self.delay:
            self._push(data, snapshot=True)
        else:
            self._send(data)

    def push(self, data: bytes) -> None:
        """A public message that is no state (a broadcast, chat): sent, or buffered."""
        if self.delay:
            self._push(data, snapshot=False)
        else:
            self._send(data)

    def _send(self, data: bytes) -> None:
        limit = self.max_backlog
        slow = self._slow
        for member in self.watching:
            if not member.connection.send_state(data, limit):
                slow.append(member)
        if slow:
            self._let_go_slow()

    def _let_go_slow(self) -> None:
        slow, self._slow = self._slow, []
        for member in slow:
            self.remove(member, "too_slow", "your connection fell behind; watch again")
        self.room.spectators_changed()

    # -- the delay ------------------------------------------------------------------------------

    def _push(self, data: bytes | None, *, snapshot: bool) -> None:
        now = self._monotonic()
        joined = None
        if snapshot and now - self._last_snapshot >= SNAPSHOT_EVERY:
            self._last_snapshot = now
            try:
                joined = self._joined()
            except ProtocolError:  # the game failed on its view: the room is closing
                return
        self._pending.append((now, data, joined))
        self._release()

    def _wake(self) -> None:
        self._timer = None
        self._release()

    def _release(self) -> None:
        """Send what is now `delay` old; wake up when the next message is (one timer at a
        time: a ticking room's own states release most of what is due)."""
        now = self._monotonic()
        due = now - self.delay
        pending = self._pending
        history = self._history
        while pending and pending[0][0] <= due:
            entry = pending.popleft()
            if entry[1] is not None:
                self._send(entry[1])  # to those already watching
            if entry[2] is None:
                history.append(entry)
                continue
            history.clear()  # a view from here on: nobody needs what came before
            history.append(entry)
            if self._waiting:  # their first view (it includes this entry's state)
                waiting, self._waiting = self._waiting, {}
                for member in waiting:
                    self._catch_up(member)
                self.count_changed()
        if pending and self._timer is None and self._scheduler is not None:
            self._timer = self._scheduler.later(max(0.0, pending[0][0] + self.delay - now),
                                                self._wake)

    def _catch_up(self, member: Member) -> None:
        """A spectator's `joined` at the delayed moment, then what followed it till then."""
        first = self._history[0]
        conn = member.connection
        conn.send(first[2])  # type: ignore[arg-type]
        for _, data, _ in self._history[1:]:
            if data is not None:
                conn.send(data)
        self.watching[member] = None


class RoomSpectating:
    """The room's side of its spectators (mixed into `Room`, engine/room.py): who may watch,
    the `Spectators` made with the first and dropped with the last, the count the lobby shows.
    `_spectators` is None while nobody watches, so that the tick's fanout pays nothing."""

    # What the room provides (engine/room.py), besides `_guarded` and `changed`.
    id: str
    mode: GameSpec
    options: Mapping[str, Any]
    tick_rate: int
    closed: bool
    game: Game
    scheduler: Scheduler | None
    max_spectators: int
    spectate_delay: float
    _spectators: Spectators | None
    _fanout: StateFanout
    _held: Mapping[int, Any]
    _monotonic: Callable[[], float]

    @property
    def spectator_count(self) -> int:
        return len(self._spectators) if self._spectators is not None else 0

    def add_spectator(self, member: Member) -> None:
        """Let `member` watch: not a player, not counted in `max_players`, sent the public
        view (`view(SPECTATOR)`) and the states' public part, `spectate_delay` seconds late.
        `room_closed`, or `spectators_full` past `max_spectators`."""
        if self.closed:
            raise ProtocolError(ErrorCode.ROOM_CLOSED, f"room {self.id} is closed")
        watchers = self._spectators
        if watchers is None:
            watchers = Spectators(self, limit=self.max_spectators, delay=self.spectate_delay,
                                  max_backlog=self._fanout.max_backlog,
                                  scheduler=self.scheduler, monotonic=self._monotonic,
                                  joined=self._spectator_joined)
        watchers.add(member)
        self._spectators = self._fanout.spectators = watchers
        self.spectators_changed()

    def remove_spectator(self, member: Member, reason: str = "leave") -> None:
        """`member` stops watching (it is told `left` with `reason`)."""
        if self._spectators is not None and self._spectators.remove(member, reason):
            self.spectators_changed()

    def spectators_changed(self) -> None:
        """One came or went: the last one takes the buffer with it; the others and the lobby
        hear the count."""
        watchers = self._spectators
        if watchers is not None:
            if not watchers:
                watchers.stop()
                self._spectators = self._fanout.spectators = None
            else:
                watchers.count_changed()
        self.changed()

    def _spectator_joined(self) -> bytes:
        """`joined` for a spectator: player 0, `spectator`, the public view now."""
        view = self._guarded(self.game.view, SPECTATOR)
        if view is None:  # the game failed: the room is closing
            raise ProtocolError(ErrorCode.ROOM_CLOSED, f"room {self.id} is closed")
        msg = messages.joined(room=self.id, mode=self.mode.name, player=SPECTATOR,
                              tick_rate=self.tick_rate, client=dict(self.mode.client),
                              options=dict(self.options), state=view)
        msg["spectator"] = True
        msg["away"] = list(self._held)
        return encode(msg)
