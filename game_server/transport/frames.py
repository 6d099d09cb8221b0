"""WebSocket frames on the server side, free of I/O: the one encoder and the one parser.

`server_frame(payload, head)` is an unmasked server frame (a final text frame by default);
`FrameCache` frames a broadcast payload once for all its recipients.

`FrameParser.feed(data)` returns the events of every complete client frame the bytes so far make
up: ``(TEXT, str)``, ``(BINARY, bytes)``, ``(PING, bytes)``, ``(PONG, bytes)``, ``(CLOSE, code,
reason)`` for the peer's close frame, and ``(ERROR, code, reason)`` for a frame that breaks the
protocol, with the close code RFC 6455 asks for. The events are the messages Tornado's own reader
hands its handler (tests/test_frame_parser.py holds the parser to it), with these deliberate
differences: client frames must be masked (RFC 6455 5.1; Tornado accepts unmasked ones), and a
frame that breaks the protocol gets a code where Tornado drops the socket without a word (RFC
6455 7.1.7): reserved bits, reserved opcodes, an unmasked frame, a fragmented or over-long control
frame, a continuation of nothing and a new message inside a fragmented one are 1002; a text
message that is not UTF-8 is 1007; a message over `max_message_size` (counted as soon as a
frame's header says so, before its payload arrives) is 1009, as Tornado says too. A close frame's
payload is checked (RFC 6455 7.1.5, 7.4): one byte, or a code no endpoint may send, is 1002; a
reason that is not UTF-8 1007.

After a CLOSE or an ERROR the parser is `done` and delivers nothing more. Once the server has
sent its own close frame, `drain(data)` skips whatever follows without checking it, looking
only for the peer's close frame (returned as a CLOSE event).

`feed` takes an optional work budget: it stops after that much work (a frame counts its bytes
plus `FRAME_COST`) and leaves the rest buffered, with `more` set, so that a caller on an event
loop can give other sockets a turn before it calls `feed(b"")` again.
"""

from __future__ import annotations

import struct
from typing import Any

from tornado.util import _websocket_mask

from protocol.closes import CloseCode

TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA
ERROR = -1
FIN = 0x80  # the first byte's final-fragment bit

# Work is counted so a caller can yield to its event loop after `YIELD_BYTES` of it: each frame
# counts its bytes plus a fixed cost, since for small frames the per-frame handling dominates.
YIELD_BYTES = 256 * 1024
FRAME_COST = 1024
# Bytes a peer may still send after the server's close frame before its socket is dropped.
DRAIN_LIMIT = 64 * 1024
# Opcodes RFC 6455 defines: continuation, text, binary, close, ping, pong.
KNOWN_OPCODES = frozenset((0x0, TEXT, BINARY, CLOSE, PING, PONG))

Event = tuple[Any, ...]
_NO_LIMIT = 1 << 62


# -- encoding ----------------------------------------------------------------------------------


