"""A private `redis-server` for a benchmark that runs the server as several processes.

Debian's `/usr/bin/redis-server` (or one on PATH) in the foreground on a free port of 127.0.0.1,
its working directory in the run's temporary directory and no persistence (`--save ""
--appendonly no`). It is started through the run's `Processes`, so it stops with everything
else, however the run ends.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

from bench.procs import Processes, tail

INSTALL_HINT = "apt-get install -y redis-server"
DEBIAN_BINARY = Path("/usr/bin/redis-server")
READY = re.compile(r"Ready to accept connections")
STARTUP_TIMEOUT = 10.0
ATTEMPTS = 5  # a free port can be taken by someone else before redis-server binds it


def find_redis_server() -> Path | None:
    """Debian's `redis-server`, or one on PATH, or None."""
    if DEBIAN_BINARY.is_file() and os.access(DEBIAN_BINARY, os.X_OK):
        return DEBIAN_BINARY
    on_path = shutil.which("redis-server")
    return Path(on_path) if on_path else None


def require_redis_server(why: str) -> Path:
    """The `redis-server` binary; a RuntimeError saying how to install it when there is none."""
    binary = find_redis_server()
    if binary is None:
        raise RuntimeError(
            f"{why} needs redis-server, which is not installed "
            f"(not at {DEBIAN_BINARY} nor on PATH): {INSTALL_HINT}"
        )
    return binary


def redis_version(binary: Path) -> str | None:
    """"7.0.15" from `redis-server --version`; None if it does not say."""
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"v=(\S+)", out)
    return match.group(1) if match else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(procs: Processes, binary: Path, workdir: Path,
                prefix: list[str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start a private redis-server (under `prefix`, a `taskset` or nothing) and return it with
    its URL, `redis://127.0.0.1:PORT/0`, once it accepts connections."""
    directory = workdir / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, ATTEMPTS + 1):
        port = free_port()
        log = directory / f"redis-{attempt}.log"
        argv = [
            *(prefix or []), str(binary), "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(directory),
            "--daemonize", "no", "--logfile", "",
        ]
        try:
            proc, _ = procs.start_waiting(argv, log, READY, STARTUP_TIMEOUT, "redis-server")
        except RuntimeError:
            if attempt < ATTEMPTS and "Address already in use" in tail(log):
                continue
            raise
        return proc, f"redis://127.0.0.1:{port}/0"
    raise AssertionError("unreachable")
