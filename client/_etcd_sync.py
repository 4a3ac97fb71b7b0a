"""A blocking channel whose backends are the endpoints registered in etcd.

Python's grpcio takes no resolver of ours, so :class:`DiscoveredChannel` holds an ordinary
channel (round_robin, health checks and retries as for any target) to the address set etcd
lists now, and builds a new one when the set changes. New calls go to the new channel; the
old one is closed once its calls in flight have ended (a watch stream open on it keeps it
until the stream ends). :class:`ThreadDiscovery` follows etcd on a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc

from client._etcd import Dialer, Follower, credentials_from_env
from client._targets import parse_etcd_target

if TYPE_CHECKING:
    from client._common import ChannelOptions

    _UnaryUnaryBase = grpc.UnaryUnaryMultiCallable[Any, Any]
    _UnaryStreamBase = grpc.UnaryStreamMultiCallable[Any, Any]
else:
    _UnaryUnaryBase = grpc.UnaryUnaryMultiCallable
    _UnaryStreamBase = grpc.UnaryStreamMultiCallable

logger = logging.getLogger(__name__)

WARM_UP_SECONDS = 1.0
"""How long a new channel may take to reach a server before calls move to it anyway."""

Opener = Callable[[str, "ChannelOptions"], grpc.Channel]
"""Opens a channel as the client opens any: ``(target, extra options)``."""


class NoEndpointError(grpc.RpcError, grpc.Call):
    """UNAVAILABLE: no endpoint is registered (or etcd has not been reached yet).

    Iterating it raises it, as a server stream that failed does.
    """

    def __init__(self, message: str) -> None:
        """Fail with ``message``."""
        super().__init__(message)
        self._message = message

    def code(self) -> grpc.StatusCode:
        """UNAVAILABLE."""
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        """What was looked up, where, and why nothing was found."""
        return self._message

    def initial_metadata(self) -> tuple[()]:
        """None was received."""
        return ()

    def trailing_metadata(self) -> tuple[()]:
        """None was received."""
        return ()

    def is_active(self) -> bool:
        """It never was."""
        return False

    def time_remaining(self) -> float:
        """None: it is over."""
        return 0.0

    def cancel(self) -> bool:
        """Nothing to cancel."""
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        """Not registered: it has ended already."""
        return False

    def __iter__(self) -> NoEndpointError:
        """The stream of no responses."""
        return self

    def __next__(self) -> Any:
        """Raise the error."""
        raise self


class _Backends:
    """One channel to one address set (None if the set is empty), and its calls in flight."""

    def __init__(self, addresses: frozenset[str], channel: grpc.Channel | None) -> None:
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


class ThreadDiscovery:
    """Follows one etcd name on a thread with an event loop of its own; tells channels."""

    def __init__(self, target: str, service: str) -> None:
        """Follow ``service`` as the ``etcd://`` ``target`` names it; nothing runs yet.

        TLS to etcd comes from CHRONO_ETCD_CA, _CERT and _KEY (see
        :func:`client._etcd.credentials_from_env`); ValueError or OSError if unusable.
        """
        self.follower = Follower(
            parse_etcd_target(target), service, self._tell, credentials_from_env()
        )
        self.dialer = Dialer(service)
        self._channels: list[DiscoveredChannel] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    def attach(self, channel: DiscoveredChannel) -> None:
        """Keep ``channel`` told; the first one attached starts the follower."""
        with self._lock:
            self._channels.append(channel)
            known = self.follower.addresses is not None
            if self._thread is None:
                ready = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(ready,), name="chrono-etcd", daemon=True
                )
                self._thread.start()
                ready.wait()
        if known:
            channel.update()

    def detach(self, channel: DiscoveredChannel) -> None:
        """Stop telling ``channel``; the last one detached stops the follower."""
        with self._lock:
            if channel in self._channels:
                self._channels.remove(channel)
            last = not self._channels
            loop, task, thread = self._loop, self._task, self._thread
        if last and loop is not None and task is not None and thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed already
                loop.call_soon_threadsafe(task.cancel)
            if thread is not threading.current_thread():
                thread.join(5)

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._task = loop.create_task(self.follower.run())
        ready.set()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(self._task)
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

    async def _tell(self, addresses: frozenset[str]) -> None:
        with self._lock:
            channels = list(self._channels)
        for channel in channels:
            # Building and warming up a channel blocks: off the loop.
            await asyncio.to_thread(channel.update)


class DiscoveredChannel(grpc.Channel):
    """A channel to the endpoints etcd lists for a name, following them as they change."""

    def __init__(self, discovery: ThreadDiscovery, opener: Opener) -> None:
        """Serve calls over channels that ``opener`` opens, as ``discovery`` says."""
        self._discovery = discovery
        self._opener = opener
        self._changed = threading.Condition()
        self._updating = threading.Lock()
        self._current: _Backends | None = None
        self._retired: list[_Backends] = []
        self._closed = False
        discovery.attach(self)

    def update(self) -> None:
        """Move new calls to a channel to the set etcd lists now, once ready (or 1 s on)."""
        with self._updating:  # one update at a time, each for the latest set
            addresses = self._discovery.follower.addresses
            current = self._current
            if addresses is None or (current is not None and current.addresses == addresses):
                return
            dial = self._discovery.dialer.target(addresses)
            channel = None if dial is None else self._opener(*dial)
            if channel is not None:
                with contextlib.suppress(grpc.FutureTimeoutError):
                    grpc.channel_ready_future(channel).result(WARM_UP_SECONDS)
            with self._changed:
                if self._closed:
                    done = [channel]
                else:
                    old, self._current = self._current, _Backends(addresses, channel)
                    done = [] if old is None else self._retire(old)
                    self._changed.notify_all()
            logger.debug("calls to %s now go to %s", self._discovery.follower.service, dial)
            _close(done)

    def _retire(self, backends: _Backends) -> list[grpc.Channel | None]:
        """Mark ``backends`` for closing; the channel to close now, if it is idle."""
        backends.retired = True
        if backends.in_flight == 0:
            return [backends.channel]
        self._retired.append(backends)
        return []

    def acquire(
        self, timeout: float | None, wait_for_ready: bool | None
    ) -> tuple[_Backends, float | None]:
        """The backends for a new call, counted in flight, and the call's timeout left.

        Waits for the first listing, and with ``wait_for_ready`` for an endpoint, until
        ``timeout``. Raises NoEndpointError when there is none; ValueError once closed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not self._closed:
                current = self._current
                if current is not None and (current.channel is not None or not wait_for_ready):
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._changed.wait(left)
            if self._closed:
                raise ValueError("Cannot invoke RPC on closed channel!")
            current = self._current
            if current is None or current.channel is None:
                raise NoEndpointError(self._discovery.follower.unavailable_message())
            current.in_flight += 1
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return current, left

    def release(self, backends: _Backends) -> None:
        """A call on ``backends`` ended; close their channel if it is retired and idle."""
        with self._changed:
            backends.in_flight -= 1
            idle = backends.retired and backends.in_flight == 0 and backends in self._retired
            if idle:
                self._retired.remove(backends)
        if idle:
            # Not on this thread: it may be grpc's own, running the call's callbacks.
            threading.Thread(target=_close, args=([backends.channel],), daemon=True).start()

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

    def subscribe(
        self, callback: Callable[[grpc.ChannelConnectivity], None], try_to_connect: bool = False
    ) -> None:
        """Watch the current channel's connectivity (not later channels')."""
        current = self._current
        if current is not None and current.channel is not None:
            current.channel.subscribe(callback, try_to_connect)

    def unsubscribe(self, callback: Callable[[grpc.ChannelConnectivity], None]) -> None:
        """Stop watching the current channel's connectivity."""
        current = self._current
        if current is not None and current.channel is not None:
            current.channel.unsubscribe(callback)

    def close(self) -> None:
        """Stop following etcd and close every channel, cancelling calls in flight."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            done = [b.channel for b in (self._current, *self._retired) if b is not None]
            self._current, self._retired = None, []
            self._changed.notify_all()
        self._discovery.detach(self)
        _close(done)


# One follower per client, shared by its channels (calls and health checks).
_discoveries: weakref.WeakKeyDictionary[Any, ThreadDiscovery] = weakref.WeakKeyDictionary()


def discovered_channel(
    owner: Any,
    target: str,
    options: ChannelOptions,
    open_one: Callable[[str, ChannelOptions], grpc.Channel],
) -> DiscoveredChannel:
    """A channel for ``owner`` (a client) to the ``etcd://`` ``target``, opened by ``open_one``.

    Each channel of the set etcd lists gets ``options`` and the authority for TLS.
    """
    discovery = _discoveries.get(owner)
    if discovery is None:
        discovery = _discoveries[owner] = ThreadDiscovery(target, owner.service.full_name)
    return DiscoveredChannel(discovery, lambda dial, extra: open_one(dial, [*options, *extra]))


def _named(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A multicallable's serializers and options, all by name."""
    for name, value in zip(("request_serializer", "response_deserializer"), args, strict=False):
        kwargs[name] = value
    return kwargs


