"""The subcommands, in the order ``chrono --help`` lists them.

Each module registers its own parser and handler (see :data:`client.cli.options.Register`);
adding a subcommand is adding its module and its line below.
"""

from __future__ import annotations

from client.cli.commands import default, get_date, get_time, health, watch, zones
from client.cli.context import Handler
from client.cli.options import Register

COMMANDS: tuple[Register, ...] = (
    get_time.register,
    get_date.register,
    watch.register,
    zones.register,
    health.register,
)

DEFAULT: Handler = default.run
"""What ``chrono`` does when no command is named."""
