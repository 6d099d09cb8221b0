"""The room's side of the game contract: the decisions a room makes about its game, written once.

The server's `Room` (engine/room.py) and the test harness `GameHarness` (games/testing.py) both
hold a game and must treat it the same way, or a game that passes its tests fails on the server.
So the decisions live here, and both use this code rather than a copy of it:

- which client messages reach the game: a type the game declares, from a seated player whose
  connection is open, validated against its `MessageSpec` (refusals carry the protocol's error
  codes: `unknown_type`, `not_in_room`, `bad_field`, `out_of_range`);
- when they reach it: at once, or, for `latest_only` types in a ticking room, the one kept per
  player and type (the last, or the one that `supersedes` the others) just before the next step;
  a player who drops or leaves loses its pending inputs;
- who gets a seat: not in a closed, full or locked room, not if `on_join_attempt` refuses; a
  player id is used up only by a join that succeeds; a resume asks `on_join_attempt(seat, True)`;
- what the game may do through its handle: send only its own message types (`outgoing`), set
  only scalar metadata (`apply_metadata`), schedule timers whose negative delays count as zero
  (`timer_delay`).

`RoomRules` is the part that runs per input and per join: a base class rather than a helper
object, so the room's hot path (`message`, once per input) costs no extra call. Subclasses say
how a failing game is handled: the server closes the room, the harness raises. While a room
records its match, `message` also keeps each accepted input for the journal
(games/journal_buffer.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from game_server.games.api import (
    RESERVED_TYPES,
    Field,
    Game,
    GameError,
    InvalidField,
    MessageSpec,
    Seat,
    check_fields,
    decode_fields,
)
from game_server.games.journal_buffer import message_text
from protocol.errors import ErrorCode, ProtocolError

_dumps = orjson.dumps

# -- what the room answers -----------------------------------------------------------------------


class Refused(ProtocolError, InvalidField):
    """A client message (or a room's options) the room will not pass to the game.

    A `ProtocolError`: the server answers the sender with `error` and this code. Also an
    `InvalidField`, which the harness raised before it used the server's codes, so tests written
    then (`pytest.raises(InvalidField)`) still hold.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        Exception.__init__(self, message)
        self.code = code
        self.message = message


class JoinRefused(ProtocolError, GameError):
    """A join (or a resume) the room turns down: full, locked, closed, or refused by the game.

    A `ProtocolError` with the code the server answers with; also a `GameError`, which the
    harness raised before it used the server's codes.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        Exception.__init__(self, message)
        self.code = code
        self.message = message


def check_options(options_spec: Mapping[str, Field], options: Mapping[str, Any] | None
                  ) -> dict[str, Any]:
    """A room's validated options (defaults filled in), or `Refused` with the field's code."""
    try:
        return check_fields(options_spec, options or {})
    except InvalidField as exc:
        raise Refused(ErrorCode(exc.code), f"options: {exc}") from None


def check_join_fields(join_fields: Mapping[str, Field], fields: Mapping[str, Any] | None
                      ) -> dict[str, Any]:
    """A player's validated join fields (defaults filled in), or `Refused` with the field's
    code."""
    try:
        return check_fields(join_fields, fields or {})
    except InvalidField as exc:
        raise Refused(ErrorCode(exc.code), f"fields: {exc}") from None


def decode_message(kind: str, spec: MessageSpec, obj: dict[str, Any]) -> Any:
    """The body of a client message of type `kind` whose fast decoder (if any) declined it:
    validated `fields`, then `build`; `Refused` with the field's code."""
    try:
        return decode_fields(spec, obj)
    except InvalidField as exc:
        raise Refused(ErrorCode(exc.code), f"{kind}: {exc}") from None


# -- what the game may do through its handle -----------------------------------------------------


def outgoing(kind: str, body: Mapping[str, Any],
             replies: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A game's own message as it goes on the wire: `{"type": kind, ...body}`.

    `ValueError` for one of the engine's types (`state`, `error`, `chat`...): a client could not
    tell it from the real thing; and, when the game declares its `replies`, for a type it did
    not declare (clients read the declaration in `GET /api/modes`). On the server the game's
    room closes; the harness raises.
    """
    if kind in RESERVED_TYPES:
        raise ValueError(f"message type {kind!r} is the engine's own")
    if replies and kind not in replies:
        raise ValueError(f"message type {kind!r} is not among the mode's declared replies")
    msg = dict(body)
    msg["type"] = kind
    return msg


def apply_metadata(metadata: dict[str, Any], values: Mapping[str, Any]) -> bool:
    """Apply `RoomHandle.set_metadata(**values)` to `metadata`; whether it changed.

    `TypeError` (and nothing applied) for a value that is not a string, number, boolean or None:
    the lobby lists and filters rooms by these.
    """
    for key, value in values.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise TypeError(f"metadata {key!r} must be a string, number or boolean")
    before = dict(metadata)
    for key, value in values.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    return metadata != before


MAX_FAREWELL_CHARS = 200  # a kick's or a close's reason, as the player reads it


def farewell(reason: str) -> str:
    """The reason a game gives for a kick or a close, as it goes to the player: a non-empty
    string of at most `MAX_FAREWELL_CHARS` characters, else `ValueError` (the game's bug)."""
    if type(reason) is not str or not reason.strip():
        raise ValueError("a kick or a close needs a reason the player can read")
    if len(reason) > MAX_FAREWELL_CHARS:
        raise ValueError(f"a kick's or a close's reason is at most {MAX_FAREWELL_CHARS} "
                         "characters")
    return reason.strip()


def timer_delay(delay: float) -> float:
    """The delay a timer really waits: a negative one (or NaN) fires as soon as it can."""
    return delay if delay > 0.0 else 0.0


# -- the room's decisions ------------------------------------------------------------------------


class RoomRules:
    """The decisions of a room about its game's seats and inputs; `Room` and `GameHarness` are
    both one.

    A subclass sets the attributes below and provides `_guarded`, `_game_failed`, `_refuse` and
    `_after_event` (how it calls the game, what a failing game costs, where a refusal goes,
    what follows an event).
    """

    game: Game
    ticking: bool
    closed: bool
    locked: bool
    max_players: int
    _messages: Mapping[str, MessageSpec]
    _join_fields: Mapping[str, Field]  # what a player brings to a seat (GameSpec.join_fields)
    _members: Mapping[int, Any]  # seated players whose connection is open
    _held: Mapping[int, Any]  # seated players whose connection dropped, waiting for a resume
    # latest_only inputs waiting for the next step: type -> player id -> body (one dict per
    # type, made once, so an input costs two lookups and no key to build)
    _latest: dict[str, dict[int, Any]]
    _next_player_id: int
    _hooks: dict[str, Callable[..., Any] | None]

    # The match journal's recorder (engine/recorder.py) while the room records, else None; a
    # subclass that records sets it and provides `_journal_ms`.
    _journal: Any = None
    # A ticking room's `JournalBuffer.kept` while it records (else None): what a message is
    # appended to, held by the room itself so an input touches nothing more.
    _journal_kept: list[Any] | None = None

    HOOKS = ("on_join_attempt", "on_join", "on_leave", "on_drop", "on_resume", "on_timer",
             "on_terminate", "on_dispose")

    def _rules_ready(self) -> None:
        """Set up once `game`, `ticking` and `_messages` are: the game's optional hooks looked
        up once (a game may leave any of them out), and where latest_only inputs wait."""
        self._hooks = {name: getattr(self.game, name, None) for name in self.HOOKS}
        self._latest = ({kind: {} for kind, spec in self._messages.items() if spec.latest_only}
                        if self.ticking else {})

    # -- what subclasses provide --------------------------------------------------------------

    def _guarded(self, hook: Callable[..., Any], *args: Any) -> Any:
        """Call a game hook; what it returns (None if it failed and the room closed)."""
        raise NotImplementedError

    def _game_failed(self, exc: Exception, doing: str) -> None:
        """The game raised `exc` (not a `GameError`) while `doing`."""
        raise NotImplementedError

    def _refuse(self, player_id: int, exc: GameError) -> None:
        """The game refused a message from `player_id`: the player gets `error` `exc.code`."""
        raise NotImplementedError

    def _after_event(self) -> None:
        """What follows an event (an event-driven room sends a state)."""
        raise NotImplementedError

    def _journal_ms(self) -> int:
        """Milliseconds since the journal started, by the room's clock (when recording)."""
        raise NotImplementedError

    def _record(self, code: str, *items: Any) -> None:
        """Append one record `[code, ms, *items]` to the journal (only called while `_journal`
        is set). A journal its writer gave up on (`dropped`) is let go here."""
        journal = self._journal
        if journal.dropped:
            self._journal = self._journal_kept = None
            return
        journal.add([code, self._journal_ms(), *items])

    # -- seats --------------------------------------------------------------------------------

    @property
    def player_count(self) -> int:
        """Seats taken: players connected and players away (held seats)."""
        return len(self._members) + len(self._held)

    @property
    def connected_count(self) -> int:
        """Seated players whose connection is open: the people who are there."""
        return len(self._members)

    @property
    def away_count(self) -> int:
        """Held seats: players whose connection dropped, who may still resume."""
        return len(self._held)

    @property
    def is_full(self) -> bool:
        return len(self._members) + len(self._held) >= self.max_players

    def _admit(self, user: int, name: str, room: str,
               fields: Mapping[str, Any] | None = None) -> Seat:
        """The seat a newcomer gets, with the next player id and its join `fields` (validated:
        `Refused` with the field's code), or `JoinRefused`.

        The id is used up only here, once every check passed: a refused join costs none.
        """
        chosen = check_join_fields(self._join_fields, fields)
        if self.closed:
            raise JoinRefused(ErrorCode.ROOM_CLOSED, f"room {room} is closed")
        if self.is_full:
            raise JoinRefused(ErrorCode.ROOM_FULL, f"room {room} is full")
        if self.locked:
            raise JoinRefused(ErrorCode.ROOM_LOCKED, f"room {room} is not taking players")
        seat = Seat(player=self._next_player_id, user=user, name=name, fields=chosen)
        attempt = self._hooks["on_join_attempt"]
        if attempt is not None:
            reason = self._guarded(attempt, seat, False)
            if reason:
                raise JoinRefused(ErrorCode.JOIN_REFUSED, str(reason))
            if self.closed:
                raise JoinRefused(ErrorCode.ROOM_CLOSED, f"room {room} is closed")
        self._next_player_id += 1
        return seat

    def _may_resume(self, seat: Seat) -> bool:
        """Whether the held `seat` may be taken back: the game is asked (`resuming` True)."""
        if self.closed:
            return False
        attempt = self._hooks["on_join_attempt"]
        if attempt is not None and self._guarded(attempt, seat, True):
            return False  # the game will not have this player back (or it failed)
        return not self.closed

    # -- inputs -------------------------------------------------------------------------------

    def message(self, player_id: int, kind: str, obj: dict[str, Any],
                text: str | bytes | None = None) -> None:
        """One client message for the game: validated against its spec, then delivered (or, if
        `latest_only` in a ticking room, kept for the next step). `text` is the message as the
        client sent it (what the journal keeps), when the caller has it.

        `Refused` (a `ProtocolError`) for an unknown type, a sender not seated and connected,
        or bad fields; a `GameError` from the game goes to `_refuse`.
        """
        spec = self._messages.get(kind)
        if spec is None:
            raise Refused(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind[:32]!r}")
        if player_id not in self._members:
            raise Refused(ErrorCode.NOT_IN_ROOM, f"player {player_id} is not in this room")
        fast = spec.fast
        body = fast(obj) if fast is not None else None
        if body is None:
            body = decode_message(kind, spec, obj)  # the fast decoder has had its go
        # Valid, from a seated player: journaled as the client sent it, at receipt (a replay
        # feeds it at the same point, so coalescing happens the same way), and a journal its
        # writer dropped is let go at its next hash or record. Inline, ten times per player and
        # second, a ticking room keeps the text and who sent it (`JournalBuffer`); its time is
        # the last tick's (the order, not the millisecond, is what a replay needs).
        kept = self._journal_kept
        if kept is not None:
            kept.append(player_id)
            kept.append(text if type(text) is str else message_text(kind, obj, text))
        elif self._journal is not None:  # an event-driven room: encoded now, with its time
            pending = self._journal.pending
            pending += _dumps(("m", self._journal_ms(), player_id, kind, obj))
            pending += b","
        latest = self._latest.get(kind)
        if latest is not None:
            # latest_only in a ticking room: handed to the game in the next tick, next to the
            # step that reads it; the game's player objects stay out of the input path (ten
            # inputs per player and second).
            kept = latest.get(player_id)
            if kept is None or spec.supersedes is None or spec.supersedes(body, kept):
                latest[player_id] = body
            return
        try:
            self.game.on_message(player_id, kind, body)
        except GameError as exc:
            self._refuse(player_id, exc)
            return
        except Exception as exc:
            self._game_failed(exc, f"on {kind!r} from player {player_id}")
            return
        self._after_event()

    def _deliver_latest(self) -> None:
        """Hand the kept `latest_only` inputs to the game (just before a step). A `GameError`
        goes to `_refuse`; anything else the game raises is the caller's to handle."""
        on_message = None
        for kind, latest in self._latest.items():
            if latest:
                on_message = on_message or self.game.on_message
                for player_id, body in latest.items():
                    try:
                        on_message(player_id, kind, body)
                    except GameError as exc:
                        self._refuse(player_id, exc)
                latest.clear()

    def _drop_latest(self, player_id: int) -> None:
        """The player dropped or left: its kept inputs never reach the game."""
        for latest in self._latest.values():
            latest.pop(player_id, None)
