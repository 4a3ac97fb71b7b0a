"""The chrono client: typed gRPC clients of TimeService and DateService, and the ``chrono`` command.

``TimeClient`` and ``DateClient`` block; ``AsyncTimeClient`` and ``AsyncDateClient`` run on
asyncio. Each opens one long-lived channel to its target and is closed by ``close()`` or
by leaving its (async) ``with`` block. Methods return the generated response messages and
raise ``grpc.RpcError`` when a call fails. ``python -m client`` (or ``chrono``) is the
command-line interface; see :mod:`client.__main__`.
"""

from client._common import DEFAULT_TIMEOUT
from client.aio import AsyncDateClient, AsyncTimeClient
from client.sync import DateClient, TimeClient

__all__ = ["DEFAULT_TIMEOUT", "AsyncDateClient", "AsyncTimeClient", "DateClient", "TimeClient"]
