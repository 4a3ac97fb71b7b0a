"""What every RPC of every service passes through, in one layer per call.

Each method handler is wrapped once, when it is registered, with everything it needs
(its metric children, its service's error domain, its request parser) bound in advance.
Per call the wrapper reads the clock and the caller's request id, parses the request
itself (grpc would answer a body that does not parse with UNKNOWN and a traceback), refuses
one that is too large or already past its deadline, maps what the servicer raises to a
rich status (:mod:`chrono_server.errors`), and writes the access line and the counters.
Interceptors would redo the method lookup on every call, and a second wrapper would add a
coroutine layer to each.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import grpc

from chrono_domain.errors import DomainError
from chrono_server import errors
from chrono_server.access import AccessLog
from chrono_server.errors import ServiceError, shutting_down, to_status
from chrono_server.metrics import MethodMetrics, Metrics

logger = logging.getLogger(__name__)

REQUEST_ID = "x-request-id"
"""Metadata key of the caller's request id, echoed in the trailing metadata."""

WORKER = "x-chrono-worker"
"""Trailing metadata key naming the server process that answered."""

# A request id longer than this is cut: it goes into every log line.
_MAX_REQUEST_ID = 128

# How long a draining server waits for another service's stream to write its last update.
_LAST_WORD_SECONDS = 1.0

Context = grpc.aio.ServicerContext[Any, Any]
Parse = Callable[[bytes], Any]
T = TypeVar("T")
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]

_OK = "OK"
_INT_CODES = {status.value[0]: status.name for status in grpc.StatusCode}


class _Call:
    """What one call's record needs at its end, read while the call was live.

    grpcio 1.85 dereferences a freed call (SIGSEGV) when ``peer()`` is asked after a
    stream's caller has gone: nothing is read from the context once it may have ended.
    """

    __slots__ = ("peer", "request_id", "started")

    def __init__(self, started: float, request_id: str, peer: str) -> None:
        self.started = started
        self.request_id = request_id
        self.peer = peer


