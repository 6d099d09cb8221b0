"""Bot decision logic: where a bot steers next, from its `World` alone (pure, no I/O).

Priorities, cheapest sensible play first: flee the nearest player big enough to eat us, else chase
a nearby player small enough to eat, else head for the nearest pellet, else wander.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from client.world import PlayerView, World

Direction = tuple[float, float]

STOP: Direction = (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Tactics:
    """Tunable distances and ratios; the defaults suit the 3000 x 3000 arena.

    Distances are gaps between the edges of the two circles, so they scale with size.
    """

    eat_ratio: float = 1.25  # a player this many times heavier can eat the other
    danger_gap: float = 300.0  # flee a threat whose edge is closer than this
    chase_gap: float = 400.0  # chase prey whose edge is closer than this
    wall_margin: float = 200.0  # beyond our own radius: how close to a wall counts as near
    wander_spread: float = 0.25  # wander targets lie within this fraction of the world's size


DEFAULT_TACTICS = Tactics()


def decide(world: World, rng: random.Random, tactics: Tactics = DEFAULT_TACTICS) -> Direction:
    """Return a unit direction to steer toward, or (0, 0) when we are dead or unknown."""
    me = world.me_view
    if me is None or not me.alive:
        return STOP
    my_radius = world.radius(me.mass)
    threat, prey = _nearest_threat_and_prey(world, me, my_radius, tactics)
    if threat is not None:
        return _flee(world, me, threat, my_radius, rng, tactics)
    if prey is not None:
        toward = _unit(prey.x - me.x, prey.y - me.y)
        if toward is not None:
            return toward
    pellet = nearest_pellet(world, me.x, me.y)
    if pellet is not None:
        toward = _unit(pellet[0] - me.x, pellet[1] - me.y)
        if toward is not None:
            return toward
    return _wander(world, me, rng, tactics)


def nearest_pellet(world: World, x: float, y: float) -> tuple[int, int] | None:
    """The position of the pellet closest to (x, y), or None when there are none."""
    best = None
    best_d2 = math.inf
    for pos in world.pellets.values():
        dx = pos[0] - x
        dy = pos[1] - y
        d2 = dx * dx + dy * dy
        if d2 < best_d2:
            best_d2 = d2
            best = pos
    return best


# -- private helpers -----------------------------------------------------------------------------


def _nearest_threat_and_prey(
    world: World, me: PlayerView, my_radius: float, tactics: Tactics
) -> tuple[PlayerView | None, PlayerView | None]:
    """One pass over the players: the closest threat in danger range and closest prey in range."""
    threat = prey = None
    threat_gap = tactics.danger_gap
    prey_gap = tactics.chase_gap
    ratio = tactics.eat_ratio
    for other in world.players.values():
        if other.id == me.id or not other.alive:
            continue
        is_threat = other.mass >= ratio * me.mass
        is_prey = me.mass >= ratio * other.mass
        if not (is_threat or is_prey):
            continue
        gap = math.hypot(other.x - me.x, other.y - me.y) - my_radius - world.radius(other.mass)
        if is_threat and gap < threat_gap:
            threat, threat_gap = other, gap
        elif is_prey and gap < prey_gap:
            prey, prey_gap = other, gap
    return threat, prey


def _flee(
    world: World,
    me: PlayerView,
    threat: PlayerView,
    my_radius: float,
    rng: random.Random,
    tactics: Tactics,
) -> Direction:
    """Run straight away from `threat`, but slide along a wall instead of pushing into it."""
    away = _unit(me.x - threat.x, me.y - threat.y) or _random_unit(rng)
    margin = tactics.wall_margin + my_radius
    # Each push is in [-1, 1]: positive means "the wall is on the low side, go up".
    push = (_wall_push(me.x, world.width, margin), _wall_push(me.y, world.height, margin))
    dx, dy = _damp_into_walls(away, push)
    strength = math.hypot(dx, dy)
    if strength >= 0.5:
        return (dx / strength, dy / strength)
    # Pinned against a wall: escape sideways, toward the side with more room.
    side = _perpendicular_toward(away, world.width / 2 - me.x, world.height / 2 - me.y)
    escape = (dx + side[0] * (1.0 - strength), dy + side[1] * (1.0 - strength))
    return _unit(*_damp_into_walls(escape, push)) or side


def _damp_into_walls(direction: Direction, push: Direction) -> Direction:
    """Shrink each component that points into a nearby wall, to nothing right at the wall."""
    dx, dy = direction
    if push[0] * dx < 0:
        dx *= 1.0 - abs(push[0])
    if push[1] * dy < 0:
        dy *= 1.0 - abs(push[1])
    return (dx, dy)


def _wall_push(pos: float, size: float, margin: float) -> float:
    """How hard a wall pushes back at `pos` on an axis of length `size` (0 when far from both)."""
    if size <= 0 or margin <= 0:
        return 0.0
    if pos < margin:
        return min(1.0, (margin - pos) / margin)
    if pos > size - margin:
        return -min(1.0, (pos - (size - margin)) / margin)
    return 0.0


def _perpendicular_toward(direction: Direction, tx: float, ty: float) -> Direction:
    """The perpendicular of `direction` that points more toward (tx, ty)."""
    left = (-direction[1], direction[0])
    if left[0] * tx + left[1] * ty >= 0:
        return left
    return (direction[1], -direction[0])


def _wander(world: World, me: PlayerView, rng: random.Random, tactics: Tactics) -> Direction:
    """Drift toward a random spot around the middle of the world, away from walls."""
    spread_x = world.width * tactics.wander_spread
    spread_y = world.height * tactics.wander_spread
    tx = world.width / 2 + rng.uniform(-spread_x, spread_x)
    ty = world.height / 2 + rng.uniform(-spread_y, spread_y)
    return _unit(tx - me.x, ty - me.y) or _random_unit(rng)


def _unit(dx: float, dy: float) -> Direction | None:
    """(dx, dy) scaled to length 1, or None when it is too short to have a direction."""
    length = math.hypot(dx, dy)
    if length < 1e-9:
        return None
    return (dx / length, dy / length)


def _random_unit(rng: random.Random) -> Direction:
    angle = rng.uniform(0.0, math.tau)
    return (math.cos(angle), math.sin(angle))
