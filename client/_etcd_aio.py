"""An asyncio channel whose backends are the endpoints registered in etcd.

The asyncio twin of :mod:`client._etcd_sync`: the follower runs as a task of the client's
event loop, and a call made before the first listing has arrived (or, with
``wait_for_ready``, while no endpoint is registered) is a pending call that starts on
the channel current once there is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import grpc

from client._etcd import Dialer, Follower, credentials_from_env
from client._targets import parse_etcd_target

if TYPE_CHECKING:
    from client._common import ChannelOptions

logger = logging.getLogger(__name__)

WARM_UP_SECONDS = 1.0
"""How long a new channel may take to reach a server before calls move to it anyway."""

Opener = Callable[[str, "ChannelOptions"], grpc.aio.Channel]
"""Opens a channel as the client opens any: ``(target, extra options)``."""


class _Backends:
    """One channel to one address set (None if the set is empty), and its calls in flight."""

    def __init__(self, addresses: frozenset[str], channel: grpc.aio.Channel | None) -> None:
        self.addresses = addresses
        self.channel = channel
        self.in_flight = 0
        self.retired = False
        self._methods: dict[tuple[str, str], Any] = {}

    def method(self, kind: str, name: str, kwargs: dict[str, Any]) -> Any:
        """The channel's multicallable for method ``name``, made once."""
        found = self._methods.get((kind, name))
        if found is None:
            assert self.channel is not None
            found = self._methods[kind, name] = getattr(self.channel, kind)(name, **kwargs)
        return found


