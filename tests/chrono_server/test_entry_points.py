"""The service processes as users run them: ``python -m`` and the console scripts."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import tzdata
from grpc_health.v1 import health_pb2

from chrono.date.v1 import date_service_pb2, date_service_pb2_grpc
from chrono.time.v1 import time_service_pb2, time_service_pb2_grpc
from client._common import TIME_SERVICE, channel_options
from tests.chrono_server.helpers import (
    ServiceProcess,
    health_status,
    health_watch,
    hermetic_env,
    status_name,
)
from tests.servers import ENGINE


@dataclass(frozen=True)
class Service:
    """How to run one service and call it."""

    module: str
    prog: str
    env_prefix: str
    full_name: str

    def call(self, channel: grpc.Channel) -> str:
        """Make the service's main call for Asia/Kathmandu; the zone of the answer."""
        if self.module == "date_service":
            date_stub = date_service_pb2_grpc.DateServiceStub(channel)
            request = date_service_pb2.GetDateRequest(time_zone="Asia/Kathmandu")
            return date_stub.GetDate(request, timeout=5).time_zone
        stub = time_service_pb2_grpc.TimeServiceStub(channel)
        time_request = time_service_pb2.GetTimeRequest(time_zone="Asia/Kathmandu")
        return stub.GetTime(time_request, timeout=5).time_zone


TIME = Service("time_service", "time-service", "TIME_SERVICE", "chrono.time.v1.TimeService")
DATE = Service("date_service", "date-service", "DATE_SERVICE", "chrono.date.v1.DateService")
SERVICES = [pytest.param(TIME, id="time"), pytest.param(DATE, id="date")]

SHUTDOWN_STEPS = [
    "received {signal}; shutting down",
    "health set to NOT_SERVING",
    "ending open streams",
    "refusing new calls; draining for up to {grace} s",
    "server stopped",
    "{prog} exited cleanly",
]


def assert_logged_in_order(lines: list[str], messages: list[str]) -> None:
    """Each of ``messages`` ends a line of ``lines``, in this order."""
    position = 0
    for message in messages:
        found = [i for i, line in enumerate(lines) if i >= position and line.endswith(message)]
        assert found, f"{message!r} not logged after line {position}: {lines}"
        position = found[0] + 1


def assert_clean(lines: list[str]) -> None:
    """No traceback and no error in ``lines``."""
    assert not [line for line in lines if "Traceback" in line or " ERROR " in line], lines


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that a listening socket of the test holds (no SO_REUSEPORT)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 0)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("service", SERVICES)
def test_console_script_prints_help(service: Service) -> None:
    """The console script is installed beside the interpreter and --help describes its flags."""
    script = Path(sys.executable).parent / service.prog
    assert script.is_file()
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=30, env=hermetic_env()
    )
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: {service.prog} ")
    for flag in ("--host", "--port", "--grace", "--log-level", "--no-reflection"):
        assert flag in result.stdout
    assert f"{service.env_prefix}_PORT" in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("service", SERVICES)
def test_serves_then_drains_and_exits_0_on_signal(service: Service, signum: signal.Signals) -> None:
    """The ready line names the bound address; on the signal the process logs each step, exits 0."""
    with ServiceProcess(["-m", service.module, "--port", "0", "--grace", "10"]) as process:
        ready = process.wait_for_line(r"listening on 127\.0\.0\.1:(\d+) ")
        port = int(ready.group(1))
        assert ready.string.endswith(
            f"{service.prog} listening on 127.0.0.1:{port} "
            f"(tzdata {tzdata.IANA_VERSION}, reflection on, tls off, engine {ENGINE})"
        )
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert health_status(channel, service.full_name) == "SERVING"
            assert service.call(channel) == "Asia/Kathmandu"
        process.process.send_signal(signum)
        assert process.finish() == 0
    steps = [
        step.format(signal=signum.name, grace="10.0", prog=service.prog) for step in SHUTDOWN_STEPS
    ]
    assert_logged_in_order(process.lines, steps)
    assert_clean(process.lines)


