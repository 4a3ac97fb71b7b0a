"""A test service with a read and a write, to show which calls the client may replay.

``chrono.test.v1.LedgerService`` has ``Read`` (``idempotency_level = NO_SIDE_EFFECTS``) and
``Append`` (no idempotency declared). Its descriptor is built here, not compiled from a
.proto file, and it runs on the shared server as a real process:
``python -m tests.ledger --port 0 [--hang 1]``. With ``--hang 1`` every call logs
``entered <Method>`` and then never answers, so that a test can kill the server mid-call.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass

from chrono_server.config import whole
from chrono_server.main import main as serve_main
from chrono_server.spec import Resources, Service, ServiceEntry, ServiceSpec, option

logger = logging.getLogger(__name__)


def _file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="chrono/test/v1/ledger.proto", package="chrono.test.v1", syntax="proto3"
    )
    for name, field in (
        ("ReadRequest", None),
        ("ReadResponse", "count"),
        ("AppendRequest", None),
        ("AppendResponse", "count"),
    ):
        message = file.message_type.add(name=name)
        if field:
            message.field.add(
                name=field,
                number=1,
                type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
                label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
            )
    service = file.service.add(name="LedgerService")
    read = service.method.add(
        name="Read",
        input_type=".chrono.test.v1.ReadRequest",
        output_type=".chrono.test.v1.ReadResponse",
    )
    read.options.idempotency_level = descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
    service.method.add(
        name="Append",
        input_type=".chrono.test.v1.AppendRequest",
        output_type=".chrono.test.v1.AppendResponse",
    )
    return file


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())
LEDGER: ServiceDescriptor = _POOL.FindServiceByName("chrono.test.v1.LedgerService")
"""The service descriptor, as generated code would have it."""
ReadRequest: Any = GetMessageClass(_POOL.FindMessageTypeByName("chrono.test.v1.ReadRequest"))
ReadResponse: Any = GetMessageClass(_POOL.FindMessageTypeByName("chrono.test.v1.ReadResponse"))
AppendRequest: Any = GetMessageClass(_POOL.FindMessageTypeByName("chrono.test.v1.AppendRequest"))
AppendResponse: Any = GetMessageClass(_POOL.FindMessageTypeByName("chrono.test.v1.AppendResponse"))


@dataclass(frozen=True)
class LedgerOptions:
    """The ledger's own flag."""

    hang: int = option(0, whole("hang", 0, 1), "0|1", "1: log each call, then never answer")
    broken_component: int = option(
        0, whole("broken component", 0, 1), "0|1", "1: add a component that fails to start"
    )


class BrokenStore:
    """A component whose start fails, as a database that cannot be reached would."""

    name = "ledger store"

    async def start(self) -> None:
        """Fail."""
        raise OSError("connection refused by 127.0.0.1:9 (the store is down)")

    async def stop(self) -> None:
        """Nothing to stop."""


def build(resources: Resources) -> Service:
    """The ledger's servicer, with a broken store if asked for."""
    broken = [BrokenStore()] if resources.options.broken_component else []
    return Service(servicer=LedgerServicer(resources), components=broken)


class LedgerServicer:
    """Counts reads and appends; with ``hang`` never answers."""

    def __init__(self, resources: Resources) -> None:
        """Take the ``hang`` option from ``resources``."""
        self._hang = bool(resources.options.hang)
        self._count = 0

    async def _enter(self, method: str) -> None:
        logger.info("entered %s", method)
        if self._hang:
            await asyncio.Event().wait()

    async def Read(self, request: Any, context: Any) -> Any:  # noqa: N802
        """The number of entries."""
        await self._enter("Read")
        return ReadResponse(count=self._count)

    async def Append(self, request: Any, context: Any) -> Any:  # noqa: N802
        """Add an entry; the new number of entries."""
        await self._enter("Append")
        self._count += 1
        return AppendResponse(count=self._count)


ENTRY = ServiceEntry(
    prog="ledger-service",
    env_prefix="LEDGER_SERVICE",
    default_port=0,
    spec_module="tests.ledger",
    options=LedgerOptions,
)
SPEC = ServiceSpec(
    entry=ENTRY,
    descriptor=LEDGER,
    build=build,
)

if __name__ == "__main__":
    sys.exit(serve_main(ENTRY))
