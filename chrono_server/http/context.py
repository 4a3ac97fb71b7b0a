"""The servicer context of an RPC called over HTTP/JSON.

The per-call layer (:mod:`chrono_server.observe`) and the servicers get what a grpc.aio
context would give them: the request headers as invocation metadata (lower-case
names, ``-bin`` values base64-decoded, hop-by-hop and ``grpc-*`` headers left out), the
peer as ``ipv4:1.2.3.4:5678``, the time left before the caller's deadline (from the
``grpc-timeout`` or ``X-Server-Timeout`` header), no authentication (plain HTTP has no
client certificate), and trailing metadata, which the HTTP answer carries as headers.
An abort raises :class:`Aborted`, which the HTTP server turns into its error answer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

import grpc
from aiohttp import web

from chrono_server.http.status import HttpError, from_status
from chrono_server.http.transcode import RequestError

Metadatum = tuple[str, str | bytes]

# Headers that describe the HTTP exchange, not the call: never metadata.
_NOT_METADATA = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "te",
        "host",
        "content-length",
        "content-type",
        "expect",
        "x-server-timeout",
    )
)
_GRPC_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])")
_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


class Aborted(grpc.aio.AbortError):
    """A call ended with a status other than OK; ``error`` is its HTTP answer.

    A grpc.aio AbortError, so that the per-call layer treats it as grpc's own abort: the
    status is already chosen and there is nothing more to map.
    """

    def __init__(self, error: HttpError) -> None:
        """End the call with ``error``."""
        super().__init__(error.message)
        self.error = error


class HttpContext(grpc.aio.ServicerContext[Any, Any]):
    """A grpc.aio servicer context for one HTTP request."""

    def __init__(
        self,
        metadata: Sequence[Metadatum],
        peer: str,
        deadline: float | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """A call from ``peer`` with ``metadata``, due by ``deadline`` (``loop.time()``)."""
        self._metadata = grpc.aio.Metadata(*metadata)
        self._peer = peer
        self.deadline = deadline
        self._loop = loop
        self._trailing: tuple[Metadatum, ...] = ()
        self._initial: tuple[Metadatum, ...] = ()
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._cancelled = False
        self._done = False
        self._callbacks: list[Callable[[Any], None]] = []

    # What the caller sent.

    def invocation_metadata(self) -> grpc.aio.Metadata:
        """The request headers, as gRPC metadata."""
        return self._metadata

    def peer(self) -> str:
        """The caller's address, as grpc writes it (``ipv4:127.0.0.1:41234``)."""
        return self._peer

    def peer_identities(self) -> Iterable[bytes] | None:
        """None: plain HTTP authenticates no peer."""
        return None

    def peer_identity_key(self) -> str | None:
        """None: plain HTTP authenticates no peer."""
        return None

    def auth_context(self) -> Mapping[str, Iterable[bytes]]:
        """Empty: plain HTTP has no transport security."""
        return {}

    def time_remaining(self) -> float | None:  # type: ignore[override]
        """Seconds left before the caller's deadline (0 once past); None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - self._loop.time())

    # What the call answers besides its messages.

    def set_trailing_metadata(self, trailing_metadata: Sequence[Metadatum]) -> None:  # type: ignore[override]
        """Keep metadata for the answer's headers."""
        self._trailing = tuple(trailing_metadata)

    def trailing_metadata(self) -> Any:
        """The trailing metadata set so far."""
        return self._trailing

    async def send_initial_metadata(self, initial_metadata: Sequence[Metadatum]) -> None:  # type: ignore[override]
        """Keep metadata for the answer's headers."""
        self._initial = tuple(initial_metadata)

    def response_headers(self) -> list[tuple[str, str]]:
        """The metadata set on the call, as HTTP headers (text values only)."""
        return [
            (key, value)
            for key, value in (*self._initial, *self._trailing)
            if isinstance(value, str) and key.isascii() and "\n" not in value
        ]

    def set_code(self, code: grpc.StatusCode) -> None:
        """Set the status code the call ends with."""
        self._code = code

    def code(self) -> grpc.StatusCode | None:  # type: ignore[override]
        """The status code set, or None."""
        return self._code

    def set_details(self, details: str) -> None:
        """Set the status message."""
        self._details = details

    def details(self) -> str:
        """The status message set."""
        return self._details

    async def abort(
        self,
        code: grpc.StatusCode,
        details: str = "",
        trailing_metadata: Sequence[Metadatum] = (),  # type: ignore[override]
    ) -> NoReturn:
        """End the call with ``code``: raise :class:`Aborted`."""
        self._code, self._details = code, details
        raise Aborted(from_status(code, details, trailing_metadata))

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        """End the call with ``status`` and the rich details it carries."""
        await self.abort(status.code, status.details, status.trailing_metadata)

    def set_compression(self, compression: grpc.Compression) -> None:
        """Nothing: HTTP answers are not compressed."""

    def disable_next_message_compression(self) -> None:
        """Nothing: HTTP answers are not compressed."""

    # Streams of requests or written responses have no HTTP/JSON form.

    async def read(self) -> Any:
        """Refused: an HTTP request holds one message."""
        raise grpc.aio.UsageError("an HTTP/JSON call has one request message, already read")

    async def write(self, message: Any) -> None:
        """Refused: streamed answers are the servicer's async generator's."""
        raise grpc.aio.UsageError("an HTTP/JSON call cannot write with context.write")

    # The call's life.

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(self)`` once the call has ended."""
        if self._done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def cancelled(self) -> bool:
        """Whether the caller left (or its deadline passed) before the call ended."""
        return self._cancelled

    def done(self) -> bool:
        """Whether the call has ended, or its caller has left."""
        return self._done or self._cancelled

    def cancel(self, code: grpc.StatusCode = grpc.StatusCode.CANCELLED) -> None:
        """Mark the call cancelled (the caller left, or its deadline passed) with ``code``."""
        self._cancelled = True
        if self._code is None:
            self._code = code

    def finish(self) -> None:
        """Mark the call ended and run its done callbacks."""
        if self._done:
            return
        self._done = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)


def context_for(request: web.BaseRequest, loop: asyncio.AbstractEventLoop) -> HttpContext:
    """The context of the call ``request`` makes; RequestError for a header it cannot read.

    The deadline is ``grpc-timeout`` (gRPC's form: ``5S``, ``250m``) or ``X-Server-Timeout``
    (seconds, as Google's HTTP APIs take it), the shorter if both are given.
    """
    return HttpContext(_metadata(request), peer(request), _deadline(request, loop.time()), loop)


def _metadata(request: web.BaseRequest) -> list[Metadatum]:
    """The request's headers as gRPC metadata; RequestError for a ``-bin`` one not in base64."""
    found: list[Metadatum] = []
    for key, value in request.headers.items():
        name = key.lower()
        if name in _NOT_METADATA or name.startswith("grpc-"):
            continue
        if name.endswith("-bin"):
            try:
                found.append((name, base64.b64decode(value + "=" * (-len(value) % 4))))
            except (binascii.Error, ValueError):
                raise RequestError(f"header {key} must be base64, as a -bin header is") from None
        else:
            found.append((name, value))
    return found


def _deadline(request: web.BaseRequest, now: float) -> float | None:
    """When the caller stops waiting, from ``grpc-timeout`` or ``X-Server-Timeout``."""
    timeouts = []
    given = request.headers.get("grpc-timeout")
    if given is not None:
        match = _GRPC_TIMEOUT.fullmatch(given.strip())
        if match is None:
            raise RequestError(
                "the grpc-timeout header must be 1 to 8 digits and a unit (H, M, S, m, u "
                f"or n), such as 5S or 250m; not {given[:40]!r}"
            )
        timeouts.append(int(match.group(1)) * _UNITS[match.group(2)])
    given = request.headers.get("X-Server-Timeout")
    if given is not None:
        try:
            seconds = float(given)
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds <= 0:
            raise RequestError(
                "the X-Server-Timeout header must be a number of seconds above zero, such "
                f"as 2.5; not {given[:40]!r}"
            )
        timeouts.append(seconds)
    return now + min(timeouts) if timeouts else None


def peer(request: web.BaseRequest) -> str:
    """The caller's address as grpc writes it: ``ipv4:127.0.0.1:5678``, ``ipv6:[::1]:5678``."""
    transport = request.transport
    peername = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peername, tuple) and len(peername) >= 2:
        host, port = peername[0], peername[1]
        return f"ipv6:[{host}]:{port}" if ":" in str(host) else f"ipv4:{host}:{port}"
    if isinstance(peername, str) and peername:
        return f"unix:{peername}"
    return "unknown"
