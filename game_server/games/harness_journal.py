"""A `GameHarness` that records: the match journal a room would keep, and its verification.

`HarnessRecording` is mixed into `GameHarness` (games/testing.py). With `record=True` the
harness keeps the records a room's `Recorder` would (engine/recorder.py; the format is
docs/writing-a-game.md's "The match journal"), at the same points: `join` here records then
seats (`_join`), the harness's other entry points record inline, and a hash of the game's full
state follows every `hash_every` ticks, with a snapshot every `snapshot_every` hashes and at
the end. `journal()` gives (header, records); `verify()` re-runs them through a real room.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from game_server.games.journal_buffer import JournalBuffer
from game_server.games.state import full_state, normalized, state_hash
from protocol.errors import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from game_server.games.api import Game, GameSpec
    from game_server.games.harness_room import HarnessRoom

# Joins refused before the game is asked: a room does not journal them (engine/room_journal.py).
_UNTOLD = frozenset((ErrorCode.ROOM_FULL, ErrorCode.ROOM_LOCKED, ErrorCode.ROOM_CLOSED,
                     ErrorCode.BAD_FIELD, ErrorCode.OUT_OF_RANGE))


class HarnessRecording:
    """The harness's match journal (mixed into `GameHarness`): its header and records, the
    recorded `join`, the state hashes and snapshots, `journal()` and `verify()`. `_journal`
    is None when the harness does not record, so each entry point pays one attribute test."""

    # What the harness provides (games/testing.py), besides `_join` and `RoomRules._record`
    # (declared nowhere here: a stub in this mixin would shadow `RoomRules`, after it).
    spec: GameSpec
    room: HarnessRoom
    room_id: str
    game: Game
    ticks: int
    tick_rate: int
    max_players: int
    closed: bool
    _next_player_id: int
    _header: dict[str, Any] | None
    _journal: Any
    _journal_kept: list[Any] | None
    ticking: bool

    def _start_journal(self, seed: int, hash_every: int, snapshot_every: int | None) -> None:
        """Record from now on (`GameHarness(record=True)`): the header, an empty journal."""
        self._hash_every = max(1, hash_every)
        self._snapshot_every = max(1, snapshot_every if snapshot_every is not None
                                   else 10)
        self._next_hash = self._hash_every
        self._hashes = 0
        self._header = {
            "format": 1, "id": "harness", "mode": self.spec.name, "version": self.spec.version,
            "room": self.room_id, "seed": seed, "options": dict(self.room.options),
            "tick_rate": self.tick_rate, "max_players": self.max_players,
            "private": False, "started": 0, "hash_every": self._hash_every,
            "snapshot_every": self._snapshot_every,
        }
        self._journal = JournalBuffer()
        self._journal_kept = self._journal.kept if self.ticking else None

    def join(self, name: str, user: int | None = None,
             fields: Mapping[str, Any] | None = None) -> int:
        """Seat a player with its join `fields`; its id. `JoinRefused` (code `room_full`,
        `room_locked` or `join_refused`) when the room or the game says no, `Refused`
        (`bad_field`, `out_of_range`) for fields the game does not take; a refused join uses up
        no id."""
        journal = self._journal
        if journal is None:
            return self._join(name, user, fields)
        record: list[Any] = [
            "j", self._journal_ms(), user if user is not None else 1000 + self._next_player_id,
            name, dict(fields) if fields is not None else None, None]
        journal.add(record)
        try:
            record[5] = self._join(name, record[2], fields)
        except ProtocolError as exc:
            if exc.code in _UNTOLD and journal.records and journal.records[-1] is record:
                journal.records.pop()
            raise
        return record[5]

    def _journal_ms(self) -> int:
        return int(self.room.now * 1000)

    def _journal_hash(self) -> None:
        # As the room does it (engine/recorder.py): the same points, so a replay can compare.
        ticks = self.ticks
        every = self._hash_every
        self._next_hash = (ticks // every + 1) * every
        state = full_state(self.game)
        journal = self._journal
        journal.add(["h", ticks, state_hash(state)])
        self._hashes += 1
        if self._hashes % self._snapshot_every == 0:
            journal.add(["f", ticks, normalized(state)])

    def journal(self) -> tuple[dict[str, Any], list[list[Any]]]:
        """(header, records) of the match so far, as a room would have journaled it (the
        harness must have been made with `record=True`). A match still going ends with a
        snapshot of the state now, so a difference after the last hash still shows."""
        if self._header is None or self._journal is None:
            raise ValueError("this harness does not record: GameHarness(spec, record=True)")
        records = self._journal.peek()
        if not self.closed:
            records.append(["f", self.ticks, normalized(full_state(self.game))])
        return dict(self._header), records

    def verify(self) -> Any:
        """Re-run the recorded match through a real room (journal/replay.py) and compare every
        hash and snapshot: the `Verification` when they all match, else `AssertionError`
        naming the first tick whose state differs and where the two states differ."""
        # The replayer drives the engine's Room: imported here, a test tool's dependency at
        # call time, not the game API's.
        from game_server.journal.replay import Replay

        header, records = self.journal()
        verification = Replay(header, records, modes={self.spec.name: self.spec}).verify()
        if not verification.ok:
            raise AssertionError(
                f"the match does not replay the same: first difference after tick "
                f"{verification.first_bad_tick} ({verification.problem}); differing: "
                f"{', '.join(verification.differences) or 'no snapshot to compare'}")
        return verification
