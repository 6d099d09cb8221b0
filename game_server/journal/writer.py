"""The process's journal writer: takes each room's records off its `Recorder` on a timer of its
own, compresses them into chunks and writes them to storage in order, never on a room's tick.

Rooms only append to lists (engine/recorder.py). Every `flush_interval` seconds (one by
default) the writer takes every recorder's records (`take_raw`: what a ticking room kept is
sealed into one batch record then), compresses each room's batch on a worker thread (zlib lets
go of the GIL while it works, so the event loop never waits on compression) and queues one
storage write per chunk; a flush's chunks are stored with one storage call. A single task
writes the queue in order, so each journal's chunks arrive in sequence and its end comes last.

Recording never costs a game anything: when storage fails a write, or the queue of encoded
bytes not yet written would pass `max_queue_bytes`, that journal is dropped (its recorder's
`dropped`, so the room stops appending), the log says so once per outage, and
`arena_journal_dropped` counts it on /metrics. A journal that would pass `max_journal_bytes`
(an endless room that never closes) stops there too. Where storage still answers, a journal
stopped early is ended with what is known (its summary's `dropped` says why): what was stored
is a whole prefix of the match, which replays and verifies as far as it goes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from game_server.engine.recorder import Recorder
from game_server.journal.codec import encode_chunk
from game_server.storage.base import Storage

log = logging.getLogger("arena.journal")

# Chunks stored by one storage call (one commit): a flush's worth for a few hundred rooms.
_BATCH = 256

Encoder = Callable[[list[list[Any]]], bytes]


class JournalStats:
    """What the writer has done, as plain counts (exported by `JournalCollector`)."""

    __slots__ = ("journals", "chunks", "bytes", "dropped", "queue_bytes", "encode_seconds")

    def __init__(self) -> None:
        self.journals = 0  # journals opened
        self.chunks = 0  # chunks written
        self.bytes = 0  # compressed bytes written
        self.dropped = 0  # journals dropped (outage or full queue)
        self.queue_bytes = 0  # encoded bytes waiting to be written
        self.encode_seconds = 0.0  # worker-thread time spent encoding


class JournalCollector(Collector):
    """The writer's counts as `arena_journal_*` metrics, read at scrape time."""

    def __init__(self, stats: JournalStats) -> None:
        self._s = stats

    def collect(self) -> Iterator[Metric]:
        s = self._s
        yield CounterMetricFamily("arena_journal_journals", "Match journals opened", s.journals)
        yield CounterMetricFamily("arena_journal_chunks", "Journal chunks written", s.chunks)
        yield CounterMetricFamily("arena_journal_bytes_written",
                                  "Compressed journal bytes written to storage", s.bytes)
        yield CounterMetricFamily("arena_journal_dropped", "Journals whose recording was "
                                  "dropped (storage failed or the write queue was full)",
                                  s.dropped)
        yield CounterMetricFamily("arena_journal_encode_seconds",
                                  "Time spent compressing journal chunks (worker thread)",
                                  s.encode_seconds)
        yield GaugeMetricFamily("arena_journal_queue_bytes",
                                "Encoded journal bytes waiting to be written", s.queue_bytes)


class _Journal:
    """The writer's side of one recorder: the next chunk number, whether it was begun."""

    __slots__ = ("recorder", "id", "seq", "begun", "dropped", "size")

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.id: str = recorder.header["id"]
        self.seq = 0
        self.begun = False
        self.dropped = False
        self.size = 0  # compressed bytes queued or written


# A queued write: ("begin", journal, header) | ("append", journal, (seq, data)) |
# ("end", journal, summary) | ("stop", journal, summary): the end of a journal stopped early,
# written although the journal is dropped.
_Op = tuple[str, _Journal, Any]


