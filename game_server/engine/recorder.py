"""What a room records for the match journal: the external calls it received, in order.

A match re-runs exactly from its header (game, version, seed, options...) and the calls its
room received from outside: joins, drops, resumes, leaves, accepted client messages, ticks,
timers, a shutdown, a close. The room appends one short list per call to its `Recorder` (the
record codes below; the format is docs/writing-a-game.md's "The match journal"), plus a hash of
the game's full state now and then, and a full snapshot less often. A `JournalSink` (the
process's journal writer) opens a recorder per room and takes the records off it in batches,
away from the tick; a room with no sink, or whose sink said no, records nothing and pays one
attribute test per call.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from game_server.games.api import Game, GameSpec, Outcome
from game_server.games.journal_buffer import JournalBuffer
from game_server.games.state import full_state, hash_json, state_json

log = logging.getLogger("arena.room")

FORMAT = 1  # the journal's format, in every header

# Record codes: the first item of every record.
JOIN = "j"  # ["j", ms, user, name, fields, player or None if refused]
DROP = "d"  # ["d", ms, player]
RESUME = "r"  # ["r", ms, player, ok]
LEAVE = "l"  # ["l", ms, player, reason] (+ message, for an operator's kick)
MESSAGE = "m"  # ["m", ms, player, kind, obj]
# (A ticking room stores its messages and steps as runs, `BATCH` in games/journal_buffer.py, read
# back as their "m" and "s" records: every reader sees those.)
STEP = "s"  # ["s", ms, steps]
TIMER = "t"  # ["t", ms, name]
TERMINATE = "x"  # ["x", ms, grace]
CLOSE = "c"  # ["c", ms, reason]
SIGNAL = "g"  # ["g", ms, name, payload] an operator's signal (the console), answered by on_signal
HASH = "h"  # ["h", tick, hash]
SNAPSHOT = "f"  # ["f", tick, state]

#: The calls a replay makes on its room (the others are checks).
CALLS = frozenset((JOIN, DROP, RESUME, LEAVE, MESSAGE, STEP, TIMER, TERMINATE, CLOSE,
                   SIGNAL))

# Defaults: a ticking room hashes every 5 s (every 5 x `tick_rate` ticks: a hash of a busy
# arena room's state once a second was the largest part of what recording cost), an
# event-driven room after every event; both keep a full snapshot every 10th hash, and one at
# the end. (A snapshot after every event, as first designed, made Liar's Dice store 20 kB per
# player-minute, most of it its random generator's state; a verification still stops at the
# first differing hash and shows the states at the next snapshot.)
SNAPSHOT_EVERY = 10
HASH_SECONDS = 5  # a ticking room's default interval between state hashes


class Recorder(JournalBuffer):
    """One room's journal while it runs.

    The room appends records (`JournalBuffer`, games/journal_buffer.py: a ticking room's inputs and
    ticks to the flat list it holds, an event-driven room's messages encoded as they come, the
    rest whole); the writer takes them once per flush (`take_raw`, which seals the list).
    `closed` is set when the room has ended (its `summary` set then): the writer stores what is
    left and ends the journal. The writer sets `dropped` when it gives up on
    this journal (a storage outage, a full queue): the room stops recording.
    """

    __slots__ = ("header", "closed", "summary", "outcomes", "players")

    def __init__(self, header: dict[str, Any]) -> None:
        super().__init__()
        self.header = header
        self.closed = False
        self.summary: dict[str, Any] | None = None
        #: What the game reported, as the summary lists it (filled by the room).
        self.outcomes: list[dict[str, Any]] = []
        #: Everyone who took a seat: {"player", "user", "name"} (filled by the room).
        self.players: list[dict[str, Any]] = []


class JournalSink(Protocol):
    """Where rooms' journals go (the process's journal writer, journal/writer.py)."""

    def open(self, header: dict[str, Any]) -> Recorder | None:
        """A recorder for a room starting with `header`, or None not to record it. The sink may
        set the header's `hash_every` and `snapshot_every` (its settings) before returning."""


class MemorySink:
    """A sink that keeps every recorder it opened (tests, tools, the harness). `hash_every`,
    when not 0, sets a ticking room's hash interval (ticks), as `--journal-hash-every` does."""

    def __init__(self, hash_every: int = 0) -> None:
        self.recorders: list[Recorder] = []
        self.hash_every = hash_every

    def open(self, header: dict[str, Any]) -> Recorder:
        if self.hash_every and header.get("tick_rate"):
            header["hash_every"] = self.hash_every
        recorder = Recorder(header)
        self.recorders.append(recorder)
        return recorder


