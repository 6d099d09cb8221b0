"""How a bot plays a mode: a `Policy` reads every server message and says what to send.

A policy is the game-specific part of a bot; everything else (login, join by mode with options,
redirects, reconnecting, pings, the report) is `client.bots` and the same for every game. Each
`Bot` has its own policy object:

- `on_message(msg)` sees every message the server sends while the bot is seated (`joined`,
  `state`, the game's own messages, `error`, ...) and returns the messages to send now;
- `act()` is called every `interval` seconds by real-time policies (`interval` None: never);
- `finished` becomes a `Finished` once this player's match is over: the bot then leaves the
  room and joins again by mode, so it keeps playing new matches until its run ends;
- `score` is a number worth reporting (the arena's mass), or None;
- optionally `rounds` and `rounds_won`: how many rounds ended (and were won) so far, for a game
  whose match goes on over several rounds in one room: the bot counts them and stays.

Policies are pure: no I/O, their randomness from the `rng` they are made with, so they are
tested without a server and locust users reuse them. `ViewPolicy` keeps the player id, the
latest view and the rounds; on it, `TurnPolicy` is the base for turn-based games (it asks
`decide` once per turn; the bot sends the answer `think` seconds later, as a person's would)
and `RealtimePolicy` the base for real-time ones (it asks `steer` every `interval` seconds).

`policy_for(mode)` finds a mode's policy: an installed game ships its own as an entry point in
the group `arena.policies` (the name is the mode, the value `package.module:attr` a callable
that takes a `random.Random` and returns a `Policy`); Arena's own games' are built in;
`load_policy("package.module:attr")` names one directly.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

from client import dice_brain
from client.brain import decide as brain_decide
from client.world import World

Message = dict[str, Any]
PolicyFactory = Callable[[random.Random], "Policy"]

ENTRY_POINT_GROUP = "arena.policies"

# Keys the engine adds to a `state` around the game's view (PROTOCOL.md, `state`).
ENVELOPE_KEYS = frozenset({"type", "tick", "ts"})


class PolicyError(Exception):
    """No policy could be had for a mode or a `module:attr` reference; the message says why."""


@dataclass(frozen=True, slots=True)
class Finished:
    """This player's match is over: `won` it, or not (`draw`: nobody won)."""

    won: bool
    draw: bool = False


@dataclass(frozen=True, slots=True)
class Round:
    """A round of a match ended, and the match goes on in the same room. `key` tells rounds
    apart (a round number, say): each distinct key counts once. `won`: this player won it."""

    key: Hashable
    won: bool = False


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
    """The game's view in a `joined` (its `state`), a resync `state` (its `full`) or any other
    `state` (the message without the envelope's keys); None for any other message."""
    kind = msg.get("type")
    if kind == "joined":
        state = msg.get("state")
        return dict(state) if isinstance(state, Mapping) else None
    if kind == "state":
        full = msg.get("full")
        if isinstance(full, Mapping):
            return dict(full)
        return {k: v for k, v in msg.items() if k not in ENVELOPE_KEYS}
    return None


# -- what every policy that follows a view shares -------------------------------------------------


class ViewPolicy:
    """Base of `TurnPolicy` and `RealtimePolicy`: keeps `me` (the player id from `joined`) and
    `view` (the view from `joined`, then from every `state`, through `update`), notices the
    end of the match (`outcome`) and of each round (`round_ended`). A subclass answers a view
    in `on_view` and acts on the clock in `act`."""

    interval: float | None = None

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.me: int | None = None
        self.view: Any = None
        self.rounds = 0  # rounds ended so far (every room), and of those won
        self.rounds_won = 0
        self._round: Hashable = None
        self._finished: Finished | None = None

    def on_message(self, msg: Message) -> list[Message]:
        kind = msg.get("type")
        if kind == "joined":
            player = msg.get("player")
            self.me = player if isinstance(player, int) else None
            self._finished = None
        elif kind != "state":
            return []
        view = self.update(None if kind == "joined" else self.view, msg)
        if view is None:
            return []
        self.view = view
        ended = self.round_ended(view)
        key = None if ended is None else ended.key
        if kind == "joined":
            self._round = key  # a round that ended before we came is not ours
        elif ended is not None and key != self._round:
            self._round = key
            self.rounds += 1
            self.rounds_won += ended.won
        if self._finished is None:
            self._finished = self.outcome(view)
        return self.on_view(view)

    def act(self) -> list[Message]:
        return []

    @property
    def finished(self) -> Finished | None:
        return self._finished

    @property
    def score(self) -> int | None:
        return None

    # What a game's policy may fill in:

    def update(self, view: Any, msg: Message) -> Any:
        """The view after `msg`, a `joined` (`view` is then None) or a `state`. The default
        takes the whole view each message carries (`view_of`); a game whose states carry
        changes rather than whole views applies them to `view` here."""
        return view_of(msg)

    def outcome(self, view: Any) -> Finished | None:
        """`Finished` once this player's match is over in `view`; the default: never."""
        return None

    def round_ended(self, view: Any) -> Round | None:
        """The last round that ended in `view`, for a game whose match has rounds (the bot
        counts each new one and stays in the room); the default: None, no rounds."""
        return None

    def on_view(self, view: Any) -> list[Message]:
        """The messages to send now for the view just updated; the default: none."""
        return []