@pytest.mark.parametrize("service", SERVICES)
def test_environment_configures_the_process(service: Service) -> None:
    """{PREFIX}_PORT=0 and {PREFIX}_GRACE stand in for the flags; --no-reflection turns it off."""
    env = hermetic_env(**{f"{service.env_prefix}_PORT": "0", f"{service.env_prefix}_GRACE": "3"})
    with ServiceProcess(["-m", service.module, "--no-reflection"], env=env) as process:
        ready = process.wait_for_line(r"listening on 127\.0\.0\.1:(\d+) ")
        assert "reflection off," in ready.string
        with grpc.insecure_channel(f"127.0.0.1:{ready.group(1)}") as channel:
            assert service.call(channel) == "Asia/Kathmandu"
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0
    assert_logged_in_order(process.lines, ["draining for up to 3.0 s", "exited cleanly"])


def test_sigterm_ends_watch_promptly_and_lets_calls_finish() -> None:
    """On SIGTERM an open watch ends at once with UNAVAILABLE, calls finish, and it exits 0."""
    outcomes: list[grpc.StatusCode] = []
    served = threading.Event()
    done = threading.Event()

    def keep_calling(target: str) -> None:
        # As the chrono client does, the callers watch the server's health, and so stop
        # sending once it says NOT_SERVING; a caller that does not can have a call
        # cancelled, or dropped, by grpc as it stops (see the README's drain paragraph).
        options = channel_options(TIME_SERVICE, [("grpc.enable_retries", 0)])
        with grpc.insecure_channel(target, options=options) as channel:
            stub = time_service_pb2_grpc.TimeServiceStub(channel)
            while not done.is_set():
                try:
                    stub.GetTime(time_service_pb2.GetTimeRequest(), timeout=5)
                except grpc.RpcError as error:
                    outcomes.append(error.code())
                    return
                else:
                    outcomes.append(grpc.StatusCode.OK)
                    served.set()

    with ServiceProcess(["-m", "time_service", "--port", "0", "--grace", "30"]) as process:
        target = f"127.0.0.1:{process.wait_for_port()}"
        callers = [threading.Thread(target=keep_calling, args=(target,)) for _ in range(2)]
        try:
            with grpc.insecure_channel(target) as channel:
                stub = time_service_pb2_grpc.TimeServiceStub(channel)
                watch = stub.WatchTime(time_service_pb2.WatchTimeRequest(), timeout=60)
                next(watch)
                for caller in callers:
                    caller.start()
                assert served.wait(10)
                signalled = time.monotonic()
                process.process.send_signal(signal.SIGTERM)
                with pytest.raises(grpc.RpcError) as failure:
                    for _ in watch:
                        pass
                assert time.monotonic() - signalled < 5
                assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "reconnect" in (failure.value.details() or "")
            # Nothing is left to drain: the process exits long before the 30 s grace.
            assert process.finish(timeout=15) == 0
        finally:
            done.set()
            for caller in callers:
                if caller.ident is not None:  # started
                    caller.join(10)
    assert grpc.StatusCode.OK in outcomes
    # Calls completed, or were refused once the server stopped taking new ones. A call
    # that reaches grpc core in the instant shutdown begins, before the server picked
    # it up, is cancelled by core (CANCELLED): never an error of the server's own.
    refused = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
    assert set(outcomes) <= {grpc.StatusCode.OK, *refused}, outcomes
    steps = [
        step.format(signal="SIGTERM", grace="30.0", prog="time-service") for step in SHUTDOWN_STEPS
    ]
    assert_logged_in_order(process.lines, steps)
    assert_clean(process.lines)


