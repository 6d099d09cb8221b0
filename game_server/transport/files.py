"""Static files of the browser client: Arena's own (`/client/...`) and the pages games ship
(`/games/<mode>/...`, from the directory the mode's `GamePage` names)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tornado.web

from game_server.games.api import GameSpec

NOT_FOUND = 404
FORBIDDEN = 403


class ClientFileHandler(tornado.web.StaticFileHandler):
    """Serves the browser client's ES modules; revalidated on every load so updates show."""

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")
        if path.endswith((".js", ".mjs")):
            self.set_header("Content-Type", "text/javascript; charset=UTF-8")


class GameFileHandler(ClientFileHandler):
    """`GET /games/<mode>/<path>`: a file of the mode's page directory (its module, the modules
    it imports, its pictures). A mode the server does not run, a mode without a page, a path
    outside the directory, a directory and a missing file are all one answer: 404."""

    def initialize(self, modes: Mapping[str, GameSpec]) -> None:  # type: ignore[override]
        super().initialize(path="")  # the root is the requested mode's page directory
        self.modes = modes

    async def get(self, mode: str, path: str,  # type: ignore[override]
                  include_body: bool = True) -> None:
        spec = self.modes.get(mode)
        if spec is None or spec.page is None:
            raise tornado.web.HTTPError(NOT_FOUND)
        self.root = str(spec.page.directory)
        try:
            await super().get(path, include_body)
        except tornado.web.HTTPError as exc:
            # StaticFileHandler answers 403 for a path out of the root or for a directory: a
            # game's files are either there or not; nothing is said about what lies around them.
            if exc.status_code == FORBIDDEN:
                raise tornado.web.HTTPError(NOT_FOUND) from None
            raise

    def head(self, mode: str, path: str) -> Any:  # type: ignore[override]
        return self.get(mode, path, include_body=False)
