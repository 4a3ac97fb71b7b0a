"""etcd's gRPC naming format, connections to etcd, and following one name's endpoints.

Servers register the way etcd's Go naming package (``go.etcd.io/etcd/client/v3/naming/
endpoints``) does, so that Go's etcd resolver and ``etcdctl`` read the same keys: one key
``<name>/<address>`` per endpoint, whose value is the JSON Go writes for
``endpoints.Endpoint{Addr: address}``, ``{"Op":0,"Addr":"<address>","Metadata":null}``.
``<name>`` is ``chrono/services/<full gRPC service name>`` unless a server is told another
prefix. A :class:`Follower` lists a name's keys, then watches them, and reports the
address set each time it changes; :mod:`client._etcd_sync` and :mod:`client._etcd_aio`
keep a channel's backends equal to it.

aetcd 1.0, the asyncio etcd client used here, dials one host in plaintext: its connection
is replaced by a channel of our own, so that several endpoints and TLS work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aetcd  # type: ignore[import-untyped]
import grpc
from aetcd import rpc, watcher

from client._targets import EtcdTarget, list_target
from client.tls import tls_credentials

logger = logging.getLogger(__name__)

CALL_TIMEOUT = 2.0
"""Seconds an etcd call may take: etcd answers in milliseconds when it is well."""

ERRORS: tuple[type[BaseException], ...] = (
    aetcd.ClientError,
    grpc.RpcError,
    TimeoutError,
    OSError,
    ValueError,  # an endpoint's host name that does not resolve (now)
)
"""What a call to an unreachable or troubled etcd raises."""

TLS_VARIABLES = ("CHRONO_ETCD_CA", "CHRONO_ETCD_CERT", "CHRONO_ETCD_KEY")
"""The variables naming the PEM files of a client's TLS to etcd: CA, certificate, key."""

_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    # An etcd restarting is usually back within seconds: try it again that soon, not
    # after grpc's back-off of up to 120 s, during which every call would fail at once.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    # A link gone dead (the etcd host lost without closing sockets) noticed within 15 s;
    # etcd accepts a ping every 5 s (its --grpc-keepalive-min-time).
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
)


def endpoint_value(address: str) -> bytes:
    """The value of an endpoint's key: what Go's ``endpoints.AddEndpoint`` writes for it."""
    update = {"Op": 0, "Addr": address, "Metadata": None}
    return json.dumps(update, separators=(",", ":")).encode()


def endpoint_address(value: bytes) -> str | None:
    """The address an endpoint's value names; None if it is not an endpoint's value.

    Like Go's resolver, it reads ``Addr`` and ignores ``Op`` and ``Metadata``.
    """
    try:
        update = json.loads(value)
    except ValueError:
        return None
    address = update.get("Addr") if isinstance(update, dict) else None
    return address if isinstance(address, str) and address else None


def credentials_from_env(
    environ: dict[str, str] | None = None,
) -> grpc.ChannelCredentials | None:
    """TLS to etcd from ``CHRONO_ETCD_CA``, ``_CERT`` and ``_KEY``; None (plaintext) if unset.

    Raises ValueError or OSError, naming the file, for files that are not usable.
    """
    env = os.environ if environ is None else environ
    ca, cert, key = (Path(env[name]) if env.get(name) else None for name in TLS_VARIABLES)
    if ca is None and cert is None and key is None:
        return None
    return tls_credentials(ca, cert, key)


class _Client(aetcd.Client):  # type: ignore[misc]
    """aetcd's client on a channel of ours: any gRPC target, plaintext or TLS."""

    def __init__(
        self,
        target: str,
        credentials: grpc.ChannelCredentials | None,
        options: Sequence[tuple[str, Any]],
        timeout: float,
    ) -> None:
        super().__init__(timeout=timeout)
        self._chrono_target = target
        self._chrono_credentials = credentials
        self._chrono_options = list(options)

    async def connect(self) -> None:
        """Open the channel and aetcd's stubs on it (aetcd 1.0's connect, with our channel)."""
        if self._connected.is_set():
            return
        if self._chrono_credentials is None:
            channel = grpc.aio.insecure_channel(self._chrono_target, options=self._chrono_options)
        else:
            channel = grpc.aio.secure_channel(
                self._chrono_target, self._chrono_credentials, options=self._chrono_options
            )
        self.channel = channel
        self.kvstub = rpc.KVStub(channel)
        self.clusterstub = rpc.ClusterStub(channel)
        self.leasestub = rpc.LeaseStub(channel)
        self.maintenancestub = rpc.MaintenanceStub(channel)
        self._watcher = watcher.Watcher(
            rpc.WatchStub(channel), timeout=self._timeout, metadata=self.metadata
        )
        self._connected.set()


def connect(
    endpoints: Sequence[str],
    credentials: grpc.ChannelCredentials | None = None,
    timeout: float = CALL_TIMEOUT,
) -> Any:
    """An aetcd client of the etcd cluster at ``endpoints`` (``host:port`` each).

    It connects on its first call, and again by itself after etcd comes back. Several
    endpoints are resolved now, and tried in turn (TLS checks each against the first's
    host). Raises ValueError for an endpoint that does not parse or resolve.
    """
    options = list(_CHANNEL_OPTIONS)
    if len(endpoints) == 1:
        target = endpoints[0]
    else:
        parsed = list_target(endpoints)
        target = parsed.dial
        options.append(("grpc.default_authority", parsed.authority))
    return _Client(target, credentials, options, timeout)


def describe(error: BaseException) -> str:
    """One line saying what went wrong with etcd."""
    return " ".join(str(error).split()) or type(error).__name__


