"""The public game API: everything a game written for Arena sees of the server, and gives it.

Every name in this module is a promise to game authors; the engine, the protocol layer, storage
and the clients know games only through it. A game is a plain Python class: pure, synchronous
and deterministic for its seed and the calls it receives. It never touches a socket, a clock or
a database. The room that holds it calls its hooks and offers it a `RoomHandle` to act on the
room (send, schedule timers, set metadata, lock, report results).

A game is described by a `GameSpec`: its mode name, how to make one, the client messages it
accepts (validated before the game sees them), the options a room is created with, its clock
(fixed-rate ticking, or event-driven), its seats, and how its leaderboard ranks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple, Protocol
from urllib.parse import quote

# Results are storage's too (games/results.py imports nothing); game authors find them here.
from game_server.games.results import LeaderboardRule as LeaderboardRule
from game_server.games.results import Outcome as Outcome
from protocol.errors import ErrorCode

# -- declarations: fields, messages, options ---------------------------------------------------

FieldKind = Literal["int", "float", "str", "bool"]

# Message types the engine itself speaks: a game's own messages (both ways) take other names.
RESERVED_TYPES = frozenset({
    "join", "create", "leave", "ping", "chat", "joined", "state", "pong", "left", "redirect",
    "error", "server_closing",
})

# Error codes the engine itself sends (protocol/errors.py): a game's refusals take other codes,
# so a client can always tell "the server said no" from "the game said no".
ENGINE_CODES = frozenset(code.value for code in ErrorCode)


class InvalidField(ValueError):
    """A value that does not fit its `Field`: the message says which rule it broke.

    `code` is the protocol's error code: "bad_field" for a missing, unknown or mistyped field,
    "out_of_range" for a value of the right type outside its bounds or choices.
    """

    def __init__(self, message: str, code: str = "bad_field") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Field:
    """One field of a client message or of a room's options, and the values it accepts.

    `kind` is the JSON type ("int" accepts only integers, "float" integers or floats, never
    NaN or infinities). `low`/`high` bound numbers, `max_chars` strings, `choices` any kind.
    A field with a `default` may be left out; without one it is required.

    `label` and `hint` are for people: the words a form shows for a room option ("Seconds per
    turn") and one line under it on what it does ("A player who waits longer loses the
    round"). Without a label, forms show the name with spaces for underscores.
    """

    kind: FieldKind
    low: float | None = None
    high: float | None = None
    max_chars: int | None = None
    choices: tuple[Any, ...] | None = None
    default: Any = None
    required: bool = True
    label: str = ""
    hint: str = ""

    def __post_init__(self) -> None:
        if self.default is not None:
            object.__setattr__(self, "required", False)
        if self.kind == "str" and self.max_chars is None and self.choices is None:
            raise ValueError("a str field needs max_chars or choices")

    def check(self, name: str, value: Any) -> Any:
        """`value` if it fits, else `InvalidField`."""
        kind = self.kind
        if kind == "int":
            ok = type(value) is int
        elif kind == "float":
            ok = type(value) in (int, float) and math.isfinite(value)
        elif kind == "str":
            ok = type(value) is str
        else:
            ok = type(value) is bool
        if not ok:
            raise InvalidField(f'"{name}" must be {_KIND_WORDS[kind]}')
        if self.choices is not None and value not in self.choices:
            raise InvalidField(f'"{name}" must be one of {list(self.choices)}', "out_of_range")
        if self.low is not None and value < self.low:
            raise InvalidField(f'"{name}" must be at least {self.low:g}', "out_of_range")
        if self.high is not None and value > self.high:
            raise InvalidField(f'"{name}" must be at most {self.high:g}', "out_of_range")
        if self.max_chars is not None and len(value) > self.max_chars:
            raise InvalidField(f'"{name}" must be at most {self.max_chars} characters',
                               "out_of_range")
        return value


_KIND_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}


def check_fields(fields: Mapping[str, Field], obj: Mapping[str, Any],
                 *, ignore: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The validated body of `obj` for `fields` (defaults filled in), or `InvalidField`.

    Keys in `ignore` (the envelope's own, such as "type") are skipped; any other unknown key is
    refused, so a client learns about a typo instead of having it silently dropped.
    """
    for key in obj:
        if key not in fields and key not in ignore:
            raise InvalidField(f'unknown field "{key}"')
    body: dict[str, Any] = {}
    for name, spec in fields.items():
        if name in obj:
            body[name] = spec.check(name, obj[name])
        elif spec.required:
            raise InvalidField(f'"{name}" is required')
        else:
            body[name] = spec.default
    return body


FastDecoder = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class MessageSpec:
    """A client message type the game accepts: its fields, and how its body reaches the game.

    The body is the dict of validated `fields` (defaults filled in), or what `build` makes of
    that dict. `fast`, for a game's hottest message, takes the parsed JSON object and returns
    the same body directly when the object is in its usual, valid form, or None to fall back
    to the validation of `fields`; it must never accept what `fields` would refuse.

    In a ticking room, `latest_only` messages (a steering input, say) wait per player for the
    room's next tick, and one reaches the game just before it steps: the last received, or,
    with `supersedes(new, kept)`, the one that superseded all others. Elsewhere every message
    reaches the game as it arrives.
    """

    fields: Mapping[str, Field] = field(default_factory=dict)
    fast: FastDecoder | None = None
    build: Callable[[dict[str, Any]], Any] | None = None
    latest_only: bool = False
    supersedes: Callable[[Any, Any], bool] | None = None


def decode_body(spec: MessageSpec, obj: dict[str, Any]) -> Any:
    """The body a game receives for the client message `obj` (its parsed JSON object), as the
    server makes it: `fast` if it takes the object, else validated `fields` (then `build`).
    `InvalidField` for anything `fields` refuses."""
    if spec.fast is not None:
        body = spec.fast(obj)
        if body is not None:
            return body
    return decode_fields(spec, obj)


def decode_fields(spec: MessageSpec, obj: dict[str, Any]) -> Any:
    """`decode_body` without the fast decoder: validated `fields`, then `build`."""
    body = check_fields(spec.fields, obj, ignore=_ENVELOPE)
    return spec.build(body) if spec.build is not None else body


_ENVELOPE = frozenset({"type"})


# -- clocks, seats, results, leaderboards --------------------------------------------------------


@dataclass(frozen=True)
class Ticking:
    """A real-time room: the game steps `rate` times a second and a state goes out each time."""

    rate: int = 20


@dataclass(frozen=True)
class EventDriven:
    """A turn-based room: no tick; a state goes out after each accepted message or timer."""


Clock = Ticking | EventDriven

# -- what the game sees of the room -------------------------------------------------------------


@dataclass(frozen=True)
class Seat:
    """A player as the game knows it: the room's player id, the account, the display name,
    and the join fields the player chose (validated against the spec's `join_fields`, defaults
    filled in; the same on a resume)."""

    player: int
    user: int
    name: str
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False)


