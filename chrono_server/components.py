"""The parts every server runs: its access log writer, health, and the gRPC server itself.

A server is an ordered list of components (:class:`chrono_server.spec.Component`):
tracing (when on), the access log writer, the metrics endpoint, what the service adds
(the date service's calendar store), the gRPC server, the HTTP/JSON listener, then
health, so that health turns SERVING only once everything before it serves. Only the
etcd registration comes after health: it registers once SERVING and deregisters first.
"""

from __future__ import annotations

import asyncio
import contextlib
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


# After NOT_SERVING, the server stops once no unary call has been in flight for this
# long (longer than an event loop stall, so that a busy server does not look idle), or
# after at most DRAIN_QUIET_LIMIT seconds (clients that ignore health never go quiet).
DRAIN_QUIET = 0.1
DRAIN_QUIET_LIMIT = 2.0


class GrpcServer:
    """The gRPC server: serves once started; on stop refuses new calls and drains.

    grpc core queues calls until the Python server asks for them, one at a time, and
    ``stop()`` cancels every call still queued (grpc/grpc#41785): the stop waits until
    the calls already accepted are answered, which health-checking clients, told
    NOT_SERVING first, let happen.
    """

    name = "gRPC server"

    def __init__(
        self, server: grpc.aio.Server, grace: float, observer: Observer, hurry: asyncio.Event
    ) -> None:
        """Run ``server`` (bound, not started); give calls ``grace`` seconds on stop.

        ``hurry`` set (a second signal) cuts every wait short.
        """
        self.server = server
        self.grace = grace
        self._observer = observer
        self._hurry = hurry

    async def start(self) -> None:
        """Start answering calls."""
        await self.server.start()

    async def stop(self) -> None:
        """Answer the calls already accepted, then refuse new ones; up to the grace in all."""
        limit = min(DRAIN_QUIET_LIMIT, self.grace)
        if limit > 0 and not await self._observer.quiet(DRAIN_QUIET, limit, self._hurry):
            logger.info("calls still arriving after %.1f s; stopping anyway", limit)
        logger.info("refusing new calls; draining for up to %.1f s", self.grace)
        await self.server.stop(self.grace)
        logger.info("server stopped")

    async def stop_now(self) -> None:
        """Stop at once, even while a graceful stop is still waiting out its grace."""
        self._hurry.set()
        await engines.stop_now(self.server)


class Health:
    """grpc.health.v1 for the server (``""``) and each service: SERVING until the drain.

    Its stop begins the drain: NOT_SERVING, so that health-checking clients send no new
    calls; ``delay`` seconds for that news to reach them; then the draining event, which
    ends open streams at once (after the delay, so that a watch reopened elsewhere does
    not land here again).
    """

    name = "health"

    def __init__(
        self,
        servicer: health.aio.HealthServicer,
        services: Sequence[str],
        draining: asyncio.Event,
        observer: Observer,
        delay: float,
        hurry: asyncio.Event,
    ) -> None:
        """Report for ``services``; set ``draining`` ``delay`` seconds into the drain."""
        self.servicer = servicer
        self._services = services
        self._draining = draining
        self._observer = observer
        self._delay = delay
        self._hurry = hurry

    async def start(self) -> None:
        """Report SERVING for the server and each service."""
        for name in ("", *self._services):
            await self.servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self) -> None:
        """Report NOT_SERVING everywhere and end the open streams."""
        self._observer.shutting_down = True
        await self.servicer.enter_graceful_shutdown()
        logger.info("health set to NOT_SERVING")
        if self._delay > 0:
            logger.info("serving %.2f s more while clients move away", self._delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), self._delay)
        self._draining.set()
        logger.info("ending open streams")
