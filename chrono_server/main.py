"""The entry point of a service process: settings, logging, then one server or workers.

Nothing here imports grpc: with ``--workers N`` this process only supervises, and grpc
must not be loaded in a parent whose children it starts.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chrono_server import logs
from chrono_server.config import ServerSettings, parse_settings

if TYPE_CHECKING:
    from chrono_server.app import ServiceSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceEntry:
    """How a service is started: its command name, variables, port and where its spec is."""

    prog: str
    env_prefix: str
    default_port: int
    spec_module: str
    """The module whose ``SPEC`` is the service's ServiceSpec; imported only when serving."""

    def load_spec(self) -> ServiceSpec:
        """Import the service's ServiceSpec (and with it grpc)."""
        spec: ServiceSpec = importlib.import_module(self.spec_module).SPEC
        return spec


def main(entry: ServiceEntry, argv: Sequence[str] | None = None) -> int:
    """Run the service until SIGTERM or SIGINT; the process's exit status."""
    settings = parse_settings(entry.prog, entry.env_prefix, entry.default_port, argv)
    logs.configure(settings.log_level, settings.log_format)
    if settings.workers > 1:
        from chrono_server.workers import supervise

        return supervise(entry, settings)
    return serve_here(entry, settings)


def serve_here(entry: ServiceEntry, settings: ServerSettings) -> int:
    """Serve in this process; the exit status."""
    from chrono_server import app

    return app.run(entry.load_spec(), settings)