def test_second_signal_stops_without_waiting_out_the_grace() -> None:
    """A second SIGTERM while draining stops the server at once; the process still exits 0."""
    with ServiceProcess(["-m", "date_service", "--port", "0", "--grace", "60"]) as process:
        with grpc.insecure_channel(f"127.0.0.1:{process.wait_for_port()}") as channel:
            # A health watch on a name the server does not know gets no last update
            # when the server drains, so the drain keeps it open a while before ending it.
            request = health_pb2.HealthCheckRequest(service="no.such.Service")
            watch = health_watch(channel)(request, timeout=120)
            assert status_name(next(watch)) == "SERVICE_UNKNOWN"
            process.process.send_signal(signal.SIGTERM)
            process.wait_for_line("draining for up to 60.0 s")
            process.process.send_signal(signal.SIGTERM)
            with pytest.raises(grpc.RpcError) as failure:
                next(watch)
            assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert process.finish(timeout=15) == 0
    assert_logged_in_order(
        process.lines,
        ["received SIGTERM again; stopping now", "server stopped", "date-service exited cleanly"],
    )
    assert not [line for line in process.lines if "Traceback" in line or " ERROR " in line]


@pytest.mark.parametrize("service", SERVICES)
def test_busy_port_is_a_one_line_error(service: Service, held_port: int) -> None:
    """A port another socket holds makes the process exit 1 with one clear line, no traceback."""
    with ServiceProcess(["-m", service.module, "--port", str(held_port)]) as process:
        assert process.finish() == 1
    errors = [line for line in process.lines if " ERROR " in line]
    assert len(errors) == 1
    assert errors[0].endswith(
        f"ERROR chrono_server.app: cannot listen on 127.0.0.1:{held_port}: the port is in use "
        "or the address is not available here"
    )
    assert not [line for line in process.lines if "Traceback" in line or "listening on" in line]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_busy_metrics_port_is_a_one_line_error(held_port: int, workers: str) -> None:
    """A --metrics-port another socket holds makes the process exit 1 with one clear line."""
    argv = ["-m", "time_service", "--port", "0", "--metrics-port", str(held_port)]
    with ServiceProcess([*argv, "--workers", workers]) as process:
        assert process.finish() == 1
    errors = [line for line in process.lines if " ERROR " in line]
    assert len(errors) == 1
    assert f"cannot serve metrics on port {held_port}: " in errors[0]
    assert not [line for line in process.lines if "Traceback" in line]


def test_second_server_on_a_port_fails_and_first_keeps_serving() -> None:
    """A second server on the first's port exits 1 instead of sharing it; the first serves on."""
    with ServiceProcess(["-m", "time_service", "--port", "0"]) as first:
        port = first.wait_for_port()
        with ServiceProcess(["-m", "time_service", "--port", str(port)]) as second:
            assert second.finish() == 1
        assert any(f"cannot listen on 127.0.0.1:{port}" in line for line in second.lines)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert health_status(channel) == "SERVING"
            assert TIME.call(channel) == "Asia/Kathmandu"


@pytest.mark.parametrize(
    ("service", "args", "env", "message"),
    [
        (TIME, ["--port", "70000"], {}, "argument --port: port must be between 0 and 65535"),
        (TIME, ["--grace", "-1"], {}, "argument --grace: grace must be zero or more seconds"),
        (TIME, ["--log-level", "LOUD"], {}, "argument --log-level: log level must be one of"),
        (
            TIME,
            [],
            {"TIME_SERVICE_PORT": "abc"},
            "environment variable TIME_SERVICE_PORT: port must be a whole number, not 'abc'",
        ),
        (
            DATE,
            [],
            {"DATE_SERVICE_GRACE": "later"},
            "environment variable DATE_SERVICE_GRACE: grace must be a number of seconds",
        ),
    ],
    ids=["port-70000", "grace-negative", "log-level-loud", "env-port-abc", "env-grace-word"],
)
def test_bad_settings_exit_2_with_a_message(
    service: Service, args: list[str], env: dict[str, str], message: str
) -> None:
    """A bad flag or variable exits 2 with a usage error naming it, before serving anything."""
    with ServiceProcess(["-m", service.module, *args], env=hermetic_env(**env)) as process:
        assert process.finish() == 2
    assert process.lines[-1].startswith(f"{service.prog}: error: {message}")
    assert not [line for line in process.lines if "Traceback" in line or "listening" in line]
