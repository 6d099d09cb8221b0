"""bench.tick runs a real room and reports; its numbers are for the README, not for tests."""

from __future__ import annotations

from bench.tick import main, tick_cost


def test_tick_cost_measures_a_real_room() -> None:
    assert tick_cost(5, ticks=20) > 0


def test_the_command_prints_both_rooms_and_the_ratio(capsys) -> None:
    assert main(["--players", "4", "--factor", "3", "--ticks", "20"]) == 0
    out = capsys.readouterr().out
    assert "4 players" in out and "12 players" in out and "3x the players costs" in out
