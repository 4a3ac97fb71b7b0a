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

from chrono.date.v1 import date_service_pb2 as date_pb
from chrono.time.v1 import time_service_pb2 as time_pb

TIME_SERVICE = time_pb.DESCRIPTOR.services_by_name["TimeService"].full_name
DATE_SERVICE = date_pb.DESCRIPTOR.services_by_name["DateService"].full_name

DEFAULT_TIMEOUT = 5.0
"""Seconds a call may take, retries included, unless the caller says otherwise."""

DEFAULT_INTERVAL = timedelta(seconds=1)
"""The pace of a watch whose interval is left unset (the server's default too)."""

ChannelOptions = Sequence[tuple[str, Any]]
ChannelT = TypeVar("ChannelT")

logger = logging.getLogger(__name__)


def service_config(service: str) -> str:
    """The gRPC service config for ``service``, as the JSON the channel option takes.

    round_robin spreads calls over every address the target resolves to (pick_first,
    gRPC's default, sends them all to one). Calls that fail with UNAVAILABLE (nothing
    listening, a backend going away) are retried up to 4 attempts in all, with jittered
    exponential back-off from 0.1 s to 1 s; the call's deadline bounds the whole lot.
    Retry throttling stops retries when most calls to a server fail, so an outage is not
    multiplied by 4. A stream is retried only until its first update arrives.
    """
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "methodConfig": [
                {
                    "name": [{"service": service}],
                    "retryPolicy": {
                        "maxAttempts": 4,
                        "initialBackoff": "0.1s",
                        "maxBackoff": "1s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ],
            "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
        }
    )


def channel_options(service: str, extra: ChannelOptions = ()) -> list[tuple[str, Any]]:
    """Channel options for a client of ``service``, after the caller's ``extra`` ones.

    gRPC uses the first of two options with the same name: ``extra`` come first, so
    that they override the client's own.
    """
    return [
        *extra,
        ("grpc.service_config", service_config(service)),
        ("grpc.enable_retries", 1),
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


class ClientBase(abc.ABC, Generic[ChannelT]):
    """A client's configuration and its one channel, opened at construction.

    Subclasses say which service they call and how to open a channel (sync or async).
    """

    service: ClassVar[str]
    """The full name of the gRPC service this client calls."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        wait_for_ready: bool = False,
        options: ChannelOptions = (),
    ) -> None:
        """Open a channel to ``target``; every call gets ``timeout`` and ``wait_for_ready``.

        ``target`` is any gRPC target: ``host:port``, ``dns:///host:port``,
        ``ipv4:10.0.0.1:50051,10.0.0.2:50051``... ``timeout`` is the default deadline, in
        seconds, of each call (retries included); a call may pass its own. With
        ``wait_for_ready`` a call waits, until its deadline, for a server to come up
        instead of failing at once with UNAVAILABLE. ``options`` are extra gRPC channel
        options; they override the ones the client sets (such as its service config).
        Raises ValueError for a timeout that is not a positive number.
        """
        self.target = target
        self._policy = CallPolicy(timeout, wait_for_ready)
        logger.debug("opening a channel to %s for %s", target, self.service)
        self._channel = self._open_channel(target, channel_options(self.service, options))

    @abc.abstractmethod
    def _open_channel(self, target: str, options: ChannelOptions) -> ChannelT:
        """Open the insecure (plaintext HTTP/2) channel the client uses."""