class RoomHandle(Protocol):
    """What a game may ask of its room. The room gives one to the game's factory.

    Everything here is synchronous and cheap: the room queues what crosses the network.
    """

    room_id: str
    seed: int
    options: Mapping[str, Any]

    def send(self, player: int, kind: str, body: Mapping[str, Any]) -> None:
        """Send one message of type `kind` to one player (a private notice, not a state)."""

    def send_to(self, players: Iterable[int], kind: str, body: Mapping[str, Any]) -> None:
        """Send one message of type `kind` to each of `players` (a team, say), encoded once.
        Players not connected are skipped."""

    def broadcast(self, kind: str, body: Mapping[str, Any]) -> None:
        """Send one message of type `kind` to every player in the room."""

    def schedule(self, name: str, delay: float) -> None:
        """Call the game's `on_timer(name)` after `delay` seconds (replacing a timer of that
        name). Timers run whether or not anyone sends anything."""

    def cancel(self, name: str) -> None:
        """Cancel the timer `name`, if it is pending."""

    def set_metadata(self, **values: str | int | float | bool | None) -> None:
        """Public facts about the room, shown in the lobby and filterable (None removes one)."""

    def lock(self) -> None:
        """Matchmaking skips this room from now on (a match under way); joins by id or code
        are refused too, resumes are not."""

    def unlock(self) -> None:
        """Open the room to matchmaking again."""

    def report(self, outcomes: list[Outcome]) -> None:
        """Record results; storage ranks them by the mode's leaderboard rule."""

    def kick(self, player: int, reason: str) -> None:
        """Take `player` out of the room: it gets `left` with reason "kicked" and `reason` as
        the message, and goes back to the lobby; its seat is not held for a resume. The game's
        `on_leave(player, False)` is called before this returns, as for any departure."""

    def close(self, reason: str) -> None:
        """Close the room: every player gets `left` with reason "closed" and `reason` as the
        message, and goes back to the lobby. No `on_leave` follows (the game chose this); the
        results already reported stay. `on_dispose` is called before this returns, and
        nothing after it."""


