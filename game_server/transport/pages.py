"""HTML pages rendered from Tornado templates: login (with register and guest), the lobby, and
the page each mode is played on."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

import tornado.web
from tornado.escape import url_escape

from game_server.accounts import AccountError
from game_server.games.api import GameSpec
from game_server.names import display_name, guest_suggestion
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
            if form != "login":
                self.check_ban(None)  # a banned address makes no account
            if form == "register":
                user = await accounts.register(name, self.get_body_argument("password", ""))
            elif form == "guest":
                user = await accounts.guest(name)
            else:
                user = await accounts.login(
                    name, self.get_body_argument("password", ""), self.request.remote_ip or ""
                )
            await self.start_session(user)
        except AccountError as exc:
            self.set_status(exc.status)
            if exc.retry_after:
                self.set_header("Retry-After", str(exc.retry_after))
            self._render(form=form, name=name, error=exc.message)
            return
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


# The lobby card's picture of a mode that declares none (`GamePage.picture`).
GENERIC_PICTURE = "modes/generic.svg"


def mode_counts(rooms: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per mode, the players online in its rooms (`connected` where the rooms list has it: a
    held seat is away, not online) and how many rooms it has (the lobby's cards)."""
    counts: dict[str, dict[str, int]] = {}
    for room in rooms:
        entry = counts.setdefault(str(room.get("mode", "")), {"players": 0, "rooms": 0})
        entry["players"] += int(room.get("connected", room.get("players", 0)) or 0)
        entry["rooms"] += 1
    return counts


def named_rooms(rooms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rooms` (as the cluster lists them), each with its readable `name` (names.py)."""
    return [{**room, "name": display_name(room)} for room in rooms]


def metadata_text(room: dict[str, Any], modes: dict[str, GameSpec]) -> str:
    """A room's public metadata as the lobby shows it (lobby.js's `metadataText`): a room
    option by its label ("Dice per player 5 · Ones are wild yes · status waiting")."""
    spec = modes.get(str(room.get("mode", "")))
    options = spec.options if spec is not None else {}
    parts = []
    for key, value in (room.get("metadata") or {}).items():
        if key in ("players", "name"):
            continue
        option = options.get(key)
        label = option.label if option is not None and option.label else key.replace("_", " ")
        shown = "yes" if value is True else "no" if value is False else value
        parts.append(f"{label} {shown}")
    return " · ".join(parts)


class LobbyPage(BaseHandler):
    """`GET /`: the lobby (every game as a card, the live rooms by name) for a logged-in
    player; for an anonymous visitor, the first screen: a name box and Play, which makes a
    guest and goes straight into the first mode's quick play, and a way to log in."""

    async def get(self) -> None:
        rooms, _ = await self.services.cluster.rooms()  # every process's rooms
        modes = list(self.services.matchmaker.modes.values())
        counts = mode_counts(rooms)
        if not self.current_user:
            self._welcome(modes, counts, guest_suggestion(secrets.randbelow(1 << 16)))
            return
        self.render("lobby.html", user=self.current_user, rooms=named_rooms(rooms),
                    modes=modes, rules=RULE_WORDS, counts=counts, picture=self._picture,
                    metadata_text=lambda room: metadata_text(
                        room, self.services.matchmaker.modes))

    async def post(self) -> None:
        """The first screen's Play: a guest with the name typed, straight into the first
        game. A refused name (reserved, too long, characters a name may not have) is said on
        the first screen itself, beside the name as typed, not on the login page."""
        name = self.get_body_argument("name", "")
        try:
            user = await self.services.accounts.guest(name)
        except AccountError as exc:
            self.set_status(exc.status)
            if exc.retry_after:
                self.set_header("Retry-After", str(exc.retry_after))
            rooms, _ = await self.services.cluster.rooms()
            self._welcome(list(self.services.matchmaker.modes.values()), mode_counts(rooms),
                          name, error=exc.message)
            return
        await self.start_session(user)
        self.redirect(self._play_url(list(self.services.matchmaker.modes.values())))

    def _welcome(self, modes: list[GameSpec], counts: dict[str, dict[str, int]], name: str,
                 error: str | None = None) -> None:
        """The first screen, its name box holding `name` (and `error` under it)."""
        self.render("welcome.html", modes=modes, counts=counts, suggestion=name, error=error,
                    online=sum(c["players"] for c in counts.values()), picture=self._picture)

    @staticmethod
    def _play_url(modes: list[GameSpec]) -> str:
        """Where Play goes: quick play of the first game."""
        return f"/play?mode={url_escape(modes[0].name)}" if modes else "/play"

    def _picture(self, spec: GameSpec) -> str:
        return spec.picture_url() or self.static_url(GENERIC_PICTURE)


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
