"""How a bot plays a mode: a `Policy` reads every server message and says what to send.

A policy is the game-specific part of a bot; everything else (login, join by mode with options,
redirects, reconnecting, pings, the report) is `client.bots` and the same for every game. Each
`Bot` has its own policy object:

- `on_message(msg)` sees every message the server sends while the bot is seated (`joined`,
  `state`, the game's own messages, `error`, ...) and returns the messages to send now;
- `act()` is called every `interval` seconds by real-time policies (`interval` None: never);
- `finished` becomes a `Finished` once this player's match is over: the bot then leaves the
  room and joins again by mode, so it keeps playing new matches until its run ends;
- `score` is a number worth reporting (the arena's mass), or None.

Policies are pure: no I/O, their randomness from the `rng` they are made with, so they are
tested without a server and locust users reuse them. `policy_for(mode)` picks the shipped
policy of a mode; `load_policy("package.module:attr")` a third party's (a callable taking the
`rng`, returning a `Policy`). `TurnPolicy` is the base for turn-based games: it keeps the
latest view and asks `decide` once per turn; the bot sends its answers `think` seconds later,
as a person's would (a policy without `think` is answered at once).
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from client import dice_brain
from client.brain import decide as steer
from client.world import World

Message = dict[str, Any]
PolicyFactory = Callable[[random.Random], "Policy"]

# Keys the engine adds to a `state` around the game's view (PROTOCOL.md, `state`).
ENVELOPE_KEYS = frozenset({"type", "tick", "ts"})


class PolicyError(Exception):
    """No policy could be had for a mode or a `module:attr` reference; the message says why."""


@dataclass(frozen=True, slots=True)
class Finished:
    """This player's match is over: `won` it, or not (`draw`: nobody won)."""

    won: bool
    draw: bool = False


class Policy(Protocol):
    """One bot's player of one mode (see the module docstring)."""

    interval: float | None

    def on_message(self, msg: Message) -> list[Message]: ...

    def act(self) -> list[Message]: ...

    @property
    def finished(self) -> Finished | None: ...

    @property
    def score(self) -> int | None: ...


def view_of(msg: Mapping[str, Any]) -> dict[str, Any] | None:
    """The game's view in a `joined` (its `state`) or an event-driven `state` (the message
    without the envelope's keys); None for any other message."""
    kind = msg.get("type")
    if kind == "joined":
        state = msg.get("state")
        return dict(state) if isinstance(state, Mapping) else None
    if kind == "state":
        return {k: v for k, v in msg.items() if k not in ENVELOPE_KEYS}
    return None


# -- real time: the arena -----------------------------------------------------------------------


class ArenaPolicy:
    """The arena: a `World` built from the states, steered by `client.brain` 10 times a second.
    While dead the brain says (0, 0) every time; that is sent once."""

    interval: float | None = 0.1  # 10 inputs a second, as a browser would send

    def __init__(self, rng: random.Random) -> None:
        self.world = World()
        self._rng = rng
        self._seq = 0
        self._last: tuple[float, float] | None = None

    def on_message(self, msg: Message) -> list[Message]:
        kind = msg.get("type")
        if kind == "state":
            self.world.apply_state(msg)
        elif kind == "joined":
            self.world.apply_joined(msg)
            self._last = None  # tell the new room where we head at once
        return []

    def act(self) -> list[Message]:
        dx, dy = steer(self.world, self._rng)
        if (dx, dy) == self._last == (0.0, 0.0):
            return []
        self._seq += 1
        self._last = (dx, dy)
        return [{"type": "input", "seq": self._seq, "dx": round(dx, 4), "dy": round(dy, 4)}]

    @property
    def finished(self) -> Finished | None:
        return None  # an arena room has no end

    @property
    def score(self) -> int | None:
        me = self.world.me_view
        return me.mass if me is not None else None


# -- turn-based games ---------------------------------------------------------------------------


class TurnPolicy:
    """Base of event-driven policies: keeps `me` (the player id from `joined`) and the latest
    `view`, and sends what `decide(view)` says at most once per `turn_key(view)`, so states
    sent for other events (a drop, a chat) during our turn do not repeat a move. A refused move
    is not retried: the game's turn clock moves on. The bot sends the answers `think` seconds
    later: a bot at machine speed would hit the server's rate limit within a few matches."""

    interval: float | None = None
    think: float = 0.1

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.me: int | None = None
        self.view: dict[str, Any] | None = None
        self._acted: Any = None
        self._finished: Finished | None = None

    def on_message(self, msg: Message) -> list[Message]:
        view = view_of(msg)
        if msg.get("type") == "joined":
            player = msg.get("player")
            self.me = player if isinstance(player, int) else None
            self._acted = self._finished = None
        if view is None:
            return []
        self.view = view
        if self._finished is None:
            self._finished = self.outcome(view)
        if self._finished is not None or self.me is None:
            return []
        key = self.turn_key(view)
        if key is None or key == self._acted:
            return []
        move = self.decide(view)
        if move is None:
            return []
        self._acted = key
        return [move]

    def act(self) -> list[Message]:
        return []

    @property
    def finished(self) -> Finished | None:
        return self._finished

    @property
    def score(self) -> int | None:
        return None

    # What a game's policy fills in:

    def decide(self, view: Mapping[str, Any]) -> Message | None:
        """The message to send for this view, or None (not our turn)."""
        raise NotImplementedError

    def turn_key(self, view: Mapping[str, Any]) -> Any:
        """What identifies one turn of ours: a move is sent once per distinct key (None:
        nothing to do now). The default is the whole view."""
        return repr(sorted(view.items()))

    def outcome(self, view: Mapping[str, Any]) -> Finished | None:
        """`Finished` once this player's match is over in `view`."""
        raise NotImplementedError


