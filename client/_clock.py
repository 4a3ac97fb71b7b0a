"""ReadClock exchanges as the samples :mod:`client._offset` estimates an offset from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from chrono.time.v1 import time_service_pb2 as time_pb
from client._offset import OffsetEstimate, Sample, estimate

MAX_SAMPLES = 64

_STATUS = {
    time_pb.CLOCK_STATUS_SYNCHRONIZED: "synchronized",
    time_pb.CLOCK_STATUS_UNSYNCHRONIZED: "unsynchronized",
    time_pb.CLOCK_STATUS_UNKNOWN: "unknown",
}


def check_samples(samples: int) -> int:
    """``samples`` if it is 1 to 64; ValueError otherwise."""
    if not 1 <= samples <= MAX_SAMPLES:
        raise ValueError(f"samples must be 1 to {MAX_SAMPLES}, not {samples}")
    return samples


def request(sent_wall_ns: int) -> time_pb.ReadClockRequest:
    """The request of a sample sent at ``sent_wall_ns`` (this host's clock)."""
    message = time_pb.ReadClockRequest()
    message.client_transmit_time.seconds, message.client_transmit_time.nanos = divmod(
        sent_wall_ns, 1_000_000_000
    )
    return message


def _ns(stamp: object) -> int:
    return int(stamp.seconds) * 1_000_000_000 + int(stamp.nanos)  # type: ignore[attr-defined]


class Reading:
    """One exchange: this host's clocks around it and the server's answer."""

    def __init__(
        self,
        sent: tuple[int, int],
        response: time_pb.ReadClockResponse,
        received: tuple[int, int],
    ) -> None:
        """``sent`` and ``received`` are (wall ns, monotonic ns) read around the call."""
        self.response = response
        self.sample = Sample(
            t1=sent[0],
            t2=_ns(response.receive_time),
            t3=_ns(response.transmit_time),
            t4=received[0],
            sent_monotonic_ns=sent[1],
            received_monotonic_ns=received[1],
        )


def estimate_from(readings: Sequence[Reading]) -> OffsetEstimate:
    """The offset estimate of ``readings``, with the server's bound and status of the last."""
    last = readings[-1].response
    bound: timedelta | None = None
    if last.HasField("error_bound"):
        bound = last.error_bound.ToTimedelta()
    status = _STATUS.get(last.clock_status, "unknown")
    return estimate([reading.sample for reading in readings], bound, status)
