"""TimeService's place in the shared server: its contract, port and servicer."""

from __future__ import annotations

from chrono.time.v1 import time_service_pb2

from chrono_server.app import App, ServiceSpec
from chrono_server.app import create_server as _create_server
from chrono_server.config import ServerSettings
from time_service.servicer import TimeServicer

SPEC = ServiceSpec(
    prog="time-service",
    env_prefix="TIME_SERVICE",
    default_port=50051,
    descriptor=time_service_pb2.DESCRIPTOR.services_by_name["TimeService"],
    make_servicer=TimeServicer,
)


def create_server(settings: ServerSettings) -> tuple[App, int]:
    """Build a bound, not yet started TimeService server; return it and its port."""
    return _create_server(settings, SPEC)
