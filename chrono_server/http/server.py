"""The HTTP/JSON listener: every annotated RPC of a service, on ``--http-port``.

It runs on the gRPC server's event loop (aiohttp's low-level server) and answers each
request by calling the very handler gRPC calls for the method, the one the per-call layer
(:mod:`chrono_server.observe`) wraps: the request is transcoded from JSON, serialized
and handed over with an :class:`~chrono_server.http.context.HttpContext`, so that an HTTP
call is parsed, limited, timed, authorized, logged and counted as a gRPC call is.
Requests that do not make a request message (malformed JSON, an unknown field, a body
over ``--max-request-bytes``) are refused with 400 and an access line of their method.

A server-streaming method answers newline-delimited JSON (``application/x-ndjson``): one
message a line, written as it is sent. A stream that ends with an error (the server
draining: UNAVAILABLE; the deadline: DEADLINE_EXCEEDED) ends with one last line,
``{"error": {...}}``, the error body of a failed unary call, and then closes cleanly.

The caller's deadline is the ``grpc-timeout`` header (gRPC's form: ``5S``, ``250m``) or
``X-Server-Timeout`` (seconds, as Google's HTTP APIs take it), the shorter if both.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import re
import socket
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import grpc
from aiohttp import web
from google.protobuf.message import Message

from chrono_server import errors
from chrono_server.config import ServerSettings, join_host_port
from chrono_server.handlers import RegistrationError
from chrono_server.http.context import Aborted, HttpContext, context_for, peer
from chrono_server.http.status import HttpError, rich
from chrono_server.http.transcode import (
    Found,
    NoRouteError,
    RequestError,
    Route,
    RouteTable,
    TemplateError,
    build_request,
    parse_template,
    response_json,
)
from chrono_server.metrics import MethodMetrics, Metrics
from chrono_server.observe import Observer
from chrono_server.spec import LegacyRoute, ServiceSpec

if TYPE_CHECKING:
    from chrono_server.observe import Handler

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 75.0
"""How long an idle keep-alive connection stays open."""

BACKLOG = 1024
"""The listen queue."""

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"

_JSON = "application/json"
_NDJSON = "application/x-ndjson"
_READ_CHUNK = 16 * 1024
_TOKENS = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*")
_EXPOSED = "x-request-id, x-chrono-worker"
_PREFLIGHT_MAX_AGE = "600"

PATH_NOT_FOUND = "HTTP_PATH_NOT_FOUND"
METHOD_NOT_ALLOWED = "HTTP_METHOD_NOT_ALLOWED"
ORIGIN_NOT_ALLOWED = "CORS_ORIGIN_NOT_ALLOWED"


class _QuietLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's connection log, with its tracebacks for malformed requests made debug lines.

    aiohttp logs a request it cannot parse (a garbled request line, headers too long)
    with a traceback; the client was answered 400, and the server has nothing to fix.
    """

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.pop("exc_info", None)
        self.debug("%s: %r", str(msg) % args if args else msg, error)


@dataclass(frozen=True)
class _Method:
    """What calling one method needs: its observed handler and its metric children."""

    handler: Any
    """The observed grpc method handler (its ``unary_unary`` or ``unary_stream``)."""
    children: MethodMetrics | None


@dataclass(frozen=True)
class _Legacy:
    """A legacy GET path: the route it stands for and the answer's keys and fields."""

    route: Route
    answer: Mapping[str, str]


class _RefusedError(Exception):
    """Answer with ``error`` without calling any method."""

    def __init__(self, error: HttpError) -> None:
        super().__init__(error.message)
        self.error = error


