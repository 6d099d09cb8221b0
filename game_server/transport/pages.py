"""HTML pages rendered from Tornado templates: login (with register and guest), the lobby, and
the page each mode is played on."""

from __future__ import annotations

from urllib.parse import urlsplit

import tornado.web
from tornado.escape import url_escape

from game_server.accounts import AccountError
from game_server.transport.base import BaseHandler

# How each leaderboard rule reads in the lobby ("Leaderboard by best score").
RULE_WORDS = {"best_score": "best score", "wins": "wins", "rating": "rating"}

# The page of a mode that ships none: its views as text, and a form to send any message.
GENERIC_MODULE = "/client/games/generic.js"


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
    page the mode's spec declares (`GameSpec.page`: its module, from `/games/M/`, on the
    template it names), or for a mode without one, and a mode this server does not run (whose
    join is refused there), the generic table page that shows the views. Without a mode or a
    room: the server's first mode."""

    @tornado.web.authenticated
    async def get(self) -> None:
        room = self.get_argument("room", "")[:32]
        mode = self.get_argument("mode", "")[:32]
        modes = self.services.matchmaker.modes
        if room and not mode:
            mode = await self._mode_of(room)
        elif not room and not mode:
            mode = next(iter(modes), "")
        spec = modes.get(mode)
        page = spec.page if spec is not None else None
        self.render(
            page.template if page is not None else "game.html",
            user=self.current_user, mode=mode, room=room,
            title=(spec.title or mode) if spec is not None else mode,
            module_url=(f"/games/{url_escape(mode, plus=False)}/{page.module}" if page is not None
                        else GENERIC_MODULE),
        )

    async def _mode_of(self, room: str) -> str:
        rooms, _ = await self.services.cluster.rooms()  # every process's rooms
        return next((str(r.get("mode", "")) for r in rooms if r.get("id") == room), "")


class LogoutPage(BaseHandler):
    """`POST /logout` (form): revoke the session and go back to the login page."""

    async def post(self) -> None:
        await self.services.auth.end(self, self.session_id)
        self.redirect("/login")
