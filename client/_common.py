"""What the four clients share: channel options, call deadlines and request building.

The sync and async clients differ only in how they call; everything they compute
before a call is written here, once.
"""

from __future__ import annotations

import abc
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Generic, TypedDict, TypeVar

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from grpc_health.v1 import health_pb2

from chrono.date.v1 import date_service_pb2 as date_pb
from chrono.time.v1 import time_service_pb2 as time_pb

# channel_target is re-exported: the target syntax every client accepts.
from client._targets import channel_target as channel_target
from client._targets import parse_target

TIME_SERVICE = time_pb.DESCRIPTOR.services_by_name["TimeService"]
DATE_SERVICE = date_pb.DESCRIPTOR.services_by_name["DateService"]

DEFAULT_TIMEOUT = 5.0
"""Seconds a call may take, retries included, unless the caller says otherwise."""

DEFAULT_INTERVAL = timedelta(seconds=1)
"""The pace of a watch whose interval is left unset (the server's default too)."""

ChannelOptions = Sequence[tuple[str, Any]]
ChannelT = TypeVar("ChannelT")

logger = logging.getLogger(__name__)


# How each method is retried, by the idempotency its contract declares.
_SAFE = (descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS, descriptor_pb2.MethodOptions.IDEMPOTENT)

RETRY_POLICY: dict[str, Any] = {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    # A grpcio server shutting down answers CANCELLED to calls it had accepted but not yet
    # started (seen in 6 of 10 drains under load); only a method that is safe to send again
    # is retried on it. A call the caller itself cancels is never retried.
    "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"],
}
"""The retry policy of every method whose contract says it is safe to send again."""


def retry_safe(method: MethodDescriptor) -> bool:
    """Whether ``method`` may be sent again: its ``idempotency_level`` says it is safe."""
    return method.GetOptions().idempotency_level in _SAFE


def service_config(service: ServiceDescriptor, *, health_check: bool = True) -> str:
    """The gRPC service config for ``service``, as the JSON the channel option takes.

    round_robin spreads calls over every address the target resolves to (pick_first,
    gRPC's default, sends them all to one). With ``health_check`` it also watches each
    server's grpc.health.v1 status for ``service`` and sends nothing to a server that
    reports NOT_SERVING, as a draining one does (a server without the health service
    counts as healthy).

    Retries come from the contract: a method whose ``idempotency_level`` is
    NO_SIDE_EFFECTS or IDEMPOTENT is retried on UNAVAILABLE (nothing listening, a backend
    going away) or CANCELLED from a server (one shutting down), up to 4 attempts in all,
    with jittered exponential back-off from 0.1 s to 1 s; the call's deadline bounds the
    whole lot. Any other method is never replayed once it may have reached a server
    (grpc still resends, by itself, a call that provably never left the client). There is
    no retry throttling: it stopped retrying streams a server refused at its
    per-connection limit (199 to 301 of 500 watches lost at a limit of 100; 4 to 24 without
    it); the back-off and the attempt cap bound what an outage costs. A stream is retried
    only until its first update arrives.
    """
    safe = [method.name for method in service.methods if retry_safe(method)]
    method_config: list[dict[str, Any]] = [{"name": [{"service": service.full_name}]}]
    if safe:
        method_config.append(
            {
                "name": [{"service": service.full_name, "method": name} for name in safe],
                "retryPolicy": RETRY_POLICY,
            }
        )
    config: dict[str, Any] = {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": method_config,
    }
    if health_check:
        config["healthCheckConfig"] = {"serviceName": service.full_name}
    return json.dumps(config)


KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    # With calls open, a ping after 20 s without news from the server, and the
    # connection dropped if no answer comes within 10 s: a watch on a dead link (a
    # server host gone without closing its sockets) fails, and is reopened, within 30 s
    # instead of after TCP's hours. Servers are meant to accept pings every 10 s (see
    # tests/client/test_keepalive.py for the quiet-watch case this depends on).
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # grpcio 1.85 times a ping out after this (60 s by default), whatever the keepalive
    # timeout says: measured through a proxy that silently drops everything.
    ("grpc.http2.ping_timeout_ms", 10_000),
    # By default a client stops pinging after 2 pings with no data of its own sent, and a
    # watch sends none after its request: a watch quieter than 20 s (interval 1 min,
    # 1 h) on a dead link would then never be noticed (measured: not within 36 s).
    ("grpc.http2.max_pings_without_data", 0),
)


RECONNECT_OPTIONS: tuple[tuple[str, int], ...] = (
    # gRPC waits 1 s before it first tries a lost server again, then 1.6 times longer
    # each time up to 120 s. A server restarting (or a replica coming back) is usually up
    # well within a second: from 0.1 s, a watch resumes a few tenths of a second after
    # it, and a replica back after a long outage gets calls again within 5 s. A failed
    # attempt on a refused port costs next to nothing.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 5_000),
)


def channel_options(
    service: ServiceDescriptor,
    extra: ChannelOptions = (),
    *,
    authority: str | None = None,
    health_check: bool = True,
) -> list[tuple[str, Any]]:
    """Channel options for a client of ``service``, after the caller's ``extra`` ones.

    gRPC uses the first of two options with the same name: ``extra`` come first, so
    that they override the client's own. ``authority`` names the server for TLS (see
    :class:`client._targets.Target`); ``health_check`` is passed to :func:`service_config`.
    """
    return [
        *extra,
        ("grpc.service_config", service_config(service, health_check=health_check)),
        ("grpc.enable_retries", 1),
        *KEEPALIVE_OPTIONS,
        *RECONNECT_OPTIONS,
        *([("grpc.default_authority", authority)] if authority else []),
    ]


class CallKwargs(TypedDict):
    """The keyword arguments every stub call gets."""

    timeout: float | None
    wait_for_ready: bool


@dataclass(frozen=True)
class CallPolicy:
    """A client's defaults for every call: its deadline and whether to wait for a server."""

    timeout: float = DEFAULT_TIMEOUT
    wait_for_ready: bool = False

    def __post_init__(self) -> None:
        """Refuse a deadline that would fail every call or never end."""
        check_timeout(self.timeout)

    def unary(self, timeout: float | None) -> CallKwargs:
        """Call settings for a unary call: ``timeout`` seconds, or the client's default."""
        if timeout is None:
            timeout = self.timeout
        return CallKwargs(timeout=check_timeout(timeout), wait_for_ready=self.wait_for_ready)

    def watch(
        self, interval: timedelta | None, max_updates: int, timeout: float | None
    ) -> CallKwargs:
        """Call settings for a watch; see the clients' ``watch_time`` for the deadline rule."""
        if timeout is None and max_updates > 0:
            pace = (interval or DEFAULT_INTERVAL).total_seconds()
            timeout = pace * max_updates + self.timeout
        elif timeout is not None:
            check_timeout(timeout)
        return CallKwargs(timeout=timeout, wait_for_ready=self.wait_for_ready)


def check_timeout(timeout: float) -> float:
    """Return ``timeout`` if it is a usable number of seconds; raise ValueError if not."""
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return timeout


def get_time_request(time_zone: str) -> time_pb.GetTimeRequest:
    """The GetTime request for ``time_zone`` (empty: UTC)."""
    return time_pb.GetTimeRequest(time_zone=time_zone)


def watch_time_request(
    time_zone: str, interval: timedelta | None, max_updates: int
) -> time_pb.WatchTimeRequest:
    """The WatchTime request; an ``interval`` of None leaves it unset (the server's 1 s)."""
    request = time_pb.WatchTimeRequest(time_zone=time_zone, max_updates=max_updates)
    if interval is not None:
        request.interval.FromTimedelta(interval)
    return request


def list_time_zones_request(page_size: int, page_token: str) -> time_pb.ListTimeZonesRequest:
    """The ListTimeZones request for one page."""
    return time_pb.ListTimeZonesRequest(page_size=page_size, page_token=page_token)


