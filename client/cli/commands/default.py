"""``chrono`` with no command: the time line, then the date line."""

from __future__ import annotations

from client.cli.commands import get_date, get_time
from client.cli.context import Context


def run(context: Context) -> int:
    """Print the time line, then the date line; the first failure ends the run."""
    get_time.run(context)
    return get_date.run(context)
