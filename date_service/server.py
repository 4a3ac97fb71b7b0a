"""DateService's place in the shared server: its contract and servicer.

``chrono_server.app.create_server(settings, SPEC)`` builds a bound DateService server.
"""

from __future__ import annotations

from chrono.date.v1 import date_service_pb2
from chrono_server.app import ServiceSpec
from date_service import ENTRY
from date_service.servicer import DateServicer

SPEC = ServiceSpec(
    entry=ENTRY,
    descriptor=date_service_pb2.DESCRIPTOR.services_by_name["DateService"],
    make_servicer=DateServicer,
)