def server_frame(payload: bytes, head: int = FIN | TEXT) -> bytes:
    """One unmasked server frame (RFC 6455 5.2); `head`, its first byte, is `FIN | opcode`: a
    final text frame unless told otherwise.

    The first byte comes whole, not built per call: a state is framed here once per room and
    tick (through `FrameCache`), and a pong or a close once each, at no more cost than before
    there was one encoder for all of them.
    """
    n = len(payload)
    if n < 126:
        return bytes((head, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", head, 126, n) + payload
    return struct.pack("!BBQ", head, 127, n) + payload


class FrameCache:
    """Frames a payload once however many sockets it goes to.

    A room hands the same bytes object to every member in a row; the cache keeps the last
    payload (so its identity cannot be reused) and its frame, so all but the first recipient
    reuse the frame (the connections read `_payload` and `_frame` inline, per member).
    """

    __slots__ = ("_payload", "_frame")

    def __init__(self) -> None:
        self._payload = b""
        self._frame = server_frame(b"")

    def frame(self, payload: bytes) -> bytes:
        if payload is not self._payload:
            self._payload = payload
            self._frame = server_frame(payload)
        return self._frame


# -- parsing -----------------------------------------------------------------------------------


class FrameError(Exception):
    """A client frame that breaks the protocol; `code` is the close code RFC 6455 asks for."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def read_header(data: bytes | bytearray, pos: int, fragments: bytearray | None,
                max_size: int) -> tuple[int, int, int, int] | None:
    """`(opcode, fin, head, length)` of the client frame at `pos`: `head` counts the header and
    mask bytes, `length` the payload's. None while the header is incomplete.

    `fragments` is the fragmented message under way (None if none), `max_size` the largest
    message allowed, counted as soon as the header says so. `FrameError` for a frame that breaks
    the protocol: 1002 (reserved bits or opcodes, unmasked, a fragmented or over-long control
    frame, a continuation of nothing, a new message inside a fragmented one), 1009 (too big).
    """
    end = len(data)
    header = data[pos]
    second = data[pos + 1]
    opcode = header & 0x0F
    fin = header & 0x80
    if header & 0x70:  # reserved bits: an extension nobody negotiated
        raise FrameError(CloseCode.PROTOCOL_ERROR, "reserved bits set")
    if opcode not in KNOWN_OPCODES:
        raise FrameError(CloseCode.PROTOCOL_ERROR, "unknown opcode")
    if not second & 0x80:
        raise FrameError(CloseCode.PROTOCOL_ERROR, "client frames must be masked")
    length = second & 0x7F
    head = 6  # 2 header bytes + 4 mask bytes
    if opcode & 0x8:
        if length >= 126:
            raise FrameError(CloseCode.PROTOCOL_ERROR, "control frame too long")
        if not fin:
            raise FrameError(CloseCode.PROTOCOL_ERROR, "fragmented control frame")
    if length == 126:
        if end - pos < 4:
            return None
        length = (data[pos + 2] << 8) | data[pos + 3]
        head = 8
    elif length == 127:
        if end - pos < 10:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 10], "big")
        head = 14
    if opcode == 0:
        if fragments is None:
            raise FrameError(CloseCode.PROTOCOL_ERROR, "continuation of nothing")
    elif fragments is not None and not opcode & 0x8:
        raise FrameError(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one")
    if length + (len(fragments) if fragments is not None else 0) > max_size:
        raise FrameError(CloseCode.MESSAGE_TOO_BIG, "message too big")
    return opcode, fin, head, length


def frame_extent(data: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """`(head, length)` of whatever frame starts at `pos`, masked or not, unchecked (frames
    skipped after a close are only delimited); None while its header is incomplete."""
    end = len(data)
    second = data[pos + 1]
    length = second & 0x7F
    head = 6 if second & 0x80 else 2
    if length == 126:
        if end - pos < 4:
            return None
        length = (data[pos + 2] << 8) | data[pos + 3]
        head += 2
    elif length == 127:
        if end - pos < 10:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 10], "big")
        head += 8
    return head, length


def valid_close_code(code: int) -> bool:
    """Whether a peer may send `code` in a close frame (RFC 6455 7.4.1, 7.4.2)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


class FrameParser:
    """Parses client-to-server frames; see the module's docstring for the events and rules."""

    __slots__ = ("max_message_size", "done", "more", "drained", "_buf", "_start",
                 "_fragments", "_opcode", "_skip")

    def __init__(self, max_message_size: int) -> None:
        self.max_message_size = max_message_size
        self.done = False  # a CLOSE or an ERROR was returned: nothing more is parsed
        self.more = False  # the last feed stopped at its budget with frames still buffered
        self.drained = 0  # bytes `drain` skipped
        self._buf: bytes | bytearray = b""
        self._start = 0  # where the unparsed bytes begin in _buf (after a feed hit its budget)
        self._fragments: bytearray | None = None  # the fragmented message being assembled
        self._opcode = 0  # its opcode
        self._skip = 0  # bytes of a frame `drain` is skipping that are still to come

    @property
    def buffered(self) -> int:
        """Bytes received but not parsed yet (an incomplete frame, or frames past a budget)."""
        return len(self._buf) - self._start

    def feed(self, data: bytes, budget: int = _NO_LIMIT) -> list[Event]:
        """Add `data`; return the events of the complete frames, up to `budget` work."""
        data = self._take(data)
        events: list[Event] = []
        self.more = False
        if self.done:
            self._buf = data
            return events
        pos = 0
        end = len(data)
        work = 0
        max_size = self.max_message_size
        while end - pos >= 2:
            if work >= budget:
                self.more = True
                break
            try:
                found = read_header(data, pos, self._fragments, max_size)
            except FrameError as exc:
                events.append(self._fail(exc.code, exc.reason))
                break
            if found is None:
                break
            opcode, fin, head, length = found
            fragments = self._fragments
            if end - pos < head + length:
                break
            mask = data[pos + head - 4 : pos + head]
            body = data[pos + head : pos + head + length]
            if type(body) is not bytes:  # the C unmask wants read-only buffers
                mask, body = bytes(mask), bytes(body)
            payload = _websocket_mask(mask, body)
            pos += head + length
            work += FRAME_COST + head + length
            if opcode == 0:
                fragments.extend(payload)  # type: ignore[union-attr]
                if not fin:
                    continue
                opcode = self._opcode
                payload = bytes(fragments)  # type: ignore[arg-type]
                self._fragments = None
            elif not fin:
                self._opcode = opcode
                self._fragments = bytearray(payload)
                continue
            if opcode == TEXT:
                try:
                    events.append((TEXT, payload.decode("utf-8")))
                except UnicodeDecodeError:
                    pos -= head + length  # the frame stays, for `drain` to skip
                    events.append(self._fail(CloseCode.INVALID_DATA, "text message is not UTF-8"))
                    break
            elif opcode == CLOSE:
                events.append(self._close(payload))
                if events[-1][0] == ERROR:
                    pos -= head + length
                break
            else:  # BINARY, PING, PONG
                events.append((opcode, payload))
        if self.more:  # keep the buffer; the next feed starts where this one stopped
            self._buf, self._start = data, pos
        else:
            self._buf = data[pos:] if pos < end else b""
        return events

    def lone_text(self, data: bytes) -> str | None:
        """The text of `data` when it is exactly one whole, masked, final text frame shorter
        than 126 bytes and nothing is buffered or under way; else None, and `feed` it.

        The usual message (an input, a ping) arrives one frame per socket read: this parses
        it without the event list, and leaves every other case, errors included, to `feed`.
        """
        n = len(data) - 6
        if (
            0 <= n < 126 and data[0] == 0x81 and data[1] == 0x80 | n
            and not self._buf and self._fragments is None and not self.done
            and n <= self.max_message_size
        ):
            try:
                return _websocket_mask(data[2:6], data[6:]).decode("utf-8")
            except UnicodeDecodeError:
                return None  # `feed` answers it with 1007
        return None

    def _take(self, data: bytes) -> bytes | bytearray:
        """The unparsed bytes so far followed by `data`, from offset 0."""
        buf = self._buf
        if not buf:
            return data
        if self._start:
            buf = bytearray(memoryview(buf)[self._start:])
            self._start = 0
        if data:
            if type(buf) is not bytearray:
                buf = bytearray(buf)
            buf += data
        return buf

    def _close(self, payload: bytes) -> Event:
        """The event for the peer's close frame (an ERROR if its payload is malformed)."""
        self.done = True
        if not payload:
            return (CLOSE, None, None)
        if len(payload) == 1:
            return self._fail(CloseCode.PROTOCOL_ERROR, "close frame with a one-byte payload")
        code = (payload[0] << 8) | payload[1]
        if not valid_close_code(code):
            return self._fail(CloseCode.PROTOCOL_ERROR, "invalid close code")
        try:
            reason = payload[2:].decode("utf-8") if len(payload) > 2 else None
        except UnicodeDecodeError:
            return self._fail(CloseCode.INVALID_DATA, "close reason is not UTF-8")
        return (CLOSE, code, reason)

    def _fail(self, code: int, reason: str) -> Event:
        self.done = True
        self._fragments = None
        return (ERROR, code, reason)

    def drain(self, data: bytes) -> tuple[Event | None, bool]:
        """After the server's close frame: skip frames until the peer's close frame.

        Returns (the peer's CLOSE event or None, whether more than `DRAIN_LIMIT` bytes were
        skipped: a peer that keeps sending after being told to close is to be dropped). Frames
        are only delimited, never checked; a malformed close frame still ends the drain.
        """
        data = self._take(data)  # type: ignore[assignment]
        pos = 0
        end = len(data)
        found: Event | None = None
        while True:
            if self._skip:  # the rest of a frame being skipped
                take = min(self._skip, end - pos)
                pos += take
                self._skip -= take
                self.drained += take
                if self._skip:
                    break
            if self.drained > DRAIN_LIMIT:
                self._buf = b""
                return None, True
            if end - pos < 2:
                break
            extent = frame_extent(data, pos)
            if extent is None:
                break
            head, length = extent
            if data[pos] & 0x0F == CLOSE and length < 126:
                if end - pos < head + length:
                    break
                payload = bytes(data[pos + head : pos + head + length])
                if data[pos + 1] & 0x80:
                    payload = _websocket_mask(bytes(data[pos + head - 4 : pos + head]), payload)
                pos += head + length
                found = self._close(payload)
                break
            self._skip = head + length
        self._buf = data[pos:] if pos < end else b""
        return found, False
