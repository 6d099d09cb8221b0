"""Behind a TLS proxy: the scheme the proxy forwards, and the session cookie's Secure flag.

`--xheaders` makes Tornado's HTTPServer take the scheme from `X-Scheme` / `X-Forwarded-Proto`
(and the client address from `X-Real-IP` / `X-Forwarded-For`); without it those headers are
ignored, so no client can forge them. The README's nginx recipe is run as written, with real
nginx terminating TLS in front of `--processes 2`.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import tornado.web
from tornado.httpclient import HTTPResponse

from game_server.app import ArenaServer
from game_server.storage.passwords import PasswordHasher
from tests.conftest import REPO, TEST_SECRET, Browserless, make_config
from tests.nginx import NginxServer, skip_unless_installed
from tests.rd import RedisServer, private_redis  # noqa: F401 (fixture)
from tests.servers import free_port


def session_cookie(response: HTTPResponse) -> SimpleCookie:
    """The `arena_session` Set-Cookie of `response`, parsed (attributes included)."""
    for header in response.headers.get_list("Set-Cookie"):
        if header.startswith("arena_session="):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            return jar
    raise AssertionError(f"no session cookie in {response.headers.get_list('Set-Cookie')}")


def is_secure(response: HTTPResponse) -> bool:
    return bool(session_cookie(response)["arena_session"]["secure"])


@asynccontextmanager
async def recording_server(tmp_path: Path, *, xheaders: bool
                           ) -> AsyncIterator[tuple[ArenaServer, list[str]]]:
    """An in-process server on a real socket, and the `request.protocol` of each request it
    finished, in order (read where the access log reads it)."""
    srv = ArenaServer(make_config(tmp_path / ("xh" if xheaders else "plain"), xheaders=xheaders),
                      passwords=PasswordHasher(n=2**10))
    protocols: list[str] = []
    log_request = srv.app.settings["log_function"]

    def record(handler: tornado.web.RequestHandler) -> None:
        protocols.append(handler.request.protocol)
        log_request(handler)

    srv.app.settings["log_function"] = record
    await srv.start()
    try:
        yield srv, protocols
    finally:
        await srv.stop()


@pytest.mark.parametrize("header", ["X-Forwarded-Proto", "X-Scheme"])
async def test_with_xheaders_the_forwarded_scheme_makes_the_cookie_secure(
        tmp_path: Path, clients: list[Browserless], header: str) -> None:
    async with recording_server(tmp_path, xheaders=True) as (srv, protocols):
        proxied = Browserless(srv.url)
        clients.append(proxied)
        response = await proxied.request("POST", "/api/guest", {"name": "behind tls"},
                                         headers={header: "https"})
        assert response.code == 200
        assert protocols[-1] == "https"
        assert is_secure(response)
        # A plain-HTTP request through the same proxy gets no Secure flag.
        plain = Browserless(srv.url)
        clients.append(plain)
        response = await plain.request("POST", "/api/guest", {"name": "plain"})
        assert protocols[-1] == "http"
        assert not is_secure(response)


async def test_without_xheaders_no_client_can_forge_the_scheme(
        tmp_path: Path, clients: list[Browserless]) -> None:
    async with recording_server(tmp_path, xheaders=False) as (srv, protocols):
        forger = Browserless(srv.url)
        clients.append(forger)
        response = await forger.request(
            "POST", "/api/guest", {"name": "forger"},
            headers={"X-Forwarded-Proto": "https", "X-Scheme": "https",
                     "X-Real-IP": "203.0.113.9"})
        assert response.code == 200
        assert protocols[-1] == "http"
        assert not is_secure(response)


# -- the README's recipe, as written -----------------------------------------------------------


def readme_recipe() -> tuple[list[str], str]:
    """The command line and the nginx server block of the README's "nginx in front"."""
    text = (REPO / "README.md").read_text()
    section = text.split("### One public address: nginx in front", 1)[1]
    command = re.search(r"```sh\n(.*?)```", section, re.S)
    nginx = re.search(r"```nginx\n(.*?)```", section, re.S)
    assert command and nginx, "the README's nginx recipe is missing"
    argv = shlex.split(command.group(1).replace("\\\n", " "))
    assert argv[:3] == [".venv/bin/python", "-m", "game_server"], argv
    return argv[3:], nginx.group(1)


def three_free_ports() -> int:
    """A port P with P, P + 1 and P + 2 free (the shared port and two workers' own)."""
    for _ in range(50):
        port = free_port()
        if port < 65000 and all(_free(port + i) for i in (1, 2)):
            return port
    raise RuntimeError("no three consecutive free ports")


def _free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_readme_nginx_recipe_gives_a_secure_cookie_on_every_worker(
        tmp_path: Path, private_redis: RedisServer,  # noqa: F811
        clients: list[Browserless]) -> None:
    binaries = skip_unless_installed()
    args, block = readme_recipe()
    port, tls_port = three_free_ports(), free_port()
    ports = {"8888": str(port), "8889": str(port + 1), "8890": str(port + 2)}

    def local(text: str) -> str:
        for old, new in ports.items():
            text = text.replace(old, new)
        return text

    args = [local(a) for a in args]
    assert "--xheaders" in args
    args[args.index("--redis-url") + 1] = private_redis.url
    block = local(block).replace("listen 443 ssl;", f"listen 127.0.0.1:{tls_port} ssl;")
    block = block.replace("# ssl_certificate ...; ssl_certificate_key ...;",
                          "ssl_certificate {cert}; ssl_certificate_key {key};")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "game_server", "--data-dir", str(tmp_path), *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "ARENA_COOKIE_SECRET": TEST_SECRET})
    try:
        assert proc.stderr is not None
        listening = 0
        async with asyncio.timeout(30):
            while listening < 2:
                line = (await proc.stderr.readline()).decode()
                assert line, "the server exited before it was ready"
                listening += "Arena listening on" in line
        with NginxServer(binaries, block, tls_port):
            base = f"https://127.0.0.1:{tls_port}"
            # The shared port (any worker), then each worker by its own path.
            for path in ("", f"/p{port + 1}", f"/p{port + 2}"):
                client = Browserless(base + path, validate_cert=False)
                clients.append(client)
                response = await client.request("POST", "/api/guest", {"name": "tls"})
                assert response.code == 200, (path, response.body)
                assert is_secure(response), path
                # The proxy's word is final: a scheme header the client sends does not win.
                response = await client.request("POST", "/api/guest", {"name": "downgrade"},
                                                headers={"X-Scheme": "http",
                                                         "X-Forwarded-Proto": "http"})
                assert response.code == 200, (path, response.body)
                assert is_secure(response), path
    finally:
        if proc.returncode is None:
            proc.terminate()  # the workers stop with their parent
            await asyncio.wait_for(proc.wait(), 15)
