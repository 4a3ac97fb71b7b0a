"""DateService's place in the shared server: its contract, port and servicer."""

from __future__ import annotations

from chrono.date.v1 import date_service_pb2

from chrono_server.app import App, ServiceSpec
from chrono_server.app import create_server as _create_server
from chrono_server.config import ServerSettings
from date_service.servicer import DateServicer

SPEC = ServiceSpec(
    prog="date-service",
    env_prefix="DATE_SERVICE",
    default_port=50052,
    descriptor=date_service_pb2.DESCRIPTOR.services_by_name["DateService"],
    make_servicer=DateServicer,
)


def create_server(settings: ServerSettings) -> tuple[App, int]:
    """Build a bound, not yet started DateService server; return it and its port."""
    return _create_server(settings, SPEC)
