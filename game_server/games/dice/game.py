"""Liar's Dice on the game API: seats and the start, the turn clock, views, results.

The rules live in `rules.py`; this module is the room's side of them: who sits, when the match
starts (and the room locks), what each player may see, and what the room publishes.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from game_server.games.api import Changes, GameError, Outcome, RoomHandle, Seat
from game_server.games.dice.rules import Bid, Reveal, Table

TURN_TIMER = "turn"
MAX_PLAYERS = 6


class DiceGame:
    """One Liar's Dice table: waits for players, plays one match, reports its placements."""

    def __init__(self, room: RoomHandle) -> None:
        self.room = room
        options = room.options
        self.dice: int = options["dice"]
        self.turn_seconds: float = options["turn_seconds"]
        self.ones_wild: bool = options["ones_wild"]
        self.start_players: int = options["start_players"]
        self.seats: dict[int, Seat] = {}  # seated now, in seat order
        self.names: dict[int, str] = {}  # everyone who sat, for the match's results
        self.ready: set[int] = set()
        self.dropped: set[int] = set()
        self.left: set[int] = set()
        self.table: Table | None = None
        self.reported = False
        self.room.set_metadata(status="waiting", players=0, start_players=self.start_players,
                               dice=self.dice, ones_wild=self.ones_wild)

    # -- members --------------------------------------------------------------------------------

    def on_join_attempt(self, seat: Seat, resuming: bool) -> str | None:
        """Refuse newcomers once the match has started. (A full table needs no rule of its own:
        the room seats at most `MAX_PLAYERS`, and the match starts by the last seat.)"""
        if resuming and seat.player in self.seats:
            return None
        if self.table is not None:
            return "game already started"
        return None

    def on_join(self, seat: Seat) -> None:
        """Seat the player; the match starts once `start_players` are seated."""
        self.seats[seat.player] = seat
        self.names[seat.player] = seat.name
        self.room.set_metadata(players=len(self.seats))
        self._maybe_start()

    def on_leave(self, player: int, consented: bool) -> None:
        """Before the match: the seat is freed. During it: the player is out, placed last among
        those remaining, and the round starts again without them."""
        self.seats.pop(player, None)
        self.ready.discard(player)
        self.dropped.discard(player)
        if self.table is None:
            self.names.pop(player, None)
            self.room.set_metadata(players=len(self.seats))
            self._maybe_start()
            return
        self.left.add(player)
        if self.table.over or not self.table.alive(player):
            return
        self.table.remove(player)
        self.room.broadcast("player_out", {"player": player, "reason": "left"})
        self._after_move()

    def on_drop(self, player: int) -> None:
        """The seat and the hand are held; the turn clock keeps running for the player."""
        self.dropped.add(player)

    def on_resume(self, player: int) -> None:
        """Back in the seat: `view` gives the player their hand again."""
        self.dropped.discard(player)

    def on_dispose(self) -> None:
        self.room.cancel(TURN_TIMER)

    # -- moves ----------------------------------------------------------------------------------

    def on_message(self, player: int, kind: str, body: Any) -> None:
        """`bid` {count, face}, `challenge` {}, `ready` {} (before the match)."""
        if kind == "ready":
            if self.table is not None:
                raise GameError("already_started", "the match has already started")
            if player not in self.seats:
                raise GameError("not_seated", "you are not seated at this table")
            self.ready.add(player)
            self._maybe_start()
            return
        table = self._started()
        if kind == "bid":
            table.place_bid(player, Bid(body["count"], body["face"]))
        elif kind == "challenge":
            self._publish_reveal(table.challenge(player))
        else:
            raise GameError("unknown_message", f'"{kind}" is not a dice message')
        self._after_move()

    def on_timer(self, name: str) -> None:
        """The player on turn ran out of time: they make the lowest legal move."""
        table = self.table
        if name != TURN_TIMER or table is None or table.over or table.turn is None:
            return
        player = table.turn
        move = table.lowest_move()
        if move is None:
            self.room.broadcast("timed_out", {"player": player, "move": "challenge"})
            self._publish_reveal(table.challenge(player))
        else:
            self.room.broadcast("timed_out", {"player": player, "move": "bid",
                                              "count": move.count, "face": move.face})
            table.place_bid(player, move)
        self._after_move()

    # -- views ----------------------------------------------------------------------------------

    def view(self, player: int) -> Mapping[str, Any]:
        """The public view, plus `me` and `dice` (own hand) for a seated player still in."""
        public = self._public()
        return self._private(player, public) or public

    def changes(self) -> Changes:
        """Whole views each time (a state is small): each player's own hand, nobody else's."""
        public = self._public()
        private = {}
        for player in self.seats:
            mine = self._private(player, public)
            if mine is not None:
                private[player] = mine
        return Changes(shared=public, private=private or None)

    def _private(self, player: int, public: dict[str, Any]) -> dict[str, Any] | None:
        if player not in self.seats:
            return None
        table = self.table
        if table is None:
            return {**public, "me": player}
        hand = table.hands.get(player)
        if hand is None:  # out of the match, or the match is over: a spectator's view
            return None
        return {**public, "me": player, "dice": list(hand)}

    def _public(self) -> dict[str, Any]:
        table = self.table
        rules = {"dice": self.dice, "ones_wild": self.ones_wild,
                 "turn_seconds": self.turn_seconds, "start_players": self.start_players}
        if table is None:
            return {
                "status": "waiting", "rules": rules,
                "players": [{"id": p, "name": seat.name, "ready": p in self.ready,
                             "connected": p not in self.dropped}
                            for p, seat in self.seats.items()],
            }
        return {
            "status": "finished" if table.over else "playing",
            "rules": rules,
            "players": [{"id": p, "name": self.names[p], "dice_count": table.dice_left[p],
                         "alive": table.alive(p), "placement": table.placements.get(p),
                         "connected": p in self.seats and p not in self.dropped,
                         "left": p in self.left}
                        for p in table.order],
            "round": table.round,
            "turn": table.turn,
            "turn_number": table.turn_number,
            "total_dice": table.total_dice,
            "bid": _bid_json(table.bidder, table.bid),
            "bids": [_bid_json(p, b) for p, b in table.bids],
            "reveal": _reveal_json(table.last_reveal) if table.last_reveal else None,
            "winner": table.winner,
        }

    # -- helpers --------------------------------------------------------------------------------

    def _started(self) -> Table:
        if self.table is None:
            raise GameError("not_started", "the match has not started yet")
        return self.table

    def _maybe_start(self) -> None:
        if self.table is not None:
            return
        seated = list(self.seats)
        everyone_ready = len(seated) >= 2 and self.ready.issuperset(seated)
        if len(seated) < self.start_players and not everyone_ready:
            return
        self.room.lock()
        self.table = Table(seated, self.dice, self.ones_wild, random.Random(self.room.seed))
        self.room.set_metadata(status="playing", players=len(seated))
        self.room.broadcast("match_started", {"round": 1, "turn": self.table.turn})
        self._after_move()

    def _after_move(self) -> None:
        table = self.table
        assert table is not None
        if table.over:
            self._finish(table)
        else:
            self.room.schedule(TURN_TIMER, self.turn_seconds)

    def _publish_reveal(self, reveal: Reveal) -> None:
        self.room.broadcast("reveal", _reveal_json(reveal))

    def _finish(self, table: Table) -> None:
        self.room.cancel(TURN_TIMER)
        if self.reported:
            return
        self.reported = True
        placements = sorted(table.placements.items(), key=lambda item: item[1])
        self.room.set_metadata(status="finished", winner=self.names.get(table.winner or 0))
        self.room.broadcast("game_over", {
            "winner": table.winner,
            "placements": [{"player": p, "placement": n} for p, n in placements]})
        self.room.report([Outcome(player=p, placement=n, won=n == 1) for p, n in placements])


def _bid_json(player: int | None, bid: Bid | None) -> dict[str, int] | None:
    if bid is None or player is None:
        return None
    return {"by": player, "count": bid.count, "face": bid.face}


def _reveal_json(reveal: Reveal) -> dict[str, Any]:
    return {
        "round": reveal.round,
        "bid": _bid_json(reveal.bidder, reveal.bid),
        "challenger": reveal.challenger,
        "hands": [{"player": p, "dice": list(h)} for p, h in reveal.hands.items()],
        "count": reveal.actual,
        "holds": reveal.holds,
        "loser": reveal.loser,
        "eliminated": reveal.eliminated,
    }
