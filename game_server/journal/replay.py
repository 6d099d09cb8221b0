"""Re-run a recorded match: verify it, step through it, see what each player saw.

A replay drives a real `Room` (engine/room.py) with in-memory members, a clock set to each
record's time and a scheduler whose timers never fire by themselves (the journal says when
they fired). The room records its own journal meanwhile, so its state hashes and snapshots are
taken at exactly the points the original room took them, by the same code; verification
compares the two streams. What a member's connection collects is what that player was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from game_server.engine import recorder as jr
from game_server.engine.recorder import MemorySink, Recorder
from game_server.engine.room import Room
from game_server.games.api import GameSpec
from game_server.games.state import differences, full_state, normalized, state_hash
from game_server.journal.codec import ReplayError, read_export
from protocol.closes import CloseCode
from protocol.errors import ProtocolError

__all__ = ["Replay", "ReplayError", "Verification", "load_replay"]


@dataclass
class Verification:
    """What `Replay.verify` found.

    `ok` when every recorded hash and snapshot matched the replay's. Otherwise
    `first_bad_tick` is the first tick whose state differs; `recorded` and `replayed` are the
    two full states at the first snapshot at or after it, `differences` the paths where they
    differ ("players.3.x"), or what went differently (a join refused on replay...). `problem`
    says it in a sentence; `snapshot_tick` is the tick of the two states.
    """

    ok: bool
    hashes_checked: int
    first_bad_tick: int | None = None
    recorded: Any = None
    replayed: Any = None
    differences: list[str] = field(default_factory=list)
    problem: str = ""
    snapshot_tick: int | None = None  # the tick of `recorded` and `replayed`


class _Diverged(Exception):
    """The replay's room answered a recorded call differently."""


class _Timer:
    __slots__ = ()

    def cancel(self) -> None:
        pass


class _Scheduler:
    """Timers that never fire: the journal's `t` records fire them."""

    def every(self, interval: float, callback: Callable[[], object]) -> _Timer:
        return _Timer()

    def later(self, delay: float, callback: Callable[[], object]) -> _Timer:
        return _Timer()


class _Connection:
    """A member's link: collects (ms, bytes) of everything the room sends it."""

    __slots__ = ("_inbox", "_clock")

    def __init__(self, inbox: list[tuple[int, bytes]], clock: Callable[[], int]) -> None:
        self._inbox = inbox
        self._clock = clock

    def send(self, data: bytes) -> None:
        self._inbox.append((self._clock(), data))

    def send_state(self, data: bytes, limit: int) -> bool:
        self._inbox.append((self._clock(), data))
        return True

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        pass

    def backlog(self) -> int:
        return 0

    def lag(self, now: float) -> float:
        return 0.0


@dataclass(frozen=True)
class _Identity:
    id: int
    name: str


class _Member:
    def __init__(self, identity: _Identity, connection: _Connection) -> None:
        self.identity = identity
        self.connection = connection

    def on_room_left(self, room: Room, reason: str) -> None:
        pass


