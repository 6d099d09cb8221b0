"""The JSON API: accounts and sessions, the room list, health. Every POST needs the XSRF token."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from game_server.accounts import AccountError
from game_server.announce import AnnouncementVerifier, check_text
from game_server.engine.filters import BadFilter, lobby_filter, lobby_match
from game_server.games.api import LeaderboardRule
from game_server.names import SERVER_NAME, display_name
from game_server.transport.base import ApiError, JsonHandler, Services
from protocol.errors import ProtocolError


class XsrfHandler(JsonHandler):
    """`GET /api/xsrf`: sets the `_xsrf` cookie and returns the token for API clients."""

    def get(self) -> None:
        self.send_json({"xsrf": self.xsrf_token.decode("ascii")})


class HealthHandler(JsonHandler):
    """`GET /healthz`: liveness, with the counts `/metrics` exports as gauges: rooms,
    connected players (open game sockets), held seats (a dropped player's included) and
    spectators."""

    async def prepare(self) -> None:
        pass  # no session lookup: health checks must not touch the database

    def get(self) -> None:
        # Draining (the console, for a deploy): 503, so a load balancer sends no one new here.
        if self.services.matchmaker.draining:
            self.send_json({"status": "draining", **self.services.metrics.counts()}, 503)
            return
        self.send_json({"status": "ok", **self.services.metrics.counts()})


class RegisterHandler(JsonHandler):
    """`POST /api/register` `{"username", "password"}`: 201 and a session."""

    async def post(self) -> None:
        body = self.json_body()
        try:
            self.check_ban(None)  # a banned address makes no account
            user = await self.services.accounts.register(body.get("username"), body.get("password"))
            await self.start_session(user)
        except AccountError as exc:
            raise ApiError.from_account(exc) from None
        self.send_json({"user": user.to_json()}, status=201)


class LoginHandler(JsonHandler):
    """`POST /api/login` `{"username", "password"}`: 200 and a session, or 401."""

    async def post(self) -> None:
        body = self.json_body()
        try:
            user = await self.services.accounts.login(
                body.get("username"), body.get("password"), self.request.remote_ip or ""
            )
            await self.start_session(user)
        except AccountError as exc:
            raise ApiError.from_account(exc) from None
        self.send_json({"user": user.to_json()})


class GuestHandler(JsonHandler):
    """`POST /api/guest` `{"name"}`: a guest account and a session."""

    async def post(self) -> None:
        body = self.json_body()
        try:
            self.check_ban(None)  # a banned address makes no account
            user = await self.services.accounts.guest(body.get("name"))
            await self.start_session(user)
        except AccountError as exc:
            raise ApiError.from_account(exc) from None
        self.send_json({"user": user.to_json()})


class LogoutHandler(JsonHandler):
    """`POST /api/logout`: revokes the session server-side (idempotent)."""

    async def post(self) -> None:
        await self.services.auth.end(self, self.session_id)
        self.send_json({"ok": True})


class MeHandler(JsonHandler):
    """`GET /api/me`: the logged-in user, or 401."""

    def get(self) -> None:
        self.send_json({"user": self.require_user().to_json()})


class RoomsHandler(JsonHandler):
    """`GET /api/rooms`: every live room with its readable name, mode, seats, options and
    metadata; `?mode=M` keeps one mode's, `?KEY=V`, `?min_KEY=N` and `?max_KEY=N` filter on
    the room's player count, metadata and options (engine/filters.py)."""

    async def prepare(self) -> None:
        pass  # public, like a server browser; no session lookup

    async def get(self) -> None:
        wanted = {key: values[-1].decode(errors="replace")
                  for key, values in self.request.query_arguments.items()}
        mode = wanted.pop("mode", None)
        try:
            checks = lobby_filter(wanted)
        except BadFilter as exc:
            raise ApiError(400, "bad_filter", str(exc)) from None
        rooms, complete = await self.services.cluster.rooms()
        # Each with its readable name ("Amber Fox"), which the lobby shows instead of the id.
        rooms = [{**r, "name": display_name(r)} for r in rooms
                 if (mode is None or r.get("mode") == mode) and lobby_match(r, checks)]
        self.send_json({"rooms": rooms, "complete": complete})


class AnnouncementsHandler(JsonHandler):
    """`GET /api/announcements`: the operator's announcements of the last minutes (the newest
    three), for pages without a game socket: the lobby and the first screen show them as the
    game pages do, as a banner."""

    async def prepare(self) -> None:
        pass  # public: announcements are said to everyone

    def get(self) -> None:
        self.send_json({"announcements": self.services.events.announcements.recent()})


class ModesHandler(JsonHandler):
    """`GET /api/modes`: the games this server runs, with what a client needs to know of each
    (clock, seats, options, messages and their fields, leaderboard rule, client data)."""

    async def prepare(self) -> None:
        pass  # public

    def get(self) -> None:
        modes = self.services.matchmaker.modes
        self.send_json({"modes": [spec.describe() for spec in modes.values()]})


class LeaderboardHandler(JsonHandler):
    """`GET /api/leaderboard?mode=M`: the mode's top 10, ranked by the mode's rule (best score,
    wins or rating); without `mode`, the server's first mode. `&around=me`: the logged-in
    caller's rank with up to `NEIGHBOURS` entries above and below."""

    LIMIT = 10
    NEIGHBOURS = 2

    def initialize(
        self, services: Services, leaderboard_rules: Mapping[str, LeaderboardRule]
    ) -> None:
        super().initialize(services)
        self.rules = leaderboard_rules

    async def prepare(self) -> None:
        if self.get_query_argument("around", None) is not None:
            await super().prepare()  # only the caller's own rank needs the session

    async def get(self) -> None:
        mode = self.get_query_argument("mode", None)
        if mode is None:
            mode = next(iter(self.rules), "")
        rule = self.rules.get(mode)
        if rule is None:
            raise ApiError(404, "unknown_mode", "This server runs no such mode.")
        around = self.get_query_argument("around", None)
        storage = self.services.storage
        if around is None:
            board = await storage.top(mode, rule, self.LIMIT)
            self.send_json({"mode": mode, "rule": rule, "leaderboard": board})
            return
        if around != "me":
            raise ApiError(400, "bad_around", 'around takes one value: "me".')
        user = self.require_user()
        ranked = await storage.rank_around(mode, rule, user.id, self.NEIGHBOURS)
        self.send_json({
            "mode": mode,
            "rule": rule,
            "you": ranked["you"] if ranked else None,
            "around": ranked["around"] if ranked else [],
        })


class MetricsHandler(JsonHandler):
    """`GET /metrics`: Prometheus text format."""

    async def prepare(self) -> None:
        pass  # scrapers carry no session

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")

    def get(self) -> None:
        token = self.services.config.metrics_token
        if token:  # --metrics-token: a scraper sends Authorization: Bearer TOKEN
            given = self.request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                self.set_status(401)
                self.set_header("WWW-Authenticate", 'Bearer realm="metrics"')
                self.finish("401: /metrics needs Authorization: Bearer <the --metrics-token>\n")
                return
        self.finish(self.services.metrics.render())


class AnnounceHandler(JsonHandler):
    """`POST /api/announce` `{"token"}`: an operator announcement (`python -m game_server
    announce`), its text signed with the cookie secret; sent to every player of every process
    as global chat from "server"."""

    def initialize(self, services: Services, verifier: AnnouncementVerifier) -> None:
        super().initialize(services)
        self.verifier = verifier

    async def prepare(self) -> None:
        pass  # no session: the signature is the credential

    def check_xsrf_cookie(self) -> None:
        pass  # no cookie authenticates this, so a forged cross-site request carries nothing

    async def post(self) -> None:
        token = self.json_body().get("token")
        text = self.verifier.verify(token) if isinstance(token, str) else None
        if text is None:
            raise ApiError(403, "bad_signature", "The announcement is not signed with this "
                           "server's cookie secret, is stale, or was already sent.")
        try:
            text = check_text(text)
        except ValueError as exc:
            raise ApiError(400, "bad_text", str(exc)) from None
        try:
            await self.services.cluster.announce(SERVER_NAME, text)
        except ProtocolError as exc:
            raise ApiError(503, "unavailable", exc.message) from None
        self.send_json({"ok": True})
