"""Best-mass saves survive a database outage: retried until the database answers again."""

from __future__ import annotations

import asyncio

from game_server.engine.results import ResultRecorder
from game_server.storage.base import StorageError


async def test_a_failed_save_is_retried_until_it_succeeds() -> None:
    saved: list[tuple[int, int]] = []
    failures = 3

    async def save(user_id: int, mass: int) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise StorageError("database unreachable")
        saved.append((user_id, mass))

    recorder = ResultRecorder(save, retry=0.001, max_retry=0.004)
    recorder.record(7, 42)
    recorder.record(8, 0)  # nothing to save
    await asyncio.wait_for(recorder.drain(), 5)
    assert saved == [(7, 42)]
    assert recorder.retries == 3
    assert recorder.pending == 0


async def test_drain_waits_for_every_pending_save() -> None:
    gate = asyncio.Event()
    saved: list[int] = []

    async def save(user_id: int, mass: int) -> None:
        await gate.wait()
        saved.append(user_id)

    recorder = ResultRecorder(save)
    for user_id in range(5):
        recorder.record(user_id, 10)
    assert recorder.pending == 5
    drained = asyncio.ensure_future(recorder.drain())
    await asyncio.sleep(0)
    assert not drained.done()
    gate.set()
    await asyncio.wait_for(drained, 5)
    assert sorted(saved) == [0, 1, 2, 3, 4]
