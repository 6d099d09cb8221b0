"""Sending a room's states to its members, and what is done about members who do not read.

A state is encoded once and the same bytes go to every member (each distinct private view is
encoded once). A member whose connection holds more than `max_backlog` unsent bytes is a *slow
reader*: its states are skipped rather than queued without bound, and once its backlog is back
under the limit it gets one full view (`resync`) instead of the deltas it missed. Independently,
every member's lag (how long the oldest byte it has not received has waited) is measured every
`LAG_CHECK_INTERVAL` seconds, and a member more than `max_lag` seconds behind is closed with
`CloseCode.TOO_SLOW` (4002), once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any

from game_server.engine.metrics import EngineCounters
from protocol import messages
from protocol.closes import CloseCode
from protocol.codec import encode

if TYPE_CHECKING:
    from game_server.engine.room import Member
    from game_server.engine.roomcost import RoomCost
    from game_server.engine.spectators import Spectators

_NOTHING_ENCODED: dict[int, bytes] = {}

log = logging.getLogger("arena.room")

# How often each member's lag (seconds behind) is measured: a client that stops reading is
# closed within `max_lag` plus about two of these.
LAG_CHECK_INTERVAL = 0.2


@dataclass
class RoomStats:
    """What happened to this one room's tick loop (the server-wide totals are in the
    `EngineCounters` of its observer)."""

    catchup_steps: int = 0
    dropped_steps: int = 0
    states_skipped: int = 0
    resyncs: int = 0


class StateFanout:
    """One room's state delivery: the members' dict is the room's own, shared, not copied.

    `resync(player_id, ts)` builds the full state a slow reader gets when it catches up.
    """

    def __init__(self, room_id: str, members: Mapping[int, Member], *, max_backlog: int,
                 max_lag: float, stats: RoomStats, counters: EngineCounters,
                 resync: Callable[[int, int], bytes]) -> None:
        self.room_id = room_id
        self.max_backlog = max_backlog
        self.max_lag = max_lag
        self.stats = stats
        self._members = members
        self._counters = counters
        self._resync = resync
        # Slow readers: players whose backlog passed `max_backlog`, skipped until they catch up.
        self.lagging: set[int] = set()
        # Players closed for lag: they stay members until their sockets have closed.
        self._too_slow: set[int] = set()
        self._next_lag_check = 0.0
        # The room's spectators (engine/spectators.py), None while nobody watches: each
        # state's public part goes to them, reusing the bytes encoded for players.
        self.spectators: Spectators | None = None
        #: The room's cost accounting (engine/roomcost.py), None when it is off: then each
        #: state costs one attribute test more, per room, not per member.
        self.cost: RoomCost | None = None

    def forget(self, player_id: int) -> None:
        """The player is no longer a member (left, or its connection dropped)."""
        self.lagging.discard(player_id)
        self._too_slow.discard(player_id)

    def send(self, tick: int, ts: int, shared: Mapping[str, Any],
             private: Mapping[int, Mapping[str, Any]], now: float) -> None:
        """Encode the state once (and each distinct private view once) and send it to every
        member; skip it for a slow reader, which gets a full view when it catches up."""
        cost = self.cost
        if cost is not None:
            started = perf_counter()
        data = encode(messages.state(tick=tick, ts=ts, changes=shared))
        if cost is not None:
            cost.encoded(started, len(data))
        if private:
            encoded = self._send_private(private, data, tick, ts, now)
            if self.spectators is not None:
                self.spectators.state(data, private, encoded, tick, ts)
            return
        if self.spectators is not None:
            self.spectators.state(data, None, _NOTHING_ENCODED, tick, ts)
        members = self._members
        recipients = len(members)
        sent_bytes = len(data) * recipients
        lagging = self.lagging
        limit = self.max_backlog
        stats = self.stats
        for player_id, member in members.items():  # one view for all: the hot loop
            if lagging and player_id in lagging:
                conn = member.connection
                if conn.backlog() > limit:
                    recipients -= 1
                    sent_bytes -= len(data)
                    stats.states_skipped += 1
                    continue
                # Caught up: the states it missed are gone, so it gets everything at once.
                lagging.discard(player_id)
                conn.send(self._resync(player_id, ts))
                stats.resyncs += 1
            elif not member.connection.send_state(data, limit):
                recipients -= 1
                sent_bytes -= len(data)
                stats.states_skipped += 1
                lagging.add(player_id)
        self._sent(now, recipients, sent_bytes)

    def _send_private(self, private: Mapping[int, Mapping[str, Any]], shared: bytes,
                      tick: int, ts: int, now: float) -> dict[int, bytes]:
        """`send` when some players have views of their own: each distinct view object is
        encoded once, for however many players share it (returned, by the view's id)."""
        encoded: dict[int, bytes] = {}
        recipients = 0
        sent_bytes = 0
        lagging = self.lagging
        limit = self.max_backlog
        stats = self.stats
        for player_id, member in self._members.items():
            data = shared
            view = private.get(player_id)
            if view is not None:
                found = encoded.get(id(view))
                if found is None:
                    cost = self.cost
                    if cost is not None:  # a view's encode is the encode part, not the send
                        started = perf_counter()
                        found = encode(messages.state(tick=tick, ts=ts, changes=view))
                        cost.view_encoded(started)
                    else:
                        found = encode(messages.state(tick=tick, ts=ts, changes=view))
                    encoded[id(view)] = found
                data = found
            conn = member.connection
            if player_id in lagging:
                if conn.backlog() > limit:
                    stats.states_skipped += 1
                    continue
                lagging.discard(player_id)
                data = self._resync(player_id, ts)
                conn.send(data)
                stats.resyncs += 1
            elif not conn.send_state(data, limit):
                stats.states_skipped += 1
                lagging.add(player_id)
                continue
            recipients += 1
            sent_bytes += len(data)
        self._sent(now, recipients, sent_bytes)
        return encoded

    def _sent(self, now: float, recipients: int, sent_bytes: int) -> None:
        if now >= self._next_lag_check:
            self._next_lag_check = now + LAG_CHECK_INTERVAL
            self._close_the_too_slow(now)
        counters = self._counters
        counters.ticks += 1
        counters.state_messages += recipients
        counters.state_bytes += sent_bytes
        if self.cost is not None:
            self.cost.sent(sent_bytes)

    def _close_the_too_slow(self, now: float) -> None:
        """Close (4002) every member more than `max_lag` seconds behind.

        Measured as time, not bytes: a client that stops reading is behind from the moment its
        receive window is full, however much the kernels on either side would still buffer.
        """
        max_lag = self.max_lag
        too_slow = self._too_slow
        for player_id, member in list(self._members.items()):
            behind = member.connection.lag(now)
            if behind > max_lag and player_id not in too_slow:
                too_slow.add(player_id)
                log.info("room %s: closing player %d, not reading for %.1f s", self.room_id,
                         player_id, behind)
                member.connection.close(CloseCode.TOO_SLOW, "too slow: not reading")
