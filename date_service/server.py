"""DateService's place in the shared server: its contract and how it is built.

``chrono_server.app.create_server(settings, SPEC)`` builds a bound DateService server.
"""

from __future__ import annotations

from chrono.date.v1 import date_service_pb2
from chrono_server.auth import WriteAuthorizer
from chrono_server.spec import LegacyRoute, Resources, Service, ServiceSpec
from date_service import ENTRY
from date_service.servicer import DateServicer
from date_service.store import open_store

WRITE_FLAGS = "--write-token-file FILE or --write-client-ids NAMES (with --tls-client-ca)"


def build(resources: Resources) -> Service:
    """The DateService of a server: its servicer and the calendar store it opens at start."""
    options = resources.options
    store = open_store(options.database or "")
    writers = WriteAuthorizer(options.write_token_file, options.write_client_ids, WRITE_FLAGS)
    return Service(servicer=DateServicer(resources, store, writers), components=(store,))


SPEC = ServiceSpec(
    entry=ENTRY,
    descriptor=date_service_pb2.DESCRIPTOR.services_by_name["DateService"],
    build=build,
    # The original HTTP service's endpoint, still answered on --http-port:
    # GET /date[?time_zone=...] -> {"date": "<GetDateResponse.formatted>"}.
    legacy_routes=(LegacyRoute(path="/date", rpc="GetDate", answer={"date": "formatted"}),),
)
