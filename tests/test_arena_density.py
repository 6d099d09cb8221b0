"""The arena puts others in view within seconds (issue #22): ten bots (client.bots, in process)
play a real server; at 10 s and 20 s of game time (ticks, not the wall clock) each player counts
the others inside a desktop view around it (1040 x 650 world units at the start zoom, the page's
camera: client/web/render/canvas.js). Before the tuning the 3000 x 3000 world showed about 0.7.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from client.bots import run_bots
from game_server.app import ArenaServer
from game_server.games.arena_rules import ArenaRules
from tests.conftest import make_config

# Measures rates, timing or memory: runs alone, after the parallel part of `make test`.
pytestmark = pytest.mark.serial

VIEW_WIDTH, VIEW_HEIGHT = 1040.0, 650.0
BOTS = 10
MIN_AVERAGE_IN_VIEW = 1.0  # measured 1.5 to 1.6 (seed 7); before the tuning, 0.2 and 0.4


def others_in_view(players: list[list]) -> float:
    """The average number of others alive inside the view around each player alive."""
    alive = [(p[2], p[3]) for p in players if p[6]]
    if not alive:
        return 0.0
    seen = 0
    for x, y in alive:
        seen += sum(1 for ox, oy in alive
                    if abs(ox - x) <= VIEW_WIDTH / 2 and abs(oy - y) <= VIEW_HEIGHT / 2) - 1
    return seen / len(alive)


def test_the_start_speed_crosses_half_a_view_in_a_few_seconds() -> None:
    rules = ArenaRules()
    assert VIEW_WIDTH / 2 / rules.speed(rules.start_mass) <= 6.5


@pytest.mark.asyncio
async def test_ten_bots_see_others_at_10_and_20_seconds(tmp_path: Path) -> None:
    srv = ArenaServer(make_config(tmp_path))
    await srv.start()
    stop = asyncio.Event()
    try:
        bots = asyncio.ensure_future(run_bots(srv.url, BOTS, 120.0, seed=7, stop=stop))
        seen: dict[int, float] = {}

        async def sample() -> None:
            while len(seen) < 2:
                rooms = [r for r in srv.matchmaker.rooms() if r.player_count >= BOTS]
                if rooms:
                    world = rooms[0].game.world
                    for at in (200, 400):  # 10 s and 20 s at 20 ticks a second
                        if at not in seen and world.tick >= at:
                            seen[at] = others_in_view(world.full_state()["players"])
                await asyncio.sleep(0.05)

        await asyncio.wait_for(sample(), timeout=90)
        stop.set()
        await bots
    finally:
        stop.set()
        await srv.stop()
    print(f"others in view: {seen}")
    assert min(seen.values()) >= MIN_AVERAGE_IN_VIEW, seen
