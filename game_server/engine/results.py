"""Saving results without blocking a room, and without losing one on shutdown or to a database
outage (a failed save is retried until it succeeds)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from game_server.games.results import LeaderboardRule, Outcome

log = logging.getLogger("arena.results")


@dataclass(frozen=True)
class MatchResult:
    """One finished match (or finished life) of a mode: (account id, outcome) per player.

    `match_id` is unique for the deployment, so a save retried after an outage counts once.
    """

    mode: str
    rule: LeaderboardRule
    match_id: str
    outcomes: list[tuple[int, Outcome]]


class ResultRecorder:
    """Writes each result through `save` in the background.

    The room only schedules a task; `drain()` waits for every pending write, so a clean
    shutdown saves every result recorded before it. A write that fails with one of `retry_on`
    (the database is unreachable) is retried with a growing delay, from `retry` up to
    `max_retry` seconds, until it succeeds: players never notice an outage, and no result is
    dropped. Any other failure (a result storage refuses) is logged and dropped.
    """

    def __init__(
        self,
        save: Callable[[MatchResult], Awaitable[object]],
        *,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        retry: float = 0.5,
        max_retry: float = 10.0,
    ) -> None:
        self._save = save
        self._retry_on = retry_on
        self._retry = retry
        self._max_retry = max_retry
        self._pending: set[asyncio.Task[None]] = set()
        self.retries = 0

    def record(self, result: MatchResult) -> None:
        if not result.outcomes:
            return
        task = asyncio.get_running_loop().create_task(self._write(result))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _write(self, result: MatchResult) -> None:
        delay = self._retry
        while True:
            try:
                await self._save(result)
            except self._retry_on as exc:
                if self.retries == 0 or delay >= self._max_retry:
                    log.warning("could not save result %s of mode %s (%s); retrying",
                                result.match_id, result.mode, exc)
                self.retries += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry)
            except Exception:
                log.exception("result %s of mode %s refused; dropped", result.match_id,
                              result.mode)
                return
            else:
                return
