"""The entry point of a service process: settings, logging, then one server or workers.

Nothing here imports grpc: with ``--workers N`` this process only supervises, and grpc
must not be loaded in a parent whose children it starts. Dependencies point one way:
this module, then :mod:`chrono_server.workers` or :mod:`chrono_server.app`, then the
service's own modules; none of those imports this one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from chrono_server import logs
from chrono_server.config import ServerSettings, parse_settings
from chrono_server.spec import ServiceEntry

logger = logging.getLogger(__name__)


def main(entry: ServiceEntry, argv: Sequence[str] | None = None) -> int:
    """Run the service until SIGTERM or SIGINT; the process's exit status."""
    settings = parse_settings(entry, argv)
    logs.configure(settings.log_level, settings.log_format)
    if settings.workers > 1:
        from chrono_server.workers import supervise

        return supervise(entry, settings)
    return serve_here(entry, settings)


def serve_here(entry: ServiceEntry, settings: ServerSettings) -> int:
    """Serve in this process; the exit status."""
    from chrono_server import app

    return app.run(entry.load_spec(), settings)
