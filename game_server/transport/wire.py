"""An established WebSocket driven by an asyncio `Protocol`: the event loop's callbacks, no streams.

Tornado's IOStream costs a Future and an IOLoop round per read and per write; a `Protocol` gets
`data_received(bytes)` straight from the loop (uvloop's is C) and writes with
`transport.write`, which sends at once when nothing is queued. `WebSocketWire` takes over a
socket after Tornado's handshake (transport/handoff.py) and speaks RFC 6455 from there on:

* frames are parsed by `FrameParser` (transport/frames.py, which frames what is sent too), text
  goes to the handler's `on_text_message` (else `on_message`), binary to `on_message`, pings
  are answered and reported to `on_ping`, pongs to `on_pong`;
* a frame that breaks the protocol is answered with a close frame carrying the RFC's code (1002,
  1007; 1009 for an oversized message, which also ends the socket at once); the peer's close
  frame is echoed and the socket closed; after the server's own close frame nothing reaches the
  handler, frames are skipped until the peer's close frame, and a peer that sends more than
  `DRAIN_LIMIT` bytes instead, or nothing within `close_timeout`, loses its socket;
* a ping every `ping_interval` seconds; no pong within `ping_timeout` closes (1000, "ping timed
  out"), as Tornado's keep-alive does;
* a flood is parsed `YIELD_BYTES` of work at a time: past that, reading pauses
  (`pause_reading`) and the rest is parsed on the loop's next turn, so other sockets get theirs.

A handler written for Tornado works unchanged: the same callbacks, and `log_exception` for an
exception a callback raises (logged, then the socket is dropped, as Tornado's `_run_callback`).
"""

from __future__ import annotations

import asyncio
import struct
import sys
from collections.abc import Callable
from typing import Any, Protocol

from game_server.transport.frames import (
    BINARY,
    CLOSE,
    FIN,
    PING,
    PONG,
    TEXT,
    YIELD_BYTES,
    Event,
    FrameParser,
    server_frame,
)
from protocol.closes import CloseCode

# A pong is not queued behind this many bytes for a peer that is not reading (RFC 6455 5.5.3
# lets an endpoint answer only some pings); the pinger is rate-limited by its session anyway.
PONG_BACKLOG = 64 * 1024
_PING = b"\x89\x00"
_PONG_HEAD = FIN | PONG


class WireHandler(Protocol):
    """What a `WebSocketWire` hands messages to: the callbacks of Tornado's handler."""

    def on_message(self, message: str | bytes) -> Any: ...

    def on_ping(self, data: bytes) -> Any: ...

    def on_pong(self, data: bytes) -> Any: ...

    def log_exception(self, *exc_info: Any) -> None: ...


