"""TimeService's place in the shared server: its contract and how it is built.

``chrono_server.app.create_server(settings, SPEC)`` builds a bound TimeService server.
"""

from __future__ import annotations

from chrono.time.v1 import time_service_pb2
from chrono_server.spec import LegacyRoute, Resources, Service, ServiceSpec
from time_service import ENTRY
from time_service.servicer import TimeServicer


def build(resources: Resources) -> Service:
    """The TimeService of a server: its servicer (it needs no components of its own)."""
    return Service(servicer=TimeServicer(resources))


SPEC = ServiceSpec(
    entry=ENTRY,
    descriptor=time_service_pb2.DESCRIPTOR.services_by_name["TimeService"],
    build=build,
    # The original HTTP service's endpoint, still answered on --http-port:
    # GET /time[?time_zone=...] -> {"time": "<GetTimeResponse.formatted>"}.
    legacy_routes=(LegacyRoute(path="/time", rpc="GetTime", answer={"time": "formatted"}),),
)
