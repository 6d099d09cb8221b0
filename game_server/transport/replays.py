"""Replays in the browser: what one viewer of a recorded match received, as JSON for the SDK's
replay source (client/web/sdk/replay.js), the list of replays, and a match's replay page: the
game's own page (its template and module), which plays the recording instead of joining.

`GET /api/replays/<id>/stream?viewer=P` re-runs the match (journal/replay.py) to get what player
P's connection was sent: the whole match for a finished one, for any player or 0 (the public
view); while it is live, only the asker's own seat. Re-running costs CPU, so one runs at a time
per process, off the event loop, a match longer than `--replay-max-bytes` is refused rather than
re-run, and a finished match's streams (which never change) are kept, compressed, in a small
cache.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import tornado.web
from tornado.escape import url_escape
from tornado.ioloop import IOLoop

from game_server.games.api import GameSpec
from game_server.journal.codec import decode_chunk
from game_server.journal.replay import Replay, ReplayError
from game_server.journal.store import JournalData
from game_server.storage.base import Storage
from game_server.transport.base import ApiError, BaseHandler, JsonHandler, Services
from game_server.transport.pages import GENERIC_MODULE

SPECTATOR = 0  # the public view (games/api.py SPECTATOR)
JOURNAL_ID = re.compile(r"^[0-9a-fA-F]{1,64}$")  # uuid4 hex, as the recorder makes them
VIEWER = re.compile(r"^\d{1,9}$")


@dataclass(frozen=True)
class Stream:
    """One viewer's stream as sent: the JSON and its gzip (both made once)."""

    body: bytes
    gzipped: bytes