# -- real time ----------------------------------------------------------------------------------


class RealtimePolicy(ViewPolicy):
    """Base of real-time policies: every `interval` seconds, once seated and with a view, the
    bot sends what `steer(view)` says (a browser sends its input about as often)."""

    interval: float | None = 0.1

    def act(self) -> list[Message]:
        if self.me is None or self.view is None or self._finished is not None:
            return []
        return self.steer(self.view)

    def steer(self, view: Any) -> list[Message]:
        """The messages to send now (usually one input), given the latest view."""
        raise NotImplementedError


class ArenaPolicy(RealtimePolicy):
    """The arena: its view is a `World` built from the states' deltas, steered by
    `client.brain` 10 times a second. While dead the brain says (0, 0) every time; that is
    sent once."""

    interval: float | None = 0.1  # 10 inputs a second, as a browser would send

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.world = World()
        self._seq = 0
        self._last: tuple[float, float] | None = None

    def update(self, view: Any, msg: Message) -> World:
        if msg.get("type") == "joined":
            self.world.apply_joined(msg)
            self._last = None  # tell the new room where we head at once
        else:
            self.world.apply_state(msg)
        return self.world

    def steer(self, view: World) -> list[Message]:
        dx, dy = brain_decide(view, self.rng)
        if (dx, dy) == self._last == (0.0, 0.0):
            return []
        self._seq += 1
        self._last = (dx, dy)
        return [{"type": "input", "seq": self._seq, "dx": round(dx, 4), "dy": round(dy, 4)}]

    @property
    def score(self) -> int | None:
        me = self.world.me_view
        return me.mass if me is not None else None


# -- turn-based games ---------------------------------------------------------------------------


class TurnPolicy(ViewPolicy):
    """Base of event-driven policies: sends what `decide(view)` says at most once per
    `turn_key(view)`, so states sent for other events (a drop, a chat) during our turn do not
    repeat a move. A refused move is not retried: the game's turn clock moves on. The bot sends
    the answers `think` seconds later: a bot at machine speed would hit the server's rate limit
    within a few matches."""

    think: float = 0.1

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self._acted: Any = None

    def on_message(self, msg: Message) -> list[Message]:
        if msg.get("type") == "joined":
            self._acted = None
        return super().on_message(msg)

    def on_view(self, view: Mapping[str, Any]) -> list[Message]:
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

    def round_ended(self, view: Mapping[str, Any]) -> Round | None:
        # A challenge ends a round: its reveal names the round, the hands of those who played
        # it and the one who lost a die; the others won it.
        reveal = view.get("reveal")
        if not isinstance(reveal, Mapping):
            return None
        played = any(hand.get("player") == self.me for hand in reveal.get("hands", ()))
        return Round(reveal.get("round"), won=played and reveal.get("loser") != self.me)

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


# -- which policy plays which mode --------------------------------------------------------------

# Arena's own games; installed games ship theirs as `arena.policies` entry points.
BUILT_IN: Mapping[str, PolicyFactory] = {
    "arena": ArenaPolicy,
    "dice": DicePolicy,
}


def known_modes() -> list[str]:
    """The modes a policy can be found for without `--policy`: built in, or installed."""
    return sorted({*BUILT_IN, *(entry.name for entry in entry_points(group=ENTRY_POINT_GROUP))})


def policy_for(mode: str, reference: str | None = None) -> PolicyFactory:
    """The factory of the policy that plays `mode`: the one `reference` ("module:attr") names,
    else the one an installed package declares for `mode` in the `arena.policies` entry-point
    group, else Arena's own. Raises `PolicyError` for a mode without one, listing those known.
    The factory is tried once here, so a policy that cannot be made fails before any bot
    logs in."""
    if reference is not None:
        factory = load_policy(reference)
    else:
        factory = _installed(mode) or BUILT_IN.get(mode)
        if factory is None:
            raise PolicyError(f"no bot policy for mode {mode!r} (policies: "
                              f"{', '.join(known_modes())}); an installed game ships one as an "
                              f"{ENTRY_POINT_GROUP!r} entry point, or name one with "
                              "--policy package.module:attr")
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


def _installed(mode: str) -> PolicyFactory | None:
    """The policy an installed package declares for `mode`, or None; two are an error."""
    found = [entry for entry in entry_points(group=ENTRY_POINT_GROUP) if entry.name == mode]
    if not found:
        return None
    values = sorted({entry.value for entry in found})
    if len(values) > 1:
        raise PolicyError(f"two installed policies for mode {mode!r}: {', '.join(values)}")
    where = f"the {mode} policy ({values[0]}, an {ENTRY_POINT_GROUP!r} entry point)"
    try:
        target = found[0].load()
    except Exception as exc:
        raise PolicyError(f"{where} cannot be loaded: {exc}") from exc
    if not callable(target):
        raise PolicyError(f"{where} is not callable: {target!r}")
    return target


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
