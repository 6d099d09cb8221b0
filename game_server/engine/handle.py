"""What a game sees of its room: the `RoomHandle` of the public game API (games/api.py).

The room gives its game a `GameHandle`, never itself: the game can send (to one player, a
group, everyone), schedule timers, set its room's public metadata, lock it, report results,
kick a player and close the room, and nothing else (it cannot seat players or reach their
connections). What it may send and set is checked by
games/contract.py, as the test harness checks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from game_server.games.api import Outcome
from game_server.games.contract import apply_metadata, farewell, outgoing, timer_delay
from protocol.codec import encode

if TYPE_CHECKING:
    from game_server.engine.room import Room


class GameHandle:
    """One room's `RoomHandle`, as its game's factory receives it."""

    __slots__ = ("_room", "_replies", "room_id", "seed", "options")

    def __init__(self, room: Room) -> None:
        self._room = room
        self._replies = room.mode.replies
        self.room_id = room.id
        self.seed = room.seed
        self.options = room.options

    def send(self, player: int, kind: str, body: Mapping[str, Any]) -> None:
        # Checked even for a player not here, as the harness does.
        msg = outgoing(kind, body, self._replies)
        member = self._room._members.get(player)
        if member is not None:
            member.connection.send(encode(msg))

    def send_to(self, players: Iterable[int], kind: str, body: Mapping[str, Any]) -> None:
        data = encode(outgoing(kind, body, self._replies))
        members = self._room._members
        for player in set(players):
            member = members.get(player)
            if member is not None:
                member.connection.send(data)

    def broadcast(self, kind: str, body: Mapping[str, Any]) -> None:
        data = encode(outgoing(kind, body, self._replies))
        for member in self._room._members.values():
            member.connection.send(data)

    def schedule(self, name: str, delay: float) -> None:
        room = self._room
        if room.scheduler is None:
            raise RuntimeError(f"room {room.id} has no scheduler for timers")
        if room.closed:
            return
        self.cancel(name)
        room._timers[name] = room.scheduler.later(timer_delay(delay), lambda: room.fire(name))

    def cancel(self, name: str) -> None:
        timer = self._room._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def set_metadata(self, **values: str | int | float | bool | None) -> None:
        if apply_metadata(self._room.metadata, values):
            self._room.changed()

    def lock(self) -> None:
        if not self._room.locked:
            self._room.locked = True
            self._room.changed()

    def unlock(self) -> None:
        if self._room.locked:
            self._room.locked = False
            self._room.changed()

    def report(self, outcomes: list[Outcome]) -> None:
        self._room.report(outcomes)

    def kick(self, player: int, reason: str) -> None:
        self._room._kick(player, farewell(reason))

    def close(self, reason: str) -> None:
        self._room._close("closed", farewell(reason))
