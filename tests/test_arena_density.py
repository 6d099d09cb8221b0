"""The arena puts others in view within seconds (issue #22): ten bots playing with the bots'
own policy (client/policies.py `ArenaPolicy`, as `client.bots` plays) in a room driven tick by
tick (`GameHarness`, no network: the same inputs at the same ticks every run); around 10 s and
20 s of game time each player counts the others inside a desktop view around it (1040 x 650
world units at the start zoom, the page's camera: client/web/render/canvas.js). Before the
tuning the 3000 x 3000 world showed about 0.7, and two snapshots of one room (0.2 and 0.4)
said "now and then".

One snapshot of one room swings from 0.3 to 3 with where ten bots happen to be, so the test
averages what players see over the two seconds around each moment, in five seeded rooms; the
scenario is seeded, so the numbers are the same on every run and machine.
"""

from __future__ import annotations

import random

import orjson

from client.policies import ArenaPolicy
from game_server.games.arena_mode import arena_spec
from game_server.games.arena_rules import ArenaRules
from game_server.games.testing import GameHarness

VIEW_WIDTH, VIEW_HEIGHT = 1040.0, 650.0
BOTS = 10
RATE = 20  # ticks a second, the arena's default
ROOMS = (1, 2, 3, 4, 5)  # the seeds of the rooms (and of their bots' policies)
MOMENTS = (10, 20)  # seconds of game time
WINDOW = 1.0  # seconds either side of each moment
EVERY = 4  # ticks between two samples (5 a second)
MIN_AVERAGE_IN_VIEW = 1.0  # measured 1.74 at 10 s, 1.57 at 20 s; the 3000 x 3000 world: 0.40, 0.47


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


def play_room(seed: int) -> dict[int, list[float]]:
    """Ten policy bots in a seeded arena room for the last moment plus the window: per moment,
    the others in view sampled every `EVERY` ticks over the window around it."""
    room = GameHarness(arena_spec(), seed=seed)
    bots = []
    for i in range(BOTS):
        player = room.join(f"bot-{i}")
        bots.append((player, ArenaPolicy(random.Random(seed * 100 + i)), [0]))
    samples: dict[int, list[float]] = {moment: [] for moment in MOMENTS}
    last = int((MOMENTS[-1] + WINDOW) * RATE)
    for tick in range(1, last + 1):
        for player, policy, read in bots:
            inbox = room._inboxes[player]  # what its socket would have carried, in order
            for data in inbox[read[0]:]:
                policy.on_message(orjson.loads(data))
            read[0] = len(inbox)
            if tick % (RATE // 10) == 0:  # 10 inputs a second, as a bot or a browser sends
                for msg in policy.act():
                    room.send(player, msg["type"], **{k: v for k, v in msg.items()
                                                      if k != "type"})
        room.advance(1 / RATE)
        for moment in MOMENTS:
            if abs(tick - moment * RATE) <= WINDOW * RATE and tick % EVERY == 0:
                samples[moment].append(others_in_view(room.game.world.full_state()["players"]))
    return samples


def test_ten_bots_see_others_around_10_and_20_seconds() -> None:
    seen: dict[int, list[float]] = {moment: [] for moment in MOMENTS}
    for seed in ROOMS:
        for moment, values in play_room(seed).items():
            seen[moment].extend(values)
    averages = {moment: sum(values) / len(values) for moment, values in seen.items()}
    print(f"others in view: {averages}")
    assert all(len(values) == len(ROOMS) * 11 for values in seen.values())
    assert min(averages.values()) >= MIN_AVERAGE_IN_VIEW, averages
