"""What the two bare grpcio baselines share: the GetTime answer, flags, and N processes.

This module never imports grpc. A parent that runs the baseline as several processes
on one port (SO_REUSEPORT) starts its children with multiprocessing "spawn" and must
not have grpc loaded when it does: grpc's threads and polling do not survive a fork,
and the parent has no use for grpc anyway, it only reserves the port and supervises.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.queues
import queue
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from chrono.time.v1 import time_service_pb2 as pb

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Children get this long to come up, and this long to stop after SIGTERM.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class Serve(Protocol):
    """A baseline's server loop: bind, call ``on_ready(port)``, serve until SIGTERM/SIGINT."""

    def __call__(
        self, host: str, port: int, *, reuseport: bool, on_ready: Callable[[int], None]
    ) -> None:
        """Serve until stopped by a signal; return after a clean stop."""


def get_time(request: pb.GetTimeRequest) -> pb.GetTimeResponse:
    """The GetTime answer computed the obvious way with zoneinfo.

    Raises KeyError (ZoneInfoNotFoundError) or ValueError for a name zoneinfo rejects;
    the servers turn those into INVALID_ARGUMENT.
    """
    name = request.time_zone or "UTC"
    zone = ZoneInfo(name)
    now = datetime.now(UTC)
    local = now.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    dst = local.dst() or timedelta(0)
    response = pb.GetTimeResponse(
        time_zone=name,
        formatted=local.strftime("%Y-%m-%d %H:%M:%S"),
        abbreviation=local.tzname() or "",
        dst=bool(dst),
    )
    response.current_time.FromDatetime(now)
    response.utc_offset.FromTimedelta(offset)
    response.dst_offset.FromTimedelta(dst)
    return response


def _announce(port: int) -> None:
    # The one line the runner and people wait for; everything else stays quiet.
    logger.info("listening on %s:%d", HOST, port)


def _parse(prog: str, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog, description="Serve chrono.time.v1.TimeService/GetTime with bare grpcio."
    )
    parser.add_argument("--port", type=int, default=50061, help="0 picks a free port")
    parser.add_argument(
        "--reuseport",
        action="store_true",
        help="bind with SO_REUSEPORT (implied by --processes above 1)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="serve from N processes sharing the port (default 1)",
    )
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error("--processes must be 1 or more")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    return args


def main(prog: str, serve: Serve, module: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of a baseline: ``serve`` here, or in N children that import ``module``."""
    args = _parse(prog, argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.processes == 1:
        serve(HOST, args.port, reuseport=args.reuseport, on_ready=_announce)
        return 0
    return _supervise(module, args.port, args.processes)


def _child(module: str, port: int, ready: multiprocessing.queues.Queue[int]) -> None:
    """Body of one spawned server process: serve on the shared port, say when ready."""
    serve: Serve = importlib.import_module(module).serve
    serve(HOST, port, reuseport=True, on_ready=ready.put)


def _reserve_port(port: int) -> socket.socket:
    """Bind (not listen) a SO_REUSEPORT socket: it holds the port for the children.

    A bound socket that never listens gets no connections, so the kernel spreads
    them over the children only.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((HOST, port))
    return sock


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _supervise(module: str, port: int, processes: int) -> int:
    # Until the signals are blocked and waited for, SIGTERM still stops the children.
    signal.signal(signal.SIGTERM, _raise_exit)
    reserved = _reserve_port(port)
    port = reserved.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.queues.Queue[int] = context.Queue()
    children = [
        context.Process(target=_child, args=(module, port, ready), name=f"server-{i}")
        for i in range(processes)
    ]
    for child in children:
        child.start()
    try:
        if not _wait_ready(children, ready):
            return 1
        _announce(port)
        return _wait_for_signal(children)
    finally:
        _stop(children)
        reserved.close()


def _wait_ready(
    children: Sequence[multiprocessing.process.BaseProcess],
    ready: multiprocessing.queues.Queue[int],
) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    waiting = len(children)
    while waiting:
        if any(child.exitcode is not None for child in children):
            logger.error("a server process exited before it was ready")
            return False
        if time.monotonic() > deadline:
            logger.error("server processes not ready after %.0f s", START_TIMEOUT)
            return False
        try:
            ready.get(timeout=0.1)
        except queue.Empty:
            continue
        waiting -= 1
    return True


def _wait_for_signal(children: Sequence[multiprocessing.process.BaseProcess]) -> int:
    """Block until SIGTERM or SIGINT (0), or until a child dies on its own (1)."""
    # Blocked only now: spawned children inherit the signal mask through exec.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    while signal.sigtimedwait(stop_signals, 0.5) is None:
        if any(child.exitcode is not None for child in children):
            logger.error("a server process exited on its own; stopping the others")
            return 1
    return 0


def _stop(children: Sequence[multiprocessing.process.BaseProcess]) -> None:
    for child in children:
        if child.exitcode is None:
            child.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.exitcode is None:
            child.kill()
            child.join(1)