def _close(channels: list[grpc.Channel | None]) -> None:
    for channel in channels:
        if channel is not None:
            channel.close()


class _Method:
    """A method of a :class:`DiscoveredChannel`: each call goes to the channel current then."""

    kind = ""

    def __init__(self, owner: DiscoveredChannel, method: str, kwargs: dict[str, Any]) -> None:
        self._owner = owner
        self._method = method
        self._kwargs = kwargs

    def _start(
        self, how: str, request: Any, timeout: float | None, options: dict[str, Any]
    ) -> tuple[_Backends, Any]:
        """Acquire backends and start the call on them with ``how``; release on a failure."""
        backends, left = self._owner.acquire(timeout, options.get("wait_for_ready"))
        try:
            method = backends.method(self.kind, self._method, self._kwargs)
            return backends, getattr(method, how)(request, timeout=left, **options)
        except BaseException:
            self._owner.release(backends)
            raise

    def _started(self, how: str, request: Any, timeout: float | None, **options: Any) -> Any:
        """A call that runs on: its backends are released when it ends."""
        backends, call = self._start(how, request, timeout, options)
        _on_end(call, lambda: self._owner.release(backends))
        return call

    def _blocking(self, how: str, request: Any, timeout: float | None, **options: Any) -> Any:
        """A call that has ended when it returns."""
        backends, result = self._start(how, request, timeout, options)
        self._owner.release(backends)
        return result


class _UnaryUnary(_Method, _UnaryUnaryBase):
    kind = "unary_unary"

    def __call__(
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Any:
        return self._blocking(
            "__call__",
            request,
            timeout,
            metadata=metadata,
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )

    def with_call(
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Any:
        return self._blocking(
            "with_call",
            request,
            timeout,
            metadata=metadata,
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )

    def future(
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Any:
        return self._started(
            "future",
            request,
            timeout,
            metadata=metadata,
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )


class _UnaryStream(_Method, _UnaryStreamBase):
    kind = "unary_stream"

    def __call__(
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Any:
        try:
            return self._started(
                "__call__",
                request,
                timeout,
                metadata=metadata,
                credentials=credentials,
                wait_for_ready=wait_for_ready,
                compression=compression,
            )
        except NoEndpointError as error:
            return error  # fails when read, as a stream that found no server does


def _on_end(call: grpc.Call, callback: Callable[[], None]) -> None:
    """Run ``callback`` once ``call`` ends (at once if it has ended already)."""
    if not call.add_callback(callback):
        callback()
