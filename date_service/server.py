"""DateService's place in the shared server: its contract and how it is built.

``chrono_server.app.create_server(settings, SPEC)`` builds a bound DateService server.
"""

from __future__ import annotations

from chrono.date.v1 import date_service_pb2
from chrono_server.spec import Resources, Service, ServiceSpec
from date_service import ENTRY
from date_service.servicer import DateServicer


def build(resources: Resources) -> Service:
    """The DateService of a server: its servicer (it needs no components of its own)."""
    return Service(servicer=DateServicer(resources))


SPEC = ServiceSpec(
    entry=ENTRY,
    descriptor=date_service_pb2.DESCRIPTOR.services_by_name["DateService"],
    build=build,
)