class GameError(Exception):
    """Raised by a game hook to refuse a message: the sender gets `error` with `code`.

    `code` is the game's own, stable, snake_case word ("not_your_turn", "illegal_bid"),
    declared in its spec's `errors`; the room and every other player are unaffected. An engine
    code (`room_full`, `bad_field`, ... : `ENGINE_CODES`) is refused with `ValueError`: a
    client must be able to trust that those come from the server.
    """

    #: Whether this kind of error may carry an engine code (the test harness's own refusals
    #: of a seat, which stand in for the server's).
    engine: ClassVar[bool] = False

    def __init__(self, code: str, message: str) -> None:
        if code in ENGINE_CODES and not self.engine:
            raise ValueError(f"{code!r} is an engine error code; a game's codes are its own")
        super().__init__(message)
        self.code = code
        self.message = message


class Game(Protocol):
    """A game's side of the seam. Hooks are called by the room, never concurrently.

    Hooks a game does not need may be left out: the room checks for them once.
    """

    def on_join_attempt(self, seat: Seat, resuming: bool) -> str | None:
        """None to let `seat` in; otherwise the reason the client sees ("game already
        started"). Called before a newcomer's seat is taken, and with `resuming` True before a
        dropped player gets its held seat back (a game rarely refuses that)."""

    def on_join(self, seat: Seat) -> None:
        """`seat` is in the room."""

    def on_leave(self, player: int, consented: bool) -> None:
        """The player is gone for good: it left (`consented`), or it dropped and did not come
        back in time."""

    def on_drop(self, player: int) -> None:
        """The player's connection dropped; its seat is held for a resume."""

    def on_resume(self, player: int) -> None:
        """A dropped player is back in its held seat."""

    def on_message(self, player: int, kind: str, body: Any) -> None:
        """A validated client message (`body` as `MessageSpec` made it). Raise `GameError` to
        refuse it."""

    def on_step(self, dt: float) -> None:
        """Ticking rooms: advance the game by one fixed step of `dt` seconds."""

    def on_timer(self, name: str) -> None:
        """A timer scheduled through `RoomHandle.schedule` is due."""

    def on_terminate(self, grace: float) -> None:
        """The server is shutting down (SIGINT, SIGTERM): the room closes right after this
        call, with at most `grace` seconds left to the whole shutdown. Its players get no
        `on_leave`: a shutdown is nobody's forfeit, and a match it cuts short reports nothing
        unless the game reports it here (an endless game may record each player's best, say).
        Then `on_dispose`."""

    def on_dispose(self) -> None:
        """The room is closing; nothing more will be called."""

    def view(self, player: int) -> Mapping[str, Any]:
        """Everything `player` may know, in full: sent in `joined` and after a resync."""

    def changes(self) -> Changes:
        """What changed since the last call, as each player may see it: after every step of
        a ticking room, after every accepted message or timer of an event-driven one."""

    def state(self) -> Any:
        """Optional: the game's full state, JSON-able and deterministic (the same data for the
        same seed and calls, on any machine): hashed by the match journal to verify replays,
        and shown by the operator console. Without it the journal walks the game object's
        attributes (games/state.py); define it when that walk would be slow (a large world is
        hashed once a second) or would see caches that are not state."""


