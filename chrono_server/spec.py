"""What a service declares to the shared server: its entry, options, contract and parts.

A leaf module: it imports neither grpc nor the rest of the server, so that the entry
point (and the ``--workers`` supervisor, which must never load grpc) can read a
service's name, port and flags without importing its servicer.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from chrono_domain.clock import utc_now

if TYPE_CHECKING:
    from google.protobuf.descriptor import ServiceDescriptor
    from prometheus_client import CollectorRegistry

    from chrono_domain.zones import ZoneDatabase
    from chrono_server.config import ServerSettings


@dataclass(frozen=True)
class Option:
    """A command-line flag (and environment variable) that sets one settings field."""

    convert: Callable[[str], Any]
    """Turns the text given into the value; raises argparse.ArgumentTypeError if bad."""
    metavar: str
    help: str


def option(default: Any, convert: Callable[[str], Any], metavar: str, help: str) -> Any:
    """A settings dataclass field that is also a flag ``--name`` and a variable ``PREFIX_NAME``."""
    return field(default=default, metadata={"option": Option(convert, metavar, help)})


@dataclass(frozen=True)
class ServiceEntry:
    """How a service is started: its command, variables, port, own options and spec."""

    prog: str
    env_prefix: str
    default_port: int
    spec_module: str
    """The module whose ``SPEC`` is the service's ServiceSpec; imported only when serving."""
    options: type | None = None
    """A frozen dataclass of :func:`option` fields: the flags only this service has."""
    setting_defaults: Mapping[str, Any] = field(default_factory=dict)
    """Shared settings whose default differs for this service, by field name."""

    def load_spec(self) -> ServiceSpec:
        """Import the service's ServiceSpec (and with it grpc)."""
        spec: ServiceSpec = importlib.import_module(self.spec_module).SPEC
        return spec


class Component(Protocol):
    """A part of a running server, started in order and stopped in reverse order."""

    name: str
    """What the start and stop log lines call it."""

    async def start(self) -> None:
        """Start; raise to stop the process (exit 1) with the error as its one line."""

    async def stop(self) -> None:
        """Stop, after every component started after it has stopped."""


@dataclass(frozen=True)
class Resources:
    """What the shared server hands a service when it builds it."""

    settings: ServerSettings
    zones: ZoneDatabase
    draining: asyncio.Event
    """Set when shutdown begins: long-lived streams watch it and end at once."""
    registry: CollectorRegistry | None
    """Where the service adds metrics of its own; None when metrics are off."""
    clock: Callable[[], datetime] = utc_now
    """The current instant, an aware datetime (tests pin it)."""

    @property
    def options(self) -> Any:
        """The service's own options (an instance of its entry's ``options`` class)."""
        return self.settings.service


@dataclass(frozen=True)
class Service:
    """A built service: its servicer and the components it needs running."""

    servicer: object
    components: Sequence[Component] = ()
    """Started before the gRPC server and stopped after it, in this order."""


@dataclass(frozen=True)
class LegacyRoute:
    """An HTTP GET path kept from an earlier API, answered by one of the service's RPCs.

    ``GET {path}`` calls ``rpc`` with the query parameters as its request fields and
    answers ``{key: response.field}`` for each ``key, field`` of ``answer``.
    """

    path: str
    rpc: str
    answer: Mapping[str, str]


@dataclass(frozen=True)
class ServiceSpec:
    """What a service package contributes: how it starts, its contract and how it is built."""

    entry: ServiceEntry
    descriptor: ServiceDescriptor
    build: Callable[[Resources], Service]
    legacy_routes: Sequence[LegacyRoute] = ()
    """HTTP paths of an earlier API the HTTP/JSON listener (``--http-port``) still answers."""
