"""The two engines a server can run on, and everything that differs between them.

``grpcio`` is grpc's own grpc.aio server. ``native`` is pygrpc-native, which serves the
same servicers with HTTP/2 and gRPC framing in Rust but cannot do TLS, connection ageing
or keepalive enforcement, and needs a private hook to stop at once. Nothing here imports
grpc until a server is built, so settings can be checked in a process that never loads it.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import grpc

    from chrono_server.config import ServerSettings

ENGINES = ("grpcio", "native")

# What the native engine cannot enforce; left unset, these are off under it.
_NATIVE_OFF = ("max_connection_age", "keepalive_min_interval")


def defaults(engine: str) -> dict[str, Any]:
    """Settings whose default differs under ``engine``."""
    return dict.fromkeys(_NATIVE_OFF, 0.0) if engine == "native" else {}


def check(settings: ServerSettings) -> str | None:
    """What ``settings.engine`` cannot do of what ``settings`` ask, or None."""
    if settings.engine != "native":
        return None
    if importlib.util.find_spec("pygrpc_native") is None:
        return (
            "--engine native needs the pygrpc-native package: "
            "pip install 'chrono[native]' (or use --engine grpcio)"
        )
    if settings.tls:
        return "--engine native cannot serve TLS; use --engine grpcio for --tls-*"
    enforced = [
        f"--{name.replace('_', '-')} {getattr(settings, name):g}"
        for name in _NATIVE_OFF
        if getattr(settings, name) > 0
    ]
    if enforced:
        return (
            f"--engine native cannot enforce {' or '.join(enforced)}; set them to 0 to "
            "run without, or use --engine grpcio"
        )
    return None


def new_server(
    engine: str,
    options: Sequence[tuple[str, Any]],
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> grpc.aio.Server:
    """An unstarted server of ``engine`` with the grpc channel ``options`` and ``interceptors``."""
    if engine == "native":
        import pygrpc_native.aio

        # It logs a busy port itself as a warning; the entry point says it once, as an error.
        logging.getLogger("pygrpc_native").setLevel(logging.ERROR)
        server: grpc.aio.Server = pygrpc_native.aio.server(
            options=options, interceptors=interceptors or None
        )
        return server
    import grpc

    return grpc.aio.server(options=options, interceptors=interceptors or None)


def engine_options(engine: str, pending_calls: int) -> Mapping[str, Any]:
    """Options only ``engine`` takes: grpcio's cap on calls waiting to be picked up."""
    if engine != "grpcio":
        return {}
    # grpc core cancels calls beyond ~3,000 waiting to be picked up by the server;
    # thousands of watches reconnecting at once after a restart would be refused.
    return {
        "grpc.server.max_pending_requests": pending_calls,
        "grpc.server.max_pending_requests_hard_limit": 2 * pending_calls,
    }


async def stop_now(server: grpc.aio.Server) -> None:
    """Stop at once, even while a graceful stop is still waiting out its grace."""
    # pygrpc-native 0.5's stop() only waits for a stop already under way, whatever
    # its grace: cancel its calls (and its fallback server's) so that one ends now.
    # These are private names of that exact, pinned version; grpcio has neither.
    for call in list(getattr(server, "_calls", {}).values()):
        call.cancel()
    fallback = getattr(server, "_fallback", None)
    if fallback is not None:
        await fallback.stop(0)
    await server.stop(0)