class Changes(NamedTuple):
    """One state's content: a view shared by everyone, and private views for some players.

    The engine encodes `shared` once and each distinct private view object once, however many
    players get it; players not in `private` get `shared`. A game with no hidden information
    returns only `shared`, at the cost of one encoding per state. (A named tuple: a ticking
    game makes one per tick.) The keys `type`, `tick`, `ts` and `away` are the engine's: the
    state after a seat was held, resumed or let go carries `away`, the player ids of the held
    seats, in every view.
    """

    shared: Mapping[str, Any]
    private: Mapping[int, Mapping[str, Any]] | None = None


# -- the description of a game ------------------------------------------------------------------

# Options the engine honours when a mode declares them (see `GameSpec`).
SEATS_OPTION = "max_players"
RATE_OPTION = "tick_rate"


GameFactory = Callable[[RoomHandle], Game]


@dataclass(frozen=True)
class GamePage:
    """The browser page a game ships: a directory in the game's package holding an ES module
    and its assets (pictures, sounds, other modules), declared as package data.

    The server serves the directory's files at `/games/<mode>/<path>`, and `/play?mode=<mode>`
    runs `module` (relative to `directory`) on the table page: it imports the SDK
    (`/client/sdk/arena.js`) or the table page's helpers (`/client/table.js`) by those absolute
    paths, and its own files relatively. `template` is the server's page the module runs on:
    "game.html", the table page, for every game but one; the arena game's full-window canvas
    page is "play.html". `picture` (relative to `directory`, an SVG or PNG) is the game's small
    picture on its lobby card; without one the lobby draws a generic one.
    """

    directory: Path
    module: str = "page.js"
    template: str = "game.html"
    picture: str | None = None


