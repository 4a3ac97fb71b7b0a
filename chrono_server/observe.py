"""What every RPC passes through: request id, deadline check, access log line, metrics.

Each method handler is wrapped once, when it is registered, with everything it needs
(its metric children, its log fields) bound in advance; per call there is a clock read,
a metadata scan, and the log line and counters themselves. Interceptors would redo the
method lookup on every call.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from chrono_server.access import AccessLog
from chrono_server.metrics import MethodMetrics, Metrics

logger = logging.getLogger(__name__)

REQUEST_ID = "x-request-id"
"""Metadata key of the caller's request id, echoed in the trailing metadata."""

WORKER = "x-chrono-worker"
"""Trailing metadata key naming the server process that answered."""

# A request id longer than this is cut: it goes into every log line.
_MAX_REQUEST_ID = 128

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]

_OK = "OK"


class Observer:
    """Wraps method handlers with request ids, deadline checks, access logs and metrics."""

    def __init__(
        self,
        metrics: Metrics | None,
        access: AccessLog | None,
        worker: str,
        draining: asyncio.Event,
    ) -> None:
        """Record into ``metrics`` and ``access`` (None: off); name the process ``worker``.

        ``draining`` is set when shutdown begins: other services' streams (the health
        Watch) then get one last update written and are ended with UNAVAILABLE, since
        they would otherwise hold the shutdown for its whole grace.
        """
        self._metrics = metrics
        self._access = access
        self._worker = worker
        # Unique across processes and restarts without a random draw per call.
        self._prefix = os.urandom(4).hex()
        self._counter = itertools.count(1)
        self._draining = draining
        self._tasks: set[asyncio.Task[Any]] = set()
        self.shutting_down = False

    def wrap(self, method: str, handler: Handler, own: bool) -> Handler:
        """``handler`` for ``method`` (``/package.Service/Method``), observed."""
        behavior: Any
        if handler.request_streaming and handler.response_streaming:
            kind, behavior = "bidi_stream", handler.stream_stream
        elif handler.response_streaming:
            kind, behavior = "server_stream", handler.unary_stream
        elif handler.request_streaming:
            kind, behavior = "client_stream", handler.stream_unary
        else:
            kind, behavior = "unary", handler.unary_unary
        children = self._metrics.method(kind, method) if self._metrics else None
        wrapped: Any
        if handler.response_streaming:
            wrapped = self._stream(
                method, behavior, children, track=not own, one_request=not handler.request_streaming
            )
        else:
            wrapped = self._unary(method, behavior, children)
        field = {
            "unary": "unary_unary",
            "server_stream": "unary_stream",
            "client_stream": "stream_unary",
            "bidi_stream": "stream_stream",
        }[kind]
        return handler._replace(**{field: wrapped})  # type: ignore[attr-defined, no-any-return]

    def _begin(
        self, context: Context, children: MethodMetrics | None, one_request: bool
    ) -> tuple[float, str, str]:
        """Start a call's record: its clock, request id, peer, trailers and counters.

        Whatever the end of the call needs from the context is read here, while the
        call is live: grpcio 1.85 dereferences a freed call (SIGSEGV) when ``peer()`` is
        asked after a stream's caller has gone.
        """
        started = time.perf_counter()
        if children is not None:
            children.started.inc()
            if one_request:
                children.received.inc()
        request_id = ""
        for key, value in context.invocation_metadata() or ():
            if key == REQUEST_ID and isinstance(value, str):
                request_id = value[:_MAX_REQUEST_ID]
                break
        if not request_id:
            request_id = f"{self._prefix}-{next(self._counter):x}"
        context.set_trailing_metadata(((REQUEST_ID, request_id), (WORKER, self._worker)))
        peer = context.peer() if self._access is not None else ""
        return started, request_id, peer

    def _end(
        self,
        method: str,
        children: MethodMetrics | None,
        context: Context,
        error: BaseException | None,
        started: float,
        request_id: str,
        peer: str,
        sent: int,
    ) -> None:
        elapsed = time.perf_counter() - started
        code = _code(context, error)
        if children is not None:
            children.handled(code).inc()
            children.seconds.observe(elapsed)
            if sent:
                children.sent.inc(sent)
        if self._access is not None:
            self._access.record(method, code, elapsed * 1000, peer, request_id)

    def _unary(
        self,
        method: str,
        behavior: Callable[[Any, Context], Awaitable[Any]],
        children: MethodMetrics | None,
    ) -> Callable[[Any, Context], Awaitable[Any]]:
        async def observed(request: Any, context: Context) -> Any:
            started, request_id, peer = self._begin(context, children, one_request=True)
            error: BaseException | None = None
            try:
                await _refuse_if_expired(context)
                return await behavior(request, context)
            except BaseException as raised:
                error = raised
                raise
            finally:
                self._end(
                    method, children, context, error, started, request_id, peer, int(error is None)
                )

        return observed

    def _stream(
        self,
        method: str,
        behavior: Callable[[Any, Context], AsyncIterator[Any]],
        children: MethodMetrics | None,
        track: bool,
        one_request: bool,
    ) -> Callable[[Any, Context], AsyncIterator[Any]]:
        async def observed(request: Any, context: Context) -> AsyncIterator[Any]:
            started, request_id, peer = self._begin(context, children, one_request)
            error: BaseException | None = None
            sent = 0
            try:
                await _refuse_if_expired(context)
                async for response in behavior(request, context):
                    yield response
                    sent += 1
            except BaseException as raised:
                error = raised
                raise
            finally:
                self._end(method, children, context, error, started, request_id, peer, sent)

        async def observed_writer(request: Any, context: Context) -> None:
            # Servicers that stream with context.write (grpc's health Watch) return a
            # coroutine, and grpc refuses a generator that wraps one.
            started, request_id, peer = self._begin(context, children, one_request)
            error: BaseException | None = None
            try:
                await _refuse_if_expired(context)
                if track:
                    await self._until_drained(behavior, request, context)
                else:
                    await behavior(request, context)  # type: ignore[misc]
            except BaseException as raised:
                error = raised
                raise
            finally:
                self._end(method, children, context, error, started, request_id, peer, 0)

        return observed if inspect.isasyncgenfunction(behavior) else observed_writer  # type: ignore[return-value]

    def _keep(self, task: asyncio.Task[T]) -> asyncio.Task[T]:
        """``task``, referenced until it is done.

        An engine may drop a cancelled call's coroutine without running its cleanup;
        the tasks it started must not then be garbage-collected while still pending.
        """
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _until_drained(self, behavior: Any, request: Any, context: Context) -> None:
        """Run a writer-style stream until it ends or the server drains, then end it."""
        signal = _WriteSignal(context, self)
        inner = self._keep(asyncio.ensure_future(behavior(request, signal)))
        draining = self._keep(asyncio.ensure_future(self._draining.wait()))
        last_word = self._keep(asyncio.ensure_future(signal.wrote_late.wait()))
        helpers = (inner, draining, last_word)
        try:
            await asyncio.wait((inner, draining), return_when=asyncio.FIRST_COMPLETED)
            if not inner.done():
                # Let the NOT_SERVING update go out first; a stream with nothing more to
                # say is ended after a moment anyway.
                await asyncio.wait(
                    (inner, last_word),
                    timeout=_LAST_WORD_SECONDS,
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            # Every helper task ends here, so that none is left pending at loop close.
            for task in helpers:
                task.cancel()
            await asyncio.wait(helpers)
            if not inner.cancelled() and inner.exception() is not None:
                # Mark it seen: when the caller has left, the last write fails, and
                # asyncio would otherwise log that as an exception never retrieved.
                logger.debug("stream ended after its caller left: %r", inner.exception())
        if inner.cancelled():
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, "the server is shutting down; reconnect"
            )
        inner.result()


class _WriteSignal:
    """A servicer context that notes each message written once shutdown has begun."""

    def __init__(self, context: Context, observer: Observer) -> None:
        self._context = context
        self._observer = observer
        self.wrote_late = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        if self._observer.shutting_down:
            self.wrote_late.set()


# How long a draining server waits for another service's stream to write its last update.
_LAST_WORD_SECONDS = 1.0


async def _refuse_if_expired(context: Context) -> None:
    """End a call whose deadline passed before it started: nobody waits for its answer."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        await context.abort(
            grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed before the call started"
        )


def _code(context: Context, error: BaseException | None) -> str:
    """The status name a call ended with."""
    if error is None:
        return _OK
    if isinstance(error, asyncio.CancelledError):
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0
        return "DEADLINE_EXCEEDED" if expired else "CANCELLED"
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    return _INT_CODES.get(code, "UNKNOWN") if isinstance(code, int) else "UNKNOWN"


_INT_CODES = {status.value[0]: status.name for status in grpc.StatusCode}
