"""What the players and the spectator of a `GameHarness` receive: the harness's wire.

`HarnessWire` is mixed into `GameHarness` (games/testing.py). Every message a player would read
on its socket is encoded at once, as the server does, into that player's inbox: `joined`, each
state (with `away` after a seat was held, resumed or let go), the game's messages, `error` and
`left`. `spectate()` adds the one spectator, who gets the public stream (`view(SPECTATOR)`,
each state's `private[SPECTATOR]` else `shared`, broadcasts, `left`). A test reads it all
with `received`, `sent_to`, `last_state_for` and `view`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from game_server.games.api import SPECTATOR, Changes, Seat
from game_server.games.contract import JoinRefused
from protocol import messages
from protocol.errors import ErrorCode

if TYPE_CHECKING:
    from game_server.games.api import Game, GameSpec
    from game_server.games.harness_room import HarnessRoom, Sent


class HarnessWire:
    """What each player and the spectator of the harness receive (mixed into `GameHarness`),
    and how a test reads it."""

    # What the harness provides (games/testing.py).
    spec: GameSpec
    room: HarnessRoom
    room_id: str
    game: Game
    ticks: int
    tick_rate: int
    closed: bool
    states: list[Changes]
    _members: dict[int, Seat]
    _held: dict[int, Seat]
    _away_changed: bool
    _inboxes: dict[int, list[bytes]]
    _spectator: list[dict[str, Any]] | None

    def spectate(self) -> list[dict[str, Any]]:
        """Add a spectator, as `join` with `spectate` does on the server (with no delay), and
        return what it received: a list that grows as the game goes on. It gets `joined`
        (player 0, `spectator`, the game's `view(SPECTATOR)`), each state's public part
        (`private[SPECTATOR]`, else `shared`), the game's broadcasts and `left` when the room
        closes: the way to test a game's public view. (One spectator: a second call returns
        the same list.)"""
        if self._spectator is None:
            if self.closed:
                raise JoinRefused(ErrorCode.ROOM_CLOSED, f"room {self.room_id} is closed")
            joined = messages.joined(
                room=self.room_id, mode=self.spec.name, player=SPECTATOR,
                tick_rate=self.tick_rate, client=dict(self.spec.client),
                options=dict(self.room.options),
                state=self.game.view(SPECTATOR))  # type: ignore[arg-type]
            joined["spectator"] = True
            joined["away"] = list(self._held)
            self._spectator = [orjson.loads(orjson.dumps(joined))]
        return self._spectator

    def view(self, player: int) -> Mapping[str, Any]:
        return self.game.view(player)

    def last_state_for(self, player: int) -> Mapping[str, Any] | None:
        """The latest state content `player` received, if any."""
        if not self.states:
            return None
        changes = self.states[-1]
        if changes.private and player in changes.private:
            return changes.private[player]
        return changes.shared

    def sent_to(self, player: int) -> list[Sent]:
        """Every message the game sent that `player` received (its own and broadcasts)."""
        return [s for s in self.room.sent if s.to is None or s.to == player]

    def received(self, player: int) -> list[dict[str, Any]]:
        """Every message `player` would have read on its socket, in order, as JSON objects:
        `joined`, `state`, the game's messages, `error` and `left` (the server's `tick` and
        `ts` are counted by the harness's own clock); `received(SPECTATOR)` is what the
        spectator of `spectate` received."""
        if player == SPECTATOR:
            return list(self._spectator or ())
        return [orjson.loads(data) for data in self._inboxes.get(player, ())]

    def _to(self, player: int, msg: dict[str, Any]) -> None:
        # Encoded at once, as the server does: a body that is not JSON fails here, and a game
        # that mutates what it sent afterwards does not rewrite history.
        inbox = self._inboxes.get(player)
        if inbox is not None:
            inbox.append(orjson.dumps(msg))

    def _wire(self, to: int | None, msg: dict[str, Any]) -> None:
        data = orjson.dumps(msg)
        if to is None and self._spectator is not None:  # a broadcast is public
            self._spectator.append(orjson.loads(data))
        for player in self._members if to is None else (to,):
            if player in self._members:
                self._inboxes[player].append(data)

    def _send_joined(self, player: int) -> None:
        joined = messages.joined(
            room=self.room_id, mode=self.spec.name, player=player, tick_rate=self.tick_rate,
            client=dict(self.spec.client), options=dict(self.room.options),
            state=self.game.view(player))  # type: ignore[arg-type]
        joined["away"] = list(self._held)  # the held seats' players, as the room sends
        self._to(player, joined)

    def _state(self, changes: Changes) -> None:
        self.states.append(changes)
        ts = int(self.room.now * 1000)
        shared_changes: Mapping[str, Any] = changes.shared
        private = changes.private or {}
        if self._away_changed:  # a seat was held, resumed or let go: say who is away now
            self._away_changed = False
            away = list(self._held)
            shared_changes = {**shared_changes, "away": away}
            private = {player: {**view, "away": away} for player, view in private.items()}
        shared = orjson.dumps(messages.state(tick=self.ticks, ts=ts, changes=shared_changes))
        if self._spectator is not None:
            view = private.get(SPECTATOR)
            self._spectator.append(orjson.loads(
                shared if view is None
                else orjson.dumps(messages.state(tick=self.ticks, ts=ts, changes=view))))
        for player in self._members:
            view = private.get(player)
            self._inboxes[player].append(
                shared if view is None
                else orjson.dumps(messages.state(tick=self.ticks, ts=ts, changes=view)))
