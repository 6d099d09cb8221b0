"""Result saves survive a database outage: retried until the database answers again; a result
storage refuses is dropped, not retried forever."""

from __future__ import annotations

import asyncio

from game_server.engine.results import MatchResult, ResultRecorder
from game_server.games.api import Outcome
from game_server.storage.base import StorageError


def result(user_id: int, score: int) -> MatchResult:
    outcomes = [(user_id, Outcome(player=1, score=score))] if score else []
    return MatchResult("arena", "best_score", f"m{user_id}", outcomes)


async def test_a_failed_save_is_retried_until_it_succeeds() -> None:
    saved: list[tuple[int, int]] = []
    failures = 3

    async def save(r: MatchResult) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise StorageError("database unreachable")
        saved.append((r.outcomes[0][0], r.outcomes[0][1].score))

    recorder = ResultRecorder(save, retry_on=(StorageError,), retry=0.001, max_retry=0.004)
    recorder.record(result(7, 42))
    recorder.record(result(8, 0))  # nothing to save
    await asyncio.wait_for(recorder.drain(), 5)
    assert saved == [(7, 42)]
    assert recorder.retries == 3
    assert recorder.pending == 0


async def test_drain_waits_for_every_pending_save() -> None:
    gate = asyncio.Event()
    saved: list[int] = []

    async def save(r: MatchResult) -> None:
        await gate.wait()
        saved.append(r.outcomes[0][0])

    recorder = ResultRecorder(save)
    for user_id in range(5):
        recorder.record(result(user_id, 10))
    assert recorder.pending == 5
    drained = asyncio.ensure_future(recorder.drain())
    await asyncio.sleep(0)
    assert not drained.done()
    gate.set()
    await asyncio.wait_for(drained, 5)
    assert sorted(saved) == [0, 1, 2, 3, 4]


async def test_a_result_storage_refuses_is_dropped_not_retried(caplog) -> None:
    calls = 0

    async def save(r: MatchResult) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("placement must be at least 1")

    recorder = ResultRecorder(save, retry_on=(StorageError,), retry=0.001)
    recorder.record(result(1, 5))
    await asyncio.wait_for(recorder.drain(), 5)
    assert calls == 1 and recorder.retries == 0 and "refused" in caplog.text
