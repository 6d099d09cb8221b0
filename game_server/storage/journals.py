"""What the journal tables hold, shared by every storage: the row of a journal from its header,
who played and the best score from its summary, and the list item a row becomes.

Headers and summaries are the dicts of journal-design (engine/recorder.py builds them); storage
keeps them whole as JSON and copies out only what it sorts and filters by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

_REQUIRED = ("id", "mode", "version", "room", "started")
MAX_LIST = 500  # the most items one journals_list returns, whatever limit is asked


@dataclass(frozen=True)
class JournalRow:
    """The columns of a new journal, taken from its header."""

    id: str
    mode: str
    version: str
    room: str
    private: bool
    started: int
    header: str


@dataclass(frozen=True)
class PlayerRow:
    """One player of a finished journal: who, under which id and name, with which score."""

    player: int
    user: int | None
    name: str
    score: float | None


def dumps(value: Any) -> str:
    """JSON text of a header or summary (non-string keys allowed, as the codec does)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def loads(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)


def journal_row(header: Mapping[str, Any]) -> JournalRow:
    """The row of a new journal; ``ValueError`` when the header lacks what the table needs."""
    missing = [key for key in _REQUIRED if header.get(key) is None]
    if missing:
        raise ValueError(f"a journal header needs {', '.join(missing)}")
    return JournalRow(
        id=str(header["id"]),
        mode=str(header["mode"]),
        version=str(header["version"]),
        room=str(header["room"]),
        private=bool(header.get("private", False)),
        started=int(header["started"]),
        header=dumps(dict(header)),
    )


def players(summary: Mapping[str, Any]) -> list[PlayerRow]:
    """Every player of a summary, once each by player id: the ``players`` list, completed by
    ``outcomes`` (which bring the score, and may name players who left before the end)."""
    found: dict[int, PlayerRow] = {}
    scores: dict[int, float] = {}
    for entry in summary.get("outcomes") or ():
        if isinstance(entry, Mapping) and isinstance(entry.get("score"), int | float):
            scores[int(entry["player"])] = entry["score"]
    for entry in [*(summary.get("players") or ()), *(summary.get("outcomes") or ())]:
        if not isinstance(entry, Mapping) or entry.get("player") is None:
            continue
        player = int(entry["player"])
        if player in found:
            continue
        user = entry.get("user")
        found[player] = PlayerRow(player=player, user=user if isinstance(user, int) else None,
                                  name=str(entry.get("name") or ""), score=scores.get(player))
    return sorted(found.values(), key=lambda row: row.player)


def best_score(rows: Iterable[PlayerRow]) -> float | None:
    scores = [row.score for row in rows if row.score is not None]
    return max(scores) if scores else None


def ended(summary: Mapping[str, Any]) -> int | None:
    value = summary.get("ended")
    return int(value) if isinstance(value, int | float) else None


def number(value: float | None) -> float | int | None:
    """A score as stored (a float column) back as the int it was, when it was one."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def list_item(row: Mapping[str, Any], player_rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``journals_list`` item of a journal row and its players' rows."""
    started, end = row["started"], row["ended"]
    return {
        "id": row["id"],
        "mode": row["mode"],
        "version": row["version"],
        "room": row["room"],
        "private": bool(row["private"]),
        "started": started,
        "ended": end,
        "duration_ms": None if end is None else max(0, end - started),
        "bytes": row["bytes"],
        "score": number(row["best_score"]),
        "players": [{"player": p["player"], "name": p["name"], "user": p["user_id"],
                     "score": number(p["score"])} for p in player_rows],
    }


def clamp_limit(limit: int) -> int:
    return max(0, min(int(limit), MAX_LIST))
