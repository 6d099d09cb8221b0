"""A match journal's records as a room keeps them until the journal's writer takes them.

`JournalBuffer` is what a room (engine/recorder.py's `Recorder`) and the test harness
(games/harness_journal.py) append to; `RoomRules.message` (games/contract.py) appends a ticking
room's inputs to its `kept` list. A ticking room's inputs and ticks are stored as `BATCH`
records, which every reader gets back as one record per input and per tick
(`expand_batches`, used by `decoded_records` here and by the journal's codec).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

_dumps = orjson.dumps



#: A stored run of a ticking room's client messages and ticks:
#: ["M", ms, [who...], [item...]], where `who` is a player id and `item` the message it sent,
#: or `who` is minus a tick's steps and `item` that tick's time (ms); a message's time is the
#: last tick's before it (`ms` before the first). Read back as one `["m", ms, player,
#: obj["type"], obj]` or `["s", ms, steps]` record each (`expand_batches`).
BATCH = "M"


class JournalBuffer:
    """A match journal's records as a room appends them, until its writer takes them.

    The records a busy room makes most cost it the least. A ticking room keeps its client
    messages as the text each client sent and its ticks as their times, in one flat list
    (`kept`: who, then the text; a tick is minus its steps, then its time), and the list is
    encoded as one `BATCH` record when it is taken (`seal`). A message then costs the room two
    appends to a list it holds itself, and nothing the garbage collector tracks: encoding each
    input as its own record, or touching more objects per input, cost the server more than all
    the rest of recording (an input arrives with every cache cold). An event-driven room's
    messages are encoded the moment they come and appended to `pending` (each followed by a
    comma). Every other record is appended whole to `records` with `add`, after what was kept
    before it (sealed into a `bytes` item), so the order holds; a whole record may still be
    filled in after it was added (a join's outcome), until it is taken. Sealing early (at
    `add`, `take_raw`, `peek`) only splits a batch: the order and the times are the same.
    """

    __slots__ = ("records", "pending", "dropped", "kept", "since")

    def __init__(self) -> None:
        self.records: list[Any] = []
        self.pending = bytearray()
        #: The writer gave up on this journal (an outage): the room stops appending.
        self.dropped = False
        #: A ticking room's messages and ticks since the last seal (the room appends to this
        #: very list, which is never replaced).
        self.kept: list[int | str] = []
        #: The time (journal ms) of the batch's start: the last tick kept before it.
        self.since = 0

    def step(self, stamp: int, steps: int) -> None:
        """A tick of `steps` steps at `stamp` (ms), kept after the messages before it (a room
        appends the same two items itself, engine/room_clock.py)."""
        kept = self.kept
        kept.append(-steps)
        kept.append(str(stamp))

    def seal(self) -> None:
        """Encode the messages and ticks kept so far as one `BATCH` record in `pending`."""
        kept = self.kept
        if not kept:
            return
        who = kept[0::2]
        self.pending += b'["M",%d,%b,[%b]],' % (
            self.since, _dumps(who), ",".join(kept[1::2]).encode())  # type: ignore[arg-type]
        for i in range(len(who) - 1, -1, -1):  # the next batch starts at the last tick
            if who[i] < 0:  # type: ignore[operator]
                self.since = int(kept[2 * i + 1])
                break
        kept.clear()

    def add(self, record: list[Any]) -> None:
        """Append one whole record, after the encoded ones before it."""
        if self.kept:
            self.seal()
        if self.pending:
            self.records.append(bytes(self.pending))
            self.pending.clear()
        self.records.append(record)

    def take_raw(self) -> list[Any]:
        """Everything appended since the last take, as stored: whole records and runs of
        encoded ones (`bytes`); `encoded_records` makes them one JSON array."""
        if self.kept:
            self.seal()
        if self.pending:
            self.records.append(bytes(self.pending))
            self.pending.clear()
        records = self.records
        self.records = []
        return records

    def take(self) -> list[list[Any]]:
        """Everything appended since the last take, each record a list."""
        return decoded_records(self.take_raw())

    def peek(self) -> list[list[Any]]:
        """What `take` would give, left in place (the operator console's recent messages)."""
        if self.kept:
            self.seal()
        raw = list(self.records)
        if self.pending:
            raw.append(bytes(self.pending))
        return decoded_records(raw)


def message_text(kind: str, obj: Mapping[str, Any], text: str | bytes | None = None) -> str:
    """A client message as a batch keeps it: the text the client sent, or `obj` encoded (with
    its `type`, which a batch's reader takes as the message's kind)."""
    if type(text) is str:
        return text
    if type(text) is bytes:
        return text.decode()
    if obj.get("type") != kind:
        obj = {**obj, "type": kind}
    return _dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()


def expand_batches(records: list[Any]) -> list[Any]:
    """`records` with each `BATCH` record read back as its messages' and ticks' own records, in
    order; `ValueError` for a malformed batch."""
    out: list[Any] = []
    for record in records:
        if type(record) is not list or not record or record[0] != BATCH:
            out.append(record)
            continue
        if len(record) != 4 or type(record[2]) is not list or type(record[3]) is not list \
                or len(record[2]) != len(record[3]):
            raise ValueError("a batch of messages is malformed")
        ms = record[1]
        for who, item in zip(record[2], record[3], strict=True):
            if type(who) is not int:
                raise ValueError("a batch's entry names no player")
            if who < 0:  # a tick: its steps, its time
                if type(item) is not int:
                    raise ValueError("a batched tick has no time")
                out.append(["s", item, -who])
                ms = item
            elif type(item) is not dict or type(item.get("type")) is not str:
                raise ValueError("a batched message has no type")
            else:
                out.append(["m", ms, who, item["type"], item])
    return out


def decoded_records(raw: list[Any]) -> list[list[Any]]:
    """Records taken from a `JournalBuffer`, each a list (its encoded runs decoded, its batches
    of messages expanded)."""
    out: list[list[Any]] = []
    for item in raw:
        if type(item) is bytes:
            out.extend(orjson.loads(b"[" + item[:-1] + b"]"))
        else:
            out.append(item)
    return expand_batches(out)


def encoded_records(raw: list[Any]) -> bytes:
    """Records taken from a `JournalBuffer` as one JSON array (its encoded runs as they are)."""
    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    return b"[" + b",".join(item[:-1] if type(item) is bytes else dumps(item, option=option)
                            for item in raw) + b"]"
