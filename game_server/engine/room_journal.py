"""The room's journaled entry points: the calls from outside a room that its match journal records.

`RoomJournal` is mixed into `Room` (engine/room.py). Each of its methods is an external entry
point (`join`, `resume`, `remove`, `kick`, `terminate`, `close`): it appends its record to the
room's `Recorder` when the room records (one attribute test when it does not), then calls the
room's internal path (`_join`, `_resume`, `_remove`, `_close`), which is what the game itself
takes through its handle and a replay's game takes again by itself, unrecorded. The other
recorded calls record inline where the room handles them (`hold`, `fire`, `signal` in
engine/room.py; `message` in games/contract.py), and the tick's step records are written by
engine/room_clock.py. The room's side of the journal (header, hashes, snapshots, summary) is
`RoomRecording` (engine/recorder.py), which this class extends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from game_server.engine import recorder as jr
from game_server.engine.recorder import RoomRecording
from protocol.errors import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from game_server.engine.room import Member

# Joins refused before the game is asked: they change nothing a replay must redo.
_UNTOLD = frozenset((ErrorCode.ROOM_FULL, ErrorCode.ROOM_LOCKED, ErrorCode.ROOM_CLOSED,
                     ErrorCode.BAD_FIELD, ErrorCode.OUT_OF_RANGE))


class RoomJournal(RoomRecording):
    """The room's external entry points that the journal records (mixed into `Room`): each
    records its call when the room records, then takes the room's internal path."""

    # What the room provides (engine/room.py), besides the internal paths `_join`, `_resume`,
    # `_remove`, `_close`, `_call` and `RoomRules._record` (declared nowhere here: a stub in
    # this mixin would shadow `RoomRules`, which comes after it in `Room`'s bases).
    closed: bool
    _members: Mapping[int, Any]
    _held: Mapping[int, Any]

    def join(self, member: Member, resume_token: str | None = None,
             fields: Mapping[str, Any] | None = None) -> int:
        """Seat `member` with its join `fields`, send it `joined` with its view, and return
        its player id.

        `ProtocolError` (a `JoinRefused`) when the room is closed, full or locked, or the game
        refuses the seat; `bad_field` or `out_of_range` for fields the game does not take.
        """
        if self._journal is None:
            return self._join(member, resume_token, fields)
        identity = member.identity
        # Appended first (what the join sets off is recorded after it), its outcome filled in.
        record: list[Any] = [jr.JOIN, self._journal_ms(), identity.id, identity.name,
                             dict(fields) if fields is not None else None, None]
        self._journal.add(record)
        records = self._journal.records
        try:
            player_id = self._join(member, resume_token, fields)
        except ProtocolError as exc:
            if exc.code in _UNTOLD and records and records[-1] is record:
                records.pop()  # refused before the game was asked: nothing to re-run
            raise
        record[5] = player_id
        recorder = self._journal
        if recorder is not None:
            recorder.players.append({"player": player_id, "user": identity.id,
                                     "name": identity.name})
        return player_id

    def resume(self, player_id: int, member: Member, resume_token: str | None = None) -> bool:
        """Give a held seat to `member` (the same account, reconnected); send it `joined`."""
        if self._journal is None or player_id not in self._held:
            return self._resume(player_id, member, resume_token)
        record: list[Any] = [jr.RESUME, self._journal_ms(), player_id, False]
        self._journal.add(record)
        record[3] = ok = self._resume(player_id, member, resume_token)
        return ok

    def remove(self, player_id: int, reason: str = "leave", message: str | None = None) -> None:
        """Take a player (seated or held) out: the game hears it left (by choice when `reason`
        is "leave"), the player is told `left` (with `message`, if any), and the room reports
        when it empties. (From outside the game: journaled.)"""
        if self._journal is not None and not self.closed and (
                player_id in self._members or player_id in self._held):
            if message is None:
                self._record(jr.LEAVE, player_id, reason)
            else:
                self._record(jr.LEAVE, player_id, reason, message)
        self._remove(player_id, reason, message)

    def kick(self, player_id: int, message: str) -> None:
        """Take a player out from outside the game (an operator): `left` "kicked" with
        `message`; the game hears it as a departure not chosen (`on_leave(player, False)`)."""
        if not self.closed:
            self.remove(player_id, "kicked", message)

    def terminate(self, grace: float) -> None:
        """The server is shutting down: the game hears it (`on_terminate(grace)`), never as its
        players leaving, then the room closes with "server_closing"; a match cut short reports
        only what the game reports in that hook."""
        if self.closed:
            return
        if self._journal is not None:
            self._record(jr.TERMINATE, grace)
        self._call("on_terminate", grace)
        self._close("server_closing")

    def close(self, reason: str = "room_closed", message: str | None = None) -> None:
        """Remove every member with `reason` (and `message`) and mark the room closed
        (idempotent). The game hears no `on_leave`: nobody chose to go, and a forfeit
        reported now would be false; it gets `on_dispose`. (From outside the game:
        journaled; the game's own close and a failing game's take `_close`.)"""
        if self.closed:
            return
        if self._journal is not None:
            if message is None:
                self._record(jr.CLOSE, reason)
            else:
                self._record(jr.CLOSE, reason, message)
        self._close(reason, message)
