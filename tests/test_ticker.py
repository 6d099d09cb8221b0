"""The IOLoop scheduler: rooms' repeating timers share PeriodicCallbacks a few at a time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
import uvloop

from game_server.config import Config
from game_server.engine.ticker import LOAD_WINDOW, IOLoopScheduler

PERIOD = 0.01


class Calls:
    """Records which timers ran, and wakes a waiter after a number of runs."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self._wanted = 0
        self._event = asyncio.Event()

    def timer(self, name: str, then: object = None):  # type: ignore[no-untyped-def]
        def callback() -> int:
            self.order.append(name)
            if callable(then):
                then()
            if len(self.order) >= self._wanted:
                self._event.set()
            return 1  # like Room.tick: a number Tornado must never be shown
        return callback

    async def wait_for(self, count: int) -> None:
        self._wanted = len(self.order) + count
        self._event.clear()
        if len(self.order) < self._wanted:
            await asyncio.wait_for(self._event.wait(), 5.0)


async def test_timers_fill_groups_of_the_given_size_and_empty_groups_go() -> None:
    scheduler = IOLoopScheduler(group_size=4)
    calls = Calls()
    timers = [scheduler.every(PERIOD, calls.timer(str(i))) for i in range(6)]
    assert scheduler.groups(PERIOD) == [4, 2]
    assert scheduler.groups(PERIOD * 2) == []
    other = scheduler.every(PERIOD * 2, calls.timer("slow"))
    assert scheduler.groups(PERIOD * 2) == [1]  # another interval, another group
    timers[1].cancel()
    timers[1].cancel()  # idempotent
    assert scheduler.groups(PERIOD) == [3, 2]
    timers.append(scheduler.every(PERIOD, calls.timer("6")))  # the oldest group with room
    assert scheduler.groups(PERIOD) == [4, 2]
    timers[4].cancel()
    timers[5].cancel()
    assert scheduler.groups(PERIOD) == [4]
    for timer in (*timers, other):
        timer.cancel()
    assert scheduler.groups(PERIOD) == [] and scheduler.groups(PERIOD * 2) == []
    calls.order.clear()
    await asyncio.sleep(PERIOD * 3)  # no callback of a cancelled timer runs any more
    assert calls.order == []


async def test_a_group_runs_its_timers_back_to_back_in_joining_order() -> None:
    scheduler = IOLoopScheduler(group_size=3)
    calls = Calls()
    timers = [scheduler.every(PERIOD, calls.timer(name)) for name in "abc"]
    await calls.wait_for(6)
    assert calls.order[:6] == ["a", "b", "c", "a", "b", "c"]
    for timer in timers:
        timer.cancel()


async def test_a_timer_cancelled_by_an_earlier_one_in_the_same_run_is_not_called() -> None:
    scheduler = IOLoopScheduler(group_size=3)
    calls = Calls()
    victim: list = []
    first = scheduler.every(PERIOD, calls.timer("a", then=lambda: victim[0].cancel()))
    victim.append(scheduler.every(PERIOD, calls.timer("b")))
    last = scheduler.every(PERIOD, calls.timer("c"))
    await calls.wait_for(4)
    assert "b" not in calls.order
    assert calls.order[:4] == ["a", "c", "a", "c"]
    first.cancel()
    last.cancel()


async def test_a_failing_timer_is_logged_and_the_rest_of_its_group_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = IOLoopScheduler(group_size=3)
    calls = Calls()

    def broken() -> None:
        calls.order.append("broken")
        raise RuntimeError("boom")

    timers = [scheduler.every(PERIOD, broken), scheduler.every(PERIOD, calls.timer("after"))]
    with caplog.at_level(logging.ERROR, logger="arena.ticker"):
        await calls.wait_for(4)
    assert calls.order[:4] == ["broken", "after", "broken", "after"]
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    for timer in timers:
        timer.cancel()


async def test_group_size_one_gives_each_timer_its_own_callback() -> None:
    scheduler = IOLoopScheduler(group_size=1)
    calls = Calls()
    timers = [scheduler.every(PERIOD, calls.timer(str(i))) for i in range(3)]
    assert scheduler.groups(PERIOD) == [1, 1, 1]
    await calls.wait_for(3)
    for timer in timers:
        timer.cancel()
    assert scheduler.groups(PERIOD) == []