class WebSocketWire(asyncio.Protocol):
    """One server-side WebSocket after its handshake, on an asyncio transport."""

    def __init__(self, handler: WireHandler, *, max_message_size: int,
                 ping_interval: float = 0.0, ping_timeout: float = 0.0,
                 close_timeout: float = 5.0) -> None:
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self.parser = FrameParser(max_message_size)
        self.client_terminated = False  # the peer's close frame arrived, or the socket is gone
        self.server_terminated = False  # our close frame is written (or the socket is gone)
        self.close_code: int | None = None  # what the peer's close frame said
        self.close_reason: str | None = None
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()  # the socket is gone
        self._early: list[bytes] = []  # written before the transport exists
        self.early_input = b""  # read before the transport existed: parsed first
        self._end_when_made = False  # closed or aborted before the transport existed
        self._abort_when_made = False
        self._on_text: Callable[[str], Any] = handler.on_message  # see connection_made
        self._close_timeout = close_timeout
        # How a ping is answered; Tornado's side may put its own in (transport/handoff.py).
        self.send_pong: Callable[[bytes], None] = self._send_pong
        self._ping_interval = ping_interval
        self._ping_timeout = min(ping_timeout, ping_interval) if ping_timeout else ping_interval
        self._received_pong = False
        self._ping_sent = 0.0  # loop time of the last ping
        #: Seconds the last ping took to be answered (None before the first): the console's
        #: ping, measured once per ping interval, never per message.
        self.rtt: float | None = None
        self._ping_handle: asyncio.TimerHandle | None = None
        self._close_handle: asyncio.TimerHandle | None = None
        self._resume: asyncio.Handle | None = None
        self._paused = False  # reading paused: a flood's turn is over, or a coroutine runs
        # While a coroutine callback runs: it, the events it holds up and where they resume.
        self._held: tuple[asyncio.Future[Any], list[Event], int] | None = None

    # -- the loop's side -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # A handler's fast path for text, set by the time its open() returned.
        self._on_text = getattr(self.handler, "on_text_message", None) or self.handler.on_message
        if self._early:
            transport.write(b"".join(self._early))  # type: ignore[attr-defined]
            self._early = []
        if self._abort_when_made:
            transport.abort()  # type: ignore[attr-defined]
            return
        if self._end_when_made:
            transport.close()
            return
        if self._ping_interval > 0 and not self.server_terminated:
            self._ping_handle = self._loop.call_later(self._ping_interval, self._ping)
        if self.early_input:
            data, self.early_input = self.early_input, b""
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        if self._held is None and not self.server_terminated:
            text = self.parser.lone_text(data)
            if text is not None:  # one whole text frame, the usual read: no event list
                try:
                    result = self._on_text(text)
                except (Exception, asyncio.CancelledError):
                    self.handler.log_exception(*sys.exc_info())
                    self.abort()
                    return
                if result is not None:
                    self._hold(result, [], 0)
                return
        if self.server_terminated:
            self._drain(data)
            return
        if self._held is not None:  # a coroutine callback is running: parse nothing yet
            self.parser.feed(data, 0)
            return
        if self._dispatch(self.parser.feed(data, YIELD_BYTES), 0):
            self._after_dispatch()

    def _continue(self) -> None:
        self._resume = None
        if self.server_terminated or self._dispatch(self.parser.feed(b"", YIELD_BYTES), 0):
            self._after_dispatch()

    def _after_dispatch(self) -> None:
        """Once every parsed event is handled: go on parsing, or reading."""
        if self.server_terminated:
            self._drain(b"")  # what the parse left, from where it stopped
        elif self.parser.more:
            # More complete frames than one turn's work: the rest on the loop's next turn.
            self._pause()
            self._resume = self._loop.call_soon(self._continue)
            return
        if self._paused:
            self._paused = False
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    def _pause(self) -> None:
        if not self._paused:
            self._paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]

    def eof_received(self) -> bool | None:
        return None  # the transport closes; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.client_terminated = self.server_terminated = True
        for handle in (self._ping_handle, self._close_handle, self._resume):
            if handle is not None:
                handle.cancel()
        self._ping_handle = self._close_handle = self._resume = None
        if not self.closed.done():
            self.closed.set_result(None)

    # -- messages --------------------------------------------------------------------------------

    def _dispatch(self, events: list[Event], start: int) -> bool:
        """Handle `events[start:]`; False if a coroutine callback holds up the rest."""
        handler = self.handler
        on_text = self._on_text
        for i in range(start, len(events)):
            event = events[i]
            kind = event[0]
            if self.server_terminated:
                # Closing: only the peer's close frame still matters.
                if kind == CLOSE:
                    self._peer_closed(event[1], event[2])
                continue  # an ERROR: the parser stopped at it; draining skips the frame
            try:
                if kind == TEXT:
                    result = on_text(event[1])
                elif kind == BINARY:
                    result = handler.on_message(event[1])
                elif kind == PING:
                    self.send_pong(event[1])
                    result = handler.on_ping(event[1])
                elif kind == PONG:
                    self._received_pong = True
                    if self._ping_sent:
                        self.rtt = self._loop.time() - self._ping_sent
                    result = handler.on_pong(event[1])
                elif kind == CLOSE:
                    self._peer_closed(event[1], event[2])
                    continue
                else:  # ERROR
                    self.close(event[1], event[2])
                    if event[1] == CloseCode.MESSAGE_TOO_BIG:
                        self._end()  # not worth reading to the end
                    continue
                if result is not None:
                    self._hold(result, events, i + 1)
                    return False
            except (Exception, asyncio.CancelledError):
                handler.log_exception(*sys.exc_info())
                self.abort()
                return False
        return True

    def _hold(self, result: Any, events: list[Event], resume_at: int) -> None:
        """A callback returned a coroutine: the next message waits for it, as under Tornado."""
        future = asyncio.ensure_future(result)
        self._held = (future, events, resume_at)
        self._pause()
        future.add_done_callback(self._callback_done)

    def _callback_done(self, future: asyncio.Future[Any]) -> None:
        held, self._held = self._held, None
        try:
            future.result()
        except (Exception, asyncio.CancelledError):
            self.handler.log_exception(*sys.exc_info())
            self.abort()
            return
        if held is not None and self._dispatch(held[1], held[2]):
            self._after_dispatch()

    def _peer_closed(self, code: int | None, reason: str | None) -> None:
        self.client_terminated = True
        self.close_code, self.close_reason = code, reason
        self.close(code)  # echo the code (RFC 6455 5.5.1); the handshake is complete: end

    def _drain(self, data: bytes) -> None:
        """After our close frame: skip everything but the peer's close frame."""
        if self.client_terminated:
            return
        event, over = self.parser.drain(data)
        if over:
            self.abort()
        elif event is not None:
            if event[0] == CLOSE:
                self.client_terminated = True
                self.close_code, self.close_reason = event[1], event[2]
            else:
                self.client_terminated = True
            self._end()

    def _send_pong(self, data: bytes) -> None:
        if self.queued() > PONG_BACKLOG:
            return
        self.write(server_frame(data, _PONG_HEAD))

    # -- the server's side -----------------------------------------------------------------------

    def write(self, frame: bytes) -> None:
        """Queue one frame (before the transport exists, until it does)."""
        transport = self.transport
        if transport is None:
            self._early.append(frame)
        elif not transport.is_closing():
            transport.write(frame)

    def queued(self) -> int:
        """Bytes written here that have not gone to the kernel yet."""
        transport = self.transport
        if transport is None:
            return sum(len(frame) for frame in self._early)
        return transport.get_write_buffer_size()

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Send a close frame (once); end the socket when the peer's arrives, or after
        `close_timeout` without one. The same contract as Tornado's `close`."""
        if not self.server_terminated:
            if code is None and reason is not None:
                code = CloseCode.NORMAL
            payload = b"" if code is None else struct.pack(">H", code)
            if reason:
                payload += reason.encode("utf-8")[:123]
            self.write(server_frame(payload, FIN | CLOSE))
            self.server_terminated = True
            if self._ping_handle is not None:
                self._ping_handle.cancel()
                self._ping_handle = None
        if self.client_terminated:
            self._end()
        elif self._close_handle is None and not self.closed.done():
            self._close_handle = self._loop.call_later(self._close_timeout, self.abort)

    def _end(self) -> None:
        """Close the socket once what is queued has been written."""
        if self._close_handle is not None:
            self._close_handle.cancel()
        # Still bounded: a peer that never reads cannot hold a closing socket forever.
        self._close_handle = (self._loop.call_later(self._close_timeout, self.abort)
                              if not self.closed.done() else None)
        if self.transport is None:
            self._end_when_made = True
        else:
            self.transport.close()

    def abort(self) -> None:
        """Drop the socket now, whatever is queued."""
        self.client_terminated = self.server_terminated = True
        if self.transport is None:
            self._abort_when_made = True
        else:
            self.transport.abort()

    def _ping(self) -> None:
        self._ping_handle = None
        if self.server_terminated:
            return
        self._received_pong = False
        self._ping_sent = self._loop.time()
        self.write(_PING)
        self._ping_handle = self._loop.call_later(self._ping_timeout, self._check_pong,
                                                  self._loop.time())

    def _check_pong(self, sent_at: float) -> None:
        self._ping_handle = None
        if self.server_terminated:
            return
        if not self._received_pong:
            self.close(CloseCode.NORMAL, "ping timed out")
            return
        wait = max(0.0, sent_at + self._ping_interval - self._loop.time())
        self._ping_handle = self._loop.call_later(wait, self._ping)
