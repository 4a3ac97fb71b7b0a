"""Replicas for the failover tests: service processes and in-process servers, and load.

A replica process logs an access line per call (``--log-level INFO``): counting them
tells which replica served how many calls, from outside.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc

from chrono.time.v1 import time_service_pb2 as time_pb
from chrono_server.config import join_host_port
from chrono_server.spec import Resources
from client import TimeClient
from tests.chrono_server.helpers import ServiceProcess
from tests.servers import ServerThread, server_settings, with_servicer
from time_service.server import SPEC as TIME_SPEC
from time_service.servicer import TimeServicer

GET_TIME_OK = "/chrono.time.v1.TimeService/GetTime OK"


class Replica(ServiceProcess):
    """A time-service process on 127.0.0.1, started and ready; restartable on its port."""

    def __init__(self, port: int = 0, *extra: str) -> None:
        """Start ``python -m time_service`` on ``port`` (0: any) and wait for its ready line."""
        args = ["-m", "time_service", "--port", str(port), "--grace", "1", "--log-level", "INFO"]
        super().__init__([*args, *extra])
        try:
            self.port = self.wait_for_port()
        except BaseException:
            self.kill()
            raise
        self.ready_at = time.monotonic()

    def __enter__(self) -> Replica:
        """The replica itself; it is killed on the way out."""
        return self

    @property
    def target(self) -> str:
        """The address clients dial."""
        return f"127.0.0.1:{self.port}"

    def take_lines(self) -> list[str]:
        """Every stderr line read so far, without waiting for more."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return self.lines
            if line is not None:
                self.lines.append(line)

    def served(self) -> int:
        """How many GetTime calls it answered OK, from its access log."""
        return sum(GET_TIME_OK in line for line in self.take_lines())

    def terminate(self) -> int:
        """SIGTERM (drain) and wait for the exit; its status."""
        self.process.send_signal(signal.SIGTERM)
        return self.finish()

    def sigkill(self) -> None:
        """SIGKILL: gone at once, connections reset, nothing drained."""
        self.kill()


@contextlib.contextmanager
def replicas(count: int) -> Iterator[list[Replica]]:
    """``count`` running replicas; every one still running at the end is killed."""
    started: list[Replica] = []
    try:
        for _ in range(count):
            started.append(Replica())
        yield started
    finally:
        for replica in started:
            replica.kill()


class _Addressed(Protocol):
    @property
    def target(self) -> str: ...


def list_target(servers: Sequence[_Addressed]) -> str:
    """The comma-separated list target naming every one of ``servers``."""
    return ",".join(server.target for server in servers)


@dataclass
class Load:
    """What a load run saw: calls made and the failures among them."""

    calls: int = 0
    failures: list[tuple[str, float, str]] = field(default_factory=list)
    """(status code name, seconds the call took, details) of each failed call."""
    calls_after_action: int = 0


def run_load(
    client: TimeClient,
    seconds: float,
    *,
    threads: int = 4,
    max_calls: int = 5000,
    action_at: float | None = None,
    action: Callable[[], object] = lambda: None,
    timeout: float | None = None,
) -> Load:
    """Call GetTime from ``threads`` threads for ``seconds`` (at most ``max_calls`` each).

    ``action`` runs once on this thread ``action_at`` seconds in, while the load goes on.
    """
    load = Load()
    lock = threading.Lock()
    acted = threading.Event()
    end = time.monotonic() + seconds

    def work() -> None:
        for _ in range(max_calls):
            if time.monotonic() >= end:
                return
            started = time.monotonic()
            error: grpc.RpcError | None = None
            try:
                client.get_time("UTC", timeout=timeout)
            except grpc.RpcError as failure:
                error = failure
            with lock:
                load.calls += 1
                load.calls_after_action += acted.is_set()
                if error is not None:
                    elapsed = time.monotonic() - started
                    load.failures.append((error.code().name, elapsed, error.details() or ""))

    workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    if action_at is not None:
        # Pacing the load phase, not waiting for readiness.
        threading.Event().wait(action_at)
        action()
        acted.set()
    for worker in workers:
        worker.join(seconds + 30)
    assert not any(worker.is_alive() for worker in workers), "a load thread hung"
    return load


class CountingTimeServicer(TimeServicer):
    """A TimeServicer that counts the GetTime calls it answers."""

    def __init__(self, resources: Resources, **kwargs: Any) -> None:
        """Serve as TimeServicer does, from a count of 0."""
        super().__init__(resources, **kwargs)
        self.get_time_calls = 0

    async def GetTime(  # noqa: N802
        self, request: time_pb.GetTimeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> time_pb.GetTimeResponse:
        """Count the call, then answer it."""
        self.get_time_calls += 1
        return await super().GetTime(request, context)


@dataclass
class CountedServer:
    """An in-process TimeService server and the servicer it answers with."""

    server: ServerThread
    servicer: CountingTimeServicer

    @property
    def target(self) -> str:
        """The address clients dial."""
        return join_host_port(self.server.settings.host, self.server.port)

    def set_not_serving(self) -> None:
        """Report NOT_SERVING for everything, as a server does when it starts to drain."""
        self.server.run(self.server.app.health.enter_graceful_shutdown())


@contextlib.contextmanager
def counted_servers(count: int, hosts: Sequence[str] = ()) -> Iterator[list[CountedServer]]:
    """``count`` in-process TimeService servers with counting servicers, always stopped.

    They listen on ``hosts``, one each, or all on 127.0.0.1.
    """
    servers: list[CountedServer] = []
    try:
        for host in hosts or ["127.0.0.1"] * count:
            made: list[CountingTimeServicer] = []

            def make(resources: Resources, made: list[CountingTimeServicer] = made) -> object:
                made.append(CountingTimeServicer(resources))
                return made[-1]

            spec = with_servicer(TIME_SPEC, make)
            server = ServerThread(spec, server_settings(host=host))
            servers.append(CountedServer(server, made[0]))
        yield servers
    finally:
        for counted in servers:
            counted.server.stop()