class DicePolicy(TurnPolicy):
    """Liar's Dice with `client.dice_brain`. It does not say `ready` at once (two ready bots
    would start a match below the table's `start_players`): only after the table has waited
    `ready_after` seconds with at least two seated. Its match ends when the table's does."""

    interval: float | None = 1.0  # only to notice a table that waits

    def __init__(self, rng: random.Random, *, ready_after: float = 3.0) -> None:
        super().__init__(rng)
        self.ready_after = ready_after
        self._waited = 0.0

    def decide(self, view: Mapping[str, Any]) -> Message | None:
        if view.get("status") != "playing":
            return None
        move = dice_brain.decide(view, self.rng)
        return None if move is None else {"type": move[0], **move[1]}

    def turn_key(self, view: Mapping[str, Any]) -> Any:
        if view.get("status") != "playing" or view.get("turn") != self.me:
            return None
        return (view.get("round"), view.get("turn_number"))

    def outcome(self, view: Mapping[str, Any]) -> Finished | None:
        # Out of dice is not the end: the room reports the placements when the match ends,
        # for the players still in it, so a bot stays to watch the end.
        if view.get("status") != "finished":
            return None
        return Finished(won=view.get("winner") == self.me)

    def on_message(self, msg: Message) -> list[Message]:
        if msg.get("type") == "joined":
            self._waited = 0.0
        return super().on_message(msg)

    def act(self) -> list[Message]:
        view = self.view
        if view is None or view.get("status") != "waiting" or self._finished is not None:
            self._waited = 0.0
            return []
        players = view.get("players", ())
        mine = next((p for p in players if p.get("id") == self.me), None)
        if mine is None or mine.get("ready") or len(players) < 2:
            self._waited = 0.0
            return []
        self._waited += self.interval or 0.0
        if self._waited < self.ready_after:
            return []
        self._waited = 0.0
        return [{"type": "ready"}]


class TicTacToePolicy(TurnPolicy):
    """Tic-tac-toe with the example game's own bot, `arena_tictactoe.bot.choose_cell`."""

    def __init__(self, rng: random.Random,
                 choose_cell: Callable[[Mapping[str, Any], int], int | None]) -> None:
        super().__init__(rng)
        self._choose = choose_cell

    def decide(self, view: Mapping[str, Any]) -> Message | None:
        assert self.me is not None
        cell = self._choose(view, self.me)
        return None if cell is None else {"type": "move", "cell": cell}

    def turn_key(self, view: Mapping[str, Any]) -> Any:
        if view.get("status") != "playing" or view.get("turn") != self.me:
            return None
        return tuple(view.get("board", ()))

    def outcome(self, view: Mapping[str, Any]) -> Finished | None:
        if view.get("status") != "finished":
            return None
        winner = view.get("winner")
        return Finished(won=winner == self.me, draw=winner is None)


def tictactoe_policy(rng: random.Random) -> TicTacToePolicy:
    """The tic-tac-toe policy; the game is an installed example (examples/tictactoe)."""
    try:
        from arena_tictactoe.bot import choose_cell
    except ImportError as exc:
        raise PolicyError(
            "the tictactoe policy needs the arena_tictactoe package: "
            f"pip install -e examples/tictactoe ({exc})") from exc
    return TicTacToePolicy(rng, choose_cell)


# -- which policy plays which mode --------------------------------------------------------------

POLICIES: Mapping[str, PolicyFactory] = {
    "arena": ArenaPolicy,
    "dice": DicePolicy,
    "tictactoe": tictactoe_policy,
}


def policy_for(mode: str, reference: str | None = None) -> PolicyFactory:
    """The factory of the policy that plays `mode`: the one `reference` ("module:attr") names,
    else the shipped one. Raises `PolicyError` for a mode without one, listing those known.
    The factory is tried once here, so a policy that cannot be made fails before any bot
    logs in."""
    if reference is not None:
        factory = load_policy(reference)
    elif mode in POLICIES:
        factory = POLICIES[mode]
    else:
        known = ", ".join(sorted(POLICIES))
        raise PolicyError(f"no bot policy for mode {mode!r} (policies: {known}); "
                          "name one with --policy package.module:attr")
    try:
        made = factory(random.Random(0))
    except PolicyError:
        raise
    except Exception as exc:
        raise PolicyError(f"making the policy for mode {mode!r} failed: {exc!r}") from exc
    if not all(callable(getattr(made, name, None)) for name in ("on_message", "act")):
        raise PolicyError(f"{reference or mode}: {made!r} is not a Policy "
                          "(it needs on_message and act)")
    return factory


def load_policy(reference: str) -> PolicyFactory:
    """The policy factory `package.module:attr` names: a callable taking a `random.Random`."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise PolicyError(f"--policy {reference!r}: expected package.module:attribute")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise PolicyError(f"--policy {reference}: cannot import {module_name}: {exc}") from exc
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise PolicyError(f"--policy {reference}: {module_name} has no {attr}") from None
    if not callable(target):
        raise PolicyError(f"--policy {reference} is not callable: {target!r}")
    return target
