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

from typing import Any, Protocol

FORMAT = 1  # the journal's format, in every header

# Record codes: the first item of every record.
JOIN = "j"  # ["j", ms, user, name, fields, player or None if refused]
DROP = "d"  # ["d", ms, player]
RESUME = "r"  # ["r", ms, player, ok]
LEAVE = "l"  # ["l", ms, player, reason] (+ message, for an operator's kick)
MESSAGE = "m"  # ["m", ms, player, kind, obj]
STEP = "s"  # ["s", ms, steps]
TIMER = "t"  # ["t", ms, name]
TERMINATE = "x"  # ["x", ms, grace]
CLOSE = "c"  # ["c", ms, reason]
HASH = "h"  # ["h", tick, hash]
SNAPSHOT = "f"  # ["f", tick, state]

#: The calls a replay makes on its room (the others are checks).
CALLS = frozenset((JOIN, DROP, RESUME, LEAVE, MESSAGE, STEP, TIMER, TERMINATE, CLOSE))

# Defaults: a ticking room hashes once a second (every `tick_rate` ticks), an event-driven room
# after every event; both keep a full snapshot every 10th hash, and one at the end. (A snapshot
# after every event, as first designed, made Liar's Dice store 20 kB per player-minute, most
# of it its random generator's state; a verification still stops at the first differing hash
# and shows the states at the next snapshot.)
SNAPSHOT_EVERY = 10


class Recorder:
    """One room's journal while it runs.

    The room appends to `records`; the writer swaps the list out with `take()` once per flush.
    `closed` is set when the room has ended (its `summary` set then): the writer stores what is
    left and ends the journal. The writer sets `dropped` when it gives up on this journal (a
    storage outage, a full queue): the room stops recording.
    """

    __slots__ = ("header", "records", "closed", "summary", "dropped", "outcomes", "players")

    def __init__(self, header: dict[str, Any]) -> None:
        self.header = header
        self.records: list[list[Any]] = []
        self.closed = False
        self.summary: dict[str, Any] | None = None
        self.dropped = False
        #: What the game reported, as the summary lists it (filled by the room).
        self.outcomes: list[dict[str, Any]] = []
        #: Everyone who took a seat: {"player", "user", "name"} (filled by the room).
        self.players: list[dict[str, Any]] = []

    def take(self) -> list[list[Any]]:
        """The records appended since the last call (the writer's batch)."""
        records = self.records
        self.records = []
        return records


class JournalSink(Protocol):
    """Where rooms' journals go (the process's journal writer, journal/writer.py)."""

    def open(self, header: dict[str, Any]) -> Recorder | None:
        """A recorder for a room starting with `header`, or None not to record it. The sink may
        set the header's `hash_every` and `snapshot_every` (its settings) before returning."""


class MemorySink:
    """A sink that keeps every recorder it opened (tests, tools, the harness)."""

    def __init__(self) -> None:
        self.recorders: list[Recorder] = []

    def open(self, header: dict[str, Any]) -> Recorder:
        recorder = Recorder(header)
        self.recorders.append(recorder)
        return recorder
