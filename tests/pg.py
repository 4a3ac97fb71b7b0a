"""Throwaway PostgreSQL clusters for tests, from Debian's ``postgresql`` package.

:func:`running_cluster` runs ``initdb`` into a fresh temporary directory and starts the
server with ``pg_ctl`` on 127.0.0.1 and a free port (as the ``postgres`` user when the
tests run as root, which the server refuses to run as), with trust authentication and a
database ``chrono``; it always stops the server and removes the directory. It never
touches the host's own clusters. ``stop()`` and ``start()`` take the database down and
bring it back on the same port, mid-test.

The fixtures: ``postgres_cluster`` (one cluster for the session), ``postgres_url`` (a
fresh database on it for each test) and ``private_postgres`` (a cluster of the test's
own, for tests that stop it). A conftest imports the ones it uses.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow

OWNER = "postgres"
DATABASE = "chrono"
START_TIMEOUT = 60.0

# A test cluster needs no durability; this makes initdb, CREATE DATABASE and stops fast.
_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
_counter = itertools.count(1)


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL's bin directory; fails the test if there is none."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if not found:
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresCluster:
    """A PostgreSQL server of the tests' own, in ``root``, listening on 127.0.0.1:``port``."""

    def __init__(self, root: Path, bindir: Path) -> None:
        """Keep the cluster's data, socket and log under ``root``; run ``bindir``'s programs."""
        self.root = root
        self.bindir = bindir
        self.data = root / "data"
        self.log = root / "server.log"
        self.host = "127.0.0.1"
        self.port = 0
        self.running = False

    @property
    def url(self) -> str:
        """The URL of the database ``chrono``."""
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        """The URL of ``database`` on this cluster, as the superuser (trusted, no password)."""
        return f"postgresql://{OWNER}@{self.host}:{self.port}/{database}"

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            return ["runuser", "-u", OWNER, "--", *command]
        return command

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._command(program, *args), capture_output=True, text=True, timeout=120, check=False
        )

    def init(self) -> None:
        """Create the cluster's files: UTF-8, trust authentication."""
        done = self._run(
            "initdb", "-D", str(self.data), "-U", OWNER, "--auth=trust", "--encoding=UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        """Start the server on its port (a free one the first time) and wait until it serves."""
        fixed = self.port != 0
        for _ in range(1 if fixed else 5):
            if not fixed:
                self.port = _free_port()
            options = " ".join(
                [
                    f"-p {self.port}",
                    f"-k {self.root}",
                    f"-c listen_addresses={self.host}",
                    *(f"-c {setting}" for setting in _SETTINGS),
                ]
            )
            done = self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                "-w", "-t", str(int(START_TIMEOUT)), "start",
            )  # fmt: skip
            if done.returncode == 0:
                self.running = True
                self._wait_ready()
                return
            if "Address already in use" not in self._log_tail():
                break
        raise RuntimeError(f"PostgreSQL did not start on port {self.port}:\n{self._log_tail()}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            ready = subprocess.run(
                [
                    str(self.bindir / "pg_isready"),
                    "-q",
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-U",
                    OWNER,
                    "-d",
                    "postgres",
                ],
                timeout=30,
                check=False,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL on port {self.port} is not ready:\n{self._log_tail()}"
                )
            time.sleep(0.05)  # between polls

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        return ""

    def stop(self) -> None:
        """Stop the server (fast: open connections are closed); the port stays its own."""
        if not self.running:
            return
        done = self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        if done.returncode != 0:
            self._kill()
        self.running = False

    def _kill(self) -> None:
        """Stop a server that ignored pg_ctl: the postmaster's pid is in its own file."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGQUIT)

    def connect(self, database: str = "postgres") -> psycopg.Connection[TupleRow]:
        """A connection in autocommit to ``database``."""
        return psycopg.connect(self.url_for(database), autocommit=True, connect_timeout=10)

    def create_database(self, name: str | None = None) -> str:
        """Create a database (named ``name``, or a fresh name) and return its URL."""
        name = name or f"test_{os.getpid()}_{next(_counter)}"
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, closing whatever connections it still has."""
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def close(self) -> None:
        """Stop the server and remove its files."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """A started cluster with a database ``chrono``, stopped and removed afterwards."""
    bindir = postgres_bindir()
    # Not pytest's tmp_path: its parents are root's own (0700), and the server runs as
    # postgres, which needs its directory and a short path for the socket.
    root = Path(tempfile.mkdtemp(prefix="chrono-pg-"))
    cluster = PostgresCluster(root, bindir)
    try:
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OWNER)
            os.chown(root, owner.pw_uid, owner.pw_gid)
        cluster.init()
        cluster.start()
        cluster.create_database(DATABASE)
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One PostgreSQL cluster for the whole session; tests that stop it get their own."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The URL of a database created for this test alone, dropped afterwards."""
    url = postgres_cluster.create_database()
    try:
        yield url
    finally:
        postgres_cluster.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def private_postgres() -> Iterator[PostgresCluster]:
    """A cluster of this test's own (database ``chrono``), which the test may stop and start."""
    with running_cluster() as cluster:
        yield cluster
