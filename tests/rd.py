"""A private Redis server for tests, and pytest fixtures around it.

Debian's ``redis-server`` runs in the foreground on a free port of 127.0.0.1, with its working
directory in a temporary directory and no persistence (``--save "" --appendonly no``), so a
restart comes back empty, as a restarted cache server does. Without the binary the tests that
need it are skipped, unless ``CI`` is set: then they fail, since CI installs it (``.ci/run``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ScratchServer, free_port

INSTALL_HINT = "apt-get install -y redis-server"
DEBIAN_BINARY = Path("/usr/bin/redis-server")


def find_redis_server() -> Path | None:
    """Return Debian's ``redis-server``, or one on PATH, or None."""
    if DEBIAN_BINARY.is_file() and os.access(DEBIAN_BINARY, os.X_OK):
        return DEBIAN_BINARY
    on_path = shutil.which("redis-server")
    return Path(on_path) if on_path else None


def _command(port: int, args: tuple[str, ...], timeout: float) -> bytes:
    """Send one command to 127.0.0.1:`port` and return its first reply line."""
    payload = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        payload += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("redis-server closed the connection")
            reply += chunk
    if reply.startswith(b"-"):
        raise RuntimeError(f"redis-server answered {reply.strip().decode()!r} to {args}")
    return reply.strip()


class RedisServer(ScratchServer):
    """One ``redis-server`` process: ``start()``, ``stop()``, ``restart()``, ``kill()`` and more.

    The port is chosen on the first start and kept, so a URL handed out earlier reaches the
    server again after ``restart()`` (which, without persistence, comes back with no data).
    """

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.port = 0
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        assert self.port, "server was never started"
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the server (on its old port if it ran before) and wait until it answers PING."""
        if self.running:
            return
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="arena-redis-"))
            atexit.register(self.cleanup)  # even if pytest never reaches the fixture teardown
        ports = [self.port] if self.port else [free_port() for _ in range(5)]
        for attempt, port in enumerate(ports, 1):
            try:
                self._spawn(port)
            except RuntimeError:
                # Another process may have taken the free port in between: try the next one.
                if attempt == len(ports) or "Address already in use" not in self.log_tail():
                    raise
                continue
            self.port = port
            return

    def stop(self, timeout: float = 5.0) -> None:
        """Shut the server down (SIGTERM; SIGKILL if it takes longer than `timeout`)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            os.kill(proc.pid, signal.SIGCONT)  # in case it was paused: let it see SIGTERM
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections open, nothing answered, as a hung host."""
        assert self.proc is not None, "server is not running"
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Undo `pause`."""
        assert self.proc is not None, "server is not running"
        os.kill(self.proc.pid, signal.SIGCONT)

    def restart(self) -> None:
        """Stop and start again on the same port, with no data: "Redis restarted"."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop the server and delete its directory. Safe to call more than once."""
        try:
            self.stop()
        finally:
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None
                atexit.unregister(self.cleanup)

    def command(self, *args: str, timeout: float = 5.0) -> bytes:
        """Send one command (synchronously, for setup) and return its first reply line."""
        return _command(self.port, args, timeout)

    def flushall(self) -> None:
        self.command("FLUSHALL")

    # -- private helpers ---------------------------------------------------------------------

    def _spawn(self, port: int) -> None:
        assert self.dir is not None
        with (self.dir / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(self.binary), "--port", str(port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                    "--daemonize", "no", "--logfile", "",
                ],
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError(f"redis-server exited on port {port}:\n{self.log_tail()}")
            try:
                if _command(port, ("PING",), timeout=1) == b"+PONG":
                    return
            except (OSError, RuntimeError):
                pass  # not listening yet, or still loading
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not answer PING:\n{self.log_tail()}")
            time.sleep(0.02)


def skip_unless_installed() -> Path:
    """Return the ``redis-server`` binary; skip the test without it, or fail when ``CI`` is set."""
    binary = find_redis_server()
    if binary is None:
        message = (
            f"redis-server not found at {DEBIAN_BINARY} or on PATH;"
            f" install it with: {INSTALL_HINT}"
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return binary


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis server for the whole test session, stopped and deleted at the end."""
    with RedisServer(skip_unless_installed()) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of the session's Redis server, running and emptied (FLUSHALL) for this test."""
    redis_server.start()  # a no-op unless an earlier test stopped it
    redis_server.flushall()
    return redis_server.url


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A Redis server of the test's own, for tests that stop, kill or restart it."""
    with RedisServer(skip_unless_installed()) as server:
        yield server
