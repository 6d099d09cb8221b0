"""The room's clock: the tick that steps its game and sends one state, and how a state goes out.

`RoomClock` is mixed into `Room` (engine/room.py). A ticking room's `tick` steps its game a
whole number of fixed steps for the time elapsed, measured against a monotonic clock on a fixed
grid (a late tick catches up, with a cap), then builds one `state` message and hands it to the
room's `StateFanout` (engine/fanout.py), which encodes it once and writes the same bytes to
every member, slow readers aside (`_resync` is their catch-up state). `run_steps` is a tick
without its clock, for replays (journal/replay.py). An event-driven room sends a state after
every accepted event instead (`_after_event`). While a seat is held, resumed or let go, the
next state carries who is away (`_deliver_away`, swapped in for `_deliver` for one state).
The tick is the hot path: every method here is called directly, no layer in between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from game_server.games.api import Changes
from protocol import messages
from protocol.codec import encode

if TYPE_CHECKING:
    from game_server.engine.fanout import RoomStats, StateFanout
    from game_server.engine.metrics import EngineCounters, TickObserver
    from game_server.engine.recorder import Recorder
    from game_server.engine.roomcost import RoomCost
    from game_server.games.api import Game

log = logging.getLogger("arena.room")


class RoomClock:
    """When a room's game steps and its states go out (mixed into `Room`): the tick, a
    replay's steps, the state sent after an event, the delivery of a state to the fanout."""

    # What the room provides (engine/room.py), besides `fail`, `_journal_hash`,
    # `_deliver_latest` and `_latest` (RoomRules, RoomRecording).
    id: str
    game: Game
    ticking: bool
    closed: bool
    dt: float
    ticks: int
    stats: RoomStats
    cost: RoomCost | None
    _held: Mapping[int, Any]
    _fanout: StateFanout
    _observer: TickObserver
    _counters: EngineCounters
    _journal: Recorder | None
    _journal_t0: float
    _next_hash: int
    _monotonic: Callable[[], float]
    _wall: Callable[[], float]
    _last: float | None
    _due: float
    _max_catchup: int

    def _after_event(self) -> None:
        """An event-driven room sends a state after every event; a ticking one waits."""
        if not self.ticking and not self.closed:
            try:
                changes = self.game.changes()
            except Exception:
                log.exception("room %s: game failed building its state", self.id)
                self.fail("the room's game failed")
                return
            self.ticks += 1
            self._deliver(changes, self._monotonic())
            if self._journal is not None:
                self._journal_hash()

    def tick(self) -> int:
        """Step the game for the time elapsed and broadcast one state; return the steps taken."""
        if self.closed:
            return 0
        started = time.perf_counter()
        now = self._monotonic()
        dt = self.dt
        last = self._last
        if last is None:  # the first tick: one step, and the grid of lateness starts here
            steps = 1
            self._due = now
        else:
            # The periods since the previous tick, rounded: the timer runs on a fixed grid, so
            # a late tick (a step more) is followed by an early one (a step less) only if the
            # count carried a remainder; rounding each interval carries none, so jitter of up
            # to half a period never costs a state, whatever phase the timer has.
            steps = int((now - last) / dt + 0.5)
            if steps <= 0:
                return 0  # called again within half a period: the next tick takes this time
        self._last = now
        lateness = now - self._due
        # Follow the grid like PeriodicCallback: slots missed while late are skipped.
        self._due += dt if lateness < dt else dt * (1 + int(lateness // dt))
        counters = self._counters
        stats = self.stats
        if steps > self._max_catchup:
            # Too far behind (a stall, a suspended machine): skip ahead rather than spiral.
            stats.dropped_steps += steps - self._max_catchup
            counters.steps_dropped += steps - self._max_catchup
            steps = self._max_catchup
        kept = self._journal_kept
        if kept is not None:  # recording: the tick kept as minus its steps, then its time
            kept.append(-steps)
            kept.append(str(int((now - self._journal_t0) * 1000)))
        if not self.run_steps(steps, now):
            return 0
        if steps > 1:
            stats.catchup_steps += steps - 1
            counters.steps_caught_up += steps - 1
        elapsed = time.perf_counter() - started
        if self.cost is not None:
            self.cost.ticked(elapsed, dt)
        overrun = elapsed > dt or lateness > dt
        if overrun:
            counters.ticks_overrun += 1
        self._observer.tick(duration=elapsed, lateness=lateness, overrun=overrun)
        return steps

    def run_steps(self, steps: int, now: float) -> bool:
        """One tick's work without its clock: the kept `latest_only` inputs, `steps` steps,
        one state sent. False if the game failed (the room is closed). `tick` measures the
        steps; a replay (journal/replay.py) runs the number it recorded."""
        game = self.game
        try:
            if self._latest:
                self._deliver_latest()
            step = game.on_step
            dt = self.dt
            for _ in range(steps):
                step(dt)
            self.ticks += steps
            changes = game.changes()
        except Exception:
            log.exception("room %s: game failed; closing the room", self.id)
            self.fail("the room's game failed")
            return False
        self._deliver(changes, now)
        if self._journal is not None and self.ticks >= self._next_hash:
            self._journal_hash()
        return True

    def _deliver(self, changes: Changes, now: float) -> None:
        self._fanout.send(self.ticks, int(self._wall() * 1000), changes.shared, changes.private,
                          now)

    def _away_changed(self) -> None:
        """A seat was held, resumed or let go: the next state says who is away. `_deliver` is
        swapped for `_deliver_away` until then, so that ticks with no change pay nothing."""
        self.__dict__["_deliver"] = self._deliver_away

    def _deliver_away(self, changes: Changes, now: float) -> None:
        """`_deliver`, the state carrying `away`: the player ids of the held seats."""
        del self.__dict__["_deliver"]
        away = list(self._held)
        private: Mapping[int, Mapping[str, Any]] = changes.private
        if private:
            # A view shared by several players stays one object (the fanout encodes it once).
            views: dict[int, Mapping[str, Any]] = {}
            private = {player: views.get(id(view)) or views.setdefault(
                id(view), {**view, "away": away}) for player, view in private.items()}
        self._fanout.send(self.ticks, int(self._wall() * 1000), {**changes.shared, "away": away},
                          private, now)

    def _resync(self, player_id: int, ts: int) -> bytes:
        """The full state a slow reader gets once it has caught up (with who is away: the
        states it skipped may have said so)."""
        return encode(messages.state(tick=self.ticks, ts=ts, changes={
            "full": self.game.view(player_id), "away": list(self._held)}))
