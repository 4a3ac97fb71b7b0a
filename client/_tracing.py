"""OpenTelemetry spans for the clients' calls, when the standard ``OTEL_*`` variables ask.

Tracing is on when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set, unless ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``; the ``chrono``
command follows the same variables. Off, nothing of OpenTelemetry is imported and channels
get no interceptor. On, each call gets a CLIENT span whose context goes to the server in a
W3C ``traceparent`` (the global propagator's format, ``OTEL_PROPAGATORS``), with the call's
``rpc.grpc.status_code``. Spans go to the tracer provider the application installed, if it
installed one; otherwise to one of this module's, with ``service.name`` ``chrono-client``
(``OTEL_SERVICE_NAME`` wins), exported in batches over OTLP/gRPC and flushed when a client
closes and at exit.

Unary calls go through opentelemetry-instrumentation-grpc's interceptors (grpc.aio's, and
its blocking one); server streams (watches) through this module's, which end the span when
the call ends, with its code: the instrumentation's blocking one hands back a generator that
starts the call only when first read and cannot be cancelled, and its grpc.aio one ends the
span, as OK, only when its generator is finalized.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import grpc

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

logger = logging.getLogger(__name__)

SERVICE_NAME = "chrono-client"
"""The ``service.name`` of the client's spans unless ``OTEL_SERVICE_NAME`` says otherwise."""

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
"""The standard variables that, set, turn tracing on."""

# What makes a provider of this module's differ: a client built after they change (a
# test pointing at another receiver) gets a new one.
_CONFIG_VARIABLES = (*ENDPOINT_VARIABLES, "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES")

_INSTRUMENTATION = "opentelemetry.instrumentation.grpc"
_SCHEMA = "https://opentelemetry.io/schemas/1.11.0"
_FLUSH_MILLIS = 5_000

_lock = threading.Lock()
_own: dict[tuple[str, ...], SdkTracerProvider] = {}


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for tracing: an OTLP endpoint set, and not disabled."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(env.get(name) for name in ENDPOINT_VARIABLES)


def _excluded() -> tuple[str, ...]:
    text = os.environ.get("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES", "")
    return tuple(name.strip() for name in text.split(",") if name.strip())


def tracer_provider() -> TracerProvider | None:
    """The provider the client's spans go to; None when tracing is off.

    The application's, if it set a global one; else this module's for the current
    ``OTEL_*`` settings, made on first use.
    """
    if not enabled():
        return None
    from opentelemetry import trace

    installed = trace.get_tracer_provider()
    if not isinstance(installed, trace.ProxyTracerProvider):
        return installed
    key = tuple(os.environ.get(name, "") for name in _CONFIG_VARIABLES)
    with _lock:
        made = _own.get(key)
        if made is None:
            made = _own[key] = _new_provider()
    return made


def _new_provider() -> SdkTracerProvider:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # The environment's resource attributes (OTEL_SERVICE_NAME first) win over ours.
    resource = Resource.create({"service.name": SERVICE_NAME}).merge(
        OTELResourceDetector().detect()
    )
    # It flushes and shuts down at exit by itself, as the chrono command ends.
    made = TracerProvider(resource=resource)
    made.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    where = next(os.environ[name] for name in ENDPOINT_VARIABLES if os.environ.get(name))
    logger.debug("tracing client calls to %s", where)
    return made


def _filter() -> Callable[[Any], bool] | None:
    """The instrumentation's filter leaving ``OTEL_PYTHON_GRPC_EXCLUDED_SERVICES`` out."""
    excluded = _excluded()
    if not excluded:
        return None
    from opentelemetry.instrumentation.grpc import filters

    return filters.negate(filters.any_of(*(filters.service_name(name) for name in excluded)))


def aio_interceptors() -> list[grpc.aio.ClientInterceptor] | None:
    """The interceptors a grpc.aio channel gets: a span per call; None when tracing is off."""
    provider = tracer_provider()
    if provider is None:
        return None
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    kept = _filter()
    made: list[grpc.aio.ClientInterceptor] = aio_client_interceptors(  # type: ignore[no-untyped-call]
        tracer_provider=provider, filter_=kept
    )
    streams = _AioStreamSpans(_tracer(provider), kept)
    return [
        streams if isinstance(made_one, grpc.aio.UnaryStreamClientInterceptor) else made_one
        for made_one in made
    ]


def _tracer(provider: TracerProvider) -> Tracer:
    """The tracer of the instrumentation's own interceptors, for this module's."""
    from opentelemetry.instrumentation.grpc.version import __version__

    return provider.get_tracer(_INSTRUMENTATION, __version__, _SCHEMA)