@dataclass(frozen=True)
class GameSpec:
    """A game mode: everything the server and its clients need to know to run and play it.

    `client` is public and free-form (a world's size, a board's shape): `GET /api/modes` and
    `joined` carry it. `options` are validated when a room is created; `messages` when they
    arrive. `min_players` is for the game's own use (matchmaking fills rooms up to
    `max_players`). `page` is the game's own browser page; without one, `/play` shows the
    generic page (the views as text, and a form to send any message).

    Two option names are the engine's: a mode that declares `max_players` (`SEATS_OPTION`) or
    `tick_rate` (`RATE_OPTION`, ticking modes only) as an integer option with bounds and a
    default lets each room have its own seat count or rate within those bounds (chosen when
    the room is created, defaulted by the operator with `--mode-option`). The spec's own
    `max_players` and `clock` then follow the option's default: declare the value once, as
    the option.


    `replies` declares the message types the game sends (through `RoomHandle.send` and
    `broadcast`), each with what it tells the client; `errors` declares the codes of its
    `GameError`s, each with its meaning. Both are listed by `GET /api/modes`, so a client
    knows every message and refusal it may get; neither may take an engine name.

    `join_fields` are what a player brings to a room (a team, a deck, a character): sent in
    `join` or `create` as `fields`, validated like a message's fields, and handed to the game
    in the `Seat` of `on_join_attempt` and `on_join`.
    """

    name: str
    factory: GameFactory
    messages: Mapping[str, MessageSpec]
    clock: Clock = field(default_factory=Ticking)
    options: Mapping[str, Field] = field(default_factory=dict)
    min_players: int = 1
    max_players: int = 20
    leaderboard: LeaderboardRule = "best_score"
    title: str = ""
    description: str = ""
    client: Mapping[str, Any] = field(default_factory=dict)
    page: GamePage | None = None
    replies: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    join_fields: Mapping[str, Field] = field(default_factory=dict)
    #: The rules' version, recorded in every match's journal. Bump it when a change to the
    #: game would make old matches re-run differently: a replay of a version the server no
    #: longer has is refused with an error naming both versions, instead of failing to verify.
    version: str = "1"

    def __post_init__(self) -> None:
        taken = RESERVED_TYPES.intersection(self.messages)
        if taken:
            raise ValueError(f"mode {self.name!r}: message types {sorted(taken)} are the "
                             "engine's own")
        seats = self.options.get(SEATS_OPTION)
        if seats is not None:
            _check_engine_option(self.name, SEATS_OPTION, seats, lowest=self.min_players)
            object.__setattr__(self, "max_players", seats.default)
        rate = self.options.get(RATE_OPTION)
        if rate is not None:
            if not isinstance(self.clock, Ticking):
                raise ValueError(f"mode {self.name!r}: option {RATE_OPTION!r} needs a Ticking "
                                 "clock")
            _check_engine_option(self.name, RATE_OPTION, rate, lowest=1)
            object.__setattr__(self, "clock", Ticking(rate.default))
        taken = RESERVED_TYPES.intersection(self.replies)
        if taken:
            raise ValueError(f"mode {self.name!r}: replies {sorted(taken)} are the engine's "
                             "own message types")
        taken = ENGINE_CODES.intersection(self.errors)
        if taken:
            raise ValueError(f"mode {self.name!r}: error codes {sorted(taken)} are the "
                             "engine's own")
        if not 1 <= self.min_players <= self.max_players:
            raise ValueError(f"mode {self.name!r}: need 1 <= min_players <= max_players")

    def room_seats(self, options: Mapping[str, Any]) -> int:
        """The seat count of a room made with `options` (validated, defaults filled in)."""
        if SEATS_OPTION in self.options:
            return int(options[SEATS_OPTION])
        return self.max_players

    def room_clock(self, options: Mapping[str, Any]) -> Clock:
        """The clock of a room made with `options` (validated, defaults filled in)."""
        if RATE_OPTION in self.options:
            return Ticking(int(options[RATE_OPTION]))
        return self.clock

    def describe(self) -> dict[str, Any]:
        """The mode as `GET /api/modes` lists it."""
        return {
            "name": self.name,
            "title": self.title or self.name,
            "description": self.description,
            "clock": ({"kind": "ticking", "rate": self.clock.rate}
                      if isinstance(self.clock, Ticking) else {"kind": "events"}),
            "min_players": self.min_players,
            "max_players": self.max_players,
            "leaderboard": self.leaderboard,
            "options": {name: _describe_field(f) for name, f in self.options.items()},
            "join_fields": {name: _describe_field(f) for name, f in self.join_fields.items()},
            "messages": {kind: {"fields": {name: _describe_field(f)
                                           for name, f in spec.fields.items()},
                                "latest_only": spec.latest_only}
                         for kind, spec in self.messages.items()},
            "replies": dict(self.replies),
            "errors": dict(self.errors),
            "client": dict(self.client),
            "picture": self.picture_url(),
        }

    def picture_url(self) -> str | None:
        """Where the mode's lobby picture is served (`GamePage.picture`), or None."""
        if self.page is None or not self.page.picture:
            return None
        return f"/games/{quote(self.name, safe='')}/{quote(self.page.picture)}"


def with_option_defaults(spec: GameSpec, values: Mapping[str, Any]) -> GameSpec:
    """`spec` with new defaults for some of its options (an operator's choice, such as a
    mode's tick rate), each checked against the option's declaration: `InvalidField` for a
    value out of its bounds, `ValueError` for an option the mode does not declare."""
    options = dict(spec.options)
    for name, value in values.items():
        declared = options.get(name)
        if declared is None:
            raise ValueError(f"mode {spec.name!r} has no option {name!r}")
        options[name] = dataclasses.replace(declared, default=declared.check(name, value))
    return dataclasses.replace(spec, options=options)


def _check_engine_option(mode: str, name: str, spec: Field, *, lowest: int) -> None:
    # The engine sizes rooms and clocks by these: bounded integers, whatever a client asks for.
    if (spec.kind != "int" or spec.low is None or spec.high is None or spec.low < lowest
            or spec.default is None):
        raise ValueError(f"mode {mode!r}: option {name!r} must be an int with a default, "
                         f"low >= {lowest} and a high bound")
    spec.check(name, spec.default)


def _describe_field(spec: Field) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": spec.kind}
    if spec.label:
        out["label"] = spec.label
    if spec.hint:
        out["hint"] = spec.hint
    for key in ("low", "high", "max_chars", "default"):
        value = getattr(spec, key)
        if value is not None:
            out[key] = value
    if spec.choices is not None:
        out["choices"] = list(spec.choices)
    if spec.required:
        out["required"] = True
    return out
