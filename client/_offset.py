"""The local clock against a server's, from ReadClock samples, the way NTP does it.

One sample is four timestamps: t1 when the request left (client clock), t2 when it
arrived and t3 when the answer left (server clock), t4 when the answer came back (client
clock). Whatever the network does, the server read its clock somewhere between t1 and
t4, so with δ = (t4 - t1) - (t3 - t2), the time the request and answer spent in flight,

    θ = ((t2 - t1) + (t3 - t4)) / 2

is the server's clock minus the client's to within ±δ/2, for any split of δ between the
two directions. The sample with the smallest δ bounds the offset most tightly.

The client's wall clock may be stepped while a sample is in flight, so t4 is taken as
t1 plus the round trip measured on the client's monotonic clock, and δ uses that round
trip too. Only the estimate is computed here: the calls are the clients' business.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DRIFT_PPM = 500.0
"""How fast a clock may drift from true time, in parts per million, when nothing says less.

This is the Linux kernel's MAXFREQ (include/linux/timex.h, 500000 ns/s): the largest
frequency correction it applies, the tolerance adjtimex reports, and the rate at which
second_overflow() (kernel/time/ntp.c) grows maxerror, 500 µs every second, between two
updates from the clock discipline. Bounds widened at this rate are kept the way the
server's own error bound is. A disciplined clock does far better (a few ppm), an
undisciplined crystal usually within 100 ppm.
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Sample:
    """One ReadClock exchange; every field is in nanoseconds.

    ``t1`` and ``t4`` are the client's wall clock (since the epoch) when the request
    left and the answer arrived, ``t2`` and ``t3`` the server's clock when the request
    arrived and the answer left. ``sent_monotonic_ns`` and ``received_monotonic_ns`` are
    the client's monotonic clock at t1 and t4: the estimate uses their difference as the
    round trip and ``t1`` plus it in place of ``t4``, which is kept for diagnosis only.
    """

    t1: int
    t2: int
    t3: int
    t4: int
    sent_monotonic_ns: int
    received_monotonic_ns: int

    @property
    def round_trip_ns(self) -> int:
        """The whole exchange, on the client's monotonic clock."""
        return self.received_monotonic_ns - self.sent_monotonic_ns

    @property
    def delay_ns(self) -> int:
        """δ: the round trip less the server's time with the request."""
        return self.round_trip_ns - (self.t3 - self.t2)

    @property
    def consistent(self) -> bool:
        """Whether the server's time with the request fits inside the round trip.

        It cannot, physically; when it seems to, the server's clock was stepped while
        it answered, and the sample says nothing.
        """
        return 0 <= self.t3 - self.t2 <= self.round_trip_ns

    def _twice_offset_ns(self) -> int:
        # 2θ with t4 = t1 + round trip, kept whole: θ may fall on half a nanosecond.
        return (self.t2 - self.t1) + (self.t3 - (self.t1 + self.round_trip_ns))


@dataclass(frozen=True)
class OffsetEstimate:
    """The server's clock minus this machine's, and how sure that is.

    ``offset`` is θ of the best sample (smallest δ). ``measurement_bound`` is how well
    the two clocks were compared: δ/2 of that sample, plus what rounding to microseconds
    and the clocks' rate errors over its round trip may add. ``server_error_bound`` is
    what the server says of its clock against UTC, None if unknown; ``true_time_bound``
    is the sum of the two, None when the server's bound is unknown. ``round_trip`` is
    the best sample's whole exchange, ``samples`` how many consistent samples were
    compared, ``server_status`` the server's clock status as it sent it.
    ``taken_monotonic_ns`` and ``taken_wall_ns`` are the client's monotonic and wall
    clocks when the best sample's answer arrived.
    """

    offset: timedelta
    measurement_bound: timedelta
    server_error_bound: timedelta | None
    true_time_bound: timedelta | None
    round_trip: timedelta
    samples: int
    server_status: str
    taken_monotonic_ns: int
    taken_wall_ns: int


