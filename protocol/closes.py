"""WebSocket close codes: every code Arena's server sends or its clients act on.

One enum for the server, the Python client and the load generators; the browser client's
`client/web/net/closes.js` has the same names and values (tests/test_closes.py holds them
equal), and PROTOCOL.md's table says when each is sent. 1000-1015 are RFC 6455's (7.4.1) and
IANA's registry; 4000-4999 are for applications (RFC 6455 7.4.2), and these are Arena's.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """A close frame's status code (documented in PROTOCOL.md, "Close codes")."""

    NORMAL = 1000  # a normal close
    GOING_AWAY = 1001  # the server is shutting down
    PROTOCOL_ERROR = 1002  # the client broke the WebSocket protocol
    ABNORMAL = 1006  # no close frame: the connection dropped (never sent; what a client reports)
    INVALID_DATA = 1007  # a text message (or a close reason) that is not UTF-8
    POLICY_VIOLATION = 1008  # the client kept flooding after `rate_limited`
    MESSAGE_TOO_BIG = 1009  # a message over the size limit
    SERVICE_RESTART = 1012  # restarting, back shortly; Arena never sends it, clients act on it
    SILENT = 4000  # sent by the browser client: the server said nothing for too long
    REPLACED = 4001  # the same account opened a newer game connection
    TOO_SLOW = 4002  # the client stopped reading for too long
    SESSION_ENDED = 4003  # the login session was ended (logout, on any process)
