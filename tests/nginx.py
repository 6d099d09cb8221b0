"""A private nginx terminating TLS for tests: the README's reverse-proxy recipe, run for real.

Debian's ``nginx`` (``nginx-light`` is enough) runs in the foreground with one process, its
configuration, logs, temporary files and a self-signed certificate (made by ``openssl``) in a
scratch directory. Without the binaries the tests that need it are skipped, unless ``CI`` is set:
then they fail, since CI installs them (``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.servers import ScratchServer

INSTALL_HINT = "apt-get install -y nginx-light openssl"


def find_binaries() -> tuple[Path, Path] | None:
    """``nginx`` (Debian keeps it in /usr/sbin) and ``openssl``, or None."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    openssl = shutil.which("openssl")
    return (Path(nginx), Path(openssl)) if nginx and openssl else None


def skip_unless_installed() -> tuple[Path, Path]:
    """Return (nginx, openssl); skip the test without them, or fail when ``CI`` is set."""
    found = find_binaries()
    if found is None:
        message = f"nginx or openssl not found; install them with: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


class NginxServer(ScratchServer):
    """One ``nginx`` serving `server_block` (a ``server { ... }`` and what goes with it, as in
    the README) inside an ``http { }`` of its own; `{cert}` and `{key}` in the block stand for
    the paths of a fresh self-signed certificate for ``localhost``."""

    def __init__(self, binaries: tuple[Path, Path], server_block: str, port: int) -> None:
        self.nginx, self.openssl = binaries
        self.server_block = server_block
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="arena-nginx-"))
        cert, key = self.dir / "cert.pem", self.dir / "key.pem"
        subprocess.run(
            [str(self.openssl), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )
        block = self.server_block.replace("{cert}", str(cert)).replace("{key}", str(key))
        d = self.dir
        (d / "nginx.conf").write_text(f"""\
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/server.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{block}
}}
""")
        self.proc = subprocess.Popen(
            [str(self.nginx), "-p", str(d), "-c", str(d / "nginx.conf")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not listen on {self.port}:\n{self.log_tail()}")
            time.sleep(0.02)

    def cleanup(self) -> None:
        proc, self.proc = self.proc, None
        try:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
