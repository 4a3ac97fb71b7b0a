"""OpenTelemetry spans for every RPC a server answers, exported with OTLP; off unless asked for.

Tracing is on when ``--otlp-endpoint`` or the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, and neither ``OTEL_SDK_DISABLED=true`` nor
``OTEL_TRACES_EXPORTER=none`` turns it off. Off, nothing of OpenTelemetry is imported and no
interceptor is installed: a call costs what it did without tracing. On, the
opentelemetry-instrumentation-grpc server interceptor opens a SERVER span per call, a child
of the caller's W3C ``traceparent``; the per-call layer (:mod:`chrono_server.observe`) sets
the span's ``rpc.grpc.status_code`` from the status the call ended with and puts the trace id
in the access line. HTTP/JSON calls, which reach the handlers without an interceptor, get
the same span around the handler (:meth:`Tracing.http_handlers`). Spans go out in batches
over OTLP/gRPC; the rest of the exporter's configuration (headers, certificates, timeout,
sampler, resource attributes) comes from the standard ``OTEL_*`` variables.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import grpc
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    Handler = grpc.RpcMethodHandler[Any, Any]

logger = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
"""The standard variables that, set, turn tracing on (the first names the traces' own)."""

STATUS_CODE = "rpc.grpc.status_code"
"""The span attribute holding the call's numeric gRPC status code."""

# The gRPC status codes by number, as the gRPC specification fixes them.
_CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
_NUMBERS = {name: number for number, name in enumerate(_CODES)}
# The codes that make a server span an error, per OpenTelemetry's RPC conventions: the
# others are the caller's to fix, and leave the server's span status unset.
_SERVER_ERRORS = frozenset(
    ("UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS")
)
_INSTRUMENTATION = "opentelemetry.instrumentation.grpc"
_SCHEMA = "https://opentelemetry.io/schemas/1.11.0"


class TracingError(Exception):
    """Tracing was asked for but cannot start: its packages are missing, or a variable is wrong."""


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def wanted(endpoint: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether to trace: an ``endpoint`` (the flag) or a standard variable, and not disabled."""
    env = os.environ if environ is None else environ
    if _true(env.get("OTEL_SDK_DISABLED")):
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(endpoint) or any(env.get(name) for name in ENDPOINT_VARIABLES)


def excluded_services(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The services ``OTEL_PYTHON_GRPC_EXCLUDED_SERVICES`` (comma-separated) leaves untraced."""
    env = os.environ if environ is None else environ
    text = env.get("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES", "")
    return tuple(name.strip() for name in text.split(",") if name.strip())


def provider(service_name: str, endpoint: str | None, instance: str = "") -> TracerProvider:
    """A tracer provider exporting in batches over OTLP/gRPC to ``endpoint``.

    ``endpoint`` None: the exporter reads the standard variables. ``service_name`` is the
    resource's ``service.name`` unless ``OTEL_SERVICE_NAME`` (or ``service.name`` in
    ``OTEL_RESOURCE_ATTRIBUTES``) says otherwise; ``instance`` its ``service.instance.id``.
    Raises TracingError if the OpenTelemetry SDK or OTLP exporter is not installed, or if
    the exporter's variables are wrong.
    """
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as error:
        raise TracingError(
            f"tracing needs the OpenTelemetry SDK and OTLP exporter ({error.name} is missing): "
            "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc "
            "opentelemetry-instrumentation-grpc"
        ) from None
    ours = {"service.name": service_name, **({"service.instance.id": instance} if instance else {})}
    # The environment's resource attributes (OTEL_SERVICE_NAME first) win over ours.
    resource = Resource.create(ours).merge(OTELResourceDetector().detect())
    # The server shuts it down itself, last, so that the last calls' spans go out.
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    try:
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
    except Exception as error:  # an OTEL_BSP_* or OTEL_EXPORTER_OTLP_* value it refuses
        raise TracingError(f"cannot export spans: {error}") from None
    tracer_provider.add_span_processor(processor)
    return tracer_provider


def grpc_tracer(tracer_provider: TracerProvider) -> Tracer:
    """The tracer the gRPC instrumentation's own interceptors use, from ``tracer_provider``."""
    try:
        from opentelemetry.instrumentation.grpc.version import __version__
    except ImportError:
        raise TracingError(
            "tracing needs opentelemetry-instrumentation-grpc: "
            "pip install opentelemetry-instrumentation-grpc"
        ) from None
    return tracer_provider.get_tracer(_INSTRUMENTATION, __version__, _SCHEMA)


@functools.cache
def _interceptor_class() -> Callable[..., grpc.aio.ServerInterceptor]:
    """The instrumentation's grpc.aio server interceptor, taught writer-style streams.

    Its stream wrapper iterates the handler, which a stream that writes with
    ``context.write`` (grpc's health Watch, served to every health-checking client) is not:
    such a handler is a coroutine, and is wrapped as a unary one is.
    """
    from opentelemetry.instrumentation.grpc._aio_server import OpenTelemetryAioServerInterceptor

    class Interceptor(OpenTelemetryAioServerInterceptor):
        def _intercept_aio_server_stream(self, behavior: Any, handler_call_details: Any) -> Any:
            if inspect.isasyncgenfunction(behavior):
                return super()._intercept_aio_server_stream(behavior, handler_call_details)  # type: ignore[no-untyped-call]
            return self._intercept_aio_server_unary(behavior, handler_call_details)  # type: ignore[no-untyped-call]

    return Interceptor


def server_interceptor(
    tracer: Tracer, excluded: tuple[str, ...] = ()
) -> grpc.aio.ServerInterceptor:
    """A grpc.aio server interceptor opening a SERVER span per call, except for ``excluded``."""
    from opentelemetry.instrumentation.grpc import filters

    kept = None
    if excluded:
        kept = filters.negate(filters.any_of(*(filters.service_name(name) for name in excluded)))
    return _interceptor_class()(tracer, kept)


def finish_span(code: str) -> str:
    """Give the current span the call's status ``code`` (a name); its trace id, or "".

    The per-call layer ends every call with ``abort_with_status``, which the
    instrumentation does not see: without this a failed call's span would read OK.
    """
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    span = trace.get_current_span()
    context = span.get_span_context()
    if not context.is_valid:
        return ""
    span.set_attribute(STATUS_CODE, _NUMBERS.get(code, 2))
    if code in _SERVER_ERRORS:
        span.set_status(Status(StatusCode.ERROR, code))
    return format(context.trace_id, "032x")


def _http_span(tracer: Tracer, path: str, context: Any) -> AbstractContextManager[Span]:
    """A current SERVER span for an HTTP/JSON call of ``path``, under its ``traceparent``."""
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    carrier = {
        key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)
    }
    service, _, method = path.lstrip("/").partition("/")
    return tracer.start_as_current_span(
        path,
        context=propagate.extract(carrier),
        kind=SpanKind.SERVER,
        attributes={
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": method,
            STATUS_CODE: 0,
            "network.protocol.name": "http",
        },
        # The per-call layer sets the status, from the code the call ended with.
        record_exception=False,
        set_status_on_exception=False,
    )


class Tracing:
    """A server's tracing, as a component: its interceptor, and the provider flushed at stop.

    It starts first and stops last, after the gRPC server, so that the spans of the
    calls answered during the drain are exported too.
    """

    name = "tracing"

    def __init__(self, tracer_provider: TracerProvider, excluded: tuple[str, ...] = ()) -> None:
        """Trace with ``tracer_provider``, leaving the ``excluded`` services untraced."""
        self.provider = tracer_provider
        self._tracer = grpc_tracer(tracer_provider)
        self.interceptors: tuple[grpc.aio.ServerInterceptor, ...] = (
            server_interceptor(self._tracer, excluded),
        )
        self.finish: Callable[[str], str] = finish_span
        """What the per-call layer calls as a call ends: see :func:`finish_span`."""

    def http_handlers(self, handlers: Mapping[str, Handler]) -> dict[str, Handler]:
        """``handlers`` (by gRPC path) as HTTP/JSON calls them: each call in a SERVER span.

        The listener calls the observed handlers itself, where no interceptor sees the
        call; the span is a child of the request's ``traceparent`` header, named and
        attributed as the gRPC call's, with ``network.protocol.name`` ``http``.
        """
        return {path: self._http_handler(path, handler) for path, handler in handlers.items()}

    def _http_handler(self, path: str, handler: Handler) -> Handler:
        tracer = self._tracer
        if handler.unary_unary is not None:
            unary = handler.unary_unary

            async def traced_unary(request: Any, context: Any) -> Any:
                with _http_span(tracer, path, context):
                    return await unary(request, context)

            return handler._replace(unary_unary=traced_unary)  # type: ignore[attr-defined, no-any-return]
        streaming = handler.unary_stream
        if streaming is not None and inspect.isasyncgenfunction(streaming):

            async def traced_stream(request: Any, context: Any) -> Any:
                with _http_span(tracer, path, context):
                    async for response in streaming(request, context):
                        yield response

            return handler._replace(unary_stream=traced_stream)  # type: ignore[attr-defined, no-any-return]
        # HTTP/JSON serves no other kind.
        return handler

    async def start(self) -> None:
        """Nothing to start: the provider's export thread runs from its creation."""

    async def stop(self) -> None:
        """Export the spans still waiting, then shut the provider down."""
        await asyncio.to_thread(self.provider.shutdown)
        logger.info("tracing stopped; spans exported")


def start(
    endpoint: str | None,
    service_name: str,
    instance: str = "",
    environ: Mapping[str, str] | None = None,
) -> Tracing | None:
    """The server's tracing if :func:`wanted`, else None (and nothing imported).

    Raises TracingError if tracing is wanted but cannot start.
    """
    env = os.environ if environ is None else environ
    if not wanted(endpoint, env):
        return None
    tracing = Tracing(provider(service_name, endpoint, instance), excluded_services(env))
    logger.info(
        "exporting spans over OTLP to %s",
        endpoint or next(env[n] for n in ENDPOINT_VARIABLES if env.get(n)),
    )
    return tracing