class _Run:
    """One pass over the records, driving a fresh room."""

    def __init__(self, header: Mapping[str, Any], spec: GameSpec, spectator: bool) -> None:
        self.ms = 0
        self.inboxes: dict[int, list[tuple[int, bytes]]] = {}
        self._identities: dict[int, _Identity] = {}
        started = float(header.get("started") or 0) / 1000.0
        sink = _ReplaySink(header)
        try:
            self.room = Room(
                str(header["room"]), spec, seed=int(header["seed"]),
                options=header.get("options") or {}, scheduler=_Scheduler(),
                max_players=int(header["max_players"]), private=bool(header.get("private")),
                monotonic=lambda: self.ms / 1000.0, wall=lambda: started + self.ms / 1000.0,
                journal=sink)
        except (KeyError, TypeError, ValueError, ProtocolError) as exc:
            raise ReplayError(f"the journal's header cannot make a room: {exc}") from None
        self.recorder: Recorder = sink.recorder
        self.checks: list[list[Any]] = []  # the replay's own h and f records, in order
        self._seen = 0
        if spectator:
            add = getattr(self.room, "add_spectator", None)
            if add is None:
                raise ReplayError("this server has no spectators: no public view to replay")
            try:  # (delay 0: a replay's spectator sees what one with no delay saw)
                add(_Member(_Identity(0, ""), _Connection(self.inboxes.setdefault(0, []),
                                                          self._clock)))
            except ProtocolError as exc:
                raise ReplayError(f"cannot watch this match on replay: {exc}") from None

    def _clock(self) -> int:
        return self.ms

    def _member(self, player: int | None, user: int, name: str) -> _Member:
        identity = _Identity(user, name)
        inbox = self.inboxes.setdefault(player, []) if player is not None else []
        return _Member(identity, _Connection(inbox, self._clock))

    def apply(self, record: list[Any]) -> None:
        """Make the recorded call on the room; `_Diverged` if it answers differently."""
        code = record[0]
        self.ms = int(record[1])
        room = self.room
        if code == jr.MESSAGE:
            _, _, player, kind, obj = record
            try:
                room.message(player, kind, obj)
            except ProtocolError as exc:
                raise _Diverged(f"player {player}'s {kind!r} was refused on replay: "
                                f"{exc}") from None
        elif code == jr.STEP:
            room.run_steps(int(record[2]), self.ms / 1000.0)
        elif code == jr.JOIN:
            _, _, user, name, fields, player = record
            inbox: list[tuple[int, bytes]] = []
            member = _Member(_Identity(user, name), _Connection(inbox, self._clock))
            try:
                got: int | None = room.join(member, None, fields)
            except ProtocolError:
                got = None
            if got != player:
                raise _Diverged(f"{name!r} joined as player {player}, on replay "
                                f"{'refused' if got is None else f'as player {got}'}")
            if got is not None:
                self.inboxes[got] = inbox
                self._identities[got] = member.identity
        elif code == jr.DROP:
            if not room.hold(record[2]):
                raise _Diverged(f"player {record[2]} dropped, on replay not in the room")
        elif code == jr.RESUME:
            _, _, player, ok = record
            identity = self._identities.get(player)
            if identity is None:
                raise _Diverged(f"player {player} resumed, on replay never joined")
            member = _Member(identity, _Connection(self.inboxes.setdefault(player, []),
                                                   self._clock))
            if room.resume(player, member, None) != bool(ok):
                raise _Diverged(f"player {player}'s resume {'succeeded' if ok else 'failed'}, "
                                "on replay not")
        elif code == jr.LEAVE:
            room.remove(record[2], str(record[3]), record[4] if len(record) > 4 else None)
        elif code == jr.TIMER:
            room.fire(str(record[2]))
        elif code == jr.TERMINATE:
            room.terminate(float(record[2]))
        elif code == jr.CLOSE:
            room.close(str(record[2]), record[3] if len(record) > 3 else None)
        else:
            raise ReplayError(f"unknown journal record {code!r}")

    def new_checks(self) -> list[list[Any]]:
        """The replay room's hash and snapshot records since the last call."""
        records = self.recorder.take()
        return [r for r in records if r[0] in (jr.HASH, jr.SNAPSHOT)]


class _ReplaySink:
    """Opens the replay room's own recorder with the original's hashing intervals."""

    def __init__(self, header: Mapping[str, Any]) -> None:
        self._every = header.get("hash_every")
        self._snapshots = header.get("snapshot_every")
        self.recorder: Recorder

    def open(self, header: dict[str, Any]) -> Recorder:
        if self._every is not None:
            header["hash_every"] = self._every
        if self._snapshots is not None:
            header["snapshot_every"] = self._snapshots
        self.recorder = MemorySink().open(header)
        return self.recorder


def _default_modes() -> dict[str, GameSpec]:
    from game_server.games.loading import GameLoadError, server_modes
    try:
        return server_modes()
    except GameLoadError as exc:
        raise ReplayError(f"no game to replay with: {exc}") from None


