"""What a client has not received yet: the kernel's share of it, and how long it has waited.

Both WebSocket data paths (Tornado's stream under TLS, transport/ws.py; the asyncio protocol,
transport/handoff.py) count a connection's backlog as the bytes still queued in the process
plus the bytes in the kernel's send queue the peer has not acknowledged, and derive the lag the
room closes slow readers on (4002) from it the same way: `SendClock`.
"""

from __future__ import annotations

import fcntl
import socket
import sys
import termios
from collections import deque

# Linux's SIOCOUTQ (the same number as TIOCOUTQ): bytes in a TCP socket's send queue that the
# peer has not acknowledged. Elsewhere the kernel's share of a backlog goes uncounted.
_SIOCOUTQ: int | None = getattr(termios, "TIOCOUTQ", None) if sys.platform == "linux" else None
_INT = b"\0\0\0\0"


def unacked_bytes(sock: socket.socket) -> int:
    """Bytes written to `sock` that its peer's TCP has not acknowledged; 0 if unknown or closed.

    A client that stops reading lets its receive window fill, and from then on everything the
    server writes stays here: on loopback the kernel takes megabytes per socket before the
    stream queues a byte, so a backlog counted in the stream alone sees nothing for minutes.
    """
    if _SIOCOUTQ is None:
        return 0
    try:
        # The socket object, not a cached number: once closed its fileno() is -1 (EBADF)
        # rather than a number the kernel may have given to another connection.
        return int.from_bytes(fcntl.ioctl(sock, _SIOCOUTQ, _INT), sys.byteorder, signed=True)
    except (OSError, ValueError):
        return 0


class SendClock:
    """Bytes written, bytes received at the last exact count, and marks to tell the lag by.

    A subclass counts `written` as it accepts frames and implements `backlog()`, which must
    call `_saw(waiting)` with what it found still waiting.

    Asking the kernel costs a system call, so the per-tick check uses an upper bound instead:
    bytes written since the last exact count minus what had been received by then (`written`
    - `_received`); only when that bound passes a limit is the kernel asked. `lag` (a few times
    a second, from the room) keeps the count fresh.
    """

    __slots__ = ("written", "_received", "_marks")

    def __init__(self) -> None:
        self.written = 0  # bytes of the frames this connection accepted
        self._received = 0  # of those, how many the client's TCP had taken at the last count
        # (when, written then) a few times a second, while the client has not got everything:
        # the oldest one not yet received tells how long the client has been behind.
        self._marks: deque[tuple[float, int]] = deque()

    def backlog(self) -> int:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def _saw(self, waiting: int) -> None:
        received = self.written - waiting
        if received > self._received:
            self._received = received

    def lag(self, now: float) -> float:
        """Seconds the oldest byte the client has not received has waited (0: it has all).

        A lower bound, as fine as the calls are frequent: each call that finds bytes waiting
        leaves a mark (now, bytes written so far); the answer is the age of the oldest mark
        whose bytes have not all been received.
        """
        marks = self._marks
        if self.backlog() <= 0:
            marks.clear()
            return 0.0
        received = self._received
        while marks and marks[0][1] <= received:
            marks.popleft()
        behind = now - marks[0][0] if marks else 0.0
        if not marks or marks[-1][1] < self.written:
            marks.append((now, self.written))
        return behind
