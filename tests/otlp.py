"""An OTLP/gRPC trace receiver for tests: a real collector endpoint that keeps what it gets.

It serves ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` on 127.0.0.1:0, as
an OpenTelemetry Collector would, and keeps every span of every export request, flattened
with its resource's ``service.name``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

EXPORT = "opentelemetry.proto.collector.trace.v1.TraceService"

SERVER = trace_pb2.Span.SPAN_KIND_SERVER
CLIENT = trace_pb2.Span.SPAN_KIND_CLIENT


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived: ids in hex, attributes as Python values."""

    service: str
    """The ``service.name`` of the resource that sent it."""
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status: int
    """The span status code: 0 unset, 1 ok, 2 error."""


def _value(value: common_pb2.AnyValue) -> Any:
    which = value.WhichOneof("value")
    return None if which is None else getattr(value, which)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


class OtlpReceiver:
    """A started OTLP/gRPC trace receiver; :meth:`stop` it (or use it in a ``with`` block)."""

    def __init__(self) -> None:
        """Start serving on a free port of 127.0.0.1."""
        self._spans: list[ReceivedSpan] = []
        self._arrived = threading.Condition()
        self.requests = 0
        handler = grpc.method_handlers_generic_handler(
            EXPORT,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self._export,
                    request_deserializer=trace_service_pb2.ExportTraceServiceRequest.FromString,
                    response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
                )
            },
        )
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    @property
    def endpoint(self) -> str:
        """The URL an OTLP/gRPC exporter is given: plaintext, as ``http://``."""
        return f"http://127.0.0.1:{self.port}"

    def _export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received: list[ReceivedSpan] = []
        for resource_spans in request.resource_spans:
            service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                received.extend(
                    ReceivedSpan(
                        service=service,
                        name=span.name,
                        kind=span.kind,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes=_attributes(span.attributes),
                        status=span.status.code,
                    )
                    for span in scope_spans.spans
                )
        with self._arrived:
            self.requests += 1
            self._spans.extend(received)
            self._arrived.notify_all()
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far."""
        with self._arrived:
            return list(self._spans)

    def wait_for(
        self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float = 10
    ) -> list[ReceivedSpan]:
        """The spans received once ``predicate`` holds of them; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not predicate(self._spans):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no such spans within {timeout}s: {self._spans}")
                self._arrived.wait(left)
            return list(self._spans)

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop(0).wait(5)

    def __enter__(self) -> OtlpReceiver:
        """The started receiver."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the receiver."""
        self.stop()
