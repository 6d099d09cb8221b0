"""What other processes ask of this one's game sockets: global chat, kicks, replaced sockets.

`Cluster` publishes these through the presence (Redis pub/sub across processes, or in memory
for one process); `SocketEvents` acts on the sockets this process holds.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

from game_server.announce import RecentAnnouncements
from game_server.names import SERVER_NAME
from game_server.storage.base import hash_session_id
from protocol import messages
from protocol.closes import CloseCode
from protocol.codec import encode

if TYPE_CHECKING:
    from game_server.transport.ws import SocketRegistry

log = logging.getLogger("arena.events")


class SocketEvents:
    """Carries published events out to this process's game sockets."""

    def __init__(self, sockets: SocketRegistry, process_id: str,
                 announcements: RecentAnnouncements | None = None) -> None:
        self._sockets = sockets
        self.process_id = process_id
        self._ids = itertools.count(1)
        #: What the server announced lately, for pages without a game socket (the lobby).
        self.announcements = announcements or RecentAnnouncements()

    def new_socket_id(self) -> str:
        """A deployment-wide unique id for a game socket opened here."""
        return f"{self.process_id}/{next(self._ids)}"

    @staticmethod
    def session_hash(session_id: str) -> str:
        return hash_session_id(session_id)

    def chat(self, name: str, text: str) -> None:
        """Global chat or an announcement: to every player connected here (and, for an
        announcement, to the pages that ask `GET /api/announcements`)."""
        if name == SERVER_NAME:
            self.announcements.add(text)
        data = encode(messages.chat(player=0, name=name, text=text, scope="global"))
        for handler in self._sockets:
            session = handler.session
            if session is not None:
                session.connection.send(data)

    def kick_session(self, session_hash: str) -> None:
        """The login session was revoked (on any process): close its sockets here."""
        for handler in self._sockets:
            if handler.session_hash == session_hash:
                log.info("closing %s's game socket: logged out", handler.current_user.name)
                handler.close(CloseCode.SESSION_ENDED, "logged out")

    def connected(self, user_id: int, socket_id: str, opened_at: float) -> None:
        """The account opened a game socket on another process at `opened_at`: the socket
        here is closed if it is the older one.

        Events cross processes in no guaranteed order, so "the newest wins" compares opening
        times (ties by socket id), never arrival: each process decides the same way about the
        same two sockets, so exactly one of them is closed, whichever event arrives first.
        """
        if socket_id.startswith(self.process_id + "/"):
            return  # opened here: the registry already closed the older one
        handler = self._sockets.of_user(user_id)
        if handler is None or handler.socket_id == socket_id:
            return
        if (handler.opened_at, handler.socket_id) < (opened_at, socket_id):
            handler.close(CloseCode.REPLACED, "replaced by a newer connection")
