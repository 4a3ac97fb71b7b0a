"""A throwaway etcd for tests, from Debian's ``etcd-server`` and ``etcd-client`` packages.

:func:`running_etcd` starts a one-member etcd on free 127.0.0.1 ports with a data
directory of its own (plaintext, or TLS with client certificates required), waits until
``etcdctl endpoint health`` says it is healthy, and always stops it. ``stop()`` and
``start()`` take it down and bring it back on the same ports and data mid-test;
:meth:`Etcd.get_prefix` and :meth:`Etcd.put` go through ``etcdctl`` itself, so that what
they see and write is etcd's own view, not chrono's.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devcerts import DevCerts, write_dev_certs

START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Etcd:
    """An etcd member of the tests' own, with its data and log under ``root``."""

    def __init__(self, root: Path, certs: DevCerts | None = None) -> None:
        """Keep everything under ``root``; with ``certs``, serve TLS and require client certs."""
        for program in ("etcd", "etcdctl"):
            if shutil.which(program) is None:
                pytest.fail(f"{program} is not installed: apt-get install etcd-server etcd-client")
        self.root = root
        self.data = root / "data"
        self.log = root / "etcd.log"
        self.certs = certs
        self.client_port = _free_port()
        self.peer_port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT``, where clients reach it."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        """The client URL, ``http://`` or ``https://``."""
        return f"{'https' if self.certs else 'http'}://{self.endpoint}"

    def start(self) -> None:
        """Start etcd (on the same ports and data as before, if it ran) and wait until healthy."""
        peer = f"http://127.0.0.1:{self.peer_port}"
        command = [
            "etcd", "--name", "default", "--data-dir", str(self.data),
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"default={peer}",
        ]  # fmt: skip
        if self.certs is not None:
            certs = self.certs
            command += [
                "--cert-file", str(certs.server_cert), "--key-file", str(certs.server_key),
                "--trusted-ca-file", str(certs.ca), "--client-cert-auth",
            ]  # fmt: skip
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.healthy():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"etcd did not become healthy:\n{self.log_tail()}")
            time.sleep(0.05)  # between polls

    def healthy(self) -> bool:
        """Whether ``etcdctl endpoint health`` says so now."""
        return self.etcdctl("endpoint", "health", check=False).returncode == 0

    def stop(self) -> None:
        """Stop etcd (SIGTERM, then SIGKILL after 10 s) if it runs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def etcdctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run ``etcdctl`` (API v3) against this etcd; with ``check``, fail on a bad status."""
        env = {**os.environ, "ETCDCTL_API": "3"}
        tls = []
        if self.certs is not None:
            tls = [
                f"--cacert={self.certs.ca}",
                f"--cert={self.certs.client_cert}",
                f"--key={self.certs.client_key}",
            ]
        done = subprocess.run(
            ["etcdctl", f"--endpoints={self.url}", "--command-timeout=5s", *tls, *args],
            env=env,
            capture_output=True,
            timeout=30,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"etcdctl {' '.join(args)} failed: {done.stderr.decode()}")
        return done

    def get_prefix(self, prefix: str) -> dict[bytes, bytes]:
        """Every key under ``prefix`` and its value, byte for byte, as etcdctl reads them."""
        done = self.etcdctl("get", "--prefix", prefix, "-w", "json")
        kvs = json.loads(done.stdout).get("kvs", [])
        return {base64.b64decode(kv["key"]): base64.b64decode(kv.get("value", "")) for kv in kvs}

    def put(self, key: str, value: str) -> None:
        """Write ``key`` with etcdctl."""
        self.etcdctl("put", key, value)

    def delete(self, key: str) -> None:
        """Delete ``key`` with etcdctl."""
        self.etcdctl("del", key)

    def log_tail(self) -> str:
        """The last lines etcd logged."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        return ""


@contextlib.contextmanager
def running_etcd(root: Path, *, tls: bool = False) -> Iterator[Etcd]:
    """A started etcd under ``root`` (TLS with client certificates if ``tls``); always stopped."""
    certs = write_dev_certs(root / "certs") if tls else None
    etcd = Etcd(root, certs)
    try:
        etcd.start()
        yield etcd
    finally:
        etcd.stop()
