"""Reading the match journal back from storage: a whole journal decoded, and the lists the
replays pages show (your matches, the top matches of a mode)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from game_server.journal.codec import decode_chunk
from game_server.storage.base import Storage

LIST_LIMIT = 50


@dataclass(frozen=True)
class JournalData:
    """One stored journal: its header, its summary (None while the match is live, or when the
    process recording it stopped before the end), its records decoded in order, and the
    compressed bytes they take in storage."""

    id: str
    header: dict[str, Any]
    summary: dict[str, Any] | None
    records: list[list[Any]]
    bytes: int

    @property
    def finished(self) -> bool:
        return self.summary is not None


async def load_journal(storage: Storage, journal_id: str) -> JournalData | None:
    """The journal `journal_id`, or None when there is none (unknown, purged). A chunk that
    cannot be decoded raises the codec's error."""
    found = await storage.journal_load(journal_id)
    if found is None:
        return None
    records: list[list[Any]] = []
    for chunk in found["chunks"]:
        records.extend(decode_chunk(chunk))
    return JournalData(id=found["id"], header=found["header"], summary=found["summary"],
                       records=records, bytes=found["bytes"])


async def my_matches(storage: Storage, user_id: int, *, mode: str | None = None,
                     limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """The finished matches `user_id` played, newest first (`Storage.journals_list` items)."""
    return await storage.journals_list(mode=mode, user=user_id, limit=limit)


async def top_matches(storage: Storage, mode: str, *,
                      limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """The best-scored finished public matches of `mode`, best first."""
    return await storage.journals_list(mode=mode, top=True, limit=limit)


def title(item: Mapping[str, Any], mode_title: str | None = None) -> str:
    """A match's one-line title for lists: its mode and who played, e.g. "Dice: Ann vs Bob"."""
    names = [str(p.get("name") or f"Player {p.get('player')}") for p in item.get("players", ())]
    head = mode_title or str(item.get("mode", ""))
    if not names:
        return head
    shown = names if len(names) <= 4 else [*names[:3], f"{len(names) - 3} more"]
    return f"{head}: {' vs '.join(shown) if len(names) <= 2 else ', '.join(shown)}"
