"""The Arena game rules: an Agar-like world of players who grow by eating pellets and each other.

Pure and deterministic: the same rules, seed and calls give the same states and the same changes.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from typing import Any

from .arena_rules import ArenaRules, PlayerState
from .spatial import Grid, soonest_contact
from .state import ListJson

_RESPAWN_EPSILON = 1e-9  # absorbs float drift when summing many small dt's up to respawn_delay
# A player looks for pellets this much farther than it reaches, and looks again only once its
# reach leaves that circle: about every 10 steps at the start speed, not every step.
_NEAR_MARGIN = 32.0
_NEAR_EPSILON = 1e-6  # keeps rounding from putting a reachable pellet outside the circle
_INF = math.inf
_QLIMIT_SLACK = 1.0 + 1e-9
_NOTHING: list[int] = []  # shared by every player with no pellet near; never appended to
# The eat phase is skipped while no player can touch one it could eat or be eaten by (see
# `_measure_calm`); distances are measured this much short, against rounding.
_CALM_EPSILON = 1e-6


def _x_of(player: PlayerState) -> float:
    return player.x


def _id_of(player: PlayerState) -> int:
    return player.id


class ArenaGame:
    """One Arena world: players, pellets, a tick counter and the changes not yet reported.

    Players are processed in the order they were added; eat candidates in ascending id order.
    """

    def __init__(self, rules: ArenaRules | None = None, seed: int = 0) -> None:
        self.rules = rules if rules is not None else ArenaRules()
        self._rng = random.Random(seed)
        self.tick = 0  # the number of steps taken so far
        self._players: dict[int, PlayerState] = {}
        self._pellet_grid = Grid(self.rules.grid_cell_size)
        self._pellets: list[tuple[float, float]] = []
        # The pellets' JSON for state(), kept per block (games/state.py): the journal hashes
        # the state once a second, and most pellets have not moved since the last time.
        self._pellets_json = ListJson()
        self._dead: dict[int, None] = {}
        self._best: dict[int, int] = {}
        # What has been reported by take_changes(), and what happened since.
        self._added: set[int] = set()
        self._vanished: set[int] = set()  # added and removed again since the last take
        self._spawned: dict[int, None] = {}
        self._eaten: list[list[int]] = []
        self._gone: dict[int, None] = {}
        self._dirty_pellets: dict[int, None] = {}
        self._last_leaderboard: list[list[int]] = []
        # Set wherever a mass or a life changes, so an unchanged top list costs nothing.
        self._board_dirty = True
        # Players grown since the last take_changes(), when nothing else touched the top list.
        self._board_grown: dict[int, None] = {}
        # Seconds before two players who could eat one another could touch; each step takes
        # its dt off. Below 0 (and after any mass, life or teleport): measure again.
        self._calm = -1.0
        # Players whose mass grew (a pellet) since `_calm` was measured: only their pairs need
        # measuring again, the others' still hold (see `_regrown_contact`).
        self._regrown: dict[int, None] = {}
        # Seconds until the first player's reach may leave the circle it looked at: then every
        # player looks again. One countdown for all instead of a check per player and step.
        self._near_time = -1.0
        # (players alive, smallest mass, largest mass); None after any mass or life changed.
        self._census: tuple[int, int, int] | None = None
        for pellet_id in range(self.rules.pellet_count):
            x, y = self._random_spot()
            self._pellets.append((x, y))
            self._pellet_grid.insert(pellet_id, x, y)

    # -- players -----------------------------------------------------------------------------

    @property
    def player_count(self) -> int:
        """The number of players in the game, alive or dead."""
        return len(self._players)

    def add_player(self, player_id: int, name: str) -> None:
        """Spawn a player alive at a random spot with the start mass; ``ValueError`` if taken."""
        if player_id in self._players:
            raise ValueError(f"player {player_id} is already in the game")
        x, y = self._random_spot()
        mass = self.rules.start_mass
        player = PlayerState(id=player_id, name=name, x=x, y=y, mass=mass, born=self.tick)
        self._set_mass(player, mass)
        self._players[player_id] = player
        self._board_dirty = True
        self._census = None
        self._calm = -1.0  # a newcomer may land on someone
        self._best[player_id] = max(self._best.get(player_id, 0), mass)
        reported_seq = player.reported_seq
        if player_id in self._gone:
            # Left and came back between two takes: clients still know the old one, `spawned`
            # overwrites it (with the new seq).
            del self._gone[player_id]
            reported_seq = -1
        else:
            self._added.add(player_id)
        player.rx, player.ry, player.rmass, player.rseq = round(x), round(y), mass, reported_seq
        self._spawned[player_id] = None

    def remove_player(self, player_id: int) -> None:
        """Take a player out of the game; an unknown id is a no-op."""
        if self._players.pop(player_id, None) is None:
            return
        self._census = None
        self._dead.pop(player_id, None)
        self._spawned.pop(player_id, None)
        self._regrown.pop(player_id, None)
        # Forgotten with the player: a long-lived room sees thousands come and go. Whoever
        # records results reads best_mass() before removing the player.
        self._best.pop(player_id, None)
        if player_id in self._added:
            self._added.discard(player_id)
            self._vanished.add(player_id)
        else:
            self._gone[player_id] = None
        self._board_dirty = True

    def has_player(self, player_id: int) -> bool:
        """Whether the player is in the game (alive or dead)."""
        return player_id in self._players

    def is_alive(self, player_id: int) -> bool:
        """Whether the player is in the game and alive."""
        player = self._players.get(player_id)
        return player is not None and player.alive

    def player_name(self, player_id: int) -> str:
        """The player's name; ``KeyError`` for an unknown id."""
        return self._players[player_id].name

    def best_mass(self, player_id: int) -> int:
        """The largest mass this player had in this game, kept after it leaves (0 if never seen)."""
        return self._best.get(player_id, 0)

    def set_input(self, player_id: int, seq: int, dx: float, dy: float) -> bool:
        """Store the player's latest direction, its length clamped to 1.

        Returns False, changing nothing, for an unknown player, a ``seq`` not greater than the
        last processed one, or a non-finite direction. A dead player's seq still advances (so
        acknowledgements progress) but its direction is dropped.
        """
        player = self._players.get(player_id)
        # -inf < v < inf: finite (NaN fails every comparison), without two calls per input.
        if player is None or seq <= player.seq or not (_INF > dx > -_INF and _INF > dy > -_INF):
            return False
        player.seq = seq
        if player.alive:
            if dx * dx + dy * dy > 1.0:  # hypot only when it may be needed
                length = math.hypot(dx, dy)
                if length > 1.0:
                    dx, dy = dx / length, dy / length
            speed = player.speed
            player.dx = dx
            player.dy = dy
            player.vx = dx * speed
            player.vy = dy * speed
        return True

    def halt(self, player_id: int) -> None:
        """Stop a player where it is (its connection dropped), keeping its processed seq."""
        player = self._players.get(player_id)
        if player is not None:
            player.dx = player.dy = player.vx = player.vy = 0.0

    def place_player(self, player_id: int, x: float, y: float, mass: int | None = None) -> None:
        """Put a player at ``(x, y)`` (clamped to the world), optionally with a new mass.

        For tests and tools; a dead player stays dead. ``KeyError`` for an unknown id.
        """
        player = self._players[player_id]
        if mass is not None:
            if mass < 1:
                raise ValueError("mass must be >= 1")
            self._set_mass(player, mass)
            self._board_dirty = True
            self._best[player_id] = max(self._best[player_id], mass)
        player.x, player.y = self._clamp(x, y)
        player.near = None  # a teleport: look for pellets where it landed
        self._calm = -1.0  # and the distances measured no longer hold

    def place_pellet(self, pellet_id: int, x: float, y: float) -> None:
        """Put a pellet at ``(x, y)`` (clamped to the world). For tests and tools."""
        if not 0 <= pellet_id < len(self._pellets):
            raise KeyError(pellet_id)
        # Floats, never -0.0, as the game's own pellets are: the state's JSON of a pellet
        # replaced by an equal one must not change (games/state.py `ListJson`).
        self._set_pellet(pellet_id, *self._clamp(float(x) + 0.0, float(y) + 0.0))

    # -- simulation --------------------------------------------------------------------------

    def step(self, dt: float) -> None:
        """Advance the world by one fixed step of ``dt`` seconds."""
        if not math.isfinite(dt) or dt < 0:
            raise ValueError(f"dt must be a finite number >= 0, got {dt!r}")
        if self._dead:
            self._respawn_due(dt)
        rules = self.rules
        width, height = rules.world_width, rules.world_height
        within = self._pellet_grid.within
        pellets = self._pellets
        players = self._players
        near_time = self._near_time - dt
        if near_time < 0.0:
            # Some player's reach may have left the circle it looked at: everyone looks again.
            near_time = math.inf
            for p in players.values():
                p.near = None
        # One pass for every player, every step: move, then eat pellets. A player's pellets
        # depend on its own position and the pellets only, so moving the later players after
        # an earlier one ate changes nothing.
        for p in players.values():
            if not p.alive:
                continue
            vx = p.vx
            vy = p.vy
            if vx or vy:  # clamped to the world, inlined
                x = p.x + vx * dt
                y = p.y + vy * dt
                x = p.x = 0.0 if x < 0.0 else (width if x > width else x)
                y = p.y = 0.0 if y < 0.0 else (height if y > height else y)
            else:
                x = p.x
                y = p.y
            near = p.near
            if near is None:
                # Look a margin wider than the reach: at full speed, whatever its direction,
                # the reach stays inside for `slack / speed` seconds.
                reach = p.reach
                qreach = reach + _NEAR_MARGIN
                slack = qreach - reach - _NEAR_EPSILON
                p.qx, p.qy, p.qreach = x, y, qreach
                # A hair wider than the circle: a pellet placed on its edge joins the list
                # whatever the rounding (the list is candidates, each checked exactly).
                p.qlimit = qreach * qreach * _QLIMIT_SLACK
                seconds = slack / p.speed if slack >= 0.0 and p.speed > 0.0 else -1.0
                if seconds < near_time:
                    near_time = seconds
                near = within(x, y, qreach)
                near = p.near = near if near else _NOTHING
            if near:
                reach = p.reach
                reach_sq = reach * reach
                eaten = []
                for pellet_id in near:
                    px, py = pellets[pellet_id]
                    px -= x
                    py -= y
                    # d * d, not d ** 2: the float power is over twice as slow.
                    if px * px + py * py < reach_sq and pellet_id not in eaten:
                        eaten.append(pellet_id)
                if eaten:
                    eaten.sort()
                    for pellet_id in eaten:
                        self._grow(p, rules.pellet_mass)
                        self._set_pellet(pellet_id, *self._random_spot())
        self._near_time = near_time
        census = self._census
        if census is None:
            census = self._census = self._count_masses()
        count, smallest, largest = census
        # Nobody can eat unless it has eat_ratio times the smallest mass (the usual case while
        # everyone is near the start mass), nor before two who could eat one another could
        # touch (the usual case once masses differ: 20 players in a room run it at about one
        # step in 15, after a mass changed or when a pair comes close).
        self._calm -= dt
        if count > 1 and largest >= rules.eat_ratio * smallest:
            if self._regrown and self._calm >= 0.0:
                # Pellets grew a few players (most steps of a dense room): the pairs of the
                # others are as far from touching as measured, so only theirs are measured.
                # The phase then runs only when some pair may touch, and at every step where
                # one does, as before: a step where nobody touches eats nobody.
                soonest = self._regrown_contact()
                if soonest < self._calm:
                    self._calm = soonest
                self._regrown.clear()
            if self._calm < 0.0:
                alive = [p for p in players.values() if p.alive]
                self._eat_players(alive, smallest)
                self._measure_calm(alive)
        self.tick += 1

    def _count_masses(self) -> tuple[int, int, int]:
        """(players alive, smallest mass, largest mass): the eat phase's quick test."""
        count = largest = 0
        smallest = 1 << 62
        for p in self._players.values():
            if p.alive:
                count += 1
                mass = p.mass
                if mass < smallest:
                    smallest = mass
                if mass > largest:
                    largest = mass
        return count, smallest, largest

    def _respawn_due(self, dt: float) -> None:
        due = []
        for player_id in self._dead:
            player = self._players[player_id]
            player.respawn_in -= dt
            if player.respawn_in <= _RESPAWN_EPSILON:
                due.append(player)
        for player in due:
            del self._dead[player.id]
            player.x, player.y = self._random_spot()
            player.dx = player.dy = 0.0
            self._set_mass(player, self.rules.start_mass)
            player.alive = True
            player.born = self.tick
            self._spawned[player.id] = None
            self._board_dirty = True
            self._calm = -1.0  # back in the world, anywhere

    def _eat_players(self, alive: list[PlayerState], smallest: int) -> None:
        """Each eater in turn (in joining order) eats the smaller players it overlaps.

        Candidates come from a sweep over the players sorted by x (positions do not change in
        this phase): a victim is smaller than its eater, so it overlaps only within twice the
        eater's radius. O(players log players) per step, never players x players.
        """
        rules = self.rules
        factor = rules.radius_factor
        ratio = rules.eat_ratio
        sqrt = math.sqrt
        by_x = sorted(alive, key=_x_of)
        xs = [p.x for p in by_x]
        for eater in alive:
            if not eater.alive or eater.mass < ratio * smallest:
                continue
            reach = 2.0 * sqrt(eater.mass) * factor
            lo = bisect.bisect_left(xs, eater.x - reach)
            hi = bisect.bisect_right(xs, eater.x + reach)
            if hi - lo < 2:
                continue  # only itself in the window
            y = eater.y
            most = eater.mass / ratio
            candidates = [
                p for p in by_x[lo:hi] if p.mass <= most and p.alive and abs(p.y - y) <= reach
            ]
            if not candidates:
                continue
            candidates.sort(key=_id_of)
            for victim in candidates:
                if not victim.alive or eater.mass < ratio * victim.mass:
                    continue
                overlap = (sqrt(eater.mass) + sqrt(victim.mass)) * factor
                if (victim.x - eater.x) ** 2 + (victim.y - y) ** 2 < overlap * overlap:
                    self._grow(eater, victim.mass)
                    self._kill(victim, eater)

    def _measure_calm(self, alive: list[PlayerState]) -> None:
        """How long before two players who could eat one another could touch.

        Such a pair touches only closer than the sum of its radii, and closes in at most at the
        sum of its full speeds; masses (so radii and speeds) stay as they are until something
        resets `_calm`: a mass change, a death, a newcomer, a respawn, a teleport.
        """
        rules = self.rules
        self._calm = soonest_contact(
            [(p.x, p.y, p.mass, p.speed) for p in alive if p.alive],
            eat_ratio=rules.eat_ratio, radius_factor=rules.radius_factor,
            epsilon=_CALM_EPSILON)
        self._regrown.clear()  # every pair measured

    def _regrown_contact(self) -> float:
        """Like `_measure_calm`, for the pairs of the players in `_regrown` only: seconds before
        one of them and another who could eat or be eaten by it could touch (negative: touching).

        O(regrown x players), with no sort: a step's one or two pellet eaters against everyone.
        """
        rules = self.rules
        ratio = rules.eat_ratio
        factor = rules.radius_factor
        sqrt = math.sqrt
        players = self._players
        soonest = _INF
        for player_id in self._regrown:
            me = players.get(player_id)
            if me is None or not me.alive:
                continue
            x, y, mass, speed = me.x, me.y, me.mass, me.speed
            root = sqrt(mass)
            eater = ratio * mass
            for other in players.values():
                other_mass = other.mass
                # Who can eat whom before any distance: the same test as the full measure.
                if not (mass >= ratio * other_mass or other_mass >= eater) or not other.alive:
                    continue  # (never itself: no mass is eat_ratio times itself)
                ex = other.x - x
                ey = other.y - y
                gap = sqrt(ex * ex + ey * ey) - (root + sqrt(other_mass)) * factor
                seconds = (gap - _CALM_EPSILON) / (speed + other.speed)
                if seconds < soonest:
                    if seconds < 0.0:
                        return seconds
                    soonest = seconds
        return soonest

    def _kill(self, victim: PlayerState, eater: PlayerState) -> None:
        self._board_dirty = True
        self._census = None
        self._calm = -1.0
        victim.alive = False
        victim.dx = victim.dy = victim.vx = victim.vy = 0.0
        victim.respawn_in = self.rules.respawn_delay
        self._dead[victim.id] = None
        # What the victim's death screen shows comes with the row: its mass (a life only grows,
        # so this is the life's best) and how many ticks it lived.
        self._eaten.append([victim.id, eater.id, victim.mass, self.tick - victim.born])

    def _grow(self, player: PlayerState, amount: int) -> None:
        # Only grown: the next top list is found among the last one and the grown.
        self._board_grown[player.id] = None
        self._set_mass(player, player.mass + amount)
        if player.mass > self._best[player.id]:
            self._best[player.id] = player.mass

    def _set_mass(self, player: PlayerState, mass: int) -> None:
        """Every mass change goes through here: speed and reach follow it."""
        rules = self.rules
        root = math.sqrt(mass)
        player.mass = mass
        player.speed = speed = rules.speed_factor / root
        player.vx, player.vy = player.dx * speed, player.dy * speed
        player.reach = root * rules.radius_factor + rules.pellet_radius
        player.near = None  # its reach changed: the circle looked at may no longer hold it
        self._census = None
        # And so did whom it can eat, how far it reaches and how fast: its pairs are measured
        # again (every other way a mass changes measures all pairs again).
        self._regrown[player.id] = None

    # -- output ------------------------------------------------------------------------------

    def leaderboard(self) -> list[list[int]]:
        """The top alive players as ``[id, mass]``, by mass descending then id ascending."""
        top = heapq.nsmallest(
            self.rules.leaderboard_size,
            (p for p in self._players.values() if p.alive),
            key=lambda p: (-p.mass, p.id),
        )
        return [[p.id, p.mass] for p in top]

    def _leaderboard_grown(self) -> list[list[int]]:
        """`leaderboard()` when the only changes since the last reported one are players who
        grew (a pellet, most steps of a dense room): everyone else kept their mass and rank,
        so the new top is among the old top and the grown, not among all players."""
        players = self._players
        candidates = {row[0]: None for row in self._last_leaderboard}
        candidates.update(self._board_grown)
        top = heapq.nsmallest(
            self.rules.leaderboard_size,
            (p for p in map(players.get, candidates) if p is not None and p.alive),
            key=lambda p: (-p.mass, p.id),
        )
        return [[p.id, p.mass] for p in top]

    def full_state(self) -> dict[str, Any]:
        """The whole world as the ``state`` object of the ``joined`` message."""
        players = []
        for p in sorted(self._players.values(), key=lambda p: p.id):
            x, y = round(p.x), round(p.y)
            if p.alive and p.id not in self._spawned:
                # The base the next `moved` deltas are relative to: the last reported spot.
                x, y = p.rx, p.ry
            players.append([p.id, p.name, x, y, p.mass, p.reported_seq, p.alive])
        pellets = [[i, round(x), round(y)] for i, (x, y) in enumerate(self._pellets)]
        return {
            "tick": self.tick,
            "players": players,
            "pellets": pellets,
            "leaderboard": self.leaderboard(),
        }

    def state(self) -> dict[str, Any]:
        """The world's full state for the match journal (games/api.py `Game.state`): exact
        positions, masses, lives and inputs of the players in their order, the pellets, each
        player's best and the generator's state. Caches derived from these (the grid, the calm
        countdown, what was last reported) are left out. Plain lists: a room of 400 players is
        hashed once a second, so this is one pass over the players and no walk, and the
        pellets' JSON is kept between calls, encoded again only where pellets moved."""
        return {
            "tick": self.tick,
            "players": [[p.id, p.name, p.x, p.y, p.mass, p.alive, p.seq, p.dx, p.dy,
                         p.respawn_in, p.born] for p in self._players.values()],
            "pellets": self._pellets_json(self._pellets),
            "best": self._best,
            "rng": self._rng.getstate(),
        }

    def take_changes(self) -> dict[str, Any]:
        """What changed since the previous call, as the body of a ``state`` message.

        Keys are present only when non-empty. ``spawned`` rows ``[id, name, x, y, mass, seq]`` and
        ``pellets`` (flat ``id, x, y`` triples) are absolute; ``moved`` is flat ``id, dx, dy``
        triples: the change of a player's rounded position since it was last reported, so a
        client applies ``spawned`` before ``moved``. ``mass`` (flat ``id, mass`` pairs) and
        ``acks`` (flat ``id, seq`` pairs: the last input processed) list only what changed.
        ``eaten`` rows ``[victim, eater, mass, ticks]`` carry the victim's mass at its death (the
        best of that life) and the ticks it lived; they are kept only while the victim is still
        dead; a player who joined and left in between appears nowhere. The hot lists are flat
        to keep a state small: about 8 bytes a moving player.
        """
        changes: dict[str, Any] = {}
        just_spawned = self._spawned
        spawned = []
        for player_id in just_spawned:
            p = self._players[player_id]
            if p.alive:
                x, y, seq = round(p.x), round(p.y), p.reported_seq
                spawned.append([p.id, p.name, x, y, p.mass, seq])
                p.rx, p.ry, p.rmass, p.rseq = x, y, p.mass, seq
        moved: list[int] = []
        masses: list[int] = []
        acks: list[int] = []
        # Runs for every player at every tick: the last reported values live on the player.
        for p in self._players.values():
            seq = p.seq if p.seq > 0 else 0
            if not p.alive:
                if seq != p.rseq:
                    acks += (p.id, seq)
                    p.rseq = seq
                continue
            if just_spawned and p.id in just_spawned:
                continue  # its spawned row said everything
            x = round(p.x)
            y = round(p.y)
            if x != p.rx or y != p.ry:
                moved += (p.id, x - p.rx, y - p.ry)
                p.rx = x
                p.ry = y
            if p.mass != p.rmass:
                masses += (p.id, p.mass)
                p.rmass = p.mass
            if seq != p.rseq:
                acks += (p.id, seq)
                p.rseq = seq
        vanished = self._vanished
        eaten = [
            row
            for row in self._eaten
            if not self.is_alive(row[0]) and row[0] not in vanished and row[1] not in vanished
        ]
        pellets: list[int] = []
        for i in sorted(self._dirty_pellets):
            pellets += (i, round(self._pellets[i][0]), round(self._pellets[i][1]))
        for key, rows in (
            ("spawned", spawned),
            ("moved", moved),
            ("mass", masses),
            ("acks", acks),
            ("eaten", eaten),
            ("gone", list(self._gone)),
            ("pellets", pellets),
        ):
            if rows:
                changes[key] = rows
        if self._board_dirty:
            leaderboard = self.leaderboard()
        elif self._board_grown:
            leaderboard = self._leaderboard_grown()
        else:
            leaderboard = self._last_leaderboard
        self._board_dirty = False
        self._board_grown.clear()
        if leaderboard != self._last_leaderboard:
            changes["leaderboard"] = leaderboard
            self._last_leaderboard = leaderboard
        self._added.clear()
        self._vanished.clear()
        self._spawned.clear()
        self._eaten.clear()
        self._gone.clear()
        self._dirty_pellets.clear()
        return changes

    # -- helpers -----------------------------------------------------------------------------

    def _random_spot(self) -> tuple[float, float]:
        rng = self._rng
        return rng.uniform(0.0, self.rules.world_width), rng.uniform(0.0, self.rules.world_height)

    def _clamp(self, x: float, y: float) -> tuple[float, float]:
        return (
            min(max(x, 0.0), self.rules.world_width),
            min(max(y, 0.0), self.rules.world_height),
        )

    def _set_pellet(self, pellet_id: int, x: float, y: float) -> None:
        self._pellets[pellet_id] = (x, y)
        self._pellet_grid.move(pellet_id, x, y)
        self._dirty_pellets[pellet_id] = None
        for p in self._players.values():  # rare (an eaten pellet), and then O(players)
            near = p.near
            if near is None:
                continue
            ex = x - p.qx
            ey = y - p.qy
            if ex * ex + ey * ey < p.qlimit:
                if near is _NOTHING:
                    p.near = [pellet_id]
                else:
                    near.append(pellet_id)
