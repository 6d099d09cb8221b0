"""Tic-tac-toe for Arena: the smallest complete game, and the code docs/writing-a-game.md walks
through.

Two players take turns putting their mark on a 3x3 board; three in a row wins, a full board is
a draw. Every turn has a clock (the room's `turn_seconds` option): a player who runs out of time
forfeits, and so does a player who leaves mid-game. Wins feed the mode's leaderboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from game_server.games.api import (
    Changes,
    EventDriven,
    Field,
    GameError,
    GamePage,
    GameSpec,
    MessageSpec,
    Outcome,
    RoomHandle,
    Seat,
)

# The eight ways to get three in a row, as cell numbers (0 1 2 / 3 4 5 / 6 7 8).
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
MARKS = ("X", "O")  # the first player seated plays X and moves first


class TicTacToe:
    """One match between two players. The room calls the hooks; `room` is how we act on it."""

    def __init__(self, room: RoomHandle) -> None:
        self.room = room
        self.turn_seconds: int = room.options["turn_seconds"]  # validated by the room already
        self.board = [""] * 9  # "", "X" or "O" per cell
        self.seats: list[Seat] = []  # in joining order: seats[0] plays X
        self.away: set[int] = set()  # dropped players: their seats are held for them
        self.status = "waiting"  # then "playing", then "finished"
        self.turn: int | None = None  # the player to move
        self.winner: int | None = None
        self.line: tuple[int, int, int] | None = None  # the winning row, to highlight
        room.set_metadata(status="waiting")

    # -- who is in the room ---------------------------------------------------------------------

    def on_join_attempt(self, seat: Seat, resuming: bool) -> str | None:
        """Refuse newcomers once the match has started; a resuming player keeps its seat."""
        if self.status != "waiting" and not resuming:
            return "game already started"
        return None

    def on_join(self, seat: Seat) -> None:
        """The second player seated starts the match: lock the room, X moves first."""
        self.seats.append(seat)
        if len(self.seats) == 2:
            self.status = "playing"
            self.room.lock()  # matchmaking sends nobody else here
            self.room.set_metadata(status="playing")
            self._start_turn(self.seats[0].player)

    def on_leave(self, player: int, consented: bool) -> None:
        """Gone for good (it left, or dropped and never came back): mid-game, that forfeits."""
        self.away.discard(player)
        if self.status == "playing":
            self._finish(winner=self._opponent(player))
        elif self.status == "waiting":
            self.seats = [s for s in self.seats if s.player != player]

    def on_drop(self, player: int) -> None:
        """The seat is held for a resume; the turn clock keeps running meanwhile."""
        self.away.add(player)

    def on_resume(self, player: int) -> None:
        """Back in its seat: the view it is sent shows the board as it is now."""
        self.away.discard(player)

    # -- moves and the turn clock ---------------------------------------------------------------

    def on_message(self, player: int, kind: str, body: Mapping[str, Any]) -> None:
        """A `move`: the room has checked that `cell` is an integer from 0 to 8."""
        cell = body["cell"]
        if self.status == "finished":
            raise GameError("game_over", "the game is over")
        if self.status == "waiting":
            raise GameError("not_started", "waiting for a second player")
        if player != self.turn:
            raise GameError("not_your_turn", "it is not your turn")
        if self.board[cell]:
            raise GameError("cell_taken", f"cell {cell} is taken")
        self.board[cell] = self._mark(player)
        self.line = next((line for line in LINES
                          if self.board[line[0]] != ""
                          and self.board[line[0]] == self.board[line[1]] == self.board[line[2]]),
                         None)
        if self.line is not None:
            self._finish(winner=player)
        elif all(self.board):
            self._finish(winner=None)  # a full board and no row: a draw
        else:
            self._start_turn(self._opponent(player))

    def on_timer(self, name: str) -> None:
        """The turn clock ran out: the player to move forfeits."""
        if name == "turn" and self.turn is not None:
            self._finish(winner=self._opponent(self.turn))

    def _start_turn(self, player: int) -> None:
        self.turn = player
        self.room.schedule("turn", self.turn_seconds)  # replaces the last turn's timer

    # -- the end ----------------------------------------------------------------------------------

    def _finish(self, winner: int | None) -> None:
        """Report the result once, to the "wins" leaderboard; the room stays locked."""
        self.status, self.turn, self.winner = "finished", None, winner
        self.room.cancel("turn")
        self.room.set_metadata(status="finished")
        self.room.report([
            Outcome(player=s.player, placement=1 if winner in (None, s.player) else 2,
                    won=s.player == winner)
            for s in self.seats
        ])

    # -- what players see -------------------------------------------------------------------------

    def view(self, player: int) -> dict[str, Any]:
        """Everything there is to know: tic-tac-toe hides nothing, so every player sees this."""
        return {
            "status": self.status,
            "board": list(self.board),
            "players": [{"player": s.player, "name": s.name, "mark": MARKS[i],
                         "away": s.player in self.away} for i, s in enumerate(self.seats)],
            "turn": self.turn,
            "turn_seconds": self.turn_seconds,
            "winner": self.winner,
            "line": list(self.line) if self.line else None,
        }

    def changes(self) -> Changes:
        """After each accepted move or timer: the whole (small) view, shared by everyone."""
        return Changes(shared=self.view(0))

    # -- helpers ----------------------------------------------------------------------------------

    def _mark(self, player: int) -> str:
        return MARKS[[s.player for s in self.seats].index(player)]

    def _opponent(self, player: int) -> int:
        return next(s.player for s in self.seats if s.player != player)


spec = GameSpec(
    name="tictactoe",
    title="Tic-tac-toe",
    description="Three in a row wins. Two players, a clock on every turn.",
    factory=TicTacToe,
    clock=EventDriven(),  # no tick: a state goes out after each accepted move or timer
    messages={"move": MessageSpec({"cell": Field("int", low=0, high=8)})},
    options={"turn_seconds": Field("int", low=5, high=300, default=30,
                                   label="Seconds per turn",
                                   hint="Run out of time and you lose the game.")},
    min_players=2,
    max_players=2,
    leaderboard="wins",
    client={"rows": 3, "columns": 3},
    # web/page.js, served at /games/tictactoe/; web/picture.svg is its card in the lobby
    page=GamePage(Path(__file__).parent / "web", picture="picture.svg"),
    errors={  # every code a move may be refused with: GET /api/modes lists them
        "not_started": "waiting for a second player",
        "not_your_turn": "it is not your turn",
        "cell_taken": "that cell is taken",
        "game_over": "the game is over",
    },
)
