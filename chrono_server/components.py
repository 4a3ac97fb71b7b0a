"""The parts every server runs: its access log writer, health, and the gRPC server itself.

A server is an ordered list of components (:class:`chrono_server.spec.Component`): the
access log writer, the metrics endpoint, what the service adds (a database pool, say),
the gRPC server, and health last, so that health turns SERVING only once everything
before it serves, and is the first thing to turn NOT_SERVING on drain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health, health_pb2

from chrono_server import engines
from chrono_server.access import FLUSH_SECONDS, AccessLog
from chrono_server.observe import Observer

logger = logging.getLogger(__name__)


class AccessLogWriter:
    """Writes the batched access lines every FLUSH_SECONDS, and all of them at the end."""

    name = "access log"

    def __init__(self, access: AccessLog) -> None:
        """Flush ``access``."""
        self._access = access
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start flushing in the background."""
        self._task = asyncio.ensure_future(self._flush_every())

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self._access.flush()

    async def stop(self) -> None:
        """Write what is left."""
        if self._task is not None:
            self._task.cancel()
        self._access.flush()


class GrpcServer:
    """The gRPC server: serves once started; on stop refuses new calls and drains."""

    name = "gRPC server"

    def __init__(self, server: grpc.aio.Server, grace: float) -> None:
        """Run ``server`` (bound, not started); give calls ``grace`` seconds on stop."""
        self.server = server
        self.grace = grace

    async def start(self) -> None:
        """Start answering calls."""
        await self.server.start()

    async def stop(self) -> None:
        """Refuse new calls and let the ones in flight finish, for up to the grace."""
        logger.info("refusing new calls; draining for up to %.1f s", self.grace)
        await self.server.stop(self.grace)
        logger.info("server stopped")

    async def stop_now(self) -> None:
        """Stop at once, even while a graceful stop is still waiting out its grace."""
        await engines.stop_now(self.server)


class Health:
    """grpc.health.v1 for the server (``""``) and each service: SERVING until the drain.

    Its stop begins the drain: NOT_SERVING, so that health-checking clients send no new
    calls, then the draining event, which ends open streams at once.
    """

    name = "health"

    def __init__(
        self,
        servicer: health.aio.HealthServicer,
        services: Sequence[str],
        draining: asyncio.Event,
        observer: Observer,
    ) -> None:
        """Report for ``services``; set ``draining`` when the drain begins."""
        self.servicer = servicer
        self._services = services
        self._draining = draining
        self._observer = observer

    async def start(self) -> None:
        """Report SERVING for the server and each service."""
        for name in ("", *self._services):
            await self.servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self) -> None:
        """Report NOT_SERVING everywhere and end the open streams."""
        self._observer.shutting_down = True
        await self.servicer.enter_graceful_shutdown()
        logger.info("health set to NOT_SERVING")
        self._draining.set()
        logger.info("ending open streams")