class Replay:
    """A recorded match, re-run on demand.

    `modes` are the games this server has (by mode name; the installed ones by default). A
    journal of an unknown format, of a mode not installed, or of a game version the server
    does not have is refused with `ReplayError`, as are malformed records.
    """

    def __init__(self, header: Mapping[str, Any], records: list[Any],
                 summary: Mapping[str, Any] | None = None, *,
                 modes: Mapping[str, GameSpec] | None = None) -> None:
        if not isinstance(header, Mapping):
            raise ReplayError("the journal has no header")
        if header.get("format") != jr.FORMAT:
            raise ReplayError(f"unknown journal format {header.get('format')!r} (this server "
                              f"reads format {jr.FORMAT})")
        mode = header.get("mode")
        modes = modes if modes is not None else _default_modes()
        spec = modes.get(mode) if isinstance(mode, str) else None
        if spec is None:
            raise ReplayError(f"mode {mode!r} is not installed on this server")
        if str(header.get("version")) != spec.version:
            raise ReplayError(f"this match was recorded with {mode} version "
                              f"{header.get('version')!r}; this server has version "
                              f"{spec.version!r}")
        if not isinstance(records, list) or not all(
                isinstance(r, list | tuple) and len(r) >= 3 and isinstance(r[0], str)
                for r in records):
            raise ReplayError("the journal's records are malformed")
        self.header = dict(header)
        self.records = records
        self.summary = summary
        self.spec = spec

    # -- running ------------------------------------------------------------------------------

    def _run(self, run: _Run) -> Iterator[tuple[int, list[Any]]]:
        """Apply every call record to `run`, yielding (index, record) after each record."""
        for i, record in enumerate(self.records):
            if record[0] in jr.CALLS:
                try:
                    run.apply(record)
                except (ValueError, TypeError, IndexError, KeyError) as exc:
                    raise ReplayError(f"journal record {i} is malformed: {exc}") from None
            elif record[0] not in (jr.HASH, jr.SNAPSHOT):
                raise ReplayError(f"journal record {i} has an unknown code {record[0]!r}")
            yield i, record

    def verify(self) -> Verification:
        """Re-run the match and compare every recorded hash and snapshot with the replay's."""
        checked = 0
        bad: int | None = None
        problem = ""
        pending: list[list[Any]] = []
        run = _Run(self.header, self.spec, False)
        try:
            for _, record in self._run(run):
                pending += run.new_checks()
                code = record[0]
                if code not in (jr.HASH, jr.SNAPSHOT):
                    continue
                tick = record[1]
                if pending:
                    mine: list[Any] | None = pending.pop(0)
                elif code == jr.SNAPSHOT and tick == run.room.ticks:
                    # A journal's closing snapshot taken while the room went on (a harness's,
                    # a live match's): the replay's state now.
                    mine = [code, tick, normalized(full_state(run.room.game))]
                else:
                    mine = None
                if mine is None or mine[0] != code or mine[1] != tick:
                    where = "nothing" if mine is None else f"{mine[0]} at tick {mine[1]}"
                    return Verification(False, checked, tick if bad is None else bad,
                                        differences=[f"recorded {code} at tick {tick}, "
                                                     f"replayed {where}"],
                                        problem="the replay took its states at other ticks")
                if code == jr.HASH:
                    checked += 1
                    if mine[2] != record[2] and bad is None:
                        bad = tick
                        problem = f"the state after tick {tick} differs"
                    continue
                # Plain data, whether read from storage or still a room's in-memory fragment.
                recorded, replayed = normalized(record[2]), normalized(mine[2])
                if state_hash(recorded) != state_hash(replayed) and bad is None:
                    bad = tick
                    problem = f"the state after tick {tick} differs"
                if bad is not None:
                    return Verification(False, checked, bad, recorded, replayed,
                                        differences(recorded, replayed), problem, tick)
        except _Diverged as exc:
            return Verification(False, checked, run.room.ticks if bad is None else bad,
                                differences=[str(exc)], problem=str(exc))
        if bad is not None:
            return Verification(False, checked, bad, differences=[],
                                problem=problem + " (no snapshot recorded after it)")
        return Verification(True, checked)

    def state_at(self, tick: int) -> Any:
        """The game's full state after `tick` (as JSON reads it back); tick 0 is the start.
        `ReplayError` for a tick the match never reached."""
        if type(tick) is not int or tick < 0:
            raise ReplayError(f"tick must be a whole number >= 0, not {tick!r}")
        run: _Run | None = None
        try:
            if tick == 0:
                run = _Run(self.header, self.spec, False)
                return normalized(full_state(run.room.game))
            for run, _, _ in self._before_steps(tick):
                if run.room.ticks == tick:
                    return normalized(full_state(run.room.game))
        except _Diverged as exc:
            raise ReplayError(f"the match does not replay: {exc}") from None
        ticks = run.room.ticks if run is not None else 0
        raise ReplayError(f"tick {tick} is past the end of this match ({ticks} ticks)")

    def _before_steps(self, tick: int) -> Iterator[tuple[_Run, int, list[Any]]]:
        """`_run`, but a tick record whose steps pass `tick` runs only up to it (then stops)."""
        run = _Run(self.header, self.spec, False)
        for i, record in enumerate(self.records):
            if record[0] == jr.STEP:
                room = run.room
                ahead = int(record[2])
                if room.ticks < tick < room.ticks + ahead:
                    # A catch-up tick of several steps: the state between two of them.
                    run.ms = int(record[1])
                    if room._latest:
                        room._deliver_latest()
                    for _ in range(tick - room.ticks):
                        room.game.on_step(room.dt)
                    room.ticks = tick
                    yield run, i, record
                    return
            if record[0] in jr.CALLS:
                try:
                    run.apply(record)
                except (ValueError, TypeError, IndexError, KeyError) as exc:
                    raise ReplayError(f"journal record {i} is malformed: {exc}") from None
            yield run, i, record

    def messages_for(self, viewer: int) -> list[tuple[int, dict[str, Any]]]:
        """(ms, message) of everything `viewer`'s connection received, in order: from its
        `joined` to its `left` (and again after each resume). Viewer 0 is a spectator present
        from the start. `ReplayError` for a player who never joined."""
        run = _Run(self.header, self.spec, viewer == 0)
        try:
            for _ in self._run(run):
                pass
        except _Diverged as exc:
            raise ReplayError(f"the match does not replay: {exc}") from None
        inbox = run.inboxes.get(viewer)
        if inbox is None:
            raise ReplayError(f"player {viewer} is not in this match")
        return [(ms, orjson.loads(data)) for ms, data in inbox]

    def viewers(self) -> list[dict[str, Any]]:
        """Every player of the match: {"player", "name"}, in the order they joined."""
        return [{"player": r[5], "name": r[3]} for r in self.records
                if r[0] == jr.JOIN and len(r) > 5 and r[5] is not None]


def load_replay(path: str | Path, *, modes: Mapping[str, GameSpec] | None = None) -> Replay:
    """The match in an export file (`python -m game_server replay export`): `ReplayError` for a
    damaged file, an unknown format, a mode or a version this server does not have."""
    header, summary, records = read_export(path)
    return Replay(header, records, summary, modes=modes)