def test_a_group_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="group_size"):
        IOLoopScheduler(group_size=0)
    with pytest.raises(ValueError, match="--tick-group"):
        Config(cookie_secret="x" * 32, tick_group=0).validate()


# Long enough that a run starts well within its LATE_LIMIT on a busy machine.
ON_TIME_PERIOD = 0.1


def idle() -> float:
    """A process CPU clock that never moves: the scheduler sees an idle process."""
    return 0.0


async def test_the_event_loop_gets_a_turn_between_two_timers_of_a_group() -> None:
    # What arrived meanwhile (a ping) waits for one room's tick, not the whole group's.
    scheduler = IOLoopScheduler(group_size=2, cpu_time=idle)
    calls = Calls()
    loop = asyncio.get_running_loop()
    timers = [
        scheduler.every(ON_TIME_PERIOD, calls.timer("a", then=lambda: loop.call_soon(
            calls.order.append, "io"))),
        scheduler.every(ON_TIME_PERIOD, calls.timer("b")),
    ]
    await calls.wait_for(2)
    for timer in timers:
        timer.cancel()
    assert calls.order[:3] == ["a", "io", "b"]


async def test_a_run_that_starts_late_runs_its_timers_back_to_back() -> None:
    # A saturated loop (here: a room whose tick outlasts the period, so the next slot is
    # missed) gets no extra turns.
    scheduler = IOLoopScheduler(group_size=2, cpu_time=idle)
    calls = Calls()
    loop = asyncio.get_running_loop()

    def slow_then_io() -> None:
        time.sleep(ON_TIME_PERIOD * 1.3)
        loop.call_soon(calls.order.append, "io")

    timers = [scheduler.every(ON_TIME_PERIOD, calls.timer("a", then=slow_then_io)),
              scheduler.every(ON_TIME_PERIOD, calls.timer("b"))]
    await calls.wait_for(4)
    for timer in timers:
        timer.cancel()
    await asyncio.sleep(0)  # the second run's "io"
    assert calls.order[:6] == ["a", "io", "b", "a", "b", "io"]


async def test_a_busy_process_runs_a_groups_timers_back_to_back() -> None:
    # Over busy_share of a core (here a CPU clock that runs with the wall clock: 100%), the
    # sockets wait for the whole group, as the game's caches stay warm that way.
    scheduler = IOLoopScheduler(group_size=2, cpu_time=time.monotonic)
    calls = Calls()
    loop = asyncio.get_running_loop()
    timers = [
        scheduler.every(PERIOD * 5, calls.timer("a", then=lambda: loop.call_soon(
            calls.order.append, "io"))),
        scheduler.every(PERIOD * 5, calls.timer("b")),
    ]
    await calls.wait_for(3 * round(LOAD_WINDOW / (PERIOD * 5)) + 9)  # a window, then 3 runs
    for timer in timers:
        timer.cancel()
    await asyncio.sleep(0)
    runs = [calls.order[i:i + 3] for i in range(0, len(calls.order) - 2, 3)]
    assert runs[0] == ["a", "io", "b"]  # before a whole window was measured: idle
    assert runs[-1] == ["a", "b", "io"]


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop],
                         ids=["asyncio", "uvloop"])
def test_a_run_that_outlasts_its_period_is_not_started_again_before_it_ends(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    # A room overruns with two more still to come: the period comes round in between.
    async def main() -> list[str]:
        scheduler = IOLoopScheduler(group_size=4, cpu_time=idle)
        calls = Calls()
        slow = calls.timer("b", then=lambda: time.sleep(PERIOD * 1.5))  # a room that overruns
        timers = [scheduler.every(PERIOD, calls.timer(name) if name != "b" else slow)
                  for name in "abcd"]
        await calls.wait_for(12)
        for timer in timers:
            timer.cancel()
        return calls.order

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        order = runner.run(main())
    assert order[:12] == ["a", "b", "c", "d"] * 3
