"""The WebSocket tests that ship inside Tornado (`tornado.test.websocket_test`), all 70 of them,
with every server socket that can leave Tornado handed over to the asyncio protocol, Arena's
data path.

Their handlers are Tornado's own; `get_websocket_protocol` is patched for the duration of each
test so that a plain-TCP, uncompressed socket gets `HandoffProtocol13`, as `GameSocket` gives
every such socket; a compressed one stays on Tornado's own reader, as it would under Arena (the
compression tests check that fallback), and a few tests need no socket at all (masking, ping
intervals).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.test.websocket_test import (  # noqa: F401 - collected here
    ClientOnlyCompressionTest,
    ClientPeriodicPingTest,
    CompressedMessageMemoryTest,
    CythonMaskFunctionTest,
    DefaultCompressionTest,
    FloodTest,
    ManualPingTest,
    MaxMessageSizeTest,
    NoCompressionTest,
    PingCalculationTest,
    PythonMaskFunctionTest,
    ServerOnlyCompressionTest,
    ServerPeriodicPingTest,
    ServerPingTimeoutTest,
    WebSocketNativeCoroutineTest,
    WebSocketOriginTest,
    WebSocketTest,
)
from tornado.websocket import WebSocketHandler

from game_server.transport.handoff import HandoffProtocol13, can_hand_off

_stock = WebSocketHandler.get_websocket_protocol


def _handed_over(self: WebSocketHandler) -> Any:
    stock = _stock(self)
    if stock is None or not can_hand_off(self, stock.params):  # type: ignore[attr-defined]
        return stock
    return HandoffProtocol13(self, False, stock.params)  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def hand_over(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(WebSocketHandler, "get_websocket_protocol", _handed_over)
    # As Tornado's own runner (tornado/test/runtests.py): its tests fail on unexpected logs.
    access = logging.getLogger("tornado.access")
    level = access.level
    access.setLevel(logging.CRITICAL)
    yield
    access.setLevel(level)
