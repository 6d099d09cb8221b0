"""Events from other processes: of two sockets of one account, the newer survives, whatever
order the "connected" events arrive in."""

from __future__ import annotations

from dataclasses import dataclass, field

from game_server.transport.events import SocketEvents
from protocol.closes import CloseCode


@dataclass
class FakeSocket:
    socket_id: str
    opened_at: float
    closed: list[int] = field(default_factory=list)

    def close(self, code: int, reason: str) -> None:
        self.closed.append(code)


class OneSocketRegistry:
    def __init__(self, handler: FakeSocket) -> None:
        self.handler = handler

    def of_user(self, user_id: int) -> FakeSocket:
        return self.handler


def test_a_late_event_about_an_older_socket_closes_nothing() -> None:
    mine = FakeSocket("b/1", opened_at=101.0)
    events = SocketEvents(OneSocketRegistry(mine), "b")  # type: ignore[arg-type]
    events.connected(7, "a/1", 100.0)  # opened on A before mine, announced after it
    assert mine.closed == []


def test_an_event_about_a_newer_socket_closes_the_older_one_here() -> None:
    mine = FakeSocket("a/1", opened_at=100.0)
    events = SocketEvents(OneSocketRegistry(mine), "a")  # type: ignore[arg-type]
    events.connected(7, "b/1", 101.0)
    assert mine.closed == [CloseCode.REPLACED]


def test_both_processes_agree_which_of_two_sockets_opened_at_once_survives() -> None:
    on_a, on_b = FakeSocket("a/1", 100.0), FakeSocket("b/1", 100.0)
    SocketEvents(OneSocketRegistry(on_a), "a").connected(7, "b/1", 100.0)  # type: ignore[arg-type]
    SocketEvents(OneSocketRegistry(on_b), "b").connected(7, "a/1", 100.0)  # type: ignore[arg-type]
    assert sorted([len(on_a.closed), len(on_b.closed)]) == [0, 1]
