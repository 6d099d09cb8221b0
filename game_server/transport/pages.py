"""HTML pages rendered from Tornado templates: login (with register and guest) and the lobby."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import tornado.web

from game_server.accounts import AccountError
from game_server.transport.base import BaseHandler, Services

# How each leaderboard rule reads in the lobby ("Leaderboard by best score").
RULE_WORDS = {"best_score": "best score", "wins": "wins", "rating": "rating"}

_MODE_NAME = re.compile(r"[a-z0-9_-]{1,32}")


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this server only, never another site."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target:
        return "/"
    return target


class LoginPage(BaseHandler):
    """`GET /login` shows the forms; `POST /login` logs in, registers or makes a guest."""

    def get(self) -> None:
        self._render()

    async def post(self) -> None:
        action = self.get_body_argument("action", "login")
        form = action if action in ("register", "guest") else "login"
        name = self.get_body_argument("name" if form == "guest" else "username", "")
        accounts = self.services.accounts
        try:
            if form == "register":
                user = await accounts.register(name, self.get_body_argument("password", ""))
            elif form == "guest":
                user = await accounts.guest(name)
            else:
                user = await accounts.login(
                    name, self.get_body_argument("password", ""), self.request.remote_ip or ""
                )
        except AccountError as exc:
            self.set_status(exc.status)
            if exc.retry_after:
                self.set_header("Retry-After", str(exc.retry_after))
            self._render(form=form, name=name, error=exc.message)
            return
        await self.start_session(user)
        self.redirect(safe_next(self.get_argument("next", "/")))

    def _render(self, form: str | None = None, name: str = "", error: str | None = None) -> None:
        """The login page. After a refused POST, `form` (the one that was sent) shows `error` and
        keeps the `name` typed into it; the other forms stay empty, and no password is sent back."""
        self.render(
            "login.html",
            posted=form,
            typed=name,
            error=error,
            next_url=safe_next(self.get_argument("next", "/")),
        )


class LobbyPage(BaseHandler):
    """`GET /`: who you are and the live rooms; anonymous visitors go to the login page."""

    @tornado.web.authenticated
    async def get(self) -> None:
        rooms, _ = await self.services.cluster.rooms()  # every process's rooms
        self.render("lobby.html", user=self.current_user, rooms=rooms,
                    modes=list(self.services.matchmaker.modes.values()), rules=RULE_WORDS)


class PlayPage(BaseHandler):
    """`GET /play?mode=M` (quick play), `&create=private|public` (a new room with the mode's
    options from the other query arguments), `&code=C` (a private room), or `?room=ID`: the
    page of that mode. The arena game has its canvas page; any other mode gets the table page
    running its module `client/web/games/<mode>.js`, or the generic one that shows its views."""

    def initialize(self, services: Services, client_dir: Path) -> None:
        super().initialize(services)
        self.client_dir = client_dir

    @tornado.web.authenticated
    async def get(self) -> None:
        room = self.get_argument("room", "")[:32]
        mode = self.get_argument("mode", "")[:32]
        if room and not mode:
            mode = await self._mode_of(room)
        modes = self.services.matchmaker.modes
        if mode not in modes or mode == "arena":
            # The canvas page, as before; a mode this server does not run is refused there.
            self.render("play.html", user=self.current_user, mode="" if room else mode or "arena",
                        room=room)
            return
        spec = modes[mode]
        self.render("game.html", user=self.current_user, mode=mode, title=spec.title or mode,
                    module=self.page_module(mode))

    def page_module(self, mode: str) -> str:
        """The browser module that draws `mode`: its own page if the client has one."""
        if _MODE_NAME.fullmatch(mode) and (self.client_dir / "games" / f"{mode}.js").is_file():
            return f"games/{mode}.js"
        return "games/generic.js"

    async def _mode_of(self, room: str) -> str:
        rooms, _ = await self.services.cluster.rooms()  # every process's rooms
        return next((str(r.get("mode", "")) for r in rooms if r.get("id") == room), "")


class LogoutPage(BaseHandler):
    """`POST /logout` (form): revoke the session and go back to the login page."""

    async def post(self) -> None:
        await self.services.auth.end(self, self.session_id)
        self.redirect("/login")