class JournalWriter:
    """The `JournalSink` rooms record into; `start()` it on the event loop, `stop()` it before
    the storage closes (it writes everything left first).

    `hash_every` (ticks) and `snapshot_every` (hashes), when not 0, replace a ticking room's
    defaults in each header it opens (event-driven rooms hash after every event; their
    snapshots follow `snapshot_every` too). `max_journal_bytes` (0: no limit) bounds one
    journal. `encode` turns a batch of records into a chunk; `wall` is the wall clock (s).
    """

    def __init__(
        self,
        storage: Storage,
        *,
        flush_interval: float = 1.0,
        max_queue_bytes: int = 8 * 1024 * 1024,
        max_journal_bytes: int = 0,
        hash_every: int = 0,
        snapshot_every: int = 0,
        encode: Encoder = encode_chunk,
        stats: JournalStats | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if flush_interval <= 0 or max_queue_bytes <= 0:
            raise ValueError("flush_interval and max_queue_bytes must be positive")
        self.storage = storage
        self.flush_interval = flush_interval
        self.max_queue_bytes = max_queue_bytes
        self.max_journal_bytes = max_journal_bytes
        self._wall = wall
        self.hash_every = hash_every
        self.snapshot_every = snapshot_every
        self.stats = stats or JournalStats()
        self._encode = encode
        self._journals: dict[str, _Journal] = {}
        self._queue: deque[_Op] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._outage = False  # logged once until a write succeeds again
        self._executor: ThreadPoolExecutor | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._flushing: asyncio.Lock | None = None

    # -- the sink -------------------------------------------------------------------------------

    def open(self, header: dict[str, Any]) -> Recorder | None:
        """A recorder for a room starting now (the room calls this in its constructor)."""
        if self._drainer is None:  # not started, or stopped: record nothing
            return None
        if header.get("tick_rate"):
            if self.hash_every:
                header["hash_every"] = self.hash_every
            if self.snapshot_every:
                header["snapshot_every"] = self.snapshot_every
        elif self.snapshot_every:
            header["snapshot_every"] = self.snapshot_every
        recorder = Recorder(header)
        self._journals[header["id"]] = _Journal(recorder)
        self.stats.journals += 1
        return recorder

    @property
    def live(self) -> int:
        """Journals open now (rooms recording, or ended with records not yet taken)."""
        return len(self._journals)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the flush timer and the writing task (on the running event loop)."""
        if self._drainer is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arena-journal")
        self._flushing = asyncio.Lock()
        self._drainer = asyncio.get_running_loop().create_task(self._drain_forever())
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    async def stop(self, grace: float = 10.0) -> None:
        """Flush every recorder (a room still open is written as far as it got), write the
        queue out (within `grace` seconds; what is left then is dropped and logged), stop."""
        if self._drainer is None:
            return
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
        try:
            await asyncio.wait_for(self._flush_and_wait(), grace)
        except TimeoutError:
            log.error("journal: %d writes not finished within %.0f s at shutdown; dropped",
                      len(self._queue), grace)
        drainer, self._drainer = self._drainer, None
        drainer.cancel()
        await asyncio.gather(drainer, return_exceptions=True)
        for journal in list(self._journals.values()):
            # Rooms still open after the final flush (stop before the rooms closed): they
            # stop recording, which is no failure to count.
            journal.dropped = journal.recorder.dropped = True
        self._journals.clear()
        self._queue.clear()
        self.stats.queue_bytes = 0
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def _flush_and_wait(self) -> None:
        await self.flush()
        await self.written()

    async def written(self) -> None:
        """Wait until every queued write is done (tests, shutdown)."""
        while self._queue or not self._idle.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)

    # -- flushing (event loop, then worker thread) ---------------------------------------------

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            # Shielded: `stop` cancels this loop, never a flush half done (its records are
            # taken from the rooms already; `stop`'s own flush waits for it on the lock).
            await asyncio.shield(self._flush_logged())

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception:  # never let the timer die; the next flush tries again
            log.exception("journal: flush failed")

    async def flush(self) -> None:
        """Take every recorder's records now, encode them off the loop and queue the writes."""
        if self._flushing is None or self._executor is None:
            return
        async with self._flushing:
            batches: list[tuple[_Journal, list[list[Any]], bool]] = []
            for journal in list(self._journals.values()):
                recorder = journal.recorder
                if journal.dropped or recorder.dropped:
                    del self._journals[journal.id]
                    continue
                # Read closed before taking: records appended before the close are taken now.
                closed = recorder.closed
                records = recorder.take_raw()  # as stored: runs of them already encoded
                if records or closed:
                    batches.append((journal, records, closed))
                if closed:
                    del self._journals[journal.id]
            if not batches:
                return
            todo = [records for _, records, _ in batches]
            chunks, seconds = await asyncio.get_running_loop().run_in_executor(
                self._executor, _encode_all, self._encode, todo)
            self.stats.encode_seconds += seconds
            for (journal, _, closed), chunk in zip(batches, chunks, strict=True):
                self._queue_chunk(journal, chunk, closed)
            self._wake.set()

    def _queue_chunk(self, journal: _Journal, chunk: bytes | Exception | None,
                     closed: bool) -> None:
        if journal.dropped:
            return
        if isinstance(chunk, Exception):  # one room's bad records stop its journal alone
            if journal.begun:
                self._stop_early(journal, f"its records cannot be encoded: {chunk}")
            else:
                journal.recorder.dropped = True
                self._journals.pop(journal.id, None)
                self.stats.dropped += 1
                log.warning("journal %s: records cannot be encoded (%s); not recorded",
                            journal.id, chunk)
            return
        if not journal.begun:
            if chunk is None and closed:
                return  # a room that recorded nothing: no journal at all
            self._queue.append(("begin", journal, journal.recorder.header))
            journal.begun = True
        if chunk is not None:
            if self.stats.queue_bytes + len(chunk) > self.max_queue_bytes:
                self._drop(journal, f"the write queue is full ({self.max_queue_bytes} bytes)",
                           end=True)
                return
            if self.max_journal_bytes and journal.size + len(chunk) > self.max_journal_bytes:
                self._stop_early(journal, f"the journal reached {self.max_journal_bytes} bytes")
                return
            self._queue.append(("append", journal, (journal.seq, chunk)))
            journal.seq += 1
            journal.size += len(chunk)
            self.stats.queue_bytes += len(chunk)
        if closed:
            self._queue.append(("end", journal, journal.recorder.summary or {}))

    # -- writing (one task, in queue order) ----------------------------------------------------

    async def _drain_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._idle.clear()
            try:
                while self._queue:
                    queue = self._queue  # `_drop` replaces it
                    if queue[0][0] == "append":  # a flush's chunks: one write for them all
                        batch = []
                        while queue and queue[0][0] == "append" and len(batch) < _BATCH:
                            batch.append(queue.popleft())
                        await self._write_appends(batch)
                    else:
                        await self._write(queue.popleft())
            finally:
                self._idle.set()

    async def _write(self, op: _Op) -> None:
        kind, journal, arg = op
        size = len(arg[1]) if kind == "append" else 0
        try:
            if journal.dropped and kind != "stop":
                return
            if kind == "begin":
                await self.storage.journal_begin(arg)
            elif kind == "append":
                await self.storage.journal_append(journal.id, arg[0], arg[1])
                self.stats.chunks += 1
                self.stats.bytes += size
            else:
                await self.storage.journal_end(journal.id, arg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if kind == "stop":
                log.debug("journal %s: could not end it early: %s", journal.id, exc)
            self._drop(journal, f"storage failed: {exc}")
            return
        finally:
            self.stats.queue_bytes -= size
        if self._outage:
            self._outage = False
            log.warning("journal: storage writes work again; matches are recorded")

    async def _write_appends(self, ops: list[_Op]) -> None:
        """Store consecutive chunks (of any journals, each journal's in order) with one
        storage call: a commit per flush, not per room."""
        todo = [op for op in ops if not op[1].dropped]
        size = sum(len(op[2][1]) for op in ops)
        try:
            failed = await self.storage.journal_append_many(
                [(journal.id, seq, data) for _, journal, (seq, data) in todo]) if todo else {}
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            for _, journal, _ in todo:
                self._drop(journal, f"storage failed: {exc}")
            return
        finally:
            self.stats.queue_bytes -= size
        for _, journal, (_, data) in todo:
            why = failed.get(journal.id)
            if why is not None:
                self._drop(journal, f"storage failed: {why}")
            elif not journal.dropped:
                self.stats.chunks += 1
                self.stats.bytes += len(data)
        if self._outage and len(failed) < len(todo):
            self._outage = False
            log.warning("journal: storage writes work again; matches are recorded")

    def _stop_early(self, journal: _Journal, why: str) -> None:
        """A journal reached its own limit: the room stops recording; what is queued is
        written, then the journal is ended with what is known."""
        journal.recorder.dropped = True
        self._journals.pop(journal.id, None)
        self.stats.dropped += 1
        log.warning("journal %s (room %s): recording stops: %s", journal.id,
                    journal.recorder.header.get("room"), why)
        recorder = journal.recorder
        summary = (dict(recorder.summary, dropped=why) if recorder.closed and recorder.summary
                   else self._early_summary(journal, why))
        self._queue.append(("end", journal, summary))

    def _drop(self, journal: _Journal, why: str, *, end: bool = False) -> None:
        """Give up on a journal: the room stops recording, its queued chunks are not written.
        `end`: storage still answers (the queue is only full), so end the journal with what is
        known."""
        if journal.dropped:
            return
        journal.dropped = True
        journal.recorder.dropped = True
        self._journals.pop(journal.id, None)
        self.stats.dropped += 1
        if not self._outage:  # once, until a write succeeds again
            self._outage = True
            log.error("journal: recording dropped (%s); the games go on, unrecorded", why)
        else:
            log.debug("journal %s dropped: %s", journal.id, why)
        # Its chunks still queued are skipped by _write; free their bytes from the bound now.
        kept: deque[_Op] = deque()
        for op in self._queue:
            if op[1] is journal:
                if op[0] == "append":
                    self.stats.queue_bytes -= len(op[2][1])
            else:
                kept.append(op)
        self._queue = kept
        if end and journal.begun:
            self._queue.append(("stop", journal, self._early_summary(journal, why)))
            self._wake.set()

    def _early_summary(self, journal: _Journal, why: str) -> dict[str, Any]:
        """The summary of a journal stopped before its room ended: who had played so far."""
        recorder = journal.recorder
        ended = int(self._wall() * 1000)
        return {"ended": ended, "duration_ms": max(0, ended - int(recorder.header["started"])),
                "reason": "recording_stopped", "dropped": why,
                "players": list(recorder.players), "outcomes": list(recorder.outcomes)}


def _encode_all(encode: Encoder, batches: list[list[list[Any]]]
                ) -> tuple[list[bytes | Exception | None], float]:
    """Encode each non-empty batch (worker thread); return the chunks (or the error a batch
    raised) and the thread time it took."""
    start = time.thread_time()
    chunks: list[bytes | Exception | None] = []
    for records in batches:
        try:
            chunks.append(encode(records) if records else None)
        except Exception as exc:  # e.g. a value JSON cannot hold
            chunks.append(exc)
    return chunks, time.thread_time() - start