def add_page(
    everything: time_pb.ListTimeZonesResponse, page: time_pb.ListTimeZonesResponse
) -> bool:
    """Append ``page`` to ``everything``; True while a further page remains to be fetched.

    ``everything.next_page_token`` is the token of that next page, empty at the end.
    """
    everything.time_zones.extend(page.time_zones)
    everything.next_page_token = page.next_page_token
    everything.tzdata_version = page.tzdata_version
    everything.total_size = page.total_size
    return bool(page.next_page_token)


def get_date_request(time_zone: str) -> date_pb.GetDateRequest:
    """The GetDate request for ``time_zone`` (empty: UTC)."""
    return date_pb.GetDateRequest(time_zone=time_zone)


HEALTH_CHECK = "/grpc.health.v1.Health/Check"
"""The method path of grpc.health.v1.Health/Check."""


def health_check_request(service: str) -> health_pb2.HealthCheckRequest:
    """The Health/Check request for ``service``'s own status (not the server's overall one)."""
    return health_pb2.HealthCheckRequest(service=service)


class ClientBase(abc.ABC, Generic[ChannelT]):
    """A client's configuration and its channel, opened at construction.

    Subclasses say which service they call and how to open a channel (sync or async).
    A second channel, for health checks only, is opened on the first of them.
    """

    service: ClassVar[ServiceDescriptor]
    """The gRPC service this client calls, whose contract sets the retry policy."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        wait_for_ready: bool = False,
        options: ChannelOptions = (),
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """Open a channel to ``target``; every call gets ``timeout`` and ``wait_for_ready``.

        ``target`` is any gRPC target (``host:port``, ``dns:///host:port``,
        ``ipv4:10.0.0.1:50051,10.0.0.2:50051``...) or a comma-separated list of
        ``host:port`` entries, translated by :func:`channel_target` (host names in a list
        are resolved here, once). ``timeout`` is the default deadline, in seconds, of
        each call (retries included); a call may pass its own. With ``wait_for_ready`` a
        call waits, until its deadline, for a server to come up instead of failing at
        once with UNAVAILABLE. ``options`` are extra gRPC channel options; they override
        the ones the client sets (service config, keepalive...). ``credentials`` (see
        :func:`client.tls_credentials`) make the channel TLS; None: plaintext.
        Raises ValueError for a timeout that is not a positive number or a bad list.
        """
        self.target = target
        self._policy = CallPolicy(timeout, wait_for_ready)
        parsed = parse_target(target)
        self._dial = parsed.dial
        self._credentials = credentials
        # Health checks go on a channel of their own that does not itself check health:
        # through the main one a NOT_SERVING server could not be asked for its status.
        self._probe_options = channel_options(
            self.service, options, authority=parsed.authority, health_check=False
        )
        self._probe: ChannelT | None = None
        logger.debug(
            "opening a channel to %s (%s) for %s", target, parsed.dial, self.service.full_name
        )
        self._channel = self._open_channel(
            parsed.dial, channel_options(self.service, options, authority=parsed.authority)
        )

    def _open_channel(self, target: str, options: ChannelOptions) -> ChannelT:
        """Open a channel: TLS with the client's credentials, or plaintext without."""
        if self._credentials is None:
            return self._insecure_channel(target, options)
        return self._secure_channel(target, self._credentials, options)

    @property
    def _health_channel(self) -> ChannelT:
        """The channel for health checks, opened on first use."""
        if self._probe is None:
            self._probe = self._open_channel(self._dial, self._probe_options)
        return self._probe

    @abc.abstractmethod
    def _insecure_channel(self, target: str, options: ChannelOptions) -> ChannelT:
        """Open a plaintext HTTP/2 channel."""

    @abc.abstractmethod
    def _secure_channel(
        self, target: str, credentials: grpc.ChannelCredentials, options: ChannelOptions
    ) -> ChannelT:
        """Open a TLS channel."""