class TaskDiscovery:
    """Follows one etcd name in a task of the running event loop; tells channels."""

    def __init__(self, target: str, service: str) -> None:
        """Follow ``service`` as the ``etcd://`` ``target`` names it, once a loop runs.

        TLS to etcd comes from CHRONO_ETCD_CA, _CERT and _KEY (see
        :func:`client._etcd.credentials_from_env`); ValueError or OSError if unusable.
        """
        self.follower = Follower(
            parse_etcd_target(target), service, self._tell, credentials_from_env()
        )
        self.dialer = Dialer(service)
        self._channels: list[AioDiscoveredChannel] = []
        self._task: asyncio.Task[None] | None = None
        self._updates: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start following, if not yet and if a loop runs here (else on the first call)."""
        if self._task is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self.follower.run())

    def attach(self, channel: AioDiscoveredChannel) -> None:
        """Keep ``channel`` told."""
        self._channels.append(channel)
        self.start()
        if self.follower.addresses is not None:
            update = asyncio.ensure_future(channel.update())
            self._updates.add(update)
            update.add_done_callback(self._updates.discard)

    async def detach(self, channel: AioDiscoveredChannel) -> None:
        """Stop telling ``channel``; the last one detached stops the follower."""
        if channel in self._channels:
            self._channels.remove(channel)
        if not self._channels and self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _tell(self, addresses: frozenset[str]) -> None:
        for channel in list(self._channels):
            await channel.update()


class AioDiscoveredChannel(grpc.aio.Channel):
    """A channel to the endpoints etcd lists for a name, following them as they change."""

    def __init__(self, discovery: TaskDiscovery, opener: Opener) -> None:
        """Serve calls over channels that ``opener`` opens, as ``discovery`` says."""
        self._discovery = discovery
        self._opener = opener
        self._changed = asyncio.Condition()
        self._updating = asyncio.Lock()
        self._current: _Backends | None = None
        self._retired: list[_Backends] = []
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False
        discovery.attach(self)

    async def update(self) -> None:
        """Move new calls to a channel to the set etcd lists now, once ready (or 1 s on)."""
        async with self._updating:
            addresses = self._discovery.follower.addresses
            current = self._current
            if addresses is None or (current is not None and current.addresses == addresses):
                return
            # Resolving host names blocks: off the loop.
            dial = await asyncio.to_thread(self._discovery.dialer.target, addresses)
            channel = None if dial is None else self._opener(*dial)
            if channel is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(channel.channel_ready(), WARM_UP_SECONDS)
            async with self._changed:
                if self._closed:
                    done = [channel]
                else:
                    old, self._current = self._current, _Backends(addresses, channel)
                    done = [] if old is None else self._retire(old)
                    self._changed.notify_all()
            logger.debug("calls to %s now go to %s", self._discovery.follower.service, dial)
            await _close(done)

    def _retire(self, backends: _Backends) -> list[grpc.aio.Channel | None]:
        backends.retired = True
        if backends.in_flight == 0:
            return [backends.channel]
        self._retired.append(backends)
        return []

    def _no_endpoint(self) -> grpc.aio.AioRpcError:
        return grpc.aio.AioRpcError(
            grpc.StatusCode.UNAVAILABLE,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            details=self._discovery.follower.unavailable_message(),
        )

    def try_acquire(self, wait_for_ready: bool | None) -> _Backends | None:
        """The backends for a new call, counted in flight; None if the call must wait.

        Raises AioRpcError (UNAVAILABLE) when no endpoint is registered and the call
        does not wait for one; grpc.aio.UsageError once closed.
        """
        if self._closed:
            raise grpc.aio.UsageError("Channel is closed.")
        self._discovery.start()
        current = self._current
        if current is None or (current.channel is None and wait_for_ready):
            return None
        if current.channel is None:
            raise self._no_endpoint()
        current.in_flight += 1
        return current

    async def acquire(self, limit: float | None, wait_for_ready: bool | None) -> _Backends:
        """:meth:`try_acquire`, waiting up to ``limit`` seconds for a listing or an endpoint."""
        deadline = None if limit is None else time.monotonic() + limit
        async with self._changed:
            while (found := self.try_acquire(wait_for_ready)) is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise self._no_endpoint()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)
        return found

    def release(self, backends: _Backends) -> None:
        """A call on ``backends`` ended; close their channel if it is retired and idle."""
        backends.in_flight -= 1
        if backends.retired and backends.in_flight == 0 and backends in self._retired:
            self._retired.remove(backends)
            closing = asyncio.ensure_future(_close([backends.channel]))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A unary method, called on whichever channel is current when it is called."""
        return _UnaryUnary(self, method, _named(args, kwargs))

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A server-streaming method, called as :meth:`unary_unary` is."""
        return _UnaryStream(self, method, _named(args, kwargs))

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Not offered: chrono's services have no client-streaming method."""
        raise NotImplementedError("client streaming over an etcd target")

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Not offered: chrono's services have no client-streaming method."""
        raise NotImplementedError("client streaming over an etcd target")

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        """The current channel's connectivity; IDLE while there is none."""
        current = self._current
        if current is None or current.channel is None:
            return grpc.ChannelConnectivity.IDLE
        return current.channel.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        """Wait for the current channel's connectivity to change from ``last_observed_state``."""
        current = self._current
        if current is not None and current.channel is not None:
            await current.channel.wait_for_state_change(last_observed_state)
        else:
            async with self._changed:
                await self._changed.wait()

    async def channel_ready(self) -> None:
        """Wait until an endpoint is listed and its channel is ready."""
        backends = await self.acquire(None, True)
        try:
            assert backends.channel is not None
            await backends.channel.channel_ready()
        finally:
            self.release(backends)

    async def close(self, grace: float | None = None) -> None:
        """Stop following etcd and close every channel (after ``grace`` for calls)."""
        if self._closed:
            return
        self._closed = True
        done = [b.channel for b in (self._current, *self._retired) if b is not None]
        self._current, self._retired = None, []
        async with self._changed:
            self._changed.notify_all()  # calls waiting for a channel fail now
        await self._discovery.detach(self)
        await _close(done, grace)

    async def __aenter__(self) -> AioDiscoveredChannel:
        """The channel itself."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        """Close the channel."""
        await self.close()


# One follower per client, shared by its channels (calls and health checks).
_discoveries: weakref.WeakKeyDictionary[Any, TaskDiscovery] = weakref.WeakKeyDictionary()


def discovered_channel(
    owner: Any,
    target: str,
    options: ChannelOptions,
    open_one: Callable[[str, ChannelOptions], grpc.aio.Channel],
) -> AioDiscoveredChannel:
    """A channel for ``owner`` (a client) to the ``etcd://`` ``target``, opened by ``open_one``.

    Each channel of the set etcd lists gets ``options`` and the authority for TLS.
    """
    discovery = _discoveries.get(owner)
    if discovery is None:
        discovery = _discoveries[owner] = TaskDiscovery(target, owner.service.full_name)
    return AioDiscoveredChannel(discovery, lambda dial, extra: open_one(dial, [*options, *extra]))


def _named(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A multicallable's serializers and options, all by name."""
    for name, value in zip(("request_serializer", "response_deserializer"), args, strict=False):
        kwargs[name] = value
    return kwargs


async def _close(channels: list[grpc.aio.Channel | None], grace: float | None = None) -> None:
    for channel in channels:
        if channel is not None:
            await channel.close(grace)


class _Method:
    """A method of an :class:`AioDiscoveredChannel`."""

    kind = ""

    def __init__(self, owner: AioDiscoveredChannel, method: str, kwargs: dict[str, Any]) -> None:
        self._owner = owner
        self._method = method
        self._kwargs = kwargs


