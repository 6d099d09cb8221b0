"""The match journal's bytes: stored chunks of records, and export files.

A chunk is a batch of records as the writer stores it: zlib-compressed JSON (orjson, integer
keys allowed). An export file is one whole match that another machine can verify and step
through (`python -m game_server replay export`, `load_replay`):

    arena-journal 1\\n
    sha256 <64 hex digits of the body>\\n
    <body: zlib of JSON {"header": ..., "summary": ..., "records": [...]}>

The sha256 tells a truncated or edited file from a good one (integrity, not authenticity:
whoever edits the body can rewrite the sum too).
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path
from typing import Any

import orjson

from game_server.games.journal_buffer import encoded_records, expand_batches

EXPORT_MAGIC = b"arena-journal"
EXPORT_VERSION = 1
# Chunks are compressed on the server as it runs: zlib's fastest level (a third of the default
# level's CPU time on a busy arena's records, for about a third more bytes). Export files are
# made rarely and kept: the default level.
CHUNK_LEVEL = 1
EXPORT_LEVEL = 6


class ReplayError(Exception):
    """A journal or an export that cannot be replayed here; the message says why."""


def encode_chunk(records: list[Any]) -> bytes:
    """Records as one stored chunk: lists of JSON-able items, and runs of records a room's
    `JournalBuffer` (games/journal_buffer.py) encoded as they came (`bytes`)."""
    return zlib.compress(encoded_records(records), CHUNK_LEVEL)


def decode_chunk(data: bytes) -> list[Any]:
    """The records of a stored chunk; `ReplayError` if it is damaged."""
    try:
        records = orjson.loads(zlib.decompress(data))
    except (zlib.error, orjson.JSONDecodeError, TypeError) as exc:
        raise ReplayError(f"a journal chunk is damaged: {exc}") from None
    if not isinstance(records, list):
        raise ReplayError("a journal chunk is damaged: not a list of records")
    if not all(type(record) is list for record in records):
        raise ReplayError("a journal chunk is damaged: an item is not a record")
    try:
        return expand_batches(records)
    except ValueError as exc:
        raise ReplayError(f"a journal chunk is damaged: {exc}") from None


def export_bytes(header: dict[str, Any], summary: dict[str, Any] | None,
                 records: list[Any]) -> bytes:
    """One match as the bytes of an export file."""
    body = zlib.compress(orjson.dumps({"header": header, "summary": summary, "records": records},
                                      option=orjson.OPT_NON_STR_KEYS), EXPORT_LEVEL)
    digest = hashlib.sha256(body).hexdigest()
    return b"%s %d\nsha256 %s\n%s" % (EXPORT_MAGIC, EXPORT_VERSION, digest.encode(), body)


def write_export(path: str | Path, header: dict[str, Any], summary: dict[str, Any] | None,
                 records: list[Any]) -> None:
    """Write one match to an export file at `path`."""
    Path(path).write_bytes(export_bytes(header, summary, records))


def parse_export(data: bytes, where: str = "the export") -> tuple[dict[str, Any],
                                                                  dict[str, Any] | None, list[Any]]:
    """(header, summary, records) of an export file's bytes; `ReplayError` saying what is
    wrong: not an export, an export format this server does not read, a damaged file."""
    first, _, rest = data.partition(b"\n")
    magic, _, version = first.partition(b" ")
    if magic != EXPORT_MAGIC:
        raise ReplayError(f"{where} is not an Arena journal export")
    if version != str(EXPORT_VERSION).encode():
        shown = version.decode("ascii", "replace")[:20]
        raise ReplayError(f"{where} has export format {shown!r}; this server reads format "
                          f"{EXPORT_VERSION}")
    line, _, body = rest.partition(b"\n")
    label, _, digest = line.partition(b" ")
    if label != b"sha256" or len(digest) != 64:
        raise ReplayError(f"{where} is damaged: its sha256 line is missing (truncated?)")
    if hashlib.sha256(body).hexdigest().encode() != digest:
        raise ReplayError(f"{where} is damaged: its content does not match its sha256 "
                          "(truncated or edited)")
    try:
        match = orjson.loads(zlib.decompress(body))
    except (zlib.error, orjson.JSONDecodeError) as exc:
        raise ReplayError(f"{where} cannot be decoded: {exc}") from None
    if (not isinstance(match, dict) or not isinstance(match.get("header"), dict)
            or not isinstance(match.get("records"), list)
            or not isinstance(match.get("summary"), dict | None)):
        raise ReplayError(f"{where} holds no match (a header and records)")
    return match["header"], match["summary"], match["records"]


def read_export(path: str | Path) -> tuple[dict[str, Any], dict[str, Any] | None, list[Any]]:
    """(header, summary, records) of the export file at `path`; `ReplayError` if it cannot be
    read or is not a good export."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ReplayError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_export(data, str(path))
