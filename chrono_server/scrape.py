"""Prometheus scrapes answered on an asyncio event loop: bounded, timed out, cached.

A scrape must never slow the gRPC calls served by the same process. prometheus_client's
own server is a thread per connection, with no timeout, rendering the registry on every
request: many or slow scrapers meant as many threads, each taking the GIL from the loop.
Here, instead:

* One task accepts connections, and only while fewer than ``max_connections`` are open
  and at no more than ``max_rate`` a second (after a short burst): the others wait in
  the kernel's listen queue, and are refused once it is full. A flood of scrapers costs
  neither threads nor file descriptors (which the gRPC server shares), and at most a
  bounded share of the loop's time, however fast they come.
* Each connection gets ``timeout`` seconds in all, to send its request and read the
  answer, then it is dropped: a slow or idle client cannot hold its slot any longer.
* One request per connection (``Connection: close``): a slot is free again as soon as
  the answer is out, and no idle keep-alive connection sits on one.
* The registry is rendered at most once per ``max_age`` seconds per format (and
  gzipped once per rendering); every scrape meanwhile gets the same bytes. A scrape
  therefore shows the counters as they were up to ``max_age`` seconds before.

The request parsing is the least HTTP/1.1 that Prometheus needs: a request line and
headers, at most ``MAX_REQUEST_BYTES``, no body.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import (
    CONTENT_TYPE_PLAIN_0_0_4,
    choose_encoder,
    generate_latest,
    gzip_accepted,
)

from chrono_server.config import join_host_port

logger = logging.getLogger(__name__)

PATH = "/metrics"
"""The one path served; Prometheus scrapes it by default."""

MAX_AGE = 1.0
"""Seconds a rendered page is served before the next scrape renders it anew."""

MAX_CONNECTIONS = 32
"""Scrape connections served at once; more wait in the listen queue."""

MAX_RATE = 50.0
"""Scrape connections accepted per second at most; more wait in the listen queue.

