"""Helpers the server tests share: pinned clocks, rich error decoding, log checks, processes."""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status

from chrono_server.config import ServerSettings
from chrono_server.spec import ServiceSpec
from tests.servers import ENGINE, ServerThread, with_clock

REPO_ROOT = Path(__file__).resolve().parents[2]

# A status message that quotes caller input stays this short, whatever the input.
MAX_MESSAGE_LENGTH = 400


class PinnedClock:
    """A clock that reads whatever instant the test last set."""

    def __init__(self, instant: datetime) -> None:
        """Start at ``instant``, an aware datetime."""
        self.instant = instant

    def __call__(self) -> datetime:
        """The pinned instant."""
        return self.instant


@dataclass(frozen=True)
class RichError:
    """A failed call's status and its decoded google.rpc details."""

    code: grpc.StatusCode
    message: str
    violations: list[tuple[str, str]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)

    @property
    def fields(self) -> list[str]:
        """The request fields the BadRequest details name."""
        return [name for name, _ in self.violations]


def rich_error(error: grpc.RpcError) -> RichError:
    """Decode the google.rpc.Status a failed sync call carries in its trailers."""
    assert isinstance(error, grpc.Call)
    # from_call also checks that the rich status agrees with the call's code and message.
    status: status_pb2.Status | None = rpc_status.from_call(error)
    result = RichError(code=error.code(), message=error.details() or "")
    if status is None:
        return result
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            result.violations.extend(
                (violation.field, violation.description)
                for violation in bad_request.field_violations
            )
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            result.reasons.append(info.reason)
            result.domains.append(info.domain)
            result.metadata.append(dict(info.metadata))
    return result


def assert_invalid_argument(error: RichError, field_name: str, reason: str) -> None:
    """``error`` is INVALID_ARGUMENT with a BadRequest naming ``field_name`` and the reason."""
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error
    assert error.fields == [field_name], error
    assert error.violations[0][1] == error.message
    assert error.reasons == [reason], error
    # The domain is the full name of the service that answered.
    assert error.domains in (["chrono.time.v1.TimeService"], ["chrono.date.v1.DateService"]), error
    assert error.metadata == [{"field": field_name}], error
    assert len(error.message) <= MAX_MESSAGE_LENGTH, error


def health_check(
    channel: grpc.Channel,
) -> grpc.UnaryUnaryMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]:
    """grpc.health.v1.Health/Check on ``channel``, typed (the stubs' HealthStub is not)."""
    return channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )


def health_watch(
    channel: grpc.Channel,
) -> grpc.UnaryStreamMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]:
    """grpc.health.v1.Health/Watch on ``channel``, typed."""
    return channel.unary_stream(
        "/grpc.health.v1.Health/Watch",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )


def status_name(response: health_pb2.HealthCheckResponse) -> str:
    """The name of the serving status in a health response, e.g. "SERVING"."""
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def health_status(channel: grpc.Channel, service: str = "") -> str:
    """The health status name the server reports for ``service`` right now."""
    response = health_check(channel)(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return status_name(response)


def eventually(predicate: Callable[[], bool], timeout: float = 5) -> bool:
    """Whether ``predicate`` becomes true within ``timeout`` seconds, polling it.

    A server finishes its bookkeeping for a call (log line, metrics) just after the
    client has its answer; tests that look at that bookkeeping wait for it this way.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def tracebacks_and_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Log records that carry a traceback or are errors: none should follow bad input."""
    return [
        record
        for record in caplog.records
        if record.exc_info is not None or record.levelno >= logging.ERROR
    ]


def hermetic_env(**overrides: str) -> dict[str, str]:
    """The test's environment without chrono's or OpenTelemetry's variables, plus ``overrides``.

    A developer's shell exporting OTEL_EXPORTER_OTLP_ENDPOINT would turn tracing on.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TIME_SERVICE_", "DATE_SERVICE_", "OTEL_"))
    }
    if ENGINE != "grpcio":
        env.update(TIME_SERVICE_ENGINE=ENGINE, DATE_SERVICE_ENGINE=ENGINE)
    env.update(overrides)
    return env


class ServiceProcess:
    """A service run as ``python -m <module>``; its stderr is read line by line."""

    def __init__(
        self, args: list[str], env: dict[str, str] | None = None, prefix: Sequence[str] = ()
    ) -> None:
        """Start ``python`` with ``args`` from the repository root, after ``prefix``.

        ``prefix`` runs it through another command, e.g. ``ip netns exec NAME``.
        """
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [*prefix, sys.executable, *args],
            cwd=REPO_ROOT,
            env=hermetic_env() if env is None else env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        """Read stderr until a line matches ``pattern``; fail after ``timeout`` seconds."""
        regex = re.compile(pattern)
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} within {timeout}s: {self.lines}")
            if line is None:
                pytest.fail(f"stderr ended before a line matched {pattern!r}: {self.lines}")
            self.lines.append(line)
            if match := regex.search(line):
                return match

    def wait_for_port(self) -> int:
        """The port from the ready line, ``listening on 127.0.0.1:<port>``."""
        return int(self.wait_for_line(r"listening on 127\.0\.0\.1:(\d+) ").group(1))

    def finish(self, timeout: float = 15) -> int:
        """Wait for the process to exit, collect the rest of stderr; the exit status."""
        status = self.process.wait(timeout)
        self._reader.join(timeout)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return status

    def kill(self) -> None:
        """Kill the process if it still runs and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._reader.join(10)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def __enter__(self) -> ServiceProcess:
        """The process itself."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Always kill the process."""
        self.kill()


ACCESS_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO chrono_server.access: "
    r"(?P<method>\S+) (?P<code>[A-Z_]+) (?P<duration_ms>[\d.]+)ms "
    r"peer=(?P<peer>\S+) request_id=(?P<request_id>\S+)$"
)


@contextlib.contextmanager
def served(*flags: str) -> Iterator[tuple[grpc.Channel, ServiceProcess]]:
    """A time-service process and a channel to it; the process is drained on the way out."""
    with ServiceProcess(["-m", "time_service", "--port", "0", *flags]) as process:
        port = process.wait_for_port()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel, process
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0


def access_lines(process: ServiceProcess) -> list[dict[str, str]]:
    """The fields of every access line the process wrote."""
    return [m.groupdict() for line in process.lines if (m := ACCESS_LINE.match(line))]


@contextlib.contextmanager
def running(spec: ServiceSpec, settings: ServerSettings | None = None) -> Iterator[ServerThread]:
    """A started server for ``spec``, always stopped on the way out."""
    server = ServerThread(spec, settings)
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class PinnedServer:
    """A server whose servicer reads ``clock``, and a channel to it."""

    server: ServerThread
    clock: PinnedClock
    channel: grpc.Channel


@contextlib.contextmanager
def pinned_server(spec: ServiceSpec) -> Iterator[PinnedServer]:
    """A started server for ``spec`` reading a pinned clock; stopped on the way out."""
    clock = PinnedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with (
        running(with_clock(spec, clock)) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        yield PinnedServer(server, clock, channel)


def package_zone(name: str) -> ZoneInfo:
    """The zone ``name`` read straight from the pinned ``tzdata`` package's files.

    This bypasses zoneinfo's search path, so expected values never depend on the host or
    on what the server under test did to that path.
    """
    resource = importlib.resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
    with resource.open("rb") as data:
        return ZoneInfo.from_file(data, key=name)


def package_zone_names() -> list[str]:
    """Every zone name the pinned ``tzdata`` package lists in its ``zones`` file."""
    text = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line]
