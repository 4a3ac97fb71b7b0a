"""The server both services share: build, serve, drain on SIGTERM/SIGINT, exit 0."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from chrono_server import zones
from chrono_server.access import FLUSH_SECONDS, AccessLog
from chrono_server.access import LOGGER_NAME as ACCESS_LOGGER
from chrono_server.config import ServerSettings, check, join_host_port
from chrono_server.handlers import add_servicer
from chrono_server.limits import WatchLimit, server_options
from chrono_server.main import ServiceEntry
from chrono_server.metrics import Metrics, MetricsEndpoint
from chrono_server.observe import Observer
from chrono_server.tls import TlsFilesError, server_credentials

if TYPE_CHECKING:
    from chrono_server.observe import Handler

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shared:
    """What the shared server hands each servicer when it is built."""

    zones: zones.ZoneDatabase
    # Set when shutdown begins: long-lived streams watch it and end at once.
    draining: asyncio.Event
    watches: WatchLimit


@dataclass(frozen=True)
class ServiceSpec:
    """What a service package contributes: how it starts, its contract and its servicer."""

    entry: ServiceEntry
    descriptor: ServiceDescriptor
    make_servicer: Callable[[Shared], object]

    @property
    def prog(self) -> str:
        """The command name, used in logs."""
        return self.entry.prog

    @property
    def env_prefix(self) -> str:
        """The prefix of the service's environment variables."""
        return self.entry.env_prefix

    @property
    def default_port(self) -> int:
        """The port served when none is given."""
        return self.entry.default_port


class _ObservedGeneric(grpc.GenericRpcHandler):
    """A generic handler whose method handlers are observed; each wrapped once, then reused."""

    def __init__(self, inner: grpc.GenericRpcHandler, wrap: Callable[[str, Handler], Handler]):
        self._inner = inner
        self._wrap = wrap
        self._cache: dict[str, Handler] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        method: str = handler_call_details.method
        cached = self._cache.get(method)
        if cached is None:
            handler = self._inner.service(handler_call_details)
            if handler is None:
                return None
            cached = self._cache[method] = self._wrap(method, handler)
        return cached


class _ObservedService(_ObservedGeneric, grpc.ServiceRpcHandler):
    """An observed handler for one named service, so that servers can see which one.

    pygrpc-native serves a generic handler natively only if it names its service.
    """

    def __init__(self, inner: grpc.ServiceRpcHandler, wrap: Callable[[str, Handler], Handler]):
        super().__init__(inner, wrap)
        self._name = inner.service_name()

    def service_name(self) -> str:
        return self._name


class _Registrar:
    """Stands in for the server when services register: wraps each handler with ``observer``."""

    def __init__(self, server: grpc.aio.Server, observer: Observer, own: str) -> None:
        self._server = server
        self._observer = observer
        self._own = f"/{own}/"

    def _wrap(self, method: str, handler: Handler) -> Handler:
        return self._observer.wrap(method, handler, own=method.startswith(self._own))

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(
                _ObservedService(handler, self._wrap)
                if isinstance(handler, grpc.ServiceRpcHandler)
                else _ObservedGeneric(handler, self._wrap)
                for handler in handlers
            )
        )

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, Handler]) -> None:
        wrapped = {name: self._wrap(f"/{service}/{name}", h) for name, h in handlers.items()}
        self._server.add_registered_method_handlers(service, wrapped)


