"""/metrics: what the server measures, scraped from a real server, and the tick accounting."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tornado.httpclient import HTTPClientError

from game_server.app import ArenaServer
from game_server.engine.metrics import EngineCounters, TickObserver
from game_server.engine.room import Room
from game_server.games.arena_mode import arena_spec
from game_server.storage.passwords import PasswordHasher
from tests.conftest import Browserless, ManualClock, make_config, recv_until


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def test_metrics_count_players_rooms_ticks_messages_errors_and_refusals(
    server, client_factory
) -> None:
    c: Browserless = client_factory()
    await c.guest("measured")
    ws = await c.ws()
    ws.write_message(orjson.dumps({"type": "join", "mode": "arena"}).decode())
    await recv_until(ws, "joined")
    ws.write_message("{broken")
    await recv_until(ws, "error")
    ws.write_message(orjson.dumps({"type": "ping", "id": 1}).decode())
    await recv_until(ws, "pong")
    for _ in range(3):
        await recv_until(ws, "state")
    with pytest.raises(HTTPClientError):
        await c.ws(cookie="")
    with pytest.raises(HTTPClientError):
        await c.ws(origin="http://elsewhere.example")

    response = await c.request("GET", "/metrics")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    m = scrape(response.body.decode())
    assert m[("arena_players_connected", ())] == 1
    assert m[("arena_seats_held", ())] == 1
    assert m[("arena_rooms", ())] == 1
    assert m[("arena_messages_received_total", ())] == 3
    assert m[("arena_errors_total", (("code", "bad_json"),))] == 1
    assert m[("arena_connections_refused_total", (("reason", "unauthenticated"),))] == 1
    assert m[("arena_connections_refused_total", (("reason", "origin"),))] == 1
    assert m[("arena_ticks_total", ())] >= 3
    assert m[("arena_state_messages_sent_total", ())] >= 3
    assert m[("arena_state_bytes_sent_total", ())] > 100
    assert m[("arena_tick_duration_seconds_count", ())] >= 3
    assert m[("arena_tick_lateness_seconds_count", ())] >= 3
    assert m[("arena_http_request_duration_seconds_count", (("route", "/api/guest"),))] == 1


class Recorder(TickObserver):
    def __init__(self) -> None:
        super().__init__(EngineCounters())
        self.calls: list[tuple[float, bool]] = []

    def tick(self, *, duration: float, lateness: float, overrun: bool) -> None:
        self.calls.append((round(lateness, 6), overrun))


def test_lateness_is_measured_against_the_fixed_grid_and_overruns_counted() -> None:
    clock = ManualClock()
    observer = Recorder()
    room = Room("r", arena_spec(), seed=1, monotonic=clock,
                observer=observer)
    clock.now += 0.050
    room.tick()  # on time
    clock.now += 0.052
    room.tick()  # 2 ms late
    clock.now += 0.048 + 0.120
    room.tick()  # more than a period late: an overrun, and the grid skips missed slots
    clock.now += 0.030
    room.tick()  # back on the grid
    assert observer.calls == [(0.0, False), (0.002, False), (0.12, True), (0.0, False)]
    counters = observer.counters
    assert counters.ticks == 4 and counters.ticks_overrun == 1
    assert counters.steps_caught_up == 2


def test_tick_histogram_buckets_are_less_or_equal_and_cumulative() -> None:
    from game_server.engine.metrics import TickHistogram

    h = TickHistogram((0.001, 0.01))
    for value in (0.0005, 0.001, 0.002, 0.5):
        h.observe(value)
    family = h.family("t_seconds", "doc")
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name == "t_seconds_bucket"}
    assert buckets == {"0.001": 2, "0.01": 3, "+Inf": 4}
    assert [s.value for s in family.samples if s.name == "t_seconds_count"] == [4]


async def _both_counts(c: Browserless) -> tuple[dict[str, Any], dict[str, Any]]:
    """The player counts as `/healthz` says them, and as `/metrics` says them."""
    health = orjson.loads((await c.request("GET", "/healthz")).body)
    m = scrape((await c.request("GET", "/metrics")).body.decode())
    return (
        {k: health[k] for k in ("rooms", "players_connected", "seats_held", "seats_connected",
                                "seats_away")},
        {"rooms": m[("arena_rooms", ())],
         "players_connected": m[("arena_players_connected", ())],
         "seats_held": m[("arena_seats_held", ())],
         "seats_connected": m[("arena_seats_connected", ())],
         "seats_away": m[("arena_seats_away", ())]},
    )


def _counts(*, rooms: int, sockets: int, connected: int, away: int) -> dict[str, Any]:
    """The counts as `_both_counts` gives them: seats taken are those connected and away."""
    return {"rooms": rooms, "players_connected": sockets, "seats_held": connected + away,
            "seats_connected": connected, "seats_away": away}


async def test_healthz_and_metrics_agree_on_connected_players_and_held_seats(
    tmp_path: Path, clients: list[Browserless]
) -> None:
    # A dropped player's seat is held for --resume-grace: a seat held, nobody connected.
    srv = ArenaServer(make_config(tmp_path / "data", resume_grace=60.0),
                      passwords=PasswordHasher(n=2**10))
    await srv.start()
    try:
        c = Browserless(srv.url)
        clients.append(c)
        await c.guest("counted")
        assert await _both_counts(c) == 2 * (_counts(rooms=0, sockets=0, connected=0, away=0),)
        ws = await c.ws()
        while not len(srv.sockets):  # noqa: ASYNC110 - open() runs after the handshake answer
            await asyncio.sleep(0.01)
        assert await _both_counts(c) == 2 * (_counts(rooms=0, sockets=1, connected=0, away=0),)
        ws.write_message(orjson.dumps({"type": "join", "mode": "arena"}).decode())
        await recv_until(ws, "joined")
        assert await _both_counts(c) == 2 * (_counts(rooms=1, sockets=1, connected=1, away=0),)
        ws.close()
        while len(srv.sockets):  # noqa: ASYNC110 - the server sees the close a moment later
            await asyncio.sleep(0.01)
        assert await _both_counts(c) == 2 * (_counts(rooms=1, sockets=0, connected=0, away=1),)
    finally:
        await srv.stop()
