"""TimeService's place in the shared server: its contract and servicer.

``chrono_server.app.create_server(settings, SPEC)`` builds a bound TimeService server.
"""

from __future__ import annotations

from chrono.time.v1 import time_service_pb2
from chrono_server.app import ServiceSpec
from time_service import ENTRY
from time_service.servicer import TimeServicer

SPEC = ServiceSpec(
    entry=ENTRY,
    descriptor=time_service_pb2.DESCRIPTOR.services_by_name["TimeService"],
    make_servicer=TimeServicer,
)
