"""chrono.date.v1.DateService: the current date in any IANA time zone."""

from chrono_server.spec import ServiceEntry
from date_service.options import DateOptions

ENTRY = ServiceEntry(
    prog="date-service",
    env_prefix="DATE_SERVICE",
    default_port=50052,
    spec_module="date_service.server",
    options=DateOptions,
    # A custom calendar may hold 10,000 holidays: about 300 KB in one CreateCalendar.
    setting_defaults={"max_request_bytes": 1 << 20},
)
"""How the date-service command starts: its name, variables, port, flags and spec."""
