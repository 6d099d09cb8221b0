"""What the private server fixtures (tests/rd.py: Redis, tests/pg.py: PostgreSQL) share."""

from __future__ import annotations

import socket
from pathlib import Path
from types import TracebackType
from typing import Self


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # type: ignore[no-any-return]


class ScratchServer:
    """A server process in a scratch directory (`dir`, its log in `server.log`).

    As a context manager it is started on entry and cleaned up (stopped, directory removed)
    on exit, also when starting fails halfway. Subclasses provide `start` and `cleanup`.
    """

    dir: Path | None = None

    def start(self) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log, for failure messages."""
        if self.dir is None:
            return ""
        try:
            text = (self.dir / "server.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
