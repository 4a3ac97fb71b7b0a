"""The server lifecycle both services share: build, serve, drain on SIGTERM/SIGINT, exit 0."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from chrono_server import zones
from chrono_server.config import ServerSettings, parse_settings
from chrono_server.handlers import add_servicer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shared:
    """What the shared server hands each servicer when it is built."""

    zones: zones.ZoneDatabase
    # Set when shutdown begins: long-lived streams watch it and end at once.
    draining: asyncio.Event


@dataclass(frozen=True)
class ServiceSpec:
    """What a service package contributes: its name, contract and servicer."""

    prog: str
    env_prefix: str
    default_port: int
    descriptor: ServiceDescriptor
    make_servicer: Callable[[Shared], object]


class App:
    """A built server and the pieces its shutdown needs."""

    def __init__(
        self,
        server: grpc.aio.Server,
        health_servicer: health.aio.HealthServicer,
        shared: Shared,
        names: Sequence[str],
    ) -> None:
        """Hold a server that is bound but not yet started."""
        self.server = server
        self.health = health_servicer
        self.shared = shared
        self._names = names

    async def start(self) -> None:
        """Start serving and report SERVING for the server and each service."""
        await self.server.start()
        for name in ("", *self._names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def shutdown(self, grace: float) -> None:
        """Drain: NOT_SERVING, end streams, refuse new calls, let in-flight ones finish."""
        await self.health.enter_graceful_shutdown()
        logger.info("health set to NOT_SERVING")
        self.shared.draining.set()
        logger.info("ending open streams; refusing new calls; draining for up to %.1f s", grace)
        await self.server.stop(grace)
        logger.info("server stopped")


def create_server(settings: ServerSettings, spec: ServiceSpec) -> tuple[App, int]:
    """Build the server for ``spec`` and bind it; return it with the port it got."""
    # grpc turns SO_REUSEPORT on by default; off, a busy port fails to bind instead
    # of silently sharing it with another process.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    shared = Shared(zones=zones.load(), draining=asyncio.Event())
    add_servicer(server, spec.descriptor, spec.make_servicer(shared))

    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [spec.descriptor.full_name]
    if settings.reflection:
        reflection.enable_server_reflection(
            (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
    port = server.add_insecure_port(settings.address)
    return App(server, health_servicer, shared, names), port


async def serve(settings: ServerSettings, spec: ServiceSpec) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    app, port = create_server(settings, spec)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    forced: list[asyncio.Task[None]] = []

    def on_signal(signum: int) -> None:
        if stop.is_set():
            logger.warning("received %s again; stopping now", signal.Signals(signum).name)
            forced.append(loop.create_task(app.server.stop(0)))
            return
        logger.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    # Installed before serving, so that a signal never finds the default handler.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    await app.start()
    logger.info(
        "%s listening on %s (tzdata %s, reflection %s)",
        spec.prog,
        ServerSettings(host=settings.host, port=port).address,
        app.shared.zones.version,
        "on" if settings.reflection else "off",
    )
    await stop.wait()
    await app.shutdown(settings.grace)
    # grpc may still be winding down, each in a task of its own, calls that raced the
    # shutdown; asyncio.run would cancel those tasks and grpc log each as an error.
    others = asyncio.all_tasks() - {asyncio.current_task()}
    if others:
        await asyncio.wait(others, timeout=1)


def run(spec: ServiceSpec, argv: Sequence[str] | None = None) -> int:
    """The entry point of a service process: settings, logging, serve; the exit status."""
    settings = parse_settings(spec.prog, spec.env_prefix, spec.default_port, argv)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(serve(settings, spec))
    except RuntimeError as error:
        if "Failed to bind" not in str(error):
            raise
        logger.error(
            "cannot listen on %s: the port is in use or the address is not available here",
            settings.address,
        )
        return 1
    logger.info("%s exited cleanly", spec.prog)
    return 0
