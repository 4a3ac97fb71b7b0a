"""The bare baseline on grpcio's sync server: GetTime only, no health, reflection or logging.

``python -m bench.bare_grpcio_sync --port 0 [--processes N]`` serves
chrono.time.v1.TimeService/GetTime from a ThreadPoolExecutor, logs
``listening on 127.0.0.1:PORT`` on stderr when ready, and exits 0 on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from bench import _bare

if TYPE_CHECKING:
    import grpc

    from chrono.time.v1 import time_service_pb2 as pb

# grpcio's examples use 10; under the GIL more threads add switching, not throughput.
THREADS = 10


def serve(host: str, port: int, *, reuseport: bool, on_ready: Callable[[int], None]) -> None:
    """Serve on ``host:port`` until SIGTERM or SIGINT; see :class:`bench._bare.Serve`."""
    # Imported here, never at the top: see bench._bare on why a parent avoids grpc.
    import grpc

    from chrono.time.v1 import time_service_pb2_grpc as pb_grpc

    class Servicer(pb_grpc.TimeServiceServicer):
        def GetTime(  # noqa: N802 (the RPC's name)
            self, request: pb.GetTimeRequest, context: grpc.ServicerContext
        ) -> pb.GetTimeResponse:
            try:
                return _bare.get_time(request)
            except (KeyError, ValueError):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown time_zone")

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    server = grpc.server(
        ThreadPoolExecutor(max_workers=THREADS), options=[("grpc.so_reuseport", int(reuseport))]
    )
    # The generated base class answers UNIMPLEMENTED for the methods not overridden;
    # only its typed stub marks them abstract.
    pb_grpc.add_TimeServiceServicer_to_server(Servicer(), server)  # type: ignore[abstract]
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    on_ready(bound)
    # Event.wait returns when the handler (run in this, the main thread) sets it.
    stop.wait()
    server.stop(1).wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the baseline; the exit status."""
    return _bare.main("bare_grpcio_sync", serve, "bench.bare_grpcio_sync", argv)


if __name__ == "__main__":
    sys.exit(main())
