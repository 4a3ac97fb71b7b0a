"""The server both services share: build it from parts, serve, drain on SIGTERM/SIGINT.

:func:`create_server` builds a service's server as an ordered list of components
(:mod:`chrono_server.components`); :func:`serve` starts them in order, waits for a signal,
and stops them in reverse; :func:`run` is that in a process, with its exit status.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from chrono_domain import zones
from chrono_server import engines, tracing
from chrono_server.access import LOGGER_NAME as ACCESS_LOGGER
from chrono_server.access import AccessLog
from chrono_server.components import AccessLogWriter, GrpcServer, Health
from chrono_server.config import ServerSettings, check, join_host_port
from chrono_server.handlers import RegistrationError, add_servicer
from chrono_server.limits import server_options
from chrono_server.metrics import Metrics, MetricsEndpoint
from chrono_server.observe import Observer
from chrono_server.spec import Component, Resources, ServiceSpec
from chrono_server.tls import TlsFilesError, server_credentials

if TYPE_CHECKING:
    from chrono_server.observe import Handler

logger = logging.getLogger(__name__)


class StartError(Exception):
    """A component failed to start; the process exits 1 with this one line."""


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
        self.handlers: dict[str, Handler] = {}
        """The observed handlers registered by name, by gRPC path: what HTTP/JSON calls."""

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
        self.handlers.update((f"/{service}/{name}", h) for name, h in wrapped.items())
        self._server.add_registered_method_handlers(service, wrapped)


class _Scrapes:
    """The metrics endpoint as a component."""

    name = "metrics endpoint"

    def __init__(self, host: str, port: int, metrics: Metrics) -> None:
        self.endpoint = MetricsEndpoint(host, port, metrics.registry)
        self._port = port

    @property
    def port(self) -> int:
        """The port scrapes go to."""
        return self.endpoint.port

    async def start(self) -> None:
        try:
            await self.endpoint.start()
        except OSError as error:
            raise StartError(f"cannot serve metrics on port {self._port}: {error}") from error

    async def stop(self) -> None:
        await self.endpoint.stop()


class App:
    """A built server: its components, in start order, and what tests look into."""

    def __init__(
        self,
        components: Sequence[Component],
        grpc_server: GrpcServer,
        health_component: Health,
        servicer: object,
        zone_database: zones.ZoneDatabase,
        metrics: Metrics | None,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        """Hold the components of a server that is bound but not yet started.

        ``interceptors`` are those its gRPC server was built with (none unless tracing).
        """
        self.components = tuple(components)
        self.interceptors = tuple(interceptors)
        self._grpc = grpc_server
        self.server = grpc_server.server
        self.health = health_component.servicer
        self.servicer = servicer
        self.zones = zone_database
        self.metrics = metrics
        self._started: list[Component] = []

    @property
    def metrics_endpoint(self) -> _Scrapes | None:
        """The component answering scrapes, if this server has one."""
        found = [c for c in self.components if isinstance(c, _Scrapes)]
        return found[0] if found else None

    async def start(self) -> None:
        """Start every component in order; on a failure, stop those started and raise."""
        for component in self.components:
            logger.debug("starting %s", component.name)
            try:
                await component.start()
            except Exception as error:
                await self.shutdown()
                if isinstance(error, StartError):
                    raise
                raise StartError(f"cannot start the {component.name}: {error}") from error
            self._started.append(component)

    async def shutdown(self, grace: float | None = None) -> None:
        """Drain: stop every started component, the last started first, each step logged.

        ``grace`` overrides the settings' grace for calls in flight.
        """
        if grace is not None:
            self._grpc.grace = grace
        while self._started:
            component = self._started.pop()
            logger.debug("stopping %s", component.name)
            await component.stop()

    async def stop_now(self) -> None:
        """Stop the gRPC server at once, even while a drain is waiting out its grace."""
        await self._grpc.stop_now()


def worker_name() -> str:
    """How this process names itself in trailing metadata: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def create_server(
    settings: ServerSettings, spec: ServiceSpec, *, serve_metrics: bool = True
) -> tuple[App, int]:
    """Build the server for ``spec`` and bind it; return it with the port it got.

    With ``serve_metrics`` off (a worker process) metrics are recorded but a supervisor
    answers the scrapes. Raises RegistrationError if the servicer does not fit its service.
    """
    if problem := check(settings):
        raise ValueError(problem)
    if settings.service is None and spec.entry.options is not None:
        settings = dataclasses.replace(settings, service=spec.entry.options())
    metrics = Metrics() if settings.metrics_port is not None else None
    try:
        traced = tracing.start(settings.otlp_endpoint, spec.entry.prog, worker_name())
    except tracing.TracingError as error:
        raise StartError(str(error)) from None
    interceptors = traced.interceptors if traced is not None else ()
    server = engines.new_server(settings.engine, server_options(settings), interceptors)
    draining = asyncio.Event()
    access = None
    if logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO):
        access = AccessLog(json_lines=settings.log_format == "json")
    observer = Observer(
        metrics,
        access,
        worker_name(),
        draining,
        settings.max_request_bytes,
        trace=traced.finish if traced is not None else None,
    )
    name = spec.descriptor.full_name
    registrar: Any = _Registrar(server, observer, own=name)
    zone_database = zones.load()
    resources = Resources(
        settings=settings,
        zones=zone_database,
        draining=draining,
        registry=metrics.registry if metrics else None,
    )
    service = spec.build(resources)
    add_servicer(registrar, spec.descriptor, service.servicer)

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
    # Tracing stops last, so that the spans of the calls answered while draining go out.
    components: list[Component] = [traced] if traced is not None else []
    if access is not None:
        components.append(AccessLogWriter(access))
    if serve_metrics and metrics is not None and settings.metrics_port is not None:
        components.append(_Scrapes(settings.host, settings.metrics_port, metrics))
    components.extend(service.components)
    hurry = asyncio.Event()
    grpc_server = GrpcServer(server, settings.grace, observer, hurry)
    health_component = Health(
        health_servicer, [name], draining, observer, settings.drain_delay, hurry
    )
    components.append(grpc_server)
    if settings.http_port is not None:
        # After the gRPC server, whose handlers it calls, and before health: it stops
        # (refusing new requests, finishing those in flight) once the drain has begun.
        # Imported here, so that only a server with HTTP/JSON loads aiohttp.
        from chrono_server.http.server import HttpServer

        components.append(
            HttpServer(
                settings,
                spec,
                traced.http_handlers(registrar.handlers) if traced else registrar.handlers,
                observer,
                metrics,
                hurry=hurry,
                grace=lambda: grpc_server.grace,
            )
        )
    components.append(health_component)
    if settings.etcd is not None:
        # After health: registered once SERVING, deleted before NOT_SERVING. Imported
        # here, so that only a server that registers loads the etcd client.
        from chrono_server.registration import Registration

        components.append(Registration(settings, name, port))
    app = App(
        components,
        grpc_server,
        health_component,
        service.servicer,
        zone_database,
        metrics,
        interceptors,
    )
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
            forced.append(loop.create_task(app.stop_now()))
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
        on_ready(port, app.zones.version)
    else:
        logger.info(
            "%s listening on %s (tzdata %s, reflection %s, tls %s, engine %s)",
            spec.entry.prog,
            join_host_port(settings.host, port),
            app.zones.version,
            "on" if settings.reflection else "off",
            ("mtls" if settings.tls_client_ca else "on") if settings.tls else "off",
            settings.engine,
        )
    await stop.wait()
    await app.shutdown()
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
    except (StartError, RegistrationError) as error:
        logger.error("%s", error)
        return 1
    except RuntimeError as error:
        if "Failed to bind" not in str(error):
            raise
        logger.error(
            "cannot listen on %s: the port is in use or the address is not available here",
            settings.address,
        )
        return 1
    logger.info("%s exited cleanly", spec.entry.prog)
    return 0
