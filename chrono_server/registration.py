"""Registration in etcd: a server lists its address there for as long as it serves.

With ``--etcd``, the server writes the key ``<--etcd-prefix><full service name>/<address>``
(by default ``chrono/services/chrono.time.v1.TimeService/10.0.0.5:50051``) with the value
etcd's Go naming package writes, ``{"Op":0,"Addr":"10.0.0.5:50051","Metadata":null}``
(see :mod:`client._etcd`), so that chrono's clients, Go's etcd resolver and ``etcdctl``
all read it. The address is ``--advertise-address``, or ``--host`` and the port.

The key is attached to a lease of ``--etcd-ttl`` seconds, kept alive every third of that:
a process that dies is gone from etcd when its lease runs out. :class:`Registration` is a
component placed after health: it registers once the server is SERVING, and its stop
deletes the key before health turns NOT_SERVING. An etcd that cannot be reached, at start
or later, is logged once; the server serves on and tries again with back-off, and the key
comes back by itself once etcd answers (a new lease if the old one has expired).

A host running ``--workers N`` is one endpoint: N processes, one address. Each worker
writes the key only if it is absent (a transaction); a worker that finds it written by
another worker keeps that worker's lease alive too, instead of attaching its own (the
key has one lease; attaching the last writer's would drop the key when that worker
died). So the key stays while any worker serves, and goes within the TTL once none does.
A key per worker, each with the same address, was not chosen: the format is one key per
endpoint, and etcd's Go resolver hands every key's address to the balancer, listing the
host N times. A worker stopping on its own (SIGTERM to that worker alone) deletes the key
all the same; the others write it again on their next keepalive, a third of the TTL later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from chrono_server.config import ServerSettings, join_host_port
from client._etcd import ERRORS, Backoff, connect, describe, endpoint_value
from client.tls import tls_credentials

logger = logging.getLogger(__name__)

STOP_SECONDS = 1.0
"""How long the drain waits for etcd to delete the key: an unreachable etcd must not stall
it (the key then goes with its lease)."""


def advertised(settings: ServerSettings, port: int) -> str:
    """The address a server listening on ``port`` registers."""
    return settings.advertise_address or join_host_port(settings.host, port)


class Registration:
    """Keeps ``<prefix><service>/<address>`` in etcd, on a live lease, while the server serves."""

    name = "etcd registration"

    def __init__(self, settings: ServerSettings, service: str, port: int) -> None:
        """Register ``service`` (a full gRPC service name) of a server listening on ``port``."""
        assert settings.etcd is not None
        self.address = advertised(settings, port)
        self.key = f"{settings.etcd_prefix}{service}/{self.address}"
        self._value = endpoint_value(self.address)
        self._endpoints = tuple(entry.partition("://")[2] or entry for entry in settings.etcd)
        self._etcd = ",".join(self._endpoints)
        self._tls = settings.etcd[0].startswith("https://") or any(
            path is not None for path in (settings.etcd_ca, settings.etcd_cert)
        )
        self._files = (settings.etcd_ca, settings.etcd_cert, settings.etcd_key)
        self._ttl = settings.etcd_ttl
        self._credentials: Any = None
        self._client: Any = None
        self._lease: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._registered = False
        self.error: str | None = None
        """Why etcd cannot be reached, while it cannot."""

    async def start(self) -> None:
        """Register in the background; raises only if the TLS files are unusable."""
        self._credentials = tls_credentials(*self._files) if self._tls else None
        self._task = asyncio.ensure_future(self._keep())

    async def _keep(self) -> None:
        backoff = Backoff()
        while True:
            try:
                if self._client is None:
                    # etcd answers in milliseconds; each call within a third of the TTL.
                    timeout = max(0.5, min(2.0, self._ttl / 3))
                    self._client = connect(self._endpoints, self._credentials, timeout)
                await self._register()
            except Exception as error:  # whatever etcd or aetcd raise: never stop
                if self.error is None:
                    logger.warning(
                        "etcd at %s is unreachable (%s): serving on, and registering %s "
                        "once it answers",
                        self._etcd,
                        describe(error),
                        self.key,
                    )
                self.error = describe(error)
                await asyncio.sleep(backoff.next())
                continue
            if self.error is not None:
                logger.info("etcd at %s is reachable again: %s registered", self._etcd, self.key)
                self.error = None
            elif not self._registered:
                logger.info(
                    "registered %s in etcd at %s (lease TTL %d s)", self.key, self._etcd, self._ttl
                )
            self._registered = True
            backoff.reset()
            await asyncio.sleep(self._ttl / 3)

    async def _register(self) -> None:
        """Keep the lease alive (a new one if it ended) and the key on it, if absent."""
        client = self._client
        if self._lease is not None:
            reply = await client.refresh_lease(self._lease)
            if reply is None or reply.TTL <= 0:
                self._lease = None  # expired, and etcd deleted the key with it
        if self._lease is None:
            self._lease = (await client.lease(self._ttl)).id
        key = self.key.encode()
        txn = client.transactions
        created, responses = await client.transaction(
            compare=[txn.create(key) == 0],
            success=[txn.put(key, self._value, lease=self._lease)],
            failure=[txn.get(key)],
        )
        if created:
            return
        found = responses[0][0][1]
        if found.value == self._value and found.lease not in (0, self._lease):
            # Another worker of this host wrote it: keep its lease alive as well.
            own, self._lease = self._lease, found.lease
            with contextlib.suppress(*ERRORS):
                await client.revoke_lease(own)
        elif found.value != self._value or found.lease != self._lease:
            await client.put(key, self._value, lease=self._lease)

    async def stop(self) -> None:
        """Delete the key (and end the lease), so that clients stop choosing this server."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if self._registered:
                await asyncio.wait_for(self._deregister(client), STOP_SECONDS)
                logger.info("removed %s from etcd", self.key)
        except ERRORS as error:
            logger.warning(
                "could not remove %s from etcd (%s): it goes when its lease ends, within %d s",
                self.key,
                describe(error),
                self._ttl,
            )
        finally:
            await client.close()

    async def _deregister(self, client: Any) -> None:
        await client.delete(self.key.encode())
        if self._lease is not None:
            await client.revoke_lease(self._lease)
