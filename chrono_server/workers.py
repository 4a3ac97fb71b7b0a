"""Several server processes on one port: start, supervise, replace, drain.

One Python gRPC process uses about one core, so a server scales by processes. The
supervisor (this process) never imports grpc: it reserves the port, starts each worker
with multiprocessing's "spawn" method (a fresh interpreter; grpc does not survive
fork), replaces a worker that dies, with a growing pause if they keep dying, and on
SIGTERM or SIGINT passes SIGTERM to every worker and exits 0 once all have drained.
The kernel spreads connections over the workers (SO_REUSEPORT); a client channel keeps
to the worker its connection landed on.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import multiprocessing
import os
import queue
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.context import SpawnProcess
from typing import TYPE_CHECKING, Any

from chrono_server import logs
from chrono_server.config import ServerSettings, join_host_port
from chrono_server.metrics import MULTIPROC_ENV
from chrono_server.spec import ServiceEntry

if TYPE_CHECKING:
    from chrono_server.scrape import MetricsEndpointThread

logger = logging.getLogger(__name__)

READY_TIMEOUT = 60.0
"""Seconds a worker may take to start serving before the supervisor gives up."""

# A worker that dies sooner than this after starting counts as crash-looping.
_STABLE_AFTER = 10.0
_MAX_BACKOFF = 30.0
_PR_SET_PDEATHSIG = 1


class MetricsPortError(Exception):
    """The supervisor cannot serve the workers' metrics: the process exits 1 with this line."""


@dataclass
class _Worker:
    index: int
    process: SpawnProcess
    started: float
    failures: int = 0