def estimate(
    samples: Sequence[Sample], server_error_bound: timedelta | None, server_status: str
) -> OffsetEstimate:
    """The offset the samples of one server give, from the one with the smallest δ.

    Inconsistent samples are left out. Raises ValueError without any sample, or when
    none is consistent.
    """
    if not samples:
        raise ValueError("no clock samples to estimate from: take at least one")
    usable = [sample for sample in samples if sample.consistent]
    if not usable:
        raise ValueError(
            f"none of the {len(samples)} clock samples is consistent: the server's "
            "clock moved by more than the round trip while answering; sample again"
        )
    # On a tie, the later sample: the estimate then ages from the latest moment.
    best = min(usable, key=lambda sample: (sample.delay_ns, -sample.received_monotonic_ns))
    twice_offset = best._twice_offset_ns()
    offset_us = _round_div(twice_offset, 2000)
    # Bounds are counted in half nanoseconds, as twice_offset is (δ/2 is δ of them),
    # and rounded up to whole microseconds.
    rounding = abs(twice_offset - 2000 * offset_us)
    # Each clock may run fast or slow by DRIFT_PPM over the exchange: the server's
    # t3 - t2 and the client's round trip are both that far off at worst.
    rates = math.ceil(4 * DRIFT_PPM * best.round_trip_ns / 1e6)
    bound_us = _ceil_div(best.delay_ns + rounding + rates, 2000)
    measurement_bound = timedelta(microseconds=bound_us)
    return OffsetEstimate(
        offset=timedelta(microseconds=offset_us),
        measurement_bound=measurement_bound,
        server_error_bound=server_error_bound,
        true_time_bound=(
            None if server_error_bound is None else measurement_bound + server_error_bound
        ),
        round_trip=timedelta(microseconds=_round_div(best.round_trip_ns, 1000)),
        samples=len(usable),
        server_status=server_status,
        taken_monotonic_ns=best.received_monotonic_ns,
        taken_wall_ns=best.t1 + best.round_trip_ns,
    )


def now_interval(
    estimate: OffsetEstimate,
    *,
    wall_ns: int | None = None,
    monotonic_ns: int | None = None,
    drift_ppm: float = DRIFT_PPM,
) -> tuple[datetime, datetime]:
    """(earliest, latest): where true UTC is now, TrueTime style, as aware UTC datetimes.

    The middle is this machine's wall clock now plus the offset. The half width is the
    estimate's ``true_time_bound``, widened by its age times ``drift_ppm``. When the
    server's bound is unknown it is ``measurement_bound`` instead, and the interval is
    then where the *server's* clock reads now, not UTC.

    Should this machine's wall clock have been stepped since the estimate (or the
    machine slept, which stops the monotonic clock), wall and monotonic ages disagree:
    the interval then widens by their difference so as to hold either way, and a wide
    interval is the caller's cue to estimate again. ``wall_ns`` and ``monotonic_ns``
    default to the clocks now (``time.time_ns()``, ``time.monotonic_ns()``).
    """
    monotonic_now = time.monotonic_ns() if monotonic_ns is None else monotonic_ns
    wall_now = time.time_ns() if wall_ns is None else wall_ns
    monotonic_age = monotonic_now - estimate.taken_monotonic_ns
    if monotonic_age < 0:
        raise ValueError(
            "monotonic_ns is before the estimate was taken: pass a reading of the same "
            "monotonic clock, taken after the estimate"
        )
    wall_age = wall_now - estimate.taken_wall_ns
    bound = estimate.true_time_bound
    if bound is None:
        bound = estimate.measurement_bound
    half_width = (
        _nanoseconds(bound)
        + math.ceil(monotonic_age * drift_ppm / 1e6)
        + abs(wall_age - monotonic_age)
    )
    middle = wall_now + _nanoseconds(estimate.offset)
    earliest = _EPOCH + timedelta(microseconds=(middle - half_width) // 1000)
    latest = _EPOCH + timedelta(microseconds=_ceil_div(middle + half_width, 1000))
    return earliest, latest


def _nanoseconds(delta: timedelta) -> int:
    # timedelta holds whole microseconds: exact in integers.
    return (delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds) * 1000


def _round_div(numerator: int, denominator: int) -> int:
    # Nearest integer, halves away from zero: symmetric for negative offsets.
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)