class Backoff:
    """The pauses between attempts: from ``first`` seconds, doubling up to ``cap``, jittered."""

    def __init__(self, first: float = 0.2, cap: float = 5.0) -> None:
        """Start at ``first``."""
        self._first = first
        self._cap = cap
        self._next = first

    def next(self) -> float:
        """The pause before the next attempt (each longer, up to the cap)."""
        pause = self._next * random.uniform(0.8, 1.2)
        self._next = min(self._cap, self._next * 2)
        return pause

    def reset(self) -> None:
        """Start over: the last attempt worked."""
        self._next = self._first


Report = Callable[[frozenset[str]], Awaitable[None]]
"""Told each new address set of a name (empty: no endpoint, or etcd not reached yet)."""


class Follower:
    """The endpoints of one etcd name: listed, then watched, reported on every change.

    While etcd is unreachable the last set listed stands; that is logged once per outage
    (a warning if endpoints are known, else at INFO, the failing calls saying it), and the
    follower tries again with back-off, listing afresh once etcd answers.
    """

    def __init__(
        self,
        target: EtcdTarget,
        service: str,
        report: Report,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """Follow ``service`` (a full gRPC service name) as ``target`` names it."""
        self.etcd = ",".join(target.endpoints)
        self.prefix = target.key_prefix(service)
        self.service = service
        self.addresses: frozenset[str] | None = None
        """The set last reported; None until the first listing (or failure)."""
        self.error: str | None = None
        """Why etcd is unreachable, while it is."""
        self._target = target
        self._report = report
        self._credentials = credentials
        self._skipped: set[bytes] = set()
        self._listed = False

    def unavailable_message(self) -> str:
        """Why a call finds no endpoint: the service, the key prefix and etcd named."""
        where = f"in etcd at {self.etcd} (keys {self.prefix}*)"
        if not self._listed:
            if self.error is None:
                return f"etcd at {self.etcd} has not answered yet for {self.service}"
            return (
                f"cannot list the endpoints of {self.service} {where}: "
                f"etcd is unreachable: {self.error}"
            )
        message = f"no endpoint of {self.service} is registered {where}"
        return f"{message}; etcd is unreachable now: {self.error}" if self.error else message

    async def run(self) -> None:
        """Follow until cancelled."""
        backoff = Backoff()
        client = None
        try:
            while True:
                try:
                    if client is None:
                        client = connect(self._target.endpoints, self._credentials)
                    await self._follow(client, backoff)
                except Exception as error:  # whatever etcd or aetcd raise: never stop
                    await self._lost(error)
                await asyncio.sleep(backoff.next())
        finally:
            if client is not None:
                await asyncio.shield(client.close())

    async def _follow(self, client: Any, backoff: Backoff) -> None:
        """List the keys, then apply each change from the watch until it fails."""
        prefix = self.prefix.encode()
        listing = await client.get_prefix(prefix)
        keys = {kv.key: address for kv in listing if (address := self._address(kv.key, kv.value))}
        watch = await client.watch_prefix(prefix, start_revision=listing.header.revision + 1)
        if self.error is not None:
            logger.info(
                "etcd at %s is reachable again: %d endpoints of %s",
                self.etcd,
                len(set(keys.values())),
                self.service,
            )
            self.error = None
        backoff.reset()
        self._listed = True
        await self._publish(keys)
        async for event in watch:
            key = event.kv.key
            address = self._address(key, event.kv.value) if event.kind == "PUT" else None
            if address is None:
                keys.pop(key, None)
            else:
                keys[key] = address
            await self._publish(keys)

    def _address(self, key: bytes, value: bytes) -> str | None:
        address = endpoint_address(value)
        if address is None and key not in self._skipped:
            self._skipped.add(key)
            logger.warning("etcd key %r is not an endpoint (%r); skipped", key, value[:100])
        return address

    async def _publish(self, keys: dict[bytes, str]) -> None:
        addresses = frozenset(keys.values())
        if addresses != self.addresses:
            logger.debug("endpoints of %s in etcd: %s", self.service, sorted(addresses))
            self.addresses = addresses
            await self._report(addresses)

    async def _lost(self, error: BaseException) -> None:
        first = self.error is None
        self.error = describe(error)
        if not first:
            return
        if self.addresses:
            logger.warning(
                "etcd at %s is unreachable (%s): keeping the %d endpoints of %s last listed",
                self.etcd,
                self.error,
                len(self.addresses),
                self.service,
            )
        else:
            logger.info("etcd at %s is unreachable (%s)", self.etcd, self.error)
        if self.addresses is None:
            # Calls waiting for the first listing fail now, saying why.
            self.addresses = frozenset()
            await self._report(self.addresses)


class Dialer:
    """Turns an address set into a channel target, skipping (once logged) bad addresses."""

    def __init__(self, service: str) -> None:
        """Dial endpoints of ``service`` (named in the log lines)."""
        self._service = service
        self._bad: set[str] = set()

    def target(self, addresses: frozenset[str]) -> tuple[str, list[tuple[str, Any]]] | None:
        """The ``ipv4:``/``ipv6:`` target for ``addresses`` and its extra channel options.

        None when no address is usable. Host names are resolved now (call it off the
        event loop). The authority, for TLS, is the first address in sorted order.
        """
        usable = []
        for address in sorted(addresses):
            try:
                list_target([address])
            except ValueError as error:
                if address not in self._bad:
                    self._bad.add(address)
                    logger.warning("endpoint of %s skipped: %s", self._service, error)
                continue
            usable.append(address)
        if not usable:
            return None
        parsed = list_target(usable)
        return parsed.dial, [("grpc.default_authority", parsed.authority)]
