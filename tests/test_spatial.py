"""Tests for the uniform hash grid in game_server.games.spatial."""

from __future__ import annotations

import math
import random

import pytest

from game_server.games.spatial import Grid


def test_empty_grid() -> None:
    grid = Grid(10.0)
    assert len(grid) == 0
    assert 1 not in grid
    assert grid.query(0.0, 0.0, 100.0) == []
    assert grid.cell_size == 10.0


@pytest.mark.parametrize("size", [0.0, -1.0, math.inf, math.nan])
def test_bad_cell_size(size: float) -> None:
    with pytest.raises(ValueError):
        Grid(size)


def test_insert_query_len_contains() -> None:
    grid = Grid(10.0)
    grid.insert(1, 5.0, 5.0)
    grid.insert(2, 55.0, 5.0)
    grid.insert(3, -5.0, -5.0)
    assert len(grid) == 3
    assert 1 in grid and 2 in grid and 3 in grid
    assert 4 not in grid
    assert set(grid.query(5.0, 5.0, 1.0)) == {1}
    assert set(grid.query(0.0, 0.0, 1.0)) == {1, 3}
    assert set(grid.query(50.0, 5.0, 6.0)) == {2}
    assert sorted(grid) == [1, 2, 3]
    assert grid.position(2) == (55.0, 5.0)


def test_insert_twice_is_an_error() -> None:
    grid = Grid(10.0)
    grid.insert(1, 0.0, 0.0)
    with pytest.raises(ValueError):
        grid.insert(1, 3.0, 3.0)
    assert grid.position(1) == (0.0, 0.0)


def test_move_within_and_across_cells() -> None:
    grid = Grid(10.0)
    grid.insert(7, 1.0, 1.0)
    grid.move(7, 2.0, 3.0)  # same cell
    assert grid.position(7) == (2.0, 3.0)
    assert grid.query(2.0, 3.0, 0.5) == [7]
    grid.move(7, 95.0, 95.0)  # another cell
    assert grid.query(2.0, 3.0, 0.5) == []
    assert grid.query(95.0, 95.0, 0.5) == [7]
    assert len(grid) == 1


def test_remove_and_discard() -> None:
    grid = Grid(10.0)
    grid.insert(1, 1.0, 1.0)
    grid.insert(2, 2.0, 2.0)
    grid.remove(1)
    assert 1 not in grid
    assert grid.query(1.0, 1.0, 1.0) == [2]
    with pytest.raises(KeyError):
        grid.remove(1)
    with pytest.raises(KeyError):
        grid.move(1, 0.0, 0.0)
    grid.discard(1)  # no error
    grid.discard(2)
    assert len(grid) == 0
    assert grid.query(1.0, 1.0, 50.0) == []


def test_clear() -> None:
    grid = Grid(5.0)
    for key in range(10):
        grid.insert(key, key * 3.0, 0.0)
    grid.clear()
    assert len(grid) == 0
    assert grid.query(0.0, 0.0, 100.0) == []


def test_query_radius_checks() -> None:
    grid = Grid(10.0)
    grid.insert(1, 0.0, 0.0)
    grid.insert(2, 1e6, -1e6)
    with pytest.raises(ValueError):
        grid.query(0.0, 0.0, -1.0)
    with pytest.raises(ValueError):
        grid.query(0.0, 0.0, math.nan)
    assert sorted(grid.query(0.0, 0.0, math.inf)) == [1, 2]
    # A huge circle over a sparse grid walks the occupied cells instead of the range.
    assert sorted(grid.query(0.0, 0.0, 1e7)) == [1, 2]
    assert grid.query(0.0, 0.0, 0.0) == [1]


@pytest.mark.parametrize("far_points", [0, 20])
def test_query_skips_corner_cells_the_circle_misses(far_points: int) -> None:
    grid = Grid(10.0)
    # Few occupied cells: query walks them; many: query walks the box of cells.
    for key in range(100, 100 + far_points):
        grid.insert(key, 1000.0 + key * 10, 0.0)
    grid.insert(1, 19.0, 19.0)  # cell (1, 1): its nearest point to (5, 5) is 7.07 away
    assert grid.query(5.0, 5.0, 6.0) == []
    assert grid.query(5.0, 5.0, 7.1) == [1]


def test_no_duplicates_in_results() -> None:
    grid = Grid(1.0)
    for key in range(50):
        grid.insert(key, key * 0.37, key * 0.11)
    found = grid.query(5.0, 2.0, 20.0)
    assert len(found) == len(set(found)) == 50


def test_query_order_is_deterministic() -> None:
    def build() -> Grid:
        grid = Grid(7.0)
        rng = random.Random(3)
        for key in range(200):
            grid.insert(key, rng.uniform(0, 100), rng.uniform(0, 100))
        for key in range(0, 200, 3):
            grid.move(key, rng.uniform(0, 100), rng.uniform(0, 100))
        return grid

    assert build().query(50.0, 50.0, 20.0) == build().query(50.0, 50.0, 20.0)


@pytest.mark.parametrize("cell_size", [1.0, 7.5, 50.0, 300.0])
def test_randomized_against_brute_force(cell_size: float) -> None:
    rng = random.Random(int(cell_size * 10))
    grid = Grid(cell_size)
    points: dict[int, tuple[float, float]] = {}
    next_key = 0
    for _ in range(3000):
        action = rng.random()
        if action < 0.4 or not points:
            x, y = rng.uniform(-200, 1200), rng.uniform(-200, 1200)
            grid.insert(next_key, x, y)
            points[next_key] = (x, y)
            next_key += 1
        elif action < 0.7:
            key = rng.choice(list(points))
            # Small steps mostly stay in their cell; large ones cross cells.
            step = rng.choice([0.5, 5.0, 400.0])
            x, y = points[key]
            x, y = x + rng.uniform(-step, step), y + rng.uniform(-step, step)
            grid.move(key, x, y)
            points[key] = (x, y)
        elif action < 0.8:
            key = rng.choice(list(points))
            grid.remove(key)
            del points[key]
        else:
            qx, qy = rng.uniform(-300, 1300), rng.uniform(-300, 1300)
            radius = rng.choice([0.0, 1.0, 10.0, 60.0, 500.0]) * rng.random()
            found = grid.query(qx, qy, radius)
            assert len(found) == len(set(found))
            exact = {k for k, (x, y) in points.items() if math.hypot(x - qx, y - qy) <= radius}
            assert exact <= set(found)
            # Candidates come from touched cells, so none is farther than radius + a cell diagonal.
            limit = radius + cell_size * math.sqrt(2) + 1e-6
            for key in found:
                x, y = points[key]
                assert math.hypot(x - qx, y - qy) <= limit
        assert len(grid) == len(points)
    for key, (x, y) in points.items():
        assert key in grid
        assert grid.position(key) == (x, y)