def _die_with_parent() -> None:
    """Ask Linux to send this worker SIGTERM if its supervisor is killed outright."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        logger.debug("prctl(PR_SET_PDEATHSIG) is not available here")


def _worker_main(entry: ServiceEntry, settings: ServerSettings, index: int, ready: Any) -> None:
    """A worker process: serve on the shared port until SIGTERM, then exit 0."""
    _die_with_parent()
    logs.configure(settings.log_level, settings.log_format)
    import asyncio

    from chrono_server import app

    def on_ready(port: int, tzdata: str) -> None:
        ready.put((index, os.getpid(), tzdata))

    asyncio.run(app.serve(settings, entry.load_spec(), worker=True, on_ready=on_ready))


def _reserve_port(settings: ServerSettings) -> socket.socket:
    """Bind (not listen) the shared port, so that port 0 becomes one port for all workers."""
    family, kind, proto, _, address = socket.getaddrinfo(
        settings.host.strip("[]"), settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


class Supervisor:
    """Starts and keeps ``settings.workers`` workers serving until told to stop."""

    def __init__(self, entry: ServiceEntry, settings: ServerSettings) -> None:
        """Prepare the workers' settings; nothing starts yet."""
        self._entry = entry
        self._settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._ready: Any = self._context.Queue()
        self._workers: dict[int, _Worker] = {}
        self._restart_at: dict[int, tuple[float, int]] = {}
        self._stopping = False
        self._signals = 0
        self._exit_codes: list[int | None] = []
        self.worker_settings = settings

    def _start(self, index: int, failures: int = 0) -> None:
        process = self._context.Process(
            target=_worker_main,
            args=(self._entry, self.worker_settings, index, self._ready),
            name=f"{self._entry.prog}-worker-{index}",
        )
        process.start()
        self._workers[index] = _Worker(index, process, time.monotonic(), failures)
        logger.info("worker %d started (pid %s)", index, process.pid)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            logger.info("received %s; draining %d workers", name, len(self._workers))
        else:
            logger.warning("received %s again; workers stop now", name)
        self._stopping = True
        for worker in self._workers.values():
            if worker.process.pid is not None and worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGTERM)

    def _reap(self, worker: _Worker) -> None:
        worker.process.join()
        code = worker.process.exitcode
        del self._workers[worker.index]
        if self._settings.metrics_port is not None and worker.process.pid is not None:
            from chrono_server.metrics import mark_worker_dead

            mark_worker_dead(worker.process.pid)
        if self._stopping:
            self._exit_codes.append(code)
            logger.info("worker %d exited (status %s)", worker.index, code)
            return
        lived = time.monotonic() - worker.started
        failures = 0 if lived >= _STABLE_AFTER else worker.failures + 1
        delay = 0.0 if failures == 0 else min(_MAX_BACKOFF, 0.5 * 2 ** (failures - 1))
        logger.warning(
            "worker %d (pid %s) died with status %s after %.1f s; replacing it in %.1f s",
            worker.index,
            worker.process.pid,
            code,
            lived,
            delay,
        )
        self._restart_at[worker.index] = (time.monotonic() + delay, failures)

    def _drain_ready(self) -> list[tuple[int, int, str]]:
        messages = []
        while True:
            try:
                messages.append(self._ready.get_nowait())
            except queue.Empty:
                return messages

    def run(self) -> int:
        """Serve until a signal, then drain every worker; the exit status."""
        reservation = _reserve_port(self._settings)
        port = reservation.getsockname()[1]
        self.worker_settings = dataclasses.replace(self._settings, port=port)
        http_reservation = self._reserve_http_port(reservation)
        endpoint = self._metrics_endpoint()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        try:
            for index in range(self._settings.workers):
                self._start(index)
            if not self._wait_until_ready(port):
                self._on_signal(signal.SIGTERM, None)
            self._loop()
        finally:
            reservation.close()
            if http_reservation is not None:
                http_reservation.close()
            if endpoint is not None:
                endpoint.close()
                shutil.rmtree(os.environ[MULTIPROC_ENV], ignore_errors=True)
        if any(self._exit_codes):
            logger.error("%s: workers exited with %s", self._entry.prog, self._exit_codes)
            return 1
        logger.info("%s exited cleanly", self._entry.prog)
        return 0

    def _reserve_http_port(self, reservation: socket.socket) -> socket.socket | None:
        """Bind the HTTP/JSON port too, if asked, so that workers share one port there as well."""
        if self._settings.http_port is None:
            return None
        try:
            sock = _reserve_port(dataclasses.replace(self._settings, port=self._settings.http_port))
        except OSError:
            reservation.close()
            raise
        self.worker_settings = dataclasses.replace(
            self.worker_settings, http_port=sock.getsockname()[1]
        )
        return sock

    def _metrics_endpoint(self) -> MetricsEndpointThread | None:
        """Serve the workers' summed metrics, if asked, on a thread with a loop of its own."""
        if self._settings.metrics_port is None:
            return None
        from chrono_server.metrics import multiprocess_registry
        from chrono_server.scrape import MetricsEndpoint, MetricsEndpointThread

        # Workers inherit the variable and write their samples there; it must be empty.
        folder = os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="chrono-metrics-")
        endpoint = MetricsEndpointThread(
            MetricsEndpoint(
                self._settings.host, self._settings.metrics_port, multiprocess_registry()
            )
        )
        try:
            endpoint.start()
        except OSError as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise MetricsPortError(
                f"cannot serve metrics on port {self._settings.metrics_port}: {error}"
            ) from error
        return endpoint

    def _wait_until_ready(self, port: int) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        ready: set[int] = set()
        tzdata = "?"
        while len(ready) < self._settings.workers and not self._stopping:
            try:
                index, _, tzdata = self._ready.get(timeout=0.2)
                ready.add(index)
            except queue.Empty:
                if time.monotonic() > deadline or any(
                    not w.process.is_alive() for w in self._workers.values()
                ):
                    logger.error("workers did not all start; stopping")
                    return False
        if self._stopping:
            return False
        logger.info(
            "%s listening on %s (%d workers, tzdata %s, reflection %s, tls %s, engine %s)",
            self._entry.prog,
            join_host_port(self._settings.host, port),
            self._settings.workers,
            tzdata,
            "on" if self._settings.reflection else "off",
            ("mtls" if self._settings.tls_client_ca else "on") if self._settings.tls else "off",
            self._settings.engine,
        )
        return True

    def _loop(self) -> None:
        while self._workers or (self._restart_at and not self._stopping):
            timeout = 1.0
            if self._restart_at and not self._stopping:
                next_start = min(at for at, _ in self._restart_at.values())
                timeout = max(0.0, min(timeout, next_start - time.monotonic()))
            sentinels = {w.process.sentinel: w for w in self._workers.values()}
            for sentinel in wait(list(sentinels), timeout):
                self._reap(sentinels[sentinel])  # type: ignore[index]
            for index, _, _ in self._drain_ready():
                logger.info("worker %d serving", index)
            now = time.monotonic()
            for index, (at, failures) in list(self._restart_at.items()):
                if self._stopping:
                    self._restart_at.clear()
                elif at <= now:
                    del self._restart_at[index]
                    self._start(index, failures)


def supervise(entry: ServiceEntry, settings: ServerSettings) -> int:
    """Run ``settings.workers`` worker processes of ``entry`` until a signal; exit status."""
    try:
        return Supervisor(entry, settings).run()
    except MetricsPortError as error:
        logger.error("%s", error)
        return 1
    except OSError as error:
        logger.error("cannot listen on %s: %s", settings.address, error.strerror or error)
        return 1
