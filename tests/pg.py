"""A private PostgreSQL server for tests, and pytest fixtures around it.

Debian's binaries (``/usr/lib/postgresql/<version>/bin``) run a throwaway cluster in a temporary
directory on a free port of 127.0.0.1, with trust authentication and no durability (it is
deleted afterwards). ``initdb`` and ``pg_ctl`` refuse to run as root, so as root they run as the
``postgres`` user, which owns the directory. Without the binaries the tests that need them are
skipped, unless ``CI`` is set: then they fail, since CI installs them (``.ci/run``).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.servers import ScratchServer, free_port

INSTALL_HINT = "apt-get install -y postgresql"
SERVER_USER = "postgres"  # the OS user the server runs as when the tests run as root
SUPERUSER = "postgres"  # the cluster's superuser, for creating databases
ROLE = "arena"  # an ordinary role that owns the test databases: what the server logs in as

_SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
# A throwaway cluster: speed over durability.
fsync = off
synchronous_commit = off
full_page_writes = off
# With minimal WAL, copying template1's files (below) takes about 15 ms, not 300.
wal_level = minimal
max_wal_senders = 0
"""


def find_bindir() -> Path | None:
    """Return the directory holding ``initdb`` and ``pg_ctl`` (newest Debian version first)."""
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda d: [int(n) for n in re.findall(r"\d+", d.parent.name)],
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if (bindir / "pg_ctl").is_file() and (bindir / "psql").is_file():
            return bindir
    return None


def _scratch_dir() -> str | None:
    """Prefer a roomy RAM disk: on a disk, each CREATE DATABASE takes 0.1 to 0.3 s, not 20 ms."""
    shm = "/dev/shm"
    try:
        if os.access(shm, os.W_OK | os.X_OK) and shutil.disk_usage(shm).free >= 1 << 30:
            return shm
    except OSError:
        pass
    return None  # the default temporary directory


class PostgresServer(ScratchServer):
    """One PostgreSQL cluster in a temporary directory: ``start()``, ``stop()``, ``cleanup()``.

    ``stop()`` then ``start()`` restarts it on the same port with its data kept, so a DSN
    handed out earlier works again.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = 0
        self.dir: Path | None = None
        self.running = False
        self._as_owner: list[str] = []
        self._names = itertools.count(1)

    @property
    def data_dir(self) -> Path:
        assert self.dir is not None, "server was never started"
        return self.dir / "data"

    def dsn(self, database: str, user: str = ROLE) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    @property
    def admin_dsn(self) -> str:
        return self.dsn("postgres", user=SUPERUSER)

    def start(self) -> None:
        """Create the cluster on first use (with role and database ``arena``), then start it."""
        if self.running:
            return
        first = self.dir is None
        if first:
            self._init_cluster()
        ports = [self.port] if self.port else [free_port() for _ in range(5)]
        for attempt, port in enumerate(ports, 1):
            try:
                self._run(
                    "pg_ctl", "-D", str(self.data_dir), "-l", str(self.dir / "server.log"),
                    "-o", f"-p {port}", "-w", "-t", "60", "start",
                )
            except RuntimeError:
                # Another process may have taken the free port in between: try the next one.
                if attempt == len(ports) or "could not bind" not in self.log_tail():
                    raise
                continue
            self.port = port
            self.running = True
            break
        if first:
            self.psql(f"CREATE ROLE {ROLE} LOGIN", f"CREATE DATABASE {ROLE} OWNER {ROLE}")

    def stop(self) -> None:
        """Stop the server now (fast shutdown: sessions are disconnected); keep the data."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
            self.running = False

    def cleanup(self) -> None:
        """Stop the server and delete its directory. Safe to call more than once."""
        try:
            self.stop()
        finally:
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    def psql(self, *commands: str) -> str:
        """Run SQL as the superuser through ``psql`` (synchronous, for setup)."""
        args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.admin_dsn]
        for command in commands:
            args += ["-c", command]
        return self._run("psql", *args, as_owner=False)

    async def create_database(self) -> str:
        """Create a new empty database owned by the ``arena`` role; return its name."""
        name = f"arena_test_{next(self._names)}"
        conn = await asyncpg.connect(self.admin_dsn, timeout=10)
        try:
            # Before 15, FILE_COPY was the only strategy, and the clause did not exist.
            fast = " STRATEGY FILE_COPY" if conn.get_server_version().major >= 15 else ""
            await conn.execute(f"CREATE DATABASE {name} OWNER {ROLE}{fast}")
        finally:
            await conn.close()
        return name

    async def drop_database(self, name: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn, timeout=10)
        try:
            # FORCE: a test that failed halfway may have left connections open.
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()

    # -- private helpers ---------------------------------------------------------------------

    def _init_cluster(self) -> None:
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise RuntimeError(
                    f"running as root but there is no {SERVER_USER!r} user to run PostgreSQL as"
                    f" ({INSTALL_HINT} creates it)"
                ) from None
            if shutil.which("runuser"):
                self._as_owner = ["runuser", "-u", SERVER_USER, "--"]
            else:
                self._as_owner = ["su", SERVER_USER, "-s", "/bin/sh", "-c"]
        # Not pytest's tmp_path: pytest makes that readable by its own user only, and the
        # server's user must reach its directory.
        self.dir = Path(tempfile.mkdtemp(prefix="arena-pg-", dir=_scratch_dir()))
        if os.geteuid() == 0:
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        try:
            self._run(
                "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
                "--encoding=UTF8", "--locale=C", "--no-sync",
            )
            conf = self.data_dir / "postgresql.conf"
            with conf.open("a") as f:
                f.write(_SETTINGS.format(socket_dir=self.dir))
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            raise

    def _run(self, tool: str, *args: str, as_owner: bool = True) -> str:
        command = [str(self.bindir / tool), *args]
        if as_owner and self._as_owner:
            if self._as_owner[0] == "su":
                command = [*self._as_owner, shlex.join(command)]
            else:
                command = [*self._as_owner, *command]
        result = subprocess.run(
            command,
            cwd=self.dir,  # the server's user may not be able to enter the current directory
            env={**os.environ, "LC_ALL": "C"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({result.returncode}): {result.stderr.strip() or result.stdout}"
                f"\n{self.log_tail()}"
            )
        return result.stdout


def skip_unless_installed() -> Path:
    """Return the PostgreSQL bindir; skip the test without it, or fail when ``CI`` is set."""
    bindir = find_bindir()
    if bindir is None:
        message = (
            "PostgreSQL server binaries (initdb, pg_ctl) not found under "
            f"/usr/lib/postgresql/*/bin or on PATH; install them with: {INSTALL_HINT}"
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return bindir


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole test session, stopped and deleted at the end."""
    with PostgresServer(skip_unless_installed()) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The DSN of database ``arena`` (owned by role ``arena``) on the session's server."""
    return postgres_server.dsn(ROLE)


@pytest.fixture
async def postgres_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The DSN of a new, empty database for one test, dropped after it."""
    name = await postgres_server.create_database()
    yield postgres_server.dsn(name)
    await postgres_server.drop_database(name)
