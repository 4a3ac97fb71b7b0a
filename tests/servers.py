"""Real chrono servers for tests: bound to 127.0.0.1:0, each on its own event loop thread.

A thread of its own lets synchronous clients and the CLI call the server from the test's
thread without blocking its loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import threading
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from chrono_server.app import App, create_server, wind_down
from chrono_server.config import ServerSettings
from chrono_server.spec import Resources, Service, ServiceSpec
from tests.devcerts import DevCerts

T = TypeVar("T")

ENGINE = os.environ.get("CHRONO_TEST_ENGINE", "grpcio")
"""The engine the servers of this test run use: scripts/test runs the server suite on both."""


def server_settings(**overrides: Any) -> ServerSettings:
    """Settings for a test server: a free port on 127.0.0.1, a short grace, the run's engine."""
    # Limits the native engine cannot enforce are off under it, as the command line has them.
    native: dict[str, Any] = {}
    if ENGINE == "native":
        native = {"max_connection_age": 0.0, "keepalive_min_interval": 0.0}
    return ServerSettings(
        **{
            "host": "127.0.0.1",
            "port": 0,
            "grace": 1.0,
            # The drain's pause for clients to move away is tested where it matters.
            "drain_delay": 0.0,
            "engine": ENGINE,
            **native,
            **overrides,
        }
    )


def tls_settings(certs: DevCerts, *, mutual: bool = False) -> ServerSettings:
    """A grpcio TLS server on 127.0.0.1:0 with ``certs``; ``mutual`` requires client certificates.

    Always the grpcio engine: the native one has no TLS.
    """
    return ServerSettings(
        port=0,
        grace=1.0,
        tls_cert=certs.server_cert,
        tls_key=certs.server_key,
        tls_client_ca=certs.ca if mutual else None,
    )


class ServerThread:
    """A started server on a background event loop; stop it with :meth:`stop`."""

    def __init__(self, spec: ServiceSpec, settings: ServerSettings | None = None) -> None:
        """Build and start the server; return once it serves."""
        self.settings = settings or server_settings()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._stopped = False

        async def start() -> tuple[App, int]:
            app, port = create_server(self.settings, spec)
            await app.start()
            return app, port

        self.app, self.port = self.run(start())

    @property
    def target(self) -> str:
        """The address clients dial."""
        return f"127.0.0.1:{self.port}"

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the server's loop without waiting for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def stop(self, grace: float = 0) -> None:
        """Shut the server down as SIGTERM would, let its tasks finish, then end its loop."""
        if self._stopped:
            return
        self._stopped = True
        self.run(self._shutdown(grace))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self, grace: float) -> None:
        # As serve() does: health Watch streams of health-checking clients are still
        # winding down; closed under them, they would print GeneratorExit into some
        # later test's output.
        await self.app.shutdown(grace)
        await wind_down()


def with_clock(spec: ServiceSpec, clock: Callable[[], datetime]) -> ServiceSpec:
    """``spec`` with the service reading ``clock`` instead of the system clock."""

    def build(resources: Resources) -> Service:
        return spec.build(dataclasses.replace(resources, clock=clock))

    return dataclasses.replace(spec, build=build)


def with_servicer(spec: ServiceSpec, make: Callable[[Resources], object]) -> ServiceSpec:
    """``spec`` serving the servicer ``make(resources)`` builds instead of its own."""

    def build(resources: Resources) -> Service:
        return Service(servicer=make(resources))

    return dataclasses.replace(spec, build=build)
