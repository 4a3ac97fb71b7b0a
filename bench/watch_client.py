"""A client process that holds N WatchTime streams open and measures how late ticks arrive.

``python -m bench.watch_client --target 127.0.0.1:PORT --streams 2500`` opens the
streams (1 s interval) over several channels, one TCP connection each, waits until
every stream has its first update, then records, for each tick of the next
``--seconds`` whole seconds, its lateness: the time it was received minus the whole
second it belongs to (a 1 s watch ticks at whole seconds; ``current_time`` is when the
server built the update, at or after the tick). It prints ``measuring`` when that
window starts and one JSON object with the results at the end, on stdout.

Lateness includes this client's own delay in reading the updates: its CPU time is
reported so that a saturated client can be told from a late server.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration

from bench._load import ZONE, percentile
from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc

# Ticks of the last second may still be in flight when the window ends: wait this
# long for them before counting the missing ones.
DRAIN_SECONDS = 2.0


@dataclass
class _State:
    streams: int
    opened: int = 0
    all_open: asyncio.Event = field(default_factory=asyncio.Event)
    first_tick: float = math.inf
    last_tick: float = -math.inf
    expected: int = 0
    lateness: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    per_tick: collections.Counter[int] = field(default_factory=collections.Counter)
    closing: bool = False


async def _watch(stub: pb_grpc.TimeServiceAsyncStub, state: _State) -> None:
    request = pb.WatchTimeRequest(time_zone=ZONE, interval=Duration(seconds=1))
    call = stub.WatchTime(request)
    first = True
    try:
        async for update in call:
            received = time.time()
            if first:
                first = False
                state.opened += 1
                if state.opened == state.streams:
                    state.all_open.set()
                continue
            tick = update.current_time.seconds
            if state.first_tick <= tick <= state.last_tick:
                state.per_tick[int(tick - state.first_tick)] += 1
                state.lateness.append(received - tick)
                state.lag.append(update.current_time.nanos / 1e9)
                if len(state.lateness) == state.expected:
                    state.complete.set()
    except grpc.aio.AioRpcError as error:
        if not state.closing:
            state.errors[error.code().name] += 1
    finally:
        call.cancel()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    state = _State(streams=args.streams)
    # A local subchannel pool per channel: otherwise channels to one target share one
    # connection, and the server's per-connection stream limit would apply to all.
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [
        grpc.aio.insecure_channel(args.target, options=options)
        for _ in range(math.ceil(args.streams / args.per_channel))
    ]
    stubs = [pb_grpc.TimeServiceStub(channel) for channel in channels]
    started = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for i in range(args.streams):
        tasks.append(asyncio.create_task(_watch(stubs[i // args.per_channel], state)))
        if args.ramp and (i + 1) % args.per_channel == 0:
            # Opened a channel's worth at a time, at --ramp streams per second.
            await asyncio.sleep(args.per_channel / args.ramp)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(state.all_open.wait(), args.open_timeout)
    open_seconds = time.monotonic() - started
    opened = state.opened
    # Measure whole seconds from the next one on; a stream that failed to open is
    # counted in errors, and the window measures those that did.
    state.first_tick = math.floor(time.time()) + 1
    state.last_tick = state.first_tick + args.seconds - 1
    state.expected = opened * args.seconds
    print("measuring", flush=True)
    cpu_before = _cpu()
    remaining = state.last_tick + 1 + DRAIN_SECONDS - time.time()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(state.complete.wait(), max(0.0, remaining))
    window_cpu = _cpu() - cpu_before
    window_seconds = time.time() - (state.first_tick - 1)
    state.closing = True
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    lateness = sorted(state.lateness)
    lag = sorted(state.lag)
    return {
        "streams": args.streams,
        "opened": opened,
        "open_seconds": open_seconds,
        "channels": len(channels),
        "errors": dict(state.errors),
        "ticks_expected": state.expected,
        "ticks_received": len(lateness),
        # Updates received for each second of the window, from the first on.
        "per_tick": [state.per_tick[i] for i in range(args.seconds)],
        "lateness_p50_ms": 1000 * percentile(lateness, 0.50),
        "lateness_p99_ms": 1000 * percentile(lateness, 0.99),
        "lateness_max_ms": 1000 * lateness[-1] if lateness else math.nan,
        "server_lag_p99_ms": 1000 * percentile(lag, 0.99),
        "client_cpu_cores": window_cpu / window_seconds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the watch client; the result goes to stdout as JSON."""
    parser = argparse.ArgumentParser(prog="watch_client", description=__doc__)
    parser.add_argument("--target", required=True)
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--per-channel", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=5, help="ticks to measure per stream")
    parser.add_argument("--open-timeout", type=float, default=60.0)
    parser.add_argument(
        "--ramp", type=float, default=0.0, help="open at most this many streams per second"
    )
    parser.add_argument(
        "--uvloop", action="store_true", help="run on uvloop (less client overhead)"
    )
    args = parser.parse_args(argv)
    if args.uvloop:
        import uvloop

        result = uvloop.run(_run(args))
    else:
        result = asyncio.run(_run(args))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
