"""chrono.time.v1.TimeService: the current time in any IANA time zone."""

from chrono_server.spec import ServiceEntry
from time_service.options import TimeOptions

ENTRY = ServiceEntry(
    prog="time-service",
    env_prefix="TIME_SERVICE",
    default_port=50051,
    spec_module="time_service.server",
    options=TimeOptions,
)
"""How the time-service command starts: its name, variables, port, flags and spec."""
