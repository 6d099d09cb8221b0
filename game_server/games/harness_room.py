"""The handle a `GameHarness` (games/testing.py) gives its game: `HarnessRoom`, and `Sent`.

`HarnessRoom` is the `RoomHandle` of the harness's game: what the game sends, schedules, sets,
locks, reports, kicks and closes is kept on it for a test to read, and handed to the harness
(`wire`, `on_kick`, `on_close`) where the room would act. Both names are also importable from
games/testing.py, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from game_server.games.api import Outcome
from game_server.games.contract import apply_metadata, farewell, outgoing, timer_delay


@dataclass
class Sent:
    """A message the game sent: to one player (`to`), or to everyone (`to` None)."""

    to: int | None
    kind: str
    body: dict[str, Any]


@dataclass
class HarnessRoom:
    """The `RoomHandle` the harness gives the game; what the game did is kept here."""

    room_id: str
    seed: int
    options: Mapping[str, Any]
    sent: list[Sent] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    locked: bool = False
    outcomes: list[list[Outcome]] = field(default_factory=list)
    timers: dict[str, float] = field(default_factory=dict)  # name -> due time
    now: float = 0.0
    # Where a message goes on the wire: (to, the message), `to` None for every member.
    wire: Callable[[int | None, dict[str, Any]], None] | None = field(default=None, repr=False)
    # What the harness does for `kick(player, reason)` and `close(reason)`.
    on_kick: Callable[[int, str], None] | None = field(default=None, repr=False)
    on_close: Callable[[str], None] | None = field(default=None, repr=False)
    kicked: list[tuple[int, str]] = field(default_factory=list)  # (player, reason)
    closed_with: str | None = None  # the reason of the game's `close`, once it closed
    replies: Mapping[str, str] = field(default_factory=dict)  # the spec's declared replies

    def send(self, player: int, kind: str, body: Mapping[str, Any]) -> None:
        msg = outgoing(kind, body, self.replies)
        self.sent.append(Sent(player, kind, dict(body)))
        if self.wire is not None:
            self.wire(player, msg)

    def send_to(self, players: Iterable[int], kind: str, body: Mapping[str, Any]) -> None:
        msg = outgoing(kind, body, self.replies)
        for player in sorted(set(players)):
            self.sent.append(Sent(player, kind, dict(body)))
            if self.wire is not None:
                self.wire(player, msg)

    def broadcast(self, kind: str, body: Mapping[str, Any]) -> None:
        msg = outgoing(kind, body, self.replies)
        self.sent.append(Sent(None, kind, dict(body)))
        if self.wire is not None:
            self.wire(None, msg)

    def schedule(self, name: str, delay: float) -> None:
        self.timers[name] = self.now + timer_delay(delay)

    def cancel(self, name: str) -> None:
        self.timers.pop(name, None)

    def set_metadata(self, **values: str | int | float | bool | None) -> None:
        apply_metadata(self.metadata, values)

    def lock(self) -> None:
        self.locked = True

    def unlock(self) -> None:
        self.locked = False

    def report(self, outcomes: list[Outcome]) -> None:
        self.outcomes.append(list(outcomes))

    def kick(self, player: int, reason: str) -> None:
        reason = farewell(reason)
        self.kicked.append((player, reason))
        if self.on_kick is not None:
            self.on_kick(player, reason)

    def close(self, reason: str) -> None:
        reason = farewell(reason)
        self.closed_with = reason
        if self.on_close is not None:
            self.on_close(reason)
