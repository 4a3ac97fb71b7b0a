"""A server is its components: started in order before SERVING, stopped in reverse."""

from __future__ import annotations

import dataclasses
import logging

import grpc
import pytest

from chrono_server.spec import Resources, Service
from tests.chrono_server.helpers import ServiceProcess, health_status, running
from time_service.server import SPEC as TIME_SPEC
from time_service.servicer import TimeServicer


class Recorder:
    """A component that notes its start and stop, and what health said at its start."""

    def __init__(self, name: str, events: list[str]) -> None:
        """Note into ``events``."""
        self.name = name
        self._events = events

    async def start(self) -> None:
        """Note the start."""
        self._events.append(f"start {self.name}")

    async def stop(self) -> None:
        """Note the stop."""
        self._events.append(f"stop {self.name}")


def test_components_start_in_order_and_stop_in_reverse(caplog: pytest.LogCaptureFixture) -> None:
    """A service's components start before the gRPC server and health, and stop after them."""
    caplog.set_level(logging.DEBUG, logger="chrono_server")
    events: list[str] = []

    def build(resources: Resources) -> Service:
        pool = Recorder("pool", events)
        return Service(TimeServicer(resources), components=[pool, Recorder("listener", events)])

    with (
        running(dataclasses.replace(TIME_SPEC, build=build)) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        assert health_status(channel) == "SERVING"
        names = [component.name for component in server.app.components]
    assert names == ["access log", "pool", "listener", "gRPC server", "health"]
    assert events == ["start pool", "start listener", "stop listener", "stop pool"]
    steps = [r.getMessage() for r in caplog.records if r.getMessage().startswith(("start", "stop"))]
    assert steps == [f"starting {name}" for name in names] + [
        f"stopping {name}" for name in reversed(names)
    ]


def test_a_component_that_fails_to_start_is_one_error_line_and_exit_1() -> None:
    """The process says which component failed and why, on one line, and exits 1."""
    with ServiceProcess(
        ["-m", "tests.ledger", "--port", "0", "--broken-component", "1"]
    ) as process:
        status = process.finish()
    errors = [line for line in process.lines if " ERROR " in line]
    assert status == 1, process.lines
    assert len(errors) == 1, process.lines
    assert errors[0].endswith(
        "cannot start the ledger store: connection refused by 127.0.0.1:9 (the store is down)"
    )
    assert not [line for line in process.lines if "Traceback" in line or "listening on" in line]