class HttpServer:
    """The HTTP/JSON listener as a server component."""

    name = "HTTP/JSON listener"

    def __init__(
        self,
        settings: ServerSettings,
        spec: ServiceSpec,
        handlers: Mapping[str, Handler],
        observer: Observer,
        metrics: Metrics | None,
        *,
        hurry: asyncio.Event,
        grace: Callable[[], float],
    ) -> None:
        """Route ``spec``'s annotated methods to their observed ``handlers`` (by gRPC path).

        ``grace()`` is how long requests in flight may finish on stop; ``hurry`` set cuts
        that short. Raises RegistrationError if an annotation cannot be served.
        """
        if settings.http_port is None:
            raise ValueError("the HTTP/JSON listener needs --http-port")
        self._host = settings.host
        self.port: int = settings.http_port
        """The port served: the one the kernel chose for 0, once started."""
        self._reuse_port = settings.workers > 1
        self._max_bytes = settings.max_request_bytes
        self._origins = frozenset(settings.http_cors_origins)
        self._observer = observer
        self._hurry = hurry
        self._grace = grace
        self._service = spec.descriptor.full_name
        try:
            self.table = RouteTable.from_service(spec.descriptor)
        except TemplateError as error:
            raise RegistrationError(str(error)) from None
        self._legacy = {route.path: _legacy(spec, route) for route in spec.legacy_routes}
        self._methods: dict[str, _Method] = {}
        for route in (*self.table.routes, *(legacy.route for legacy in self._legacy.values())):
            handler = handlers.get(route.full_method)
            if handler is None:
                raise RegistrationError(f"{route.full_method} has an HTTP route but no handler")
            kind = "server_stream" if route.streaming else "unary"
            children = metrics.method(kind, route.full_method) if metrics is not None else None
            self._methods[route.full_method] = _Method(handler, children)
        self._openapi: bytes | None = None
        self._server: web.Server | None = None
        self._listener: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind and serve on the running loop; OSError if the port is taken."""
        family, kind, proto, _, address = socket.getaddrinfo(
            self._host.strip("[]"), self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self._reuse_port:
                # Workers share the port, as they share the gRPC one.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._server = web.Server(
            self._handle,
            handler_cancellation=True,
            access_log=None,
            keepalive_timeout=KEEPALIVE_SECONDS,
            logger=_QuietLog(logging.getLogger(f"{__name__}.connections"), {}),
        )
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(self._server, sock=sock, backlog=BACKLOG)
        logger.info("HTTP/JSON on http://%s", join_host_port(self._host, self.port))

    @property
    def accepting(self) -> bool:
        """Whether new connections are taken: from start until stop begins."""
        return self._listener is not None and self._listener.is_serving()

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish within the grace, close the rest."""
        if self._listener is not None:
            self._listener.close()
        if self._server is not None:
            # Idle keep-alive connections close now, busy ones once their answer is out;
            # without this an idle one would hold the stop for the whole grace.
            self._server.pre_shutdown()
            # aiohttp reads a timeout of 0 as none at all.
            grace = max(self._grace(), 0.001)
            shutdown = asyncio.ensure_future(self._server.shutdown(grace))
            hurry = asyncio.ensure_future(self._hurry.wait())
            await asyncio.wait((shutdown, hurry), return_when=asyncio.FIRST_COMPLETED)
            if not shutdown.done():
                for connection in self._server.connections:
                    connection.force_close()
                await shutdown
            hurry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hurry
            self._server = None
        if self._listener is not None:
            await self._listener.wait_closed()
            self._listener = None
        logger.info("HTTP/JSON stopped")

    # Dispatch.

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        cors = self._cors(request)
        try:
            return await self._dispatch(request, cors)
        except _RefusedError as refused:
            return _error_response(refused.error, cors)
        except Exception:
            logger.exception("HTTP %s %s failed", request.method, request.path)
            error = rich(
                grpc.StatusCode.INTERNAL,
                "internal error; see the server log",
                errors.INTERNAL_ERROR,
                self._service,
            )
            return _error_response(error, cors)

    async def _dispatch(
        self, request: web.BaseRequest, cors: list[tuple[str, str]]
    ) -> web.StreamResponse:
        path, _, query = request.raw_path.partition("?")
        if not path.startswith("/"):
            path, query = request.rel_url.raw_path, request.rel_url.raw_query_string
        method = request.method
        if (
            method == "OPTIONS"
            and self._origins
            and "Origin" in request.headers
            and "Access-Control-Request-Method" in request.headers
        ):
            return self._preflight(request, path)
        if path == OPENAPI_PATH:
            self._only_get(method, path)
            return _ok(self._openapi_document(), _JSON, cors)
        if path == DOCS_PATH or path.startswith(DOCS_PATH + "/"):
            self._only_get(method, path)
            return self._docs(path, cors)
        legacy = self._legacy.get(path)
        if legacy is not None:
            self._only_get(method, path)
            return await self._call(request, Found(legacy.route, ()), query, cors, legacy.answer)
        try:
            found = self.table.find(method, path)
        except NoRouteError as missing:
            raise _RefusedError(self._no_route(method, path, missing.allowed)) from None
        except RequestError as error:
            raise _RefusedError(self._bad_request(error)) from None
        return await self._call(request, found, query, cors)

    def _allowed(self, path: str) -> tuple[str, ...]:
        if path in self._legacy or path in (OPENAPI_PATH, DOCS_PATH):
            return ("GET",)
        if path.startswith(DOCS_PATH + "/"):
            return ("GET",)
        return self.table.allowed(path)

    def _only_get(self, method: str, path: str) -> None:
        if method != "GET":
            raise _RefusedError(self._no_route(method, path, ("GET",)))

    def _no_route(self, method: str, path: str, allowed: tuple[str, ...]) -> HttpError:
        shown = urllib.parse.unquote(path)
        shown = shown if len(shown) <= 200 else f"{shown[:200]}..."
        if not allowed:
            return rich(
                grpc.StatusCode.NOT_FOUND,
                f"nothing is served at {shown}: the API's paths are listed at {OPENAPI_PATH}",
                PATH_NOT_FOUND,
                self._service,
            )
        return rich(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{shown} does not take {method}; it takes {', '.join(allowed)}",
            METHOD_NOT_ALLOWED,
            self._service,
            http_status=405,
            headers=(("Allow", ", ".join(allowed)),),
        )

    def _bad_request(self, error: RequestError) -> HttpError:
        return rich(
            grpc.StatusCode.INVALID_ARGUMENT,
            error.message,
            errors.MALFORMED_REQUEST,
            self._service,
            field_name=error.field,
        )

    # CORS.

    def _origin_allowed(self, origin: str) -> bool:
        return "*" in self._origins or origin.lower().rstrip("/") in self._origins

    def _cors(self, request: web.BaseRequest) -> list[tuple[str, str]]:
        """The CORS headers of every answer to ``request``: none unless origins are listed."""
        if not self._origins:
            return []
        headers = [("Vary", "Origin")]
        origin = request.headers.get("Origin")
        if origin is not None and self._origin_allowed(origin):
            headers += [
                ("Access-Control-Allow-Origin", "*" if "*" in self._origins else origin),
                ("Access-Control-Expose-Headers", _EXPOSED),
            ]
        return headers

    def _preflight(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        origin = request.headers["Origin"]
        if not self._origin_allowed(origin):
            raise _RefusedError(
                rich(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"origin {origin[:200]!r} may not call this API: it is not one of "
                    "--http-cors-origins",
                    ORIGIN_NOT_ALLOWED,
                    self._service,
                )
            )
        allowed = self._allowed(path)
        if not allowed:
            raise _RefusedError(self._no_route("OPTIONS", path, ()))
        headers = [
            *self._cors(request),
            ("Access-Control-Allow-Methods", ", ".join(allowed)),
            ("Access-Control-Max-Age", _PREFLIGHT_MAX_AGE),
        ]
        asked = request.headers.get("Access-Control-Request-Headers", "").strip()
        if asked and _TOKENS.fullmatch(asked):
            headers.append(("Access-Control-Allow-Headers", asked))
        return web.Response(status=204, headers=headers)

    # The API's description.

    def _openapi_document(self) -> bytes:
        if self._openapi is None:
            name = "chrono_server.http.openapi"
            try:
                module = importlib.import_module(name)
                self._openapi = cast(bytes, module.document(self._service))
            except ModuleNotFoundError as error:
                if error.name != name:
                    raise
                raise _RefusedError(self._missing("this server has no OpenAPI document")) from None
            except LookupError as error:
                raise _RefusedError(self._missing(f"no OpenAPI document: {error}")) from None
        return self._openapi

    def _docs(self, path: str, cors: list[tuple[str, str]]) -> web.StreamResponse:
        relative = urllib.parse.unquote(path[len(DOCS_PATH) + 1 :])
        name = "chrono_server.http.docs"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            raise _RefusedError(self._missing("this server has no documentation pages")) from None
        found = None if "\0" in relative else module.asset(relative)
        if found is None:
            raise _RefusedError(self._no_route("GET", path, ()))
        body, content_type = found
        return _ok(body, content_type, cors)

    def _missing(self, message: str) -> HttpError:
        return rich(grpc.StatusCode.NOT_FOUND, message, PATH_NOT_FOUND, self._service)

    # Calls.

    async def _call(
        self,
        request: web.BaseRequest,
        found: Found,
        query: str,
        cors: list[tuple[str, str]],
        answer: Mapping[str, str] | None = None,
    ) -> web.StreamResponse:
        route = found.route
        method = self._methods[route.full_method]
        loop = asyncio.get_running_loop()
        try:
            context = context_for(request, loop)
        except RequestError as error:
            bare = HttpContext((), peer(request), None, loop)
            return self._refuse(route, method, bare, self._bad_request(error), cors)
        try:
            body = await self._read_body(request)
            message = build_request(found, query, body)
        except RequestError as error:
            return self._refuse(route, method, context, self._bad_request(error), cors)
        data = message.SerializeToString()
        if route.streaming:
            return await self._stream(request, route, method, data, context, cors)
        try:
            async with asyncio.timeout_at(context.deadline):
                response = await method.handler.unary_unary(data, context)
        except Aborted as aborted:
            return _error_response(aborted.error, cors, context)
        except TimeoutError:
            return _error_response(_deadline_exceeded(self._service), cors, context)
        finally:
            context.finish()
        if answer is not None:
            return _ok(_legacy_json(response, answer), _JSON, cors, context)
        body = response_json(route, response)
        return _ok(body, _JSON, cors, context)

    def _refuse(
        self,
        route: Route,
        method: _Method,
        context: HttpContext,
        error: HttpError,
        cors: list[tuple[str, str]],
    ) -> web.StreamResponse:
        """Answer ``error`` for a request that made no message, recorded as its method's call."""
        call = self._observer.begin(context, method.children, 1)
        context.set_code(error.code)
        refused = _RefusedError(error)
        self._observer.end(route.full_method, method.children, context, call, refused, 0)
        context.finish()
        return _error_response(error, cors, context)

    async def _read_body(self, request: web.BaseRequest) -> bytes:
        if not request.body_exists:
            return b""
        limit = self._max_bytes
        length = request.content_length
        if length is not None and length > limit:
            raise RequestError(
                f"the request body is {length} bytes; this server takes at most {limit} "
                "(--max-request-bytes)"
            )
        if request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.content.iter_chunked(_READ_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise RequestError(
                        f"the request body is over {limit} bytes, the most this server takes "
                        "(--max-request-bytes)"
                    )
                chunks.append(chunk)
        except web.RequestPayloadError as error:
            raise RequestError(f"the request body cannot be read: {error}") from None
        return b"".join(chunks)

    async def _stream(
        self,
        request: web.BaseRequest,
        route: Route,
        method: _Method,
        data: bytes,
        context: HttpContext,
        cors: list[tuple[str, str]],
    ) -> web.StreamResponse:
        """Answer a server stream as newline-delimited JSON, each message as it comes."""
        messages = method.handler.unary_stream(data, context)
        response: web.StreamResponse | None = None
        error: HttpError | None = None
        ended = False
        try:
            async with asyncio.timeout_at(context.deadline):
                async for message in messages:
                    if response is None:
                        response = await _start_stream(request, cors, context)
                    await response.write(response_json(route, message) + b"\n")
            ended = True
        except Aborted as aborted:
            error, ended = aborted.error, True
        except TimeoutError:
            context.cancel(grpc.StatusCode.DEADLINE_EXCEEDED)
            error = _deadline_exceeded(self._service)
        except ConnectionError:
            # The caller left as a message was being written: nothing more to send.
            context.cancel()
            logger.debug("%s: the HTTP caller left", route.full_method)
        except asyncio.CancelledError:
            context.cancel()
            raise
        finally:
            if not ended:
                # Runs the stream's own clean-up (and its access line) now.
                await messages.aclose()
            context.finish()
        if response is None:
            if error is not None:
                return _error_response(error, cors, context)
            response = await _start_stream(request, cors, context)
        with contextlib.suppress(ConnectionError):
            if error is not None:
                await response.write(_error_line(error))
            await response.write_eof()
        return response


def _legacy(spec: ServiceSpec, legacy: LegacyRoute) -> _Legacy:
    """The route a legacy path stands for; RegistrationError if it names what is not there."""
    method = spec.descriptor.methods_by_name.get(legacy.rpc)
    where = f"legacy route {legacy.path}"
    if method is None or method.server_streaming or method.client_streaming:
        raise RegistrationError(f"{where}: {legacy.rpc} is not a unary method of the service")
    missing = sorted(set(legacy.answer.values()) - set(method.output_type.fields_by_name))
    if missing:
        raise RegistrationError(f"{where}: {method.output_type.name} has no field {missing[0]}")
    try:
        template = parse_template(legacy.path)
    except TemplateError as error:
        raise RegistrationError(f"{where}: {error}") from None
    if template.variables or template.verb:
        raise RegistrationError(f"{where}: a legacy path is literal")
    return _Legacy(Route("GET", template, "", "", method), legacy.answer)


def _legacy_json(message: Message, answer: Mapping[str, str]) -> bytes:
    return json.dumps({key: getattr(message, name) for key, name in answer.items()}).encode()


def _deadline_exceeded(service: str) -> HttpError:
    return rich(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "the deadline passed before the call ended",
        errors.DEADLINE_EXPIRED,
        service,
    )


def _headers(
    cors: Sequence[tuple[str, str]], context: HttpContext | None, extra: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    own = context.response_headers() if context is not None else []
    return [*own, *cors, *extra, ("X-Content-Type-Options", "nosniff")]


def _ok(
    body: bytes,
    content_type: str,
    cors: Sequence[tuple[str, str]],
    context: HttpContext | None = None,
) -> web.Response:
    headers = _headers(cors, context, (("Content-Type", content_type),))
    return web.Response(status=200, body=body, headers=headers)


def _error_response(
    error: HttpError, cors: Sequence[tuple[str, str]], context: HttpContext | None = None
) -> web.Response:
    headers = _headers(cors, context, (("Content-Type", _JSON), *error.headers))
    return web.Response(status=error.status, body=error.body(), headers=headers)


def _error_line(error: HttpError) -> bytes:
    return error.body() + b"\n"


async def _start_stream(
    request: web.BaseRequest, cors: Sequence[tuple[str, str]], context: HttpContext
) -> web.StreamResponse:
    headers = _headers(
        cors,
        context,
        (
            ("Content-Type", _NDJSON),
            ("Cache-Control", "no-store"),
            # Proxies such as nginx would otherwise hold the lines back.
            ("X-Accel-Buffering", "no"),
        ),
    )
    response = web.StreamResponse(status=200, headers=headers)
    await response.prepare(request)
    return response
