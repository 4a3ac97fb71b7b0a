"""chrono.date.v1.DateService: the current date in any IANA time zone."""

from chrono_server.spec import ServiceEntry

ENTRY = ServiceEntry(
    prog="date-service",
    env_prefix="DATE_SERVICE",
    default_port=50052,
    spec_module="date_service.server",
)
"""How the date-service command starts: its name, variables, port and spec."""
