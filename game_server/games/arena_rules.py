"""The Arena game's constants and the state it keeps for each player.

`ArenaRules` holds every gameplay constant in one place; `PlayerState` is one player as
`ArenaGame` (games/arena.py) steps it. Pure data, no behaviour beyond derived values.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ArenaRules:
    """Every constant of the game, in one place."""

    # Sized so that a room's players meet: ten players in 1600 x 1600 put one or two others in
    # a desktop view (1040 x 650 units) at any time, where 3000 x 3000 showed under one; pellets
    # over twice as dense as before, so circling for a while grows you. This is the world of a
    # room of `seats` seats; `for_seats` scales it to other rooms, the same area per seat.
    world_width: float = 1600.0
    world_height: float = 1600.0
    pellet_count: int = 360
    seats: int = 20
    pellet_radius: float = 5.0
    pellet_mass: int = 1
    start_mass: int = 10
    radius_factor: float = 4.0  # radius = sqrt(mass) * radius_factor
    # speed (units/s) = speed_factor / sqrt(mass): 82 at the start mass (was 63), half a
    # desktop view in about 6 s
    speed_factor: float = 260.0
    eat_ratio: float = 1.25  # eater mass >= eat_ratio * victim mass, and distance < r1 + r2
    respawn_delay: float = 3.0  # seconds a victim stays dead
    leaderboard_size: int = 10
    grid_cell_size: float = 100.0  # side of the spatial hash cells (tuning, not gameplay)

    def __post_init__(self) -> None:
        if not (self.world_width > 0 and self.world_height > 0):
            raise ValueError("the world must have a positive width and height")
        if self.pellet_count < 0 or self.leaderboard_size < 0 or self.respawn_delay < 0:
            raise ValueError("pellet_count, leaderboard_size and respawn_delay must be >= 0")
        if self.start_mass < 1 or self.pellet_mass < 0:
            raise ValueError("start_mass must be >= 1 and pellet_mass >= 0")
        if self.seats < 1:
            raise ValueError("seats must be >= 1")
        if self.eat_ratio <= 1 or self.grid_cell_size <= 0:
            raise ValueError("eat_ratio must be > 1 and grid_cell_size > 0")

    def for_seats(self, seats: int) -> ArenaRules:
        """These rules for a room of `seats` seats: the world and its pellets scaled to the same
        area and density per seat (a 200-seat room is not ten times as crowded), never below
        half the side."""
        scale = max(0.5, math.sqrt(seats / self.seats))
        if scale == 1.0:
            return self
        return dataclasses.replace(
            self, world_width=self.world_width * scale, world_height=self.world_height * scale,
            pellet_count=round(self.pellet_count * scale * scale), seats=seats)

    def radius(self, mass: float) -> float:
        """The radius of a player of this mass."""
        return math.sqrt(mass) * self.radius_factor

    def speed(self, mass: float) -> float:
        """The full speed, in units per second, of a player of this mass."""
        return self.speed_factor / math.sqrt(mass)


@dataclass(slots=True, kw_only=True)
class PlayerState:
    # Grouped by use, hot first: a step reads the first group of every player, take_changes()
    # the second, so each touches as few of the object's cache lines as it can.
    x: float
    y: float
    vx: float = 0.0  # velocity in units per second: the direction times the full speed
    vy: float = 0.0
    alive: bool = True
    mass: int
    # Pellets near where the player last looked: every pellet closer than `qreach` to
    # (qx, qy), and maybe some that have left since. While its reach stays inside that circle
    # (`ArenaGame._near_time`) the player checks only these; a pellet placed inside the circle
    # joins the list. None: look again. `_NOTHING`: nothing near.
    near: list[int] | None = None
    id: int
    seq: int = -1  # last processed input; -1 until the first one (reported as 0)
    # What take_changes() last reported: the base of the next `moved` deltas, mass and seq.
    rx: int = 0
    ry: int = 0
    rmass: int = 0
    rseq: int = -1
    name: str
    dx: float = 0.0  # the direction asked for, its length at most 1
    dy: float = 0.0
    # Derived from the mass (`ArenaGame._set_mass`): full speed, and how far it reaches for
    # pellets (its radius plus a pellet's).
    speed: float = 0.0
    reach: float = 0.0
    respawn_in: float = 0.0
    qx: float = 0.0
    qy: float = 0.0
    qreach: float = 0.0
    qlimit: float = 0.0  # qreach squared and a hair more: the test a placed pellet takes
    born: int = 0  # the tick this life began (read once, at its death: the `eaten` row)

    @property
    def reported_seq(self) -> int:
        return max(self.seq, 0)
