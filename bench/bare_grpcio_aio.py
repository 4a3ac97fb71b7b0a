"""The bare baseline on grpc.aio: GetTime only, no health, no reflection, no logging.

``python -m bench.bare_grpcio_aio --port 0 [--processes N]`` serves
chrono.time.v1.TimeService/GetTime from the generated stubs, logs
``listening on 127.0.0.1:PORT`` on stderr when ready, and exits 0 on SIGTERM.
The other TimeService methods answer UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bench import _bare

if TYPE_CHECKING:
    import grpc

    from chrono.time.v1 import time_service_pb2 as pb


def serve(host: str, port: int, *, reuseport: bool, on_ready: Callable[[int], None]) -> None:
    """Serve on ``host:port`` until SIGTERM or SIGINT; see :class:`bench._bare.Serve`."""
    # Imported here, never at the top: see bench._bare on why a parent avoids grpc.
    import grpc

    from chrono.time.v1 import time_service_pb2_grpc as pb_grpc

    class Servicer(pb_grpc.TimeServiceServicer):
        async def GetTime(  # noqa: N802 (the RPC's name)
            self, request: pb.GetTimeRequest, context: grpc.aio.ServicerContext[Any, Any]
        ) -> pb.GetTimeResponse:
            try:
                return _bare.get_time(request)
            except (KeyError, ValueError):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown time_zone")

    async def main() -> None:
        server = grpc.aio.server(options=[("grpc.so_reuseport", int(reuseport))])
        # The generated base class answers UNIMPLEMENTED for the methods not overridden;
        # only its typed stub marks them abstract.
        pb_grpc.add_TimeServiceServicer_to_server(Servicer(), server)  # type: ignore[abstract]
        bound = server.add_insecure_port(f"{host}:{port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await server.start()
        on_ready(bound)
        await stop.wait()
        await server.stop(1)

    asyncio.run(main())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the baseline; the exit status."""
    return _bare.main("bare_grpcio_aio", serve, "bench.bare_grpcio_aio", argv)


if __name__ == "__main__":
    sys.exit(main())