Far above what Prometheus servers ask (one scrape per target every 15 s or so, each),
far below what would crowd gRPC calls off the loop: a scrape answered from the cache
costs well under a millisecond of CPU, so this rate takes under 5% of a core.
"""

TIMEOUT = 5.0
"""Seconds a connection may take to send its request and read the answer."""

MAX_REQUEST_BYTES = 8192
"""The longest request line and headers read; a longer request is answered 431."""

BACKLOG = 256
"""The listen queue: about as many as ``MAX_RATE`` accepts within ``TIMEOUT``."""

# Formats a client can ask for (Accept: version and escaping) that are kept rendered at
# once; a client asking for yet another gets the plain text format, so that no choice
# of headers makes every scrape render.
_MAX_FORMATS = 4
_GZIP_LEVEL = 6
# Connections accepted back to back, after a quiet spell, before the rate applies.
_BURST = 8
# After a failed accept (EMFILE, ENOBUFS), so that the loop does not spin on it.
_ACCEPT_PAUSE = 0.5
_REQUEST_END = b"\r\n\r\n"
_FORBIDDEN_IN_HEADERS = frozenset("\r\n\0")


@dataclass
class Page:
    """One rendering of the registry in one format."""

    content_type: str
    body: bytes
    rendered_at: float
    status: str = "200 OK"
    gzipped: bytes | None = None

    def gzip(self) -> bytes:
        """The body gzipped, compressed on first use and kept."""
        if self.gzipped is None:
            self.gzipped = gzip.compress(self.body, compresslevel=_GZIP_LEVEL)
        return self.gzipped


class Pages:
    """The registry's renderings, each reused for ``max_age`` seconds."""

    def __init__(
        self,
        registry: CollectorRegistry,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Render ``registry`` on demand, at most once per ``max_age`` seconds per format."""
        self._registry = registry
        self._max_age = max_age
        self._clock = clock
        self._pages: dict[str, Page] = {}
        self.renders = 0
        """How many times the registry was rendered: what scrapes cost the process."""

    def page(self, accept: str) -> Page:
        """The page for a scrape with this Accept header: cached, or rendered now."""
        try:
            encoder, content_type = choose_encoder(accept)
        except (TypeError, ValueError):
            # A version prometheus_client cannot compare (e.g. "version=x"): the default.
            encoder, content_type = generate_latest, CONTENT_TYPE_PLAIN_0_0_4
        now = self._clock()
        page = self._pages.get(content_type)
        if page is not None and now - page.rendered_at < self._max_age:
            return page
        self._pages = {k: p for k, p in self._pages.items() if now - p.rendered_at < self._max_age}
        if content_type not in self._pages and len(self._pages) >= _MAX_FORMATS:
            encoder, content_type = generate_latest, CONTENT_TYPE_PLAIN_0_0_4
            page = self._pages.get(content_type)
            if page is not None:
                return page
        self.renders += 1
        try:
            page = Page(content_type, encoder(self._registry), now)
        except Exception:
            # Kept like a good page, so that a broken collector logs once per max_age.
            logger.exception("cannot render the metrics")
            page = Page("text/plain; charset=utf-8", b"cannot render the metrics\n", now)
            page.status = "500 Internal Server Error"
        self._pages[content_type] = page
        return page


def _response(
    status: str, content_type: str, body: bytes, extra: tuple[str, ...] = ()
) -> list[bytes]:
    """A whole HTTP/1.1 response that closes the connection, as buffers to write."""
    lines = [
        f"HTTP/1.1 {status}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        *extra,
        "Connection: close",
        "",
        "",
    ]
    return [("\r\n".join(lines)).encode("latin-1"), body]


def _error(status: str, *extra: str) -> list[bytes]:
    return _response(status, "text/plain; charset=utf-8", f"{status}\n".encode(), extra)


@dataclass(frozen=True)
class _Request:
    """What the answer depends on: method, path and two headers."""

    method: str
    path: str
    accept: str
    accept_encoding: str


def _parse(head: bytes) -> _Request | None:
    """The request in ``head`` (request line and headers, CRLF-ended); None if malformed."""
    request_line, *header_lines = head[: -len(_REQUEST_END)].decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers: dict[str, list[str]] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or _FORBIDDEN_IN_HEADERS & set(line):
            return None
        headers.setdefault(name.lower(), []).append(value.strip())
    method, target, _ = parts
    return _Request(
        method=method,
        path=target.partition("?")[0],
        accept=",".join(headers.get("accept", ())),
        accept_encoding=",".join(headers.get("accept-encoding", ())),
    )


class MetricsEndpoint:
    """Answers Prometheus scrapes on ``/metrics``, on the running event loop.

    No thread of its own: start it from the loop it is to run on (the gRPC server's).
    """

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        *,
        max_age: float = MAX_AGE,
        max_connections: int = MAX_CONNECTIONS,
        max_rate: float = MAX_RATE,
        timeout: float = TIMEOUT,
    ) -> None:
        """Prepare to serve ``registry`` on ``host:port`` (0 for a free port); nothing binds yet."""
        self._host = host
        self.port = port
        """The port served: the one the kernel chose for 0, once started."""
        self.pages = Pages(registry, max_age)
        self.timeout = timeout
        """Seconds each connection gets in all."""
        self._slots = asyncio.Semaphore(max_connections)
        self._interval = 1 / max_rate
        # When the next connection is due at the rate (the GCRA's theoretical arrival).
        self._due = 0.0
        self._sock: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind, listen and accept in a task of the running loop; OSError if the port is busy."""
        family, kind, proto, _, address = socket.getaddrinfo(
            self._host.strip("[]"),
            self.port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            # As every server socket: a restart may bind while old connections linger.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._acceptor = asyncio.create_task(self._accept(sock), name="metrics-accept")
        logger.info("metrics on http://%s%s", join_host_port(self._host, self.port), PATH)

    async def stop(self) -> None:
        """Stop accepting, drop the connections still open, close the port."""
        if self._acceptor is not None:
            self._acceptor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._acceptor
            self._acceptor = None
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def open_connections(self) -> int:
        """Scrape connections being served now (at most ``max_connections``)."""
        return len(self._connections)

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # A slot first, then a connection: beyond the bound, clients wait in the
            # kernel's queue, not in this process.
            await self._slots.acquire()
            try:
                early = self._due - _BURST * self._interval - loop.time()
                if early > 0:
                    await asyncio.sleep(early)
                conn, _ = await loop.sock_accept(sock)
                self._due = max(self._due, loop.time()) + self._interval
            except OSError as error:
                self._slots.release()
                logger.warning("cannot accept a scrape connection: %s", error)
                await asyncio.sleep(_ACCEPT_PAUSE)
                continue
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._serve(conn))
            self._connections.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._connections.discard(task)
        self._slots.release()

    async def _serve(self, conn: socket.socket) -> None:
        """Answer one request on ``conn`` within the timeout, then close it."""
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(sock=conn, limit=MAX_REQUEST_BYTES)
                answer = await self._answer(reader)
                if answer is not None:
                    writer.writelines(answer)
                    await writer.drain()
                writer.close()
                await writer.wait_closed()
        except TimeoutError:
            logger.debug("scrape connection dropped after %.1f s", self.timeout)
        except OSError as error:
            logger.debug("scrape connection failed: %s", error)
        finally:
            if writer is None:
                conn.close()
            else:
                # A no-op after a clean close; otherwise what is left unsent is dropped.
                writer.transport.abort()

    async def _answer(self, reader: asyncio.StreamReader) -> list[bytes] | None:
        """The response to the request ``reader`` delivers; None if the client left."""
        try:
            head = await reader.readuntil(_REQUEST_END)
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError:
            return _error("431 Request Header Fields Too Large")
        request = _parse(head)
        if request is None:
            return _error("400 Bad Request")
        answer = self._route(request)
        if request.method == "HEAD":
            # The status and headers only: a response to HEAD never has a body.
            return answer[:1]
        return answer

    def _route(self, request: _Request) -> list[bytes]:
        """The response to a well-formed request."""
        if request.path != PATH:
            return _error("404 Not Found")
        if request.method != "GET":
            return _error("405 Method Not Allowed", "Allow: GET")
        page = self.pages.page(request.accept)
        if gzip_accepted(request.accept_encoding):
            return _response(
                page.status,
                page.content_type,
                page.gzip(),
                ("Content-Encoding: gzip", "Vary: Accept-Encoding"),
            )
        return _response(page.status, page.content_type, page.body, ("Vary: Accept-Encoding",))


class MetricsEndpointThread:
    """A :class:`MetricsEndpoint` on a thread and a small event loop of its own.

    For a process without an event loop (the ``--workers`` supervisor): one thread
    however many scrapers, with the same bounds and timeouts.
    """

    def __init__(self, endpoint: MetricsEndpoint) -> None:
        """Run ``endpoint`` (not started) on a thread of its own; nothing starts yet."""
        # asyncio primitives bind to a loop on first use, so the endpoint may be made here.
        self.endpoint = endpoint
        self._timeout = endpoint.timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port served: the one the kernel chose for 0, once started."""
        return self.endpoint.port

    def start(self) -> None:
        """Start the thread and bind; OSError (and no thread left) if the port is busy."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="metrics", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self.endpoint.start(), loop).result(self._timeout)
        except BaseException:
            self._end_loop()
            raise

    def close(self) -> None:
        """Stop answering scrapes and end the thread."""
        if self._loop is None:
            return
        stopping = asyncio.run_coroutine_threadsafe(self.endpoint.stop(), self._loop)
        # stop() cancels the open connections and returns promptly; the bound is a safeguard.
        stopping.result(self._timeout)
        self._end_loop()

    def _end_loop(self) -> None:
        assert self._loop is not None
        assert self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self._timeout)
        if not self._thread.is_alive():
            self._loop.close()
        self._loop = self._thread = None
