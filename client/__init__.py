"""The chrono client: typed gRPC clients of TimeService and DateService, and the ``chrono`` command.

``TimeClient`` and ``DateClient`` block; ``AsyncTimeClient`` and ``AsyncDateClient`` run on
asyncio. Each opens one long-lived channel to its target and is closed by ``close()`` or
by leaving its (async) ``with`` block. Methods return the generated response messages and
raise ``grpc.RpcError`` when a call fails. A target is any gRPC target or a comma-separated
list of ``host:port`` (see :mod:`client._targets`); ``credentials=tls_credentials(...)``
makes the channel TLS. ``python -m client`` (or ``chrono``) is the command-line interface;
see :mod:`client.__main__`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from client._common import DEFAULT_TIMEOUT
    from client.aio import AsyncDateClient, AsyncTimeClient
    from client.sync import DateClient, TimeClient
    from client.tls import tls_credentials

# Each name is imported on first use, not with the package: the chrono command (in
# this package) must quiet grpc's logging before grpc loads. See client.__main__.
_HOMES = {
    "DEFAULT_TIMEOUT": "client._common",
    "AsyncDateClient": "client.aio",
    "AsyncTimeClient": "client.aio",
    "DateClient": "client.sync",
    "TimeClient": "client.sync",
    "tls_credentials": "client.tls",
}


def __getattr__(name: str) -> Any:
    """The public name ``name``, from the module that defines it."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'client' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncDateClient",
    "AsyncTimeClient",
    "DateClient",
    "TimeClient",
    "tls_credentials",
]