def traced_channel(channel: grpc.Channel) -> grpc.Channel:
    """``channel`` with a span per call when tracing is on; ``channel`` itself when off."""
    provider = tracer_provider()
    if provider is None:
        return channel
    from opentelemetry.instrumentation.grpc import client_interceptor
    from opentelemetry.instrumentation.grpc.grpcext import intercept_channel

    excluded = _filter()

    def unary(info: Any) -> bool:
        # Server streams are traced by _StreamSpans, below.
        if getattr(info, "is_server_stream", False):
            return False
        return excluded is None or excluded(info)

    unary_spans = client_interceptor(tracer_provider=provider, filter_=unary)  # type: ignore[no-untyped-call]
    inner = cast(grpc.Channel, intercept_channel(channel, unary_spans))  # type: ignore[no-untyped-call]
    return grpc.intercept_channel(inner, _StreamSpans(_tracer(provider), excluded))


def flushes() -> bool:
    """Whether :func:`flush` has anything to do: a provider of this module's was made."""
    return bool(_own)


def flush() -> None:
    """Export the client spans still waiting (if tracing is on and the provider is ours)."""
    if not _own:
        return
    with _lock:
        providers = list(_own.values())
    for provider in providers:
        provider.force_flush(_FLUSH_MILLIS)


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Any
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


def _stream_span(tracer: Tracer, method: str | bytes) -> tuple[Span, list[tuple[str, str]]]:
    """A started CLIENT span for a stream to ``method``, and the metadata that carries it."""
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind

    # grpc.aio may name the method in bytes (grpc/grpc#31092).
    name = method.decode() if isinstance(method, bytes) else method
    service, _, short = name.lstrip("/").partition("/")
    span = tracer.start_span(
        name,
        kind=SpanKind.CLIENT,
        attributes={
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": short,
            "rpc.grpc.status_code": 0,
        },
    )
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return span, [(key.lower(), value) for key, value in carrier.items()]


def _end(span: Span, code: grpc.StatusCode) -> None:
    """End a stream's span with the code the call ended with."""
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code is not grpc.StatusCode.OK:
        span.set_status(Status(StatusCode.ERROR, code.name))
    span.end()


class _StreamSpans(grpc.UnaryStreamClientInterceptor):
    """A CLIENT span for each blocking server-streaming call, ended when the call ends."""

    def __init__(self, tracer: Tracer, kept: Callable[[Any], bool] | None) -> None:
        self._tracer = tracer
        self._kept = kept

    def intercept_unary_stream(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        details = client_call_details
        if self._kept is not None and not self._kept(details):
            return continuation(details, request)
        span, carried = _stream_span(self._tracer, details.method)
        call = continuation(
            _CallDetails(
                details.method,
                details.timeout,
                [*(details.metadata or ()), *carried],
                details.credentials,
                details.wait_for_ready,
                details.compression,
            ),
            request,
        )
        # A weak reference: the call holds its callbacks, and a cycle through them would
        # leave an unfinished call to the garbage collector (see sync._FirstUpdateLimit).
        ended = _StreamEnd(span, weakref.ref(call))
        if not call.add_callback(ended):
            ended()
        return call


class _StreamEnd:
    """Ends a blocking stream's span with its status code, once the call has ended."""

    def __init__(self, span: Span, call: weakref.ref[Any]) -> None:
        self._span = span
        self._call = call

    def __call__(self) -> None:
        call = self._call()
        # Freed before its end was reported: its caller let go of it, which cancelled it.
        code = call.code() if call is not None else grpc.StatusCode.CANCELLED
        _end(self._span, code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN)


class _AioStreamSpans(grpc.aio.UnaryStreamClientInterceptor):
    """A CLIENT span for each grpc.aio server-streaming call, ended when the call ends.

    The instrumentation's ends its span only when its response generator is finalized,
    and as OK, for a watch its caller cancels.
    """

    def __init__(self, tracer: Tracer, kept: Callable[[Any], bool] | None) -> None:
        self._tracer = tracer
        self._kept = kept
        self._endings: set[asyncio.Task[None]] = set()

    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        details = client_call_details
        if self._kept is not None and not self._kept(details):
            return await continuation(details, request)
        span, carried = _stream_span(self._tracer, details.method)
        metadata = grpc.aio.Metadata(*(details.metadata or ()), *carried)
        new_details = grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )
        try:
            call = await continuation(new_details, request)
        except BaseException:
            _end(span, grpc.StatusCode.UNKNOWN)
            raise
        call.add_done_callback(functools.partial(self._ended, span))
        return call

    def _ended(self, span: Span, call: grpc.aio.Call) -> None:
        # The call is done: its code is at hand, though only through a coroutine.
        task = asyncio.ensure_future(_end_with_code(span, call))
        self._endings.add(task)
        task.add_done_callback(self._endings.discard)


async def _end_with_code(span: Span, call: grpc.aio.Call) -> None:
    _end(span, await call.code())