class Observer:
    """Wraps method handlers with parsing, limits, error mapping, access logs and metrics."""

    def __init__(
        self,
        metrics: Metrics | None,
        access: AccessLog | None,
        worker: str,
        draining: asyncio.Event,
        max_request_bytes: int,
        trace: Callable[[str], str] | None = None,
    ) -> None:
        """Record into ``metrics`` and ``access`` (None: off); name the process ``worker``.

        ``draining`` is set when shutdown begins: other services' streams (the health
        Watch) then get one last update written and are ended with UNAVAILABLE, since
        they would otherwise hold the shutdown for its whole grace. Requests larger than
        ``max_request_bytes`` are refused with RESOURCE_EXHAUSTED. ``trace`` (None when
        tracing is off) is given each call's status name as it ends, inside its span, and
        returns the trace id for its access line.
        """
        self._metrics = metrics
        self._trace = trace
        self._access = access
        self._worker = worker
        self._max_bytes = max_request_bytes
        # Unique across processes and restarts without a random draw per call.
        self._prefix = os.urandom(4).hex()
        self._counter = itertools.count(1)
        self._draining = draining
        self._tasks: set[asyncio.Task[Any]] = set()
        self.shutting_down = False
        # Unary calls in flight and when the last one began (perf_counter): a draining
        # server stops only once those calls grpc core had queued are answered.
        self.unary_in_flight = 0
        self.last_unary_start = 0.0

    def wrap(self, method: str, handler: Handler, own: bool) -> Handler:
        """``handler`` for ``method`` (``/package.Service/Method``), observed.

        ``own`` marks chrono's own services; other services' writer-style streams (the
        health Watch) are ended by the wrapper when the server drains.
        """
        domain = method.lstrip("/").rpartition("/")[0]
        parse: Parse = handler.request_deserializer or (lambda data: data)
        behavior: Any
        if handler.request_streaming and handler.response_streaming:
            kind, field, behavior = "bidi_stream", "stream_stream", handler.stream_stream
        elif handler.response_streaming:
            kind, field, behavior = "server_stream", "unary_stream", handler.unary_stream
        elif handler.request_streaming:
            kind, field, behavior = "client_stream", "stream_unary", handler.stream_unary
        else:
            kind, field, behavior = "unary", "unary_unary", handler.unary_unary
        children = self._metrics.method(kind, method) if self._metrics else None
        site = _Site(self, method, domain, parse, children)
        wrapped: Any
        if kind == "unary":
            wrapped = site.unary(behavior)
        elif not handler.response_streaming:
            wrapped = site.client_stream(behavior)
        elif inspect.isasyncgenfunction(behavior):
            wrapped = site.stream(behavior, handler.request_streaming)
        else:
            # Servicers that stream with context.write (grpc's health Watch) return a
            # coroutine, and grpc refuses a generator that wraps one.
            wrapped = site.writer(behavior, track=not own)
        # The wrapper parses: grpc hands it the raw bytes.
        return handler._replace(  # type: ignore[attr-defined, no-any-return]
            request_deserializer=None, **{field: wrapped}
        )

    def begin(self, context: Context, children: MethodMetrics | None, messages: int) -> _Call:
        """Start a call's record: its clock, request id, peer, trailers and counters."""
        started = time.perf_counter()
        if children is not None:
            children.started.inc()
            if messages:
                children.received.inc(messages)
        request_id = ""
        for key, value in context.invocation_metadata() or ():
            if key == REQUEST_ID and isinstance(value, str):
                request_id = value[:_MAX_REQUEST_ID]
                break
        if not request_id:
            request_id = f"{self._prefix}-{next(self._counter):x}"
        context.set_trailing_metadata(((REQUEST_ID, request_id), (WORKER, self._worker)))
        peer = context.peer() if self._access is not None else ""
        return _Call(started, request_id, peer)

    def end(
        self,
        method: str,
        children: MethodMetrics | None,
        context: Context,
        call: _Call,
        error: BaseException | None,
        sent: int,
    ) -> None:
        """Finish a call's record: its status, duration, counters and access line."""
        elapsed = time.perf_counter() - call.started
        code = _code(context, error)
        if children is not None:
            children.handled(code).inc()
            children.seconds.observe(elapsed)
            if sent:
                children.sent.inc(sent)
        trace_id = self._trace(code) if self._trace is not None else ""
        if self._access is not None:
            self._access.record(method, code, elapsed * 1000, call.peer, call.request_id, trace_id)

    def parse(self, parse: Parse, data: bytes, context: Context, name: str) -> Any:
        """The request in ``data``; ServiceError if it is too large, garbled, or expired."""
        if len(data) > self._max_bytes:
            raise ServiceError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the request is {len(data)} bytes; this server accepts at most "
                f"{self._max_bytes} (--max-request-bytes)",
                errors.REQUEST_TOO_LARGE,
            )
        try:
            request = parse(data)
        except Exception:
            raise ServiceError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the request body is not a valid {name} message",
                errors.MALFORMED_REQUEST,
            ) from None
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            # Nobody waits for the answer to a call whose deadline passed before it started.
            raise ServiceError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "the deadline passed before the call started",
                errors.DEADLINE_EXPIRED,
            )
        return request

    def keep(self, task: asyncio.Task[T]) -> asyncio.Task[T]:
        """``task``, referenced until it is done.

        An engine may drop a cancelled call's coroutine without running its cleanup;
        the tasks it started must not then be garbage-collected while still pending.
        """
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def quiet(self, quiet: float, limit: float, hurry: asyncio.Event) -> bool:
        """Wait until no unary call is in flight and none began for ``quiet`` seconds.

        Gives up after ``limit`` seconds (clients that do not watch health never go
        quiet) or when ``hurry`` is set; True if it got quiet.
        """
        deadline = time.perf_counter() + limit
        while not hurry.is_set():
            now = time.perf_counter()
            if self.unary_in_flight == 0 and now - self.last_unary_start >= quiet:
                return True
            if now >= deadline:
                return False
            await asyncio.sleep(min(0.01, deadline - now))
        return False

    async def until_drained(self, behavior: Any, request: Any, context: Context) -> None:
        """Run a writer-style stream until it ends or the server drains, then end it."""
        signal = _WriteSignal(context, self)
        inner = self.keep(asyncio.ensure_future(behavior(request, signal)))
        draining = self.keep(asyncio.ensure_future(self._draining.wait()))
        last_word = self.keep(asyncio.ensure_future(signal.wrote_late.wait()))
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
            raise shutting_down()
        inner.result()