class RoomRecording:
    """The room's side of the journal (mixed into `Room`, engine/room.py): the header, the step
    records, the state hashes and snapshots, the outcomes and the summary. The calls themselves
    are recorded by the room's external entry points (and `RoomRules.message`)."""

    # What the room provides.
    id: str
    mode: GameSpec
    seed: int
    options: Mapping[str, Any]
    ticking: bool
    tick_rate: int
    max_players: int
    private: bool
    ticks: int
    game: Game
    journal_id: str | None
    _journal: Recorder | None
    _journal_kept: list[Any] | None
    _identities: Mapping[int, Any]
    _departed: Mapping[int, Any]
    _monotonic: Callable[[], float]
    _wall: Callable[[], float]

    def _open_journal(self, sink: JournalSink) -> None:
        ticking = self.ticking
        header: dict[str, Any] = {
            "format": FORMAT, "id": uuid.uuid4().hex, "mode": self.mode.name,
            "version": self.mode.version, "room": self.id, "seed": self.seed,
            "options": dict(self.options), "tick_rate": self.tick_rate,
            "max_players": self.max_players, "private": self.private,
            "started": int(self._wall() * 1000),
            "hash_every": HASH_SECONDS * self.tick_rate if ticking else 1,
            "snapshot_every": SNAPSHOT_EVERY,
        }
        self._journal_t0 = self._monotonic()
        recorder = sink.open(header)
        if recorder is None:
            return
        header = recorder.header
        self._hash_every = max(1, int(header.get("hash_every") or 1))
        self._snapshot_every = max(1, int(header.get("snapshot_every") or 1))
        self._next_hash = self._hash_every
        self._hashes = 0
        self._journal = recorder
        self._journal_kept = recorder.kept if ticking else None
        self.journal_id = str(header["id"])

    def _journal_ms(self) -> int:
        return int((self._monotonic() - self._journal_t0) * 1000)

    def _journal_hash(self) -> None:
        """Record the state's hash after this tick (and, every `snapshot_every` hashes, the
        state itself). A game whose state cannot be taken stops the recording, not the game."""
        recorder = self._journal
        if recorder is None or recorder.dropped:
            self._journal = self._journal_kept = None
            return
        ticks = self.ticks
        every = self._hash_every
        self._next_hash = (ticks // every + 1) * every
        try:
            encoded = state_json(full_state(self.game))
        except Exception:
            log.exception("room %s: the game's state cannot be journaled; recording stops",
                          self.id)
            recorder.dropped = True
            self._journal = self._journal_kept = None
            return
        recorder.add([HASH, ticks, hash_json(encoded)])
        self._hashes += 1
        if self._hashes % self._snapshot_every == 0:
            # The text just hashed, as it will be stored (an orjson fragment: encoded as it is,
            # and a copy, since the game goes on changing its own objects meanwhile).
            recorder.add([SNAPSHOT, ticks, orjson.Fragment(encoded)])

    def _journal_end(self, reason: str) -> None:
        """The room closed: a last snapshot, the summary, and the recorder marked closed."""
        recorder = self._journal
        if recorder is None:
            return
        self._journal = self._journal_kept = None
        if not recorder.dropped:
            try:
                recorder.add([SNAPSHOT, self.ticks,
                                         orjson.Fragment(state_json(full_state(self.game)))])
            except Exception:
                log.exception("room %s: the game's last state cannot be journaled", self.id)
        now = self._journal_ms()
        recorder.summary = {
            "ended": int(self._wall() * 1000), "ticks": self.ticks, "duration_ms": now,
            "reason": reason, "players": recorder.players, "outcomes": recorder.outcomes,
        }
        recorder.closed = True

    def _journal_outcomes(self, outcomes: list[Outcome]) -> None:
        known = self._identities
        departed = self._departed
        for outcome in outcomes:
            who = known.get(outcome.player) or departed.get(outcome.player)
            entry: dict[str, Any] = {"player": outcome.player,
                                     "user": who.id if who is not None else None,
                                     "name": who.name if who is not None else None}
            for key in ("score", "placement", "won"):
                value = getattr(outcome, key, None)
                if value is not None:
                    entry[key] = value
            self._journal.outcomes.append(entry)  # type: ignore[union-attr]