class ReplayStreams:
    """Loads journals and turns them into streams: the rules of who may watch what, one re-run
    at a time (in a worker thread: a long match must not stall the rooms' ticks), and a cache
    of finished matches' streams, bounded by count and bytes."""

    def __init__(self, storage: Storage, modes: Mapping[str, GameSpec], *,
                 max_journal_bytes: int = 2 << 20, max_streams: int = 16,
                 max_bytes: int = 64 << 20) -> None:
        """`max_journal_bytes` (0: no limit): the longest journal re-run, in stored bytes;
        `max_streams` and `max_bytes` bound the cache of finished matches' streams."""
        self.storage = storage
        self.max_journal_bytes = max_journal_bytes
        self.modes = modes
        self.max_streams = max_streams
        self.max_bytes = max_bytes
        self._streams: OrderedDict[tuple[str, int], Stream] = OrderedDict()
        self._bytes = 0
        self._journals: OrderedDict[str, JournalData] = OrderedDict()  # finished, a few
        self._rerun = asyncio.Semaphore(1)

    async def journal(self, journal_id: str) -> JournalData | None:
        """The stored journal, or None (unknown, purged, or not an id at all)."""
        if not JOURNAL_ID.match(journal_id):
            return None
        data = self._journals.get(journal_id)
        if data is not None:
            self._journals.move_to_end(journal_id)
            return data
        data = await self._load(journal_id)
        if data is not None and data.finished and self._within_limit(data):
            # The page's request is followed by the stream's: load once.
            self._journals[journal_id] = data
            while len(self._journals) > 4:
                self._journals.popitem(last=False)
        return data

    async def _load(self, journal_id: str) -> JournalData | None:
        """`load_journal`, but its chunks decoded on a worker thread (megabytes of records
        must not stall the rooms' ticks) and only when the journal is within the limit (a
        longer one comes back without its records: it is refused, not re-run)."""
        found = await self.storage.journal_load(journal_id)
        if found is None:
            return None
        records: list[list[Any]] = []
        if not self.max_journal_bytes or found["bytes"] <= self.max_journal_bytes:
            records = await IOLoop.current().run_in_executor(None, decode_all, found["chunks"])
        return JournalData(id=found["id"], header=found["header"], summary=found["summary"],
                           records=records, bytes=found["bytes"])

    async def stream(self, journal_id: str, viewer_arg: str | None, user_id: int) -> Stream:
        """Viewer `viewer_arg`'s stream of the match (the asker's own seat, else the public
        view, when None), or `ApiError`: 404 unknown, 400 not a viewer, 403 not yours, 409 a
        match this server cannot replay, 413 one too long to re-run here."""
        try:
            data = await self.journal(journal_id)
        except ReplayError as exc:  # a chunk that does not decode
            raise ApiError(409, "replay_unavailable",
                           f"This match's journal cannot be read: {exc}") from None
        if data is None:
            raise ApiError(404, "replay_not_found",
                           f"No replay has the id {journal_id[:64]!r}: it may be mistyped, or it "
                           "was deleted.")
        if not self._within_limit(data):
            raise ApiError(413, "replay_too_long",
                           f"This match is too long to watch here ({data.bytes / 1e6:.1f} MB "
                           f"recorded; this server replays up to "
                           f"{self.max_journal_bytes / 1e6:.1f} MB). `python -m game_server "
                           f"replay export {data.id}` gives it as a file.")
        mine = players_of(data.records, user_id)
        viewer = self._viewer(viewer_arg, data, mine)
        try:
            return await self._stream(data, viewer)
        except ApiError:
            if viewer_arg or viewer != SPECTATOR or not (players := joined_players(data.records)):
                raise
            # No public view of this match (a server without spectators): the first seat's.
            return await self._stream(data, min(players))

    async def _stream(self, data: JournalData, viewer: int) -> Stream:
        key = (data.id, viewer)
        cached = self._streams.get(key)
        if cached is not None:
            self._streams.move_to_end(key)
            return cached
        async with self._rerun:
            cached = self._streams.get(key)  # made while we waited
            if cached is not None:
                return cached
            loop = IOLoop.current()
            made = await loop.run_in_executor(None, self._make, data, viewer)
        if data.finished:
            self._keep(key, made)
        return made

    def _within_limit(self, data: JournalData) -> bool:
        return not self.max_journal_bytes or data.bytes <= self.max_journal_bytes

    def _viewer(self, raw: str | None, data: JournalData, mine: list[int]) -> int:
        if raw is None or raw == "":
            if mine:
                return mine[-1]
            if data.finished:
                return SPECTATOR
            raise ApiError(403, "forbidden",
                           "This match is still being played: only its players can watch "
                           "their own view until it ends.")
        if not VIEWER.match(raw):
            raise ApiError(400, "bad_viewer",
                           f"viewer must be a player id or 0 (the public view), not {raw[:20]!r}.")
        viewer = int(raw)
        if viewer != SPECTATOR and viewer not in joined_players(data.records):
            raise ApiError(400, "bad_viewer", f"Player {viewer} is not in this match.")
        if not data.finished and viewer not in mine:
            raise ApiError(403, "forbidden",
                           "This match is still being played: you can watch only your own "
                           "view until it ends.")
        return viewer

    def _make(self, data: JournalData, viewer: int) -> Stream:
        """Re-run the match for `viewer` (in a worker thread)."""
        try:
            replay = Replay(data.header, data.records, data.summary, modes=self.modes)
            events = [[ms, without_secrets(msg)] for ms, msg in replay.messages_for(viewer)]
            viewers = replay.viewers()
        except ReplayError as exc:
            raise ApiError(409, "replay_unavailable", f"This match cannot be replayed: {exc}") \
                from None
        header = data.header
        duration = duration_ms(data)
        if events:
            duration = max(duration, int(events[-1][0]))
        body = orjson.dumps({
            "id": data.id,
            "mode": header.get("mode"),
            "version": header.get("version"),
            "finished": data.finished,
            "viewer": viewer,
            "viewers": viewers,
            "duration_ms": duration,
            "tick_rate": header.get("tick_rate", 0),
            "events": events,
        }, option=orjson.OPT_NON_STR_KEYS)
        return Stream(body, gzip.compress(body, compresslevel=5))

    def _keep(self, key: tuple[str, int], stream: Stream) -> None:
        size = len(stream.gzipped) + len(stream.body)
        if size > self.max_bytes:
            return
        self._streams[key] = stream
        self._bytes += size
        while len(self._streams) > self.max_streams or self._bytes > self.max_bytes:
            _, old = self._streams.popitem(last=False)
            self._bytes -= len(old.gzipped) + len(old.body)