class _Site:
    """One method's wrappers, sharing what was bound at registration."""

    def __init__(
        self,
        observer: Observer,
        method: str,
        domain: str,
        parse: Parse,
        children: MethodMetrics | None,
    ) -> None:
        self.observer = observer
        self.method = method
        self.domain = domain
        self.parse = parse
        self.children = children
        self.name = _request_name(parse)
        # Health checks go on while a server drains; they do not hold its stop.
        self.counted = not domain.startswith("grpc.health.")

    async def fail(self, error: Exception, context: Context) -> NoReturn:
        """Abort the call with the status ``error`` stands for; log a bug once."""
        if isinstance(error, DomainError | ServiceError):
            await context.abort_with_status(to_status(error, self.domain))
        logger.error("%s failed", self.method, exc_info=error)
        await context.abort_with_status(
            errors.rich_status(
                grpc.StatusCode.INTERNAL,
                "internal error; see the server log",
                errors.INTERNAL_ERROR,
                self.domain,
            )
        )
        raise AssertionError("abort returned")  # unreachable: abort raises

    async def settle(self, raised: BaseException, context: Context) -> None:
        """Turn what a call raised into its status: a servicer's error, or a bug."""
        # An abort already carries its status, and a cancelled call has nobody to tell.
        if isinstance(raised, Exception) and not isinstance(raised, grpc.aio.AbortError):
            await self.fail(raised, context)

    def unary(self, behavior: Callable[[Any, Context], Any]) -> Any:
        """The wrapper of a unary method."""
        observer, method, children, parse, name = (
            self.observer,
            self.method,
            self.children,
            self.parse,
            self.name,
        )
        counted = self.counted

        # The hot path: written out, with no coroutine of its own between grpc and the
        # servicer's.
        async def handle(data: bytes, context: Context) -> Any:
            call = observer.begin(context, children, 1)
            if counted:
                observer.unary_in_flight += 1
                observer.last_unary_start = call.started
            error: BaseException | None = None
            try:
                return await behavior(observer.parse(parse, data, context, name), context)
            except BaseException as raised:
                error = raised
                await self.settle(raised, context)
                raise
            finally:
                if counted:
                    observer.unary_in_flight -= 1
                observer.end(method, children, context, call, error, int(error is None))

        return handle

    def stream(self, behavior: Callable[..., AsyncIterator[Any]], streaming_in: bool) -> Any:
        """The wrapper of a method whose servicer is an async generator."""
        observer, method, children = self.observer, self.method, self.children

        async def handle(data: Any, context: Context) -> AsyncIterator[Any]:
            call = observer.begin(context, children, 0 if streaming_in else 1)
            error: BaseException | None = None
            sent = 0
            try:
                request = (
                    self.parsed(data, context)
                    if streaming_in
                    else observer.parse(self.parse, data, context, self.name)
                )
                async for response in behavior(request, context):
                    yield response
                    sent += 1
            except BaseException as raised:
                error = raised
                if isinstance(raised, Exception) and context.done():
                    # The caller left (cancelled, or its deadline passed) as the stream was
                    # failing or being ended: there is nobody to send a status to.
                    logger.debug("%s ended after its caller left: %r", method, raised)
                    return
                await self.settle(raised, context)
                raise
            finally:
                observer.end(method, children, context, call, error, sent)

        return handle

    async def guarded(
        self, context: Context, messages: int, replies: int, work: Callable[[], Any]
    ) -> Any:
        """Run ``work()`` as one call: recorded, and what it raises turned into its status.

        ``messages`` came in with the call; ``replies`` go out when it succeeds.
        """
        call = self.observer.begin(context, self.children, messages)
        error: BaseException | None = None
        try:
            return await work()
        except BaseException as raised:
            error = raised
            await self.settle(raised, context)
            raise
        finally:
            sent = replies if error is None else 0
            self.observer.end(self.method, self.children, context, call, error, sent)

    def writer(self, behavior: Callable[[Any, Context], Any], track: bool) -> Any:
        """The wrapper of a server stream whose servicer writes with ``context.write``."""
        observer = self.observer

        async def handle(data: bytes, context: Context) -> None:
            async def work() -> None:
                request = observer.parse(self.parse, data, context, self.name)
                if track:
                    await observer.until_drained(behavior, request, context)
                else:
                    await behavior(request, context)

            await self.guarded(context, 1, 0, work)

        return handle

    def client_stream(self, behavior: Callable[[Any, Context], Any]) -> Any:
        """The wrapper of a client-streaming method."""

        async def handle(requests: AsyncIterator[bytes], context: Context) -> Any:
            return await self.guarded(
                context, 0, 1, lambda: behavior(self.parsed(requests, context), context)
            )

        return handle

    async def parsed(self, requests: AsyncIterator[bytes], context: Context) -> AsyncIterator[Any]:
        """The messages of a request stream, each parsed and checked as a unary request is."""
        async for data in requests:
            if self.children is not None:
                self.children.received.inc()
            yield self.observer.parse(self.parse, data, context, self.name)


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


def _request_name(parse: Parse) -> str:
    """The full name of the message ``parse`` reads, for error messages."""
    owner = getattr(parse, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "request"))


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
