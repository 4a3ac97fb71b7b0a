"""Limits that protect a server from what its callers ask of it."""

from __future__ import annotations

from typing import Any

from chrono_server import engines
from chrono_server.config import ServerSettings

# How often the server itself pings an idle client to find dead connections, and how
# long it waits for the answer; a watch on a vanished client is freed within both.
SERVER_KEEPALIVE_MS = 60_000
SERVER_KEEPALIVE_TIMEOUT_MS = 20_000

# The largest message grpc core itself takes in (its default).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

# Calls that may wait for the server to pick them up (grpcio only).
PENDING_CALLS = 20_000


def server_options(settings: ServerSettings) -> list[tuple[str, Any]]:
    """The grpc server options that enforce ``settings``' limits."""
    options: list[tuple[str, Any]] = [
        # grpc turns SO_REUSEPORT on by default; off, a busy port fails to bind instead
        # of silently sharing it with another process. Workers share it on purpose.
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
        # The server checks --max-request-bytes itself, so that a request over it gets
        # a status with its reason; grpc core refuses, without one, only beyond its own
        # default of 4 MiB.
        ("grpc.max_receive_message_length", max(settings.max_request_bytes, MAX_MESSAGE_BYTES)),
        # 11,000 by default: above --max-watches, so that one client (a gateway, a
        # dashboard) can hold every watch a process allows and the next one is refused
        # with RESOURCE_EXHAUSTED. At 100, 500 watches over one channel were refused
        # REFUSED_STREAM by the dozen (see the next option) and a client's 100th watch
        # waited silently, forever, behind its health-check stream.
        ("grpc.max_concurrent_streams", settings.max_concurrent_streams),
        # grpc's default, pinned because it is marked experimental and the rapid-reset
        # bound rests on it: a stream counts against the limit above until the server has
        # freed it, not merely until the peer reset it, and a new stream past the limit
        # gets REFUSED_STREAM. So a connection that opens and resets streams in a loop
        # holds at most the limit's worth (1M resets at 11,000 grew RSS by 300 MB, what
        # 10,000 open watches take; at 100, by 6 MB), and connections together no more
        # than the pending-call cap below. It is also why a client at the limit sees
        # refusals: a stream it has finished may still count on the server a moment.
        ("grpc.http.overload_protection", 1),
        # grpc's defaults, pinned because the memory bound of a header flood rests on
        # them: metadata over the soft limit may be refused, over the hard one always is.
        # A header block past the hard limit gets its stream answered RESOURCE_EXHAUSTED
        # and reset, and the rest of it is read and thrown away: an endless CONTINUATION
        # flood costs CPU, but no grpc 1.85 option closes its connection.
        ("grpc.max_metadata_size", 8 * 1024),
        ("grpc.absolute_max_metadata_size", 16 * 1024),
        # Without it, grpc's socket reader sometimes grew its buffer far past what the
        # parser kept up with when a peer sent headers faster than they were parsed: in
        # 6 of 20 four-second CONTINUATION floods RSS rose by up to 230 MB, in 0 of 38
        # with it. Requests here are a few hundred bytes; 1 MiB per read is plenty.
        ("grpc.experimental.tcp_max_read_buffer_size", 1024 * 1024),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.keepalive_time_ms", SERVER_KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", SERVER_KEEPALIVE_TIMEOUT_MS),
        # A client that pings more often than this gets GOAWAY after two such pings;
        # 0 lets clients ping at any rate (no strikes are counted).
        (
            "grpc.http2.min_ping_interval_without_data_ms",
            round(settings.keepalive_min_interval * 1000),
        ),
        ("grpc.http2.max_ping_strikes", 2 if settings.keepalive_min_interval > 0 else 0),
    ]
    options += engines.engine_options(settings.engine, PENDING_CALLS).items()
    if settings.max_connection_age > 0:
        options += [
            ("grpc.max_connection_age_ms", round(settings.max_connection_age * 1000)),
            ("grpc.max_connection_age_grace_ms", round(settings.max_connection_age_grace * 1000)),
        ]
    return options