class App:
    """A built server and the pieces its start and shutdown need."""

    def __init__(
        self,
        server: grpc.aio.Server,
        health_servicer: health.aio.HealthServicer,
        shared: Shared,
        observer: Observer,
        names: Sequence[str],
        metrics: Metrics | None,
        metrics_address: tuple[str, int] | None,
        access: AccessLog | None,
    ) -> None:
        """Hold a server that is bound but not yet started."""
        self.server = server
        self.health = health_servicer
        self.shared = shared
        self.observer = observer
        self.metrics = metrics
        self._names = names
        self._metrics_address = metrics_address
        self.metrics_endpoint: MetricsEndpoint | None = None
        self.access = access
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start serving (and answering scrapes); report SERVING for the server and each service."""
        if self.metrics is not None and self._metrics_address is not None:
            host, port = self._metrics_address
            self.metrics_endpoint = MetricsEndpoint(host, port, self.metrics.registry)
        await self.server.start()
        if self.access is not None:
            self._flusher = asyncio.ensure_future(self._flush_access_log(self.access))
        for name in ("", *self._names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    @staticmethod
    async def _flush_access_log(access: AccessLog) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            access.flush()

    async def shutdown(self, grace: float) -> None:
        """Drain: NOT_SERVING, end streams, refuse new calls, let in-flight ones finish."""
        self.observer.shutting_down = True
        await self.health.enter_graceful_shutdown()
        logger.info("health set to NOT_SERVING")
        self.shared.draining.set()
        logger.info("ending open streams; refusing new calls; draining for up to %.1f s", grace)
        await self.server.stop(grace)
        if self._flusher is not None:
            self._flusher.cancel()
        if self.access is not None:
            self.access.flush()
        logger.info("server stopped")
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()


def new_server(settings: ServerSettings) -> grpc.aio.Server:
    """An unstarted server of ``settings.engine``, with the options that enforce the limits."""
    if settings.engine == "native":
        import pygrpc_native.aio

        # It logs a busy port itself as a warning; run() says it once, as an error.
        logging.getLogger("pygrpc_native").setLevel(logging.ERROR)
        server: grpc.aio.Server = pygrpc_native.aio.server(options=server_options(settings))
        return server
    return grpc.aio.server(options=server_options(settings))


async def stop_now(server: grpc.aio.Server) -> None:
    """Stop at once, even while a graceful stop is still waiting out its grace."""
    # pygrpc-native 0.5's stop() only waits for a stop already under way, whatever
    # its grace: cancel its calls (and its fallback server's) so that one ends now.
    # These are private names of that exact, pinned version; grpcio has neither.
    for call in list(getattr(server, "_calls", {}).values()):
        call.cancel()
    fallback = getattr(server, "_fallback", None)
    if fallback is not None:
        await fallback.stop(0)
    await server.stop(0)


def worker_name() -> str:
    """How this process names itself in trailing metadata: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def create_server(
    settings: ServerSettings, spec: ServiceSpec, *, serve_metrics: bool = True
) -> tuple[App, int]:
    """Build the server for ``spec`` and bind it; return it with the port it got.

    With ``serve_metrics`` off (a worker process) metrics are recorded but a supervisor
    answers the scrapes.
    """
    if problem := check(settings):
        raise ValueError(problem)
    metrics = Metrics() if settings.metrics_port is not None else None
    server = new_server(settings)
    draining = asyncio.Event()
    access = None
    if logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO):
        access = AccessLog(json_lines=settings.log_format == "json")
    observer = Observer(metrics, access, worker_name(), draining)
    name = spec.descriptor.full_name
    registrar: Any = _Registrar(server, observer, own=name)
    watches = WatchLimit(settings.max_watches, metrics.open_watches if metrics else None)
    shared = Shared(zones=zones.load(), draining=draining, watches=watches)
    add_servicer(registrar, spec.descriptor, spec.make_servicer(shared))

    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, registrar)
    if settings.reflection:
        # enable_server_reflection would pick the sync servicer for a non-aio server.
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(  # type: ignore[no-untyped-call]
            reflection.aio.ReflectionServicer((name, health.SERVICE_NAME, reflection.SERVICE_NAME)),
            registrar,
        )
    if settings.tls:
        port = server.add_secure_port(settings.address, server_credentials(settings))
    else:
        port = server.add_insecure_port(settings.address)
    metrics_address = None
    if serve_metrics and settings.metrics_port is not None:
        metrics_address = (settings.host, settings.metrics_port)
    app = App(server, health_servicer, shared, observer, [name], metrics, metrics_address, access)
    return app, port


async def serve(
    settings: ServerSettings,
    spec: ServiceSpec,
    *,
    worker: bool = False,
    on_ready: Callable[[int, str], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully.

    A ``worker`` answers SIGTERM only (its supervisor passes Ctrl-C on as SIGTERM) and
    leaves scrapes to the supervisor; ``on_ready(port, tzdata_version)`` is called once
    it serves.
    """
    app, port = create_server(settings, spec, serve_metrics=not worker)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    forced: list[asyncio.Task[None]] = []

    def on_signal(signum: int) -> None:
        if stop.is_set():
            logger.warning("received %s again; stopping now", signal.Signals(signum).name)
            forced.append(loop.create_task(stop_now(app.server)))
            return
        logger.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    # Installed before serving, so that a signal never finds the default handler.
    loop.add_signal_handler(signal.SIGTERM, on_signal, signal.SIGTERM)
    if worker:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        loop.add_signal_handler(signal.SIGINT, on_signal, signal.SIGINT)
    await app.start()
    if on_ready is not None:
        on_ready(port, app.shared.zones.version)
    else:
        logger.info(
            "%s listening on %s (tzdata %s, reflection %s, tls %s, engine %s)",
            spec.prog,
            join_host_port(settings.host, port),
            app.shared.zones.version,
            "on" if settings.reflection else "off",
            ("mtls" if settings.tls_client_ca else "on") if settings.tls else "off",
            settings.engine,
        )
    await stop.wait()
    await app.shutdown(settings.grace)
    await wind_down()


# How long a stopped server's loop waits for its last tasks before it closes.
_WIND_DOWN_SECONDS = 1.0


async def wind_down() -> None:
    """Let the loop's other tasks finish, for up to a second, before it closes.

    grpc may still be winding down, each in a task of its own, calls that raced the
    shutdown and health Watch streams; closing the loop would cancel or orphan those
    tasks, and grpc log each as an error.
    """
    others = asyncio.all_tasks() - {asyncio.current_task()}
    if others:
        await asyncio.wait(others, timeout=_WIND_DOWN_SECONDS)


def run(spec: ServiceSpec, settings: ServerSettings) -> int:
    """Serve ``spec`` in this process until a signal; the exit status."""
    try:
        asyncio.run(serve(settings, spec))
    except TlsFilesError as error:
        logger.error("%s", error)
        return 2
    except OSError as error:
        # The gRPC port fails as RuntimeError below; this is the metrics port.
        logger.error("cannot serve metrics on port %s: %s", settings.metrics_port, error)
        return 1
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
