"""Liar's Dice for 2 to 6 players, written only against the public game API.

The rules, as this game plays them:

- Each player starts with `dice` dice (option, default 5, 1 to 6). Every round, every player
  still in rolls all their dice; each sees only their own.
- Players act in seat order (the order they sat down); the first round's opener is drawn from
  the room's seed. On their turn a player either **bids** or **challenges**.
- A bid (`count`, `face`) claims that at least `count` dice on the whole table show `face`.
  With `ones_wild` (option, default true) every 1 also counts toward any other face; a bid on
  ones counts only ones. A bid's count may not exceed the dice in play (`bid_too_high`).
- Each bid must raise the previous one: a higher count, or the same count and a higher face.
  Faces rank 1 < 2 < ... < 6; with ones wild, ones rank highest: 2 < 3 < 4 < 5 < 6 < 1 (so
  "3 ones" beats "3 sixes", and "4 twos" beats "3 ones"). The lowest opening bid is one of the
  lowest face: "1 x 2" with ones wild, "1 x 1" without.
- A challenge calls the previous bid a lie. All hands are revealed to everyone; if the table
  holds at least `count` matching dice the bid holds and the challenger loses one die,
  otherwise the bidder loses one die. A player with no dice left is out.
- A new round follows: everyone re-rolls, and the loser opens (or, if they are out, the next
  player still in after them).
- The turn clock: each turn lasts `turn_seconds` (option, default 30, 5 to 120). A player who
  runs out of time makes the lowest legal move: the lowest raise over the current bid (the
  lowest opening bid if there is none), or a challenge when no raise is left.
- A player who leaves during the match (or drops and does not come back in time) is out,
  placed last among those remaining; the round is void (no one loses a die), everyone
  re-rolls and the player who was on turn opens (the next player still in, if that was the
  leaver). A dropped player keeps their seat and hand; the clock plays for them meanwhile.
- The last player in wins. Placements: the winner 1, then in reverse order of going out.

Starting: the match starts as soon as `start_players` (option, default 2, 2 to 6) are seated,
or earlier when at least two are seated and every one of them has sent `ready`. The room then
locks: matchmaking skips it and newcomers are refused with "game already started".
"""

from __future__ import annotations

from game_server.games.api import EventDriven, Field, GamePage, GameSpec, MessageSpec
from game_server.games.dice.game import MAX_PLAYERS, DiceGame
from game_server.games.web import CLIENT_WEB

MAX_DICE = 6

__all__ = ["DiceGame", "dice_spec"]


def dice_spec() -> GameSpec:
    """The "dice" mode: Liar's Dice, turn-based, ranked by rating from placements."""
    return GameSpec(
        name="dice",
        title="Liar's Dice",
        description="Bid on dice you cannot see; call a liar; the last player with dice wins.",
        factory=DiceGame,
        clock=EventDriven(),
        min_players=2,
        max_players=MAX_PLAYERS,
        leaderboard="rating",
        messages={
            "bid": MessageSpec({
                "count": Field("int", low=1, high=MAX_PLAYERS * MAX_DICE),
                "face": Field("int", low=1, high=6),
            }),
            "challenge": MessageSpec(),
            "ready": MessageSpec(),
        },
        options={
            "dice": Field("int", low=1, high=MAX_DICE, default=5,
                          label="Dice per player",
                          hint="Each player starts with this many; lose them all and you are out."),
            "turn_seconds": Field("int", low=5, high=120, default=30,
                                  label="Seconds per turn",
                                  hint="Wait longer and the lowest legal move is played for you."),
            "ones_wild": Field("bool", default=True, label="Ones are wild",
                               hint="A one counts as any face when the dice are revealed."),
            "start_players": Field("int", low=2, high=MAX_PLAYERS, default=2,
                                   label="Players to start",
                                   hint="The match starts once this many are seated."),
        },
        client={"faces": 6, "max_dice": MAX_DICE},
        # On the table page, with dice-text.js; dice.svg is its lobby picture.
        page=GamePage(CLIENT_WEB / "games", "dice.js", picture="dice.svg"),
        replies={
            "match_started": "the match started (the room is now locked): round and turn",
            "reveal": "a challenge: every hand of the round, the count, the loser",
            "timed_out": "a turn clock ran out and the lowest legal move was made",
            "player_out": "a player left mid-match and is out; the round starts again",
            "game_over": "the last player in won: the winner and every placement",
        },
        errors={
            "not_started": "bid or challenge before the match started",
            "already_started": "ready once the match started",
            "not_seated": "ready from someone without a seat at the table",
            "not_your_turn": "a move by a player who is not on turn",
            "bid_too_low": "a bid that does not raise the current one",
            "bid_too_high": "a bid whose count exceeds the dice in play",
            "bad_bid": "a bid outside the counts and faces of the game",
            "no_bid_to_challenge": "a challenge when the round has no bid yet",
            "eliminated": "a move by a player who is out of the match",
            "not_playing": "a move by someone in the room who was not dealt into the match",
            "game_over": "a move after the match ended",
            "unknown_message": "a message type the game does not play",
        },
    )