class _PendingCall:
    """A call started on the channel current when it is made, or as soon as there is one."""

    def __init__(
        self,
        owner: AioDiscoveredChannel,
        kind: str,
        method: str,
        kwargs: dict[str, Any],
        request: Any,
        timeout: float | None,
        options: dict[str, Any],
    ) -> None:
        self._owner = owner
        self._how = (kind, method, kwargs, request, options)
        self._inner: Any = None
        self._error: grpc.aio.AioRpcError | None = None
        self._waiting: asyncio.Task[None] | None = None
        self._callbacks: list[Callable[[Any], None]] = []
        try:
            backends = owner.try_acquire(options.get("wait_for_ready"))
        except grpc.aio.AioRpcError as error:
            self._error = error
            return
        if backends is None:
            self._waiting = asyncio.ensure_future(self._wait(timeout))
        else:
            self._begin(backends, timeout)

    def _begin(self, backends: _Backends, timeout: float | None) -> None:
        kind, method, kwargs, request, options = self._how
        try:
            self._inner = backends.method(kind, method, kwargs)(request, timeout=timeout, **options)
        except BaseException:
            self._owner.release(backends)
            raise
        self._inner.add_done_callback(lambda _: self._owner.release(backends))
        for callback in self._callbacks:
            self._inner.add_done_callback(lambda _, callback=callback: callback(self))

    async def _wait(self, limit: float | None) -> None:
        started = time.monotonic()
        try:
            backends = await self._owner.acquire(limit, self._how[4].get("wait_for_ready"))
        except grpc.aio.AioRpcError as error:
            self._error = error
            self._ended()
            return
        left = None if limit is None else max(0.0, limit - (time.monotonic() - started))
        self._begin(backends, left)

    def _ended(self) -> None:
        for callback in self._callbacks:
            callback(self)

    async def _call(self) -> Any:
        """The call on a real channel; raises the error if there is none to make."""
        if self._waiting is not None:
            await self._waiting
        if self._error is not None:
            raise self._error
        return self._inner

    def __await__(self) -> Generator[Any, None, Any]:
        """The response."""
        return self._response().__await__()

    async def _response(self) -> Any:
        return await (await self._call())

    async def read(self) -> Any:
        """The stream's next response, or grpc.aio.EOF at its end."""
        return await (await self._call()).read()

    def __aiter__(self) -> AsyncIterator[Any]:
        """The stream's responses."""
        return self._responses()

    async def _responses(self) -> AsyncIterator[Any]:
        async for response in await self._call():
            yield response

    def cancelled(self) -> bool:
        """Whether the call was cancelled."""
        if self._inner is not None:
            return bool(self._inner.cancelled())
        return self._waiting is not None and self._waiting.cancelled()

    def done(self) -> bool:
        """Whether the call has ended."""
        if self._inner is not None:
            return bool(self._inner.done())
        return self._error is not None or self.cancelled()

    def time_remaining(self) -> float | None:
        """Seconds left before the deadline, once the call runs."""
        return None if self._inner is None else self._inner.time_remaining()

    def cancel(self) -> bool:
        """Cancel the call, or the wait for a channel to make it on."""
        if self._inner is not None:
            return bool(self._inner.cancel())
        if self._waiting is not None and not self._waiting.done():
            self._waiting.cancel()
            self._waiting.add_done_callback(lambda _: self._ended())
            return True
        return False

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(call)`` when the call ends."""
        if self._inner is not None:
            self._inner.add_done_callback(lambda _: callback(self))
        elif self.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    async def _ran(self) -> Any:
        """The call on a real channel, or the error that kept it from being made."""
        try:
            return await self._call()
        except grpc.aio.AioRpcError as error:
            return error

    async def initial_metadata(self) -> grpc.aio.Metadata:
        """The server's initial metadata (none when no server was found)."""
        call = await self._ran()
        if isinstance(call, grpc.aio.AioRpcError):
            return grpc.aio.Metadata()
        metadata: grpc.aio.Metadata = await call.initial_metadata()
        return metadata

    async def trailing_metadata(self) -> grpc.aio.Metadata:
        """The server's trailing metadata (none when no server was found)."""
        call = await self._ran()
        if isinstance(call, grpc.aio.AioRpcError):
            return grpc.aio.Metadata()
        metadata: grpc.aio.Metadata = await call.trailing_metadata()
        return metadata

    async def code(self) -> grpc.StatusCode:
        """The call's status code."""
        call = await self._ran()
        if isinstance(call, grpc.aio.AioRpcError):
            return call.code()
        code: grpc.StatusCode = await call.code()
        return code

    async def details(self) -> str:
        """The call's status message."""
        call = await self._ran()
        if isinstance(call, grpc.aio.AioRpcError):
            return call.details() or ""
        details: str = await call.details()
        return details

    async def wait_for_connection(self) -> None:
        """Wait until the call is on its way to a server; raises if there is none."""
        await (await self._call()).wait_for_connection()


class _PendingUnaryCall(_PendingCall, grpc.aio.UnaryUnaryCall[Any, Any]):
    pass


class _PendingStreamCall(_PendingCall, grpc.aio.UnaryStreamCall[Any, Any]):
    pass


class _UnaryUnary(_Method, grpc.aio.UnaryUnaryMultiCallable[Any, Any]):
    kind = "unary_unary"

    def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> grpc.aio.UnaryUnaryCall[Any, Any]:
        options = {
            "metadata": metadata,
            "credentials": credentials,
            "wait_for_ready": wait_for_ready,
            "compression": compression,
        }
        return _PendingUnaryCall(
            self._owner, self.kind, self._method, self._kwargs, request, timeout, options
        )


class _UnaryStream(_Method, grpc.aio.UnaryStreamMultiCallable[Any, Any]):
    kind = "unary_stream"

    def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> grpc.aio.UnaryStreamCall[Any, Any]:
        options = {
            "metadata": metadata,
            "credentials": credentials,
            "wait_for_ready": wait_for_ready,
            "compression": compression,
        }
        return _PendingStreamCall(
            self._owner, self.kind, self._method, self._kwargs, request, timeout, options
        )
