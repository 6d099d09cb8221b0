"""`GET /api/replays`: the recorded matches a player can watch again, as JSON.

`?mine=1` lists the caller's own finished matches, newest first (401 without a session);
`?mode=M&top=1` a mode's best-scored finished public matches, best first. Both take
`&limit=N` (1 to 100; 50 by default), and `mine=1` takes `&mode=M` to keep one mode's. The
replay pages (transport/pages, the replaypage's) are built on this list.
"""

from __future__ import annotations

from typing import Any

from game_server.journal.store import my_matches, title, top_matches
from game_server.transport.base import ApiError, JsonHandler

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


class ReplaysHandler(JsonHandler):
    """`GET /api/replays?mine=1` or `?mode=M&top=1`: `{"replays": [item, ...]}`, each item
    `{"id", "mode", "title", "started", "ended", "duration_ms", "players": [{"player",
    "name"}], "score"}` (times in wall ms; `score` the best one, or null)."""

    async def prepare(self) -> None:
        if self.get_query_argument("mine", None) is not None:
            await super().prepare()  # only "your matches" needs the session

    async def get(self) -> None:
        mine = _flag(self.get_query_argument("mine", None), "mine")
        top = _flag(self.get_query_argument("top", None), "top")
        mode = self.get_query_argument("mode", None)
        limit = _limit(self.get_query_argument("limit", None))
        modes = self.services.matchmaker.modes
        if mode is not None and mode not in modes:
            raise ApiError(404, "unknown_mode", "This server runs no such mode.")
        storage = self.services.storage
        if mine and top:
            raise ApiError(400, "bad_query", "Ask for mine=1 or top=1, not both.")
        if mine:
            user = self.require_user()
            items = await my_matches(storage, user.id, mode=mode, limit=limit)
        elif top:
            if mode is None:
                raise ApiError(400, "bad_query", "top=1 needs a mode: ?mode=M&top=1.")
            items = await top_matches(storage, mode, limit=limit)
        else:
            raise ApiError(400, "bad_query",
                           "Ask for your matches (?mine=1) or a mode's top (?mode=M&top=1).")
        self.send_json({"replays": [_public(item, modes) for item in items]})


def _public(item: dict[str, Any], modes: Any) -> dict[str, Any]:
    """A list item as the API shows it: no account ids, a title in the mode's own words."""
    spec = modes.get(item["mode"])
    return {
        "id": item["id"],
        "mode": item["mode"],
        "title": title(item, spec.title if spec is not None and spec.title else None),
        "started": item["started"],
        "ended": item["ended"],
        "duration_ms": item["duration_ms"],
        "players": [{"player": p["player"], "name": p["name"]} for p in item["players"]],
        "score": item["score"],
    }


def _flag(value: str | None, name: str) -> bool:
    if value is None or value in ("0", "false", ""):
        return False
    if value in ("1", "true"):
        return True
    raise ApiError(400, "bad_query", f"{name} takes 1 or 0.")


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise ApiError(400, "bad_query", "limit takes a whole number.") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "bad_query", f"limit takes 1 to {MAX_LIMIT}.")
    return limit
