"""The subcommands, in the order ``chrono --help`` lists them.

Each module registers its own parser and handler (see :data:`client.cli.options.Register`);
adding a subcommand is adding its module and its line below.
"""

from __future__ import annotations

from client.cli.commands import (
    busday,
    calendars,
    convert,
    dates,
    default,
    get_date,
    get_time,
    health,
    offset,
    watch,
    zone,
    zones,
)
from client.cli.context import Handler
from client.cli.options import Register

COMMANDS: tuple[Register, ...] = (
    get_time.register,
    get_date.register,
    watch.register,
    zones.register,
    convert.register,
    zone.register,
    offset.register,
    dates.register,
    busday.register,
    calendars.register,
    health.register,
)

DEFAULT: Handler = default.run
"""What ``chrono`` does when no command is named."""