def decode_all(chunks: list[bytes]) -> list[list[Any]]:
    """A journal's records from its stored chunks, in order (`ReplayError` if one is damaged)."""
    records: list[list[Any]] = []
    for chunk in chunks:
        records.extend(decode_chunk(chunk))
    return records


def joined_players(records: list[list[Any]]) -> set[int]:
    """Every player id a join of the journal got."""
    return {r[5] for r in records if r and r[0] == "j" and len(r) > 5 and isinstance(r[5], int)}


def players_of(records: list[list[Any]], user_id: int) -> list[int]:
    """The player ids `user_id` had in the match, in the order it got them."""
    return [r[5] for r in records
            if r and r[0] == "j" and len(r) > 5 and r[2] == user_id and isinstance(r[5], int)]


def duration_ms(data: JournalData) -> int:
    """The match's length: the summary's once it ended, else up to its last record."""
    if data.summary and isinstance(data.summary.get("duration_ms"), int | float):
        return int(data.summary["duration_ms"])
    last = 0
    for record in data.records:
        # `h` and `f` records carry a tick, not a time.
        if record and record[0] not in ("h", "f") and len(record) > 1 \
                and isinstance(record[1], int | float):
            last = max(last, int(record[1]))
    return last


def without_secrets(msg: dict[str, Any]) -> dict[str, Any]:
    """A recorded message as a viewer may see it: a `joined`'s resume token (a seat's key) is
    never shown, even a dead one."""
    if msg.get("type") == "joined" and "resume" in msg:
        return {k: v for k, v in msg.items() if k != "resume"}
    return msg


class ReplayStreamHandler(JsonHandler):
    """`GET /api/replays/<id>/stream?viewer=P`: what viewer P received, `[ms, message]` pairs
    from its `joined` (PROTOCOL.md, section 1)."""

    def initialize(self, services: Services, streams: ReplayStreams) -> None:  # type: ignore[override]
        super().initialize(services)
        self.streams = streams

    async def get(self, journal_id: str) -> None:
        user = self.require_user()
        viewer = self.get_query_argument("viewer", None)
        stream = await self.streams.stream(journal_id, viewer, user.id)
        self.set_header("Vary", "Accept-Encoding")
        if "gzip" in self.request.headers.get("Accept-Encoding", ""):
            self.set_header("Content-Encoding", "gzip")
            self.finish(stream.gzipped)
        else:
            self.finish(stream.body)


class ReplaysPage(BaseHandler):
    """`GET /replays`: your recent matches and the top matches of each mode (filled in by
    client/web/replays.js from `GET /api/replays`)."""

    @tornado.web.authenticated
    def get(self) -> None:
        modes = list(self.services.matchmaker.modes.values())
        self.render("replays.html", user=self.current_user, modes=modes)


class ReplayPage(BaseHandler):
    """`GET /replays/<id>?viewer=P`: the match's game page (`GameSpec.page`, the same template
    and module as `/play`), which the SDK turns into a replay; an unknown id, a page that says
    so."""

    def initialize(self, services: Services, streams: ReplayStreams) -> None:  # type: ignore[override]
        super().initialize(services)
        self.streams = streams

    @tornado.web.authenticated
    async def get(self, journal_id: str) -> None:
        try:
            data = await self.streams.journal(journal_id)
        except ReplayError as exc:
            self._missing(409, "This replay cannot be shown",
                          f"This match's journal cannot be read: {exc}")
            return
        if data is None:
            self._missing(404, f"No replay has the id “{journal_id[:64]}”",
                          "It may be mistyped, or the match was deleted (old matches are kept "
                          "only so long).")
            return
        mode = str(data.header.get("mode", ""))
        spec = self.services.matchmaker.modes.get(mode)
        page = spec.page if spec is not None else None
        self.render(
            page.template if page is not None else "game.html",
            user=self.current_user, mode=mode, room="",
            title=f"Replay · {(spec.title or mode) if spec is not None else mode}",
            module_url=(f"/games/{url_escape(mode, plus=False)}/{page.module}" if page is not None
                        else GENERIC_MODULE),
        )

    def _missing(self, status: int, heading: str, detail: str) -> None:
        self.set_status(status)
        self.render("replay_missing.html", user=self.current_user, heading=heading,
                    detail=detail)
