"""What an operator may see of and do to this process's rooms, for the console.

Reads are snapshots of what the engine already keeps (the rooms' descriptions, their members,
when each took its seat, the connection's last measured round trip), taken when a console asks,
at most once a second per open console, never per tick. Actions go through the same
`RoomHandle` calls a game makes (engine/handle.py): a kick, a close and a lock look to players
exactly as if their game had done it. A game may also take an operator's signal (`on_signal`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from game_server.engine import recorder as jr
from game_server.engine.livestats import LiveStats
from game_server.engine.matchmaker import Matchmaker
from game_server.engine.room import Room
from game_server.games.state import full_state, normalized

MAX_REASON_CHARS = 200


class AdminError(ValueError):
    """An operator action that cannot be done: a stable `code` and a clear message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Journal records an operator reads as the room's recent messages (engine/recorder.py's codes).
MESSAGE_RECORDS = frozenset((jr.JOIN, jr.DROP, jr.RESUME, jr.LEAVE, jr.MESSAGE, jr.CLOSE))
RECENT_KEPT = 50


def unwritten_records(room: Room) -> list[list[Any]]:
    """The room's journal records not yet taken by the journal writer (none when the room is
    not recorded): the newest of its recent messages."""
    recorder = getattr(room, "_journal", None)
    records = recorder.peek() if recorder is not None else []
    return [r for r in records if r and r[0] in MESSAGE_RECORDS][-RECENT_KEPT:]


class RoomAdmin:
    """The console's reads and actions on this process's rooms."""

    def __init__(self, matchmaker: Matchmaker, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 live: LiveStats | None = None) -> None:
        self._matchmaker = matchmaker
        self._monotonic = monotonic
        self.live = live  # what each room costs (None: not shown)

    def room(self, room_id: str) -> Room:
        room = self._matchmaker.get(room_id)
        if room is None or room.closed:
            raise AdminError("unknown_room", f"no room {room_id!r} on this host")
        return room

    def snapshot(self) -> list[dict[str, Any]]:
        """Every room here with its players (name, account, ping, seconds in the room) and,
        when rooms are accounted, its `cost` (engine/livestats.py)."""
        now = self._monotonic()
        costs = self.live.rooms() if self.live is not None else {}
        rooms = []
        for room in self._matchmaker.rooms():
            if room.closed:
                continue
            players = []
            for player_id, identity in room._identities.items():
                member = room._members.get(player_id)
                rtt = getattr(member.connection, "rtt", None) if member is not None else None
                joined = room.joined_at.get(player_id)
                players.append({
                    "player": player_id,
                    "user": identity.id,
                    "name": identity.name,
                    "away": member is None,
                    "ping_ms": None if rtt is None else round(rtt * 1000.0, 1),
                    "seconds": None if joined is None else round(now - joined),
                })
            rooms.append({**room.describe(), "private": room.private, "code": room.code,
                          "tick_rate": room.tick_rate, "ticks": room.ticks,
                          "signals": callable(getattr(room.game, "on_signal", None)),
                          "cost": costs.get(room.id), "players_list": players})
        return rooms

    def kick(self, room_id: str, player: int, reason: str) -> str:
        room = self.room(room_id)
        if player not in room._identities:
            raise AdminError("unknown_player", f"no player {player} in room {room_id}")
        name = room._identities[player].name
        room.handle.kick(player, _reason(reason))
        return f"kicked {name}"

    def kick_user(self, user_id: int, reason: str) -> list[str]:
        """Kick the account out of every room here it is in (a ban's present sessions)."""
        done = []
        for room in self._matchmaker.rooms():
            for player, identity in list(room._identities.items()):
                if identity.id == user_id and not room.closed:
                    room.handle.kick(player, _reason(reason))
                    done.append(room.id)
        return done

    def close(self, room_id: str, reason: str) -> str:
        self.room(room_id).handle.close(_reason(reason))
        return f"closed room {room_id}"

    def lock(self, room_id: str, locked: bool) -> str:
        room = self.room(room_id)
        if locked:
            room.handle.lock()
        else:
            room.handle.unlock()
        return f"{'locked' if locked else 'unlocked'} room {room_id}"

    def signal(self, room_id: str, name: str, payload: Any) -> str:
        room = self.room(room_id)
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise AdminError("bad_signal", "a signal's name is 1 to 64 characters")
        try:
            reply = room.signal(name, payload)
        except ValueError as exc:
            raise AdminError("no_signals", str(exc)) from None
        if room.closed and reply is None:
            return "the room closed"
        return reply if reply is not None else "done"

    def inspect(self, room_id: str) -> Mapping[str, Any]:
        """The room, its game's full state (games/state.py: the game's `state()`, else its
        fields), and, when its match is recorded, its journal's id and the records not yet
        written (the console reads the written ones from the database)."""
        room = self.room(room_id)
        try:
            state = normalized(full_state(room.game))
        except Exception as exc:  # the game's own code: its failure is shown, not raised
            state = {"error": f"the game could not give its state: {exc!r}"}
        return {"room": room.describe(), "state": state,
                "journal": getattr(room, "journal_id", None),
                "unwritten": normalized(unwritten_records(room))}


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        return "removed by an operator"
    return reason.strip()[:MAX_REASON_CHARS]
