"""Wiring: the Tornado application's routes and settings, and the server's start and stop.

`build_app` is pure wiring from a `Config` and the built `Services`; `ArenaServer` owns the
lifecycle (open storage, listen, and on stop: close rooms, saving every score, close sockets
with 1001, drain writes, close the database).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.ioloop import PeriodicCallback
from tornado.log import access_log
from tornado.netutil import bind_sockets

from client.policies import policy_for
from game_server.accounts import Accounts
from game_server.announce import AnnouncementVerifier
from game_server.bans import BanList
from game_server.config import Config, parse_delays, secret_versions
from game_server.console_bus import ConsoleBus
from game_server.engine.admin import RoomAdmin
from game_server.engine.cluster import Cluster, on_events
from game_server.engine.connection import Identity
from game_server.engine.limits import Limits
from game_server.engine.livestats import HISTORY_EVERY, LiveStats
from game_server.engine.matchmaker import Matchmaker
from game_server.engine.metrics import Metrics
from game_server.engine.results import MatchResult, ResultRecorder
from game_server.engine.room import Room
from game_server.engine.roomcost import CostBook, ModeCostCollector
from game_server.engine.seats import SeatTokens
from game_server.engine.ticker import IOLoopScheduler, Scheduler
from game_server.games.api import GameSpec, LeaderboardRule, Outcome, is_bot
from game_server.games.loading import server_modes
from game_server.games.web import CLIENT_WEB
from game_server.house_bots import HouseBots
from game_server.journal.writer import JournalCollector, JournalWriter
from game_server.presence import Presence, SharedCounts, open_counts, open_presence
from game_server.socket_cap import SocketCap
from game_server.storage import open_storage
from game_server.storage.base import Storage, StorageError
from game_server.storage.passwords import PasswordHasher
from game_server.throttle import LoginThrottle
from game_server.transport import api, console, pages, replays_api
from game_server.transport.auth import SessionAuth
from game_server.transport.base import Services
from game_server.transport.events import SocketEvents
from game_server.transport.files import ClientFileHandler, GameFileHandler
from game_server.transport.frames import FrameCache
from game_server.transport.replays import (
    ReplayPage,
    ReplaysPage,
    ReplayStreamHandler,
    ReplayStreams,
)
from game_server.transport.ws import GameSocket, SocketRegistry
from protocol import messages
from protocol.closes import CloseCode
from protocol.codec import encode

log = logging.getLogger("arena")

PACKAGE_DIR = Path(__file__).resolve().parent


def build_app(
    config: Config,
    services: Services,
    *,
    leaderboard_rules: Mapping[str, LeaderboardRule],
) -> tornado.web.Application:
    """The routes and settings of one Arena server; `leaderboard_rules` maps each mode to how
    its leaderboard ranks."""
    deps = {"services": services}
    replays = {**deps, "streams": ReplayStreams(services.storage, services.matchmaker.modes,
                                                max_journal_bytes=config.replay_max_bytes)}
    routes = [
        (r"/", pages.LobbyPage, deps),
        (r"/login", pages.LoginPage, deps),
        (r"/logout", pages.LogoutPage, deps),
        (r"/play", pages.PlayPage, deps),
        (r"/replays", ReplaysPage, deps),
        (r"/replays/([^/]+)", ReplayPage, replays),
        (r"/client/(.*)", ClientFileHandler, {"path": str(CLIENT_WEB)}),
        (r"/games/([^/]+)/(.*)", GameFileHandler, {"modes": services.matchmaker.modes}),
        (r"/healthz", api.HealthHandler, deps),
        (r"/metrics", api.MetricsHandler, deps),
        (r"/api/xsrf", api.XsrfHandler, deps),
        (r"/api/register", api.RegisterHandler, deps),
        (r"/api/login", api.LoginHandler, deps),
        (r"/api/guest", api.GuestHandler, deps),
        (r"/api/logout", api.LogoutHandler, deps),
        (r"/api/me", api.MeHandler, deps),
        (r"/api/rooms", api.RoomsHandler, deps),
        (r"/api/modes", api.ModesHandler, deps),
        (r"/api/replays/([^/]+)/stream", ReplayStreamHandler, replays),
        (r"/api/announcements", api.AnnouncementsHandler, deps),
        (r"/api/replays", replays_api.ReplaysHandler, deps),
        (r"/api/leaderboard", api.LeaderboardHandler,
         {**deps, "leaderboard_rules": leaderboard_rules}),
        (r"/api/announce", api.AnnounceHandler,
         {**deps, "verifier": AnnouncementVerifier(config.cookie_secret)}),
        (r"/console", console.ConsolePage, deps),
        (r"/api/console/([a-z]+)", console.ConsoleApi, deps),
        (r"/ws", GameSocket, {"services": services, "frames": FrameCache()}),
    ]
    route_of = {handler: pattern for pattern, handler, _ in routes}

    def log_request(handler: tornado.web.RequestHandler) -> None:
        duration = handler.request.request_time()
        services.metrics.http.labels(route_of.get(type(handler), "other")).observe(duration)
        status = handler.get_status()
        write = access_log.info if status < 400 else (
            access_log.warning if status < 500 else access_log.error)
        write("%d %s %.2fms", status, handler._request_summary(), 1000.0 * duration)

    signing: dict[str, object] = {"cookie_secret": config.cookie_secret}
    if isinstance(config.cookie_secret, dict):
        signing["key_version"] = max(config.cookie_secret)
    return tornado.web.Application(
        routes,
        log_function=log_request,
        **signing,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"samesite": "Lax", "path": "/"},
        login_url="/login",
        template_path=str(PACKAGE_DIR / "templates"),
        static_path=str(PACKAGE_DIR / "static"),
        websocket_max_message_size=config.max_message_size,
        websocket_ping_interval=config.ws_ping_interval,
        websocket_ping_timeout=config.ws_ping_timeout,
        debug=config.debug,
    )


class ArenaServer:
    """One Arena server process: storage, engine and HTTP/WebSocket transport."""

    def __init__(
        self,
        config: Config,
        *,
        storage: Storage | None = None,
        passwords: PasswordHasher | None = None,
        scheduler: Scheduler | None = None,
        modes: dict[str, GameSpec] | None = None,
        presence: Presence | None = None,
        counts: SharedCounts | None = None,
        shared_sockets: list[socket.socket] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`presence` defaults to the one `--redis-url` names (in memory without it);
        `counts` (login failures, sockets per address) default to the presence's Redis (in
        memory without it); `shared_sockets` are a listening port bound before forking,
        served besides this process's own `config.port`; `monotonic` is the rooms' clock (a test
        that drives `scheduler` by hand passes the same manual clock)."""
        config.validate()
        self.config = config
        self.storage = storage or open_storage(config.database_url or config.database_path)
        self.passwords = passwords or PasswordHasher()
        self.results = ResultRecorder(self._save_result, retry_on=(StorageError,))
        self._match_ids = itertools.count(1)
        self.sockets = SocketRegistry()
        self.metrics = Metrics(
            players_connected=lambda: len(self.sockets),
            seats_held=lambda: self.matchmaker.player_count,
            seats_away=lambda: self.matchmaker.away_count,
            rooms=lambda: len(self.matchmaker.rooms()),
            spectators=lambda: self.matchmaker.spectator_count,
        )
        # The match journal: written on its own timer, off every room's tick (--no-journal).
        self.journal: JournalWriter | None = None
        if config.journal:
            self.journal = JournalWriter(
                self.storage,
                flush_interval=config.journal_flush_seconds,
                max_queue_bytes=config.journal_queue_bytes,
                max_journal_bytes=config.journal_max_bytes,
                hash_every=config.journal_hash_every,
                snapshot_every=config.journal_snapshot_every,
            )
            self.metrics.registry.register(JournalCollector(self.journal.stats))
        # What each room costs (--no-room-accounting: nothing measured, nothing shown).
        self.costs = CostBook() if config.room_accounting else None
        if self.costs is not None:
            self.metrics.registry.register(ModeCostCollector(self.costs))
        self.matchmaker = Matchmaker(
            modes or server_modes(games=config.games, mode_options=config.mode_options,
                                  strict=config.strict_games),
            scheduler=scheduler or IOLoopScheduler(group_size=config.tick_group),
            empty_room_grace=config.empty_room_grace,
            on_result=self._record_result,
            observer=self.metrics,
            max_backlog=config.max_backlog_bytes,
            max_lag=config.max_lag_seconds,
            resume_grace=config.resume_grace,
            monotonic=monotonic,
            journal=self.journal,
            max_spectators=config.max_spectators,
            spectate_delays=parse_delays(config.spectate_delays),
            costs=self.costs,
        )
        self.live = LiveStats(self.matchmaker.rooms, self.metrics.counters,
                              players=lambda: self.matchmaker.connected_count,
                              tick_histogram=self.metrics.tick_duration)
        process_id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self.presence = presence or open_presence(
            config.redis_url, process_id, room_ttl=config.presence_ttl)
        self.cluster = Cluster(
            self.presence,
            self.matchmaker,
            SeatTokens(secret_versions(config.cookie_secret)),
            url="",  # known once listening
            seat_ttl=config.seat_ttl,
            on_placement=lambda outcome: self.metrics.placements.labels(outcome).inc(),
        )
        self.events = SocketEvents(self.sockets, self.presence.process_id)
        self.counts = counts or open_counts(self.presence)
        self.socket_cap = SocketCap(config.max_connections_per_ip, self.sockets.count_ip,
                                    self.sockets.by_ip, self.counts)
        self.sockets.on_change = self.socket_cap.changed
        self.bans = BanList(self.storage)  # type: ignore[arg-type]
        self.console = ConsoleBus(
            self.presence, RoomAdmin(self.matchmaker, monotonic=monotonic, live=self.live),
            self.bans, self.sockets, describe=self._describe, set_draining=self._set_draining)
        self.services = Services(
            config=config,
            storage=self.storage,
            accounts=Accounts(
                self.storage,
                self.passwords,
                LoginThrottle(
                    per_user=config.max_login_failures,
                    per_address=config.max_login_failures_per_ip,
                    window=config.login_failure_window,
                    counts=self.counts,
                ),
            ),
            auth=SessionAuth(self.storage, ttl_days=config.session_ttl_days,
                             on_end=self._session_ended),
            matchmaker=self.matchmaker,
            metrics=self.metrics,
            sockets=self.sockets,
            cluster=self.cluster,
            events=self.events,
            limits=Limits(
                messages_per_second=config.max_messages_per_second,
                message_burst=config.max_messages_per_second * 2,
                chats_per_second=config.max_chats_per_second,
                chat_burst=max(1.0, config.max_chats_per_second * 5),
            ),
            socket_cap=self.socket_cap,
            bans=self.bans,
            console=self.console,
        )
        # The server's bots fill rooms of modes that declare them, played by the same
        # policies as `client.bots`'s (client/policies.py, found by entry point).
        self.house_bots = (HouseBots(self.matchmaker, policy_for, limits=self.services.limits)
                           if config.house_bots else None)
        self.app = build_app(config, self.services, leaderboard_rules={
            name: spec.leaderboard for name, spec in self.matchmaker.modes.items()})
        self._http: HTTPServer | None = None
        self._purge: PeriodicCallback | None = None
        self._purge_journal: PeriodicCallback | None = None
        self._first_purge: asyncio.Task[int] | None = None
        self._reload_bans: PeriodicCallback | None = None
        self._history: PeriodicCallback | None = None
        self._sockets: list[socket.socket] = []
        self._shared_sockets = shared_sockets or []
        self._unsubscribe = lambda: None
        self.port = config.port

    @property
    def url(self) -> str:
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def public_url(self) -> str:
        """The base URL players reach this process at: `--public-url` with `{port}` replaced
        by this process's own port; without `{port}`, a worker sharing a port gets its own
        port in place of the URL's."""
        if not self.config.public_url:
            return self.url
        if "{port}" in self.config.public_url:  # e.g. https://play.example.com/p{port}
            return self.config.public_url.replace("{port}", str(self.port))
        if not self._shared_sockets:
            return self.config.public_url
        parts = urlsplit(self.config.public_url)
        host = parts.hostname or self.config.host
        if ":" in host:
            host = f"[{host}]"
        return urlunsplit((parts.scheme, f"{host}:{self.port}", parts.path, "", ""))

    @property
    def websocket_url(self) -> str:
        parts = urlsplit(self.public_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))

    async def start(self) -> None:
        """Open the database, join the presence and start listening (port 0: a free port)."""
        await self.storage.open()
        if self.journal is not None:
            self.journal.start()
        await self.bans.load()
        self._sockets = bind_sockets(self.config.port, address=self.config.host)
        self.port = self._sockets[0].getsockname()[1]
        self.cluster.url = self.websocket_url
        self._unsubscribe = on_events(
            self.presence,
            chat=self.events.chat,
            kick_session=self.events.kick_session,
            connected=self.events.connected,
        )
        self.console.start()
        await self.cluster.start()
        self.socket_cap.start()
        if self.house_bots is not None:
            self.house_bots.start()
        self._http = HTTPServer(self.app, xheaders=self.config.xheaders)
        self._http.add_sockets(self._sockets + self._shared_sockets)
        # Expired and revoked session rows are dead weight: sweep them hourly.
        self._purge = PeriodicCallback(self._purge_sessions, 3600 * 1000.0)
        self._purge.start()
        if self.config.journal_days or self.config.journal_keep_per_mode:
            # Old journals too: now (a server restarted often still purges), then hourly.
            self._purge_journal = PeriodicCallback(self.purge_journals, 3600 * 1000.0)
            self._purge_journal.start()
            self._first_purge = asyncio.get_running_loop().create_task(self.purge_journals())
        self._reload_bans = PeriodicCallback(self.bans.load, self.config.bans_refresh * 1000.0)
        self._reload_bans.start()
        # The console's chart: one point of this process's figures every 10 s, an hour kept.
        self._history = PeriodicCallback(self.live.sample_history, HISTORY_EVERY * 1000.0)
        self._history.start()

    async def _purge_sessions(self) -> None:
        try:
            purged = await self.storage.purge_expired_sessions()
        except Exception:
            log.exception("could not purge expired sessions")
            return
        if purged:
            log.info("purged %d expired or revoked sessions", purged)

    async def purge_journals(self) -> int:
        """Delete the journals --journal-days and --journal-keep-per-mode no longer keep;
        return how many (0 after logging, when storage fails: the next hour tries again)."""
        config = self.config
        try:
            purged = await self.storage.journals_purge(
                older_than_s=config.journal_days * 86400.0 if config.journal_days else None,
                keep_per_mode=config.journal_keep_per_mode or None)
        except Exception:
            log.exception("could not purge old match journals")
            return 0
        if purged:
            log.info("purged %d old match journals", purged)
        return purged

    async def stop(self, *, grace: float = 10.0) -> None:
        """Stop accepting, tell players, close every room and socket, save every score, close
        the database. Each wait is bounded by `grace` seconds, so a stop always ends."""
        if self._purge is not None:
            self._purge.stop()
        if self._purge_journal is not None:
            self._purge_journal.stop()
        if self.house_bots is not None:
            self.house_bots.stop()
        if self._reload_bans is not None:
            self._reload_bans.stop()
        if self._history is not None:
            self._history.stop()
        self.console.stop()
        if self._http is not None:
            self._http.stop()
        notice = encode(messages.server_closing("The server is shutting down."))
        for handler in self.services.sockets:
            if handler.session is not None:
                handler.session.connection.send(notice)
        # Games hear of the shutdown (on_terminate), not of players leaving: a shutdown is
        # nobody's forfeit; what a game reports now is recorded below.
        self.matchmaker.terminate_all(grace)
        self._unsubscribe()
        try:
            await asyncio.wait_for(self.socket_cap.stop(), grace)
            await asyncio.wait_for(self.cluster.stop(), grace)
        except TimeoutError:
            log.warning("could not leave the presence within %.0f s", grace)
        for handler in self.services.sockets:
            handler.close(CloseCode.GOING_AWAY, "server shutting down")
        if self._http is not None:
            try:
                await asyncio.wait_for(self._http.close_all_connections(), grace)
            except TimeoutError:
                log.warning("some HTTP connections did not close within %.0f s", grace)
            self._http = None
        try:
            await asyncio.wait_for(self.results.drain(), grace)
        except TimeoutError:
            log.error("%d result writes did not finish within %.0f s",
                      self.results.pending, grace)
        if self.journal is not None:
            # Every room has closed: their last records and summaries go in before the
            # database closes.
            await self.journal.stop(grace)
        await self.storage.close()
        self.passwords.close()

    def _describe(self) -> dict[str, object]:
        """This process as the console lists it."""
        return {"url": self.public_url, "draining": self.matchmaker.draining,
                **self.metrics.counts(), **self.live.host()}

    def _set_draining(self, on: bool) -> None:
        if on != self.matchmaker.draining:
            log.warning("%s: %s", self.presence.process_id,
                        "draining: no new rooms here" if on else "taking new rooms again")
        self.matchmaker.draining = on

    def _session_ended(self, session_id: str) -> None:
        self.cluster.kick_session(self.events.session_hash(session_id))

    def _record_result(self, room: Room, outcomes: list[tuple[Identity, Outcome]]) -> None:
        # The server's bots have no account: their results never reach a leaderboard.
        outcomes = [(who, outcome) for who, outcome in outcomes if not is_bot(who.id)]
        if not outcomes:
            return
        # process ids are unique per process start: so is each match id
        match_id = f"{self.presence.process_id}/{room.id}/{next(self._match_ids)}"
        self.results.record(MatchResult(room.mode.name, room.mode.leaderboard, match_id,
                                        [(who.id, outcome) for who, outcome in outcomes]))

    async def _save_result(self, result: MatchResult) -> None:
        await self.storage.record_outcomes(result.mode, result.rule, result.match_id,
                                           result.outcomes)
