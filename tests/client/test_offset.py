"""Clock offset estimates: against simulated exchanges whose true offset is known."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from client._offset import DRIFT_PPM, OffsetEstimate, Sample, estimate, now_interval

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND = 1_000_000_000
MILLISECOND = 1_000_000
CASES = 4000


def ns(moment: datetime | timedelta) -> int:
    """A datetime (since the epoch) or a timedelta in whole nanoseconds."""
    delta = moment - EPOCH if isinstance(moment, datetime) else moment
    return (delta.days * 86_400 * 10**6 + delta.seconds * 10**6 + delta.microseconds) * 1000


@dataclass(frozen=True)
class Exchange:
    """A simulated ReadClock call: the sample it gives and the offset it really had."""

    sample: Sample
    true_offset_ns: float


def simulate(
    rng: random.Random, *, offset_ns: int, max_delay_ns: int, rate_ppm: float = 0.0
) -> Exchange:
    """One exchange with random, independent delays each way and server processing.

    Real time runs from 0; the client's clocks and the server's each run ``rate_ppm``
    at most fast or slow. The true offset is the server's clock minus the client's wall
    clock at the moment the answer arrives, the moment the estimate is taken at.
    """
    client_rate = 1 + rng.uniform(-rate_ppm, rate_ppm) / 1e6
    server_rate = 1 + rng.uniform(-rate_ppm, rate_ppm) / 1e6
    wall_base = rng.randrange(1_600_000_000 * SECOND, 2_000_000_000 * SECOND)
    monotonic_base = rng.randrange(0, 10**6 * SECOND)
    # Half the cases are lopsided: nearly all of the delay one way.
    shape = rng.choice(["uniform", "forward", "backward", "zero"])
    forward = rng.randrange(0, max_delay_ns + 1)
    backward = rng.randrange(0, max_delay_ns + 1)
    if shape == "forward":
        backward = rng.randrange(0, max_delay_ns // 1000 + 1)
    elif shape == "backward":
        forward = rng.randrange(0, max_delay_ns // 1000 + 1)
    elif shape == "zero":
        forward, backward = rng.choice([(0, backward), (forward, 0)])
    processing = rng.randrange(0, max_delay_ns // 10 + 1)
    sent = rng.uniform(0, 1000) * SECOND
    arrived = sent + forward
    answered = arrived + processing
    received = answered + backward

    def client_wall(moment: float) -> int:
        return wall_base + int(moment * client_rate)

    def client_monotonic(moment: float) -> int:
        return monotonic_base + int(moment * client_rate)

    def server(moment: float) -> int:
        return wall_base + offset_ns + int(moment * server_rate)

    sample = Sample(
        t1=client_wall(sent),
        t2=server(arrived),
        t3=server(answered),
        t4=client_wall(received),
        sent_monotonic_ns=client_monotonic(sent),
        received_monotonic_ns=client_monotonic(received),
    )
    return Exchange(sample, server(received) - (sample.t1 + sample.round_trip_ns))


@pytest.mark.parametrize(
    ("max_delay_ns", "rate_ppm"),
    [(100_000, 0.0), (50 * MILLISECOND, 0.0), (2 * SECOND, 0.0), (50 * MILLISECOND, DRIFT_PPM)],
)
def test_offset_is_within_its_measurement_bound_for_any_asymmetry(
    max_delay_ns: int, rate_ppm: float
) -> None:
    """Whatever the split of delay between the two ways, |θ - true offset| ≤ measurement_bound."""
    rng = random.Random(f"offset-{max_delay_ns}-{rate_ppm}")
    for _ in range(CASES):
        true_offset = rng.randrange(-100 * SECOND, 100 * SECOND)
        exchange = simulate(
            rng, offset_ns=true_offset, max_delay_ns=max_delay_ns, rate_ppm=rate_ppm
        )
        found = estimate([exchange.sample], None, "SYNCHRONIZED")
        error = abs(ns(found.offset) - exchange.true_offset_ns)
        assert error <= ns(found.measurement_bound), (exchange, found)
        # The bound is δ/2 and no more than rounding and rates add to it.
        slack = 1000 + 2 * DRIFT_PPM * exchange.sample.round_trip_ns / 1e6
        assert ns(found.measurement_bound) <= exchange.sample.delay_ns / 2 + slack + 1000


def test_the_sample_with_the_smallest_delay_is_used() -> None:
    """Of many samples, the estimate is the one with the smallest δ, whatever their order."""
    rng = random.Random("best")
    bound = timedelta(milliseconds=3)
    for _ in range(300):
        true_offset = rng.randrange(-SECOND, SECOND)
        samples = [
            simulate(rng, offset_ns=true_offset, max_delay_ns=20 * MILLISECOND).sample
            for _ in range(rng.randrange(1, 9))
        ]
        best = min(samples, key=lambda sample: (sample.delay_ns, -sample.received_monotonic_ns))
        found = estimate(samples, bound, "SYNCHRONIZED")
        assert found == replace(estimate([best], bound, "SYNCHRONIZED"), samples=len(samples))
        assert found.taken_monotonic_ns == best.received_monotonic_ns
        assert found.taken_wall_ns == best.t1 + best.round_trip_ns


# A sample by hand: the server's clock is 2.5 s ahead; 1 ms out, 0.2 ms of work, 3 ms back.
T1 = 1_800_000_000 * SECOND
HAND = Sample(
    t1=T1,
    t2=T1 + 2_500 * MILLISECOND + 1 * MILLISECOND,
    t3=T1 + 2_500 * MILLISECOND + 1_200_000,
    t4=T1 + 4_200_000,
    sent_monotonic_ns=7 * SECOND,
    received_monotonic_ns=7 * SECOND + 4_200_000,
)


def test_bounds_add_up() -> None:
    """Offset, measurement bound, server bound and their sum, for one hand-made sample."""
    found = estimate([HAND], timedelta(milliseconds=10), "SYNCHRONIZED")
    # θ = ((1 ms) + (1.2 ms - 4.2 ms)) / 2 + 2.5 s = 2.5 s - 1 ms; δ = 4.2 - 0.2 = 4 ms.
    assert found.offset == timedelta(seconds=2.5) - timedelta(milliseconds=1)
    # δ/2 = 2 ms, plus 2 * 500 ppm * 4.2 ms = 4.2 µs of rate error, rounded up.
    assert found.measurement_bound == timedelta(milliseconds=2, microseconds=5)
    assert found.server_error_bound == timedelta(milliseconds=10)
    assert found.true_time_bound == timedelta(milliseconds=12, microseconds=5)
    assert found.round_trip == timedelta(microseconds=4200)
    assert (found.samples, found.server_status) == (1, "SYNCHRONIZED")
    assert found.taken_monotonic_ns == HAND.received_monotonic_ns
    assert found.taken_wall_ns == HAND.t4


def test_unknown_server_bound_leaves_true_time_bound_unknown() -> None:
    """Without the server's bound there is a measurement bound but no true time bound."""
    found = estimate([HAND], None, "UNSYNCHRONIZED")
    assert found.server_error_bound is None
    assert found.true_time_bound is None
    assert found.measurement_bound == timedelta(milliseconds=2, microseconds=5)
    assert found.server_status == "UNSYNCHRONIZED"


def test_a_wall_clock_step_during_the_sample_changes_nothing() -> None:
    """The client's wall clock stepping between t1 and t4 leaves the estimate as it was."""
    stepped = replace(HAND, t4=HAND.t4 + 3600 * SECOND)
    assert estimate([stepped], None, "") == estimate([HAND], None, "")


def test_inconsistent_samples_are_left_out() -> None:
    """A sample whose server time exceeds the round trip, or runs backwards, is not used."""
    too_long = replace(HAND, t3=HAND.t2 + 5 * MILLISECOND, t2=HAND.t2 - 1)
    backwards = replace(HAND, t3=HAND.t2 - 1)
    found = estimate([too_long, HAND, backwards], None, "")
    assert found == estimate([HAND], None, "")
    assert found.samples == 1
    with pytest.raises(ValueError, match="none of the 2 clock samples is consistent"):
        estimate([too_long, backwards], None, "")


def test_no_samples_is_an_error() -> None:
    """An estimate needs at least one sample."""
    with pytest.raises(ValueError, match="no clock samples"):
        estimate([], None, "")


def interval_ns(found: OffsetEstimate, wall_ns: int, monotonic_ns: int) -> tuple[int, int]:
    """now_interval at the given clock readings, in nanoseconds since the epoch."""
    earliest, latest = now_interval(found, wall_ns=wall_ns, monotonic_ns=monotonic_ns)
    assert earliest.tzinfo is UTC
    assert latest.tzinfo is UTC
    return ns(earliest), ns(latest)


@pytest.mark.parametrize("age_s", [0, 1, 10, 3600])
def test_interval_widens_with_age(age_s: int) -> None:
    """The interval is wall + offset ± (true time bound + age * 500 ppm)."""
    found = estimate([HAND], timedelta(milliseconds=10), "SYNCHRONIZED")
    age = age_s * SECOND
    earliest, latest = interval_ns(found, found.taken_wall_ns + age, found.taken_monotonic_ns + age)
    middle = found.taken_wall_ns + age + ns(found.offset)
    half = ns(found.true_time_bound or timedelta.max) + age_s * 500_000
    assert (earliest, latest) == (middle - half, middle + half)


def test_unknown_server_bound_gives_the_interval_of_the_servers_clock() -> None:
    """Without the server's bound, the half width is the measurement bound, aged."""
    found = estimate([HAND], None, "UNSYNCHRONIZED")
    earliest, latest = interval_ns(
        found, found.taken_wall_ns + 2 * SECOND, found.taken_monotonic_ns + 2 * SECOND
    )
    middle = found.taken_wall_ns + 2 * SECOND + ns(found.offset)
    half = ns(found.measurement_bound) + 2 * 500_000
    assert (earliest, latest) == (middle - half, middle + half)


def test_a_wall_clock_step_after_the_estimate_widens_the_interval_over_both_readings() -> None:
    """After a step, the interval holds the time by the wall clock and by the monotonic one."""
    found = estimate([HAND], timedelta(milliseconds=10), "SYNCHRONIZED")
    for step in (SECOND, -SECOND, 7 * MILLISECOND):
        wall = found.taken_wall_ns + 5 * SECOND + step
        earliest, latest = interval_ns(found, wall, found.taken_monotonic_ns + 5 * SECOND)
        by_wall = wall + ns(found.offset)
        by_monotonic = found.taken_wall_ns + 5 * SECOND + ns(found.offset)
        bound = ns(found.true_time_bound or timedelta.max)
        assert earliest <= min(by_wall, by_monotonic) - bound
        assert latest >= max(by_wall, by_monotonic) + bound
        assert latest - earliest >= 2 * (bound + abs(step))


def test_monotonic_reading_before_the_estimate_is_an_error() -> None:
    """A monotonic reading older than the estimate is from some other clock: refused."""
    found = estimate([HAND], None, "")
    with pytest.raises(ValueError, match="monotonic_ns is before the estimate"):
        now_interval(found, monotonic_ns=found.taken_monotonic_ns - 1)


def test_interval_defaults_to_the_clocks_now() -> None:
    """With no readings given, the interval is around this machine's clocks now."""
    found = estimate([HAND], timedelta(milliseconds=10), "SYNCHRONIZED")
    earliest, latest = now_interval(found)
    assert earliest < latest
    assert latest - earliest >= 2 * (found.true_time_bound or timedelta.max)


def test_true_utc_is_inside_the_interval() -> None:
    """Simulated clocks within their bounds: true UTC now is always inside the interval.

    The server's clock is off UTC by at most its bound; this machine's clocks drift by
    at most 500 ppm after the estimate, and its wall clock may be stepped or the
    machine may sleep (which stops the monotonic clock), but not both.
    """
    rng = random.Random("interval")
    for _ in range(CASES):
        server_error = rng.randrange(0, 20 * MILLISECOND)
        server_bound = timedelta(microseconds=-(-server_error // 1000) + rng.randrange(0, 50))
        # Real time 0 is when the answer arrives; the server's clock then reads UTC off by
        # at most its bound, and UTC is real time plus utc_at_zero.
        exchange = simulate(
            rng, offset_ns=rng.randrange(-10 * SECOND, 10 * SECOND), max_delay_ns=MILLISECOND
        )
        found = estimate([exchange.sample], server_bound, "SYNCHRONIZED")
        server_at_zero = found.taken_wall_ns + exchange.true_offset_ns
        utc_at_zero = server_at_zero + rng.choice([-1, 1]) * server_error
        elapsed = rng.choice([0, rng.randrange(0, SECOND), rng.randrange(0, 86_400 * SECOND)])
        rate = 1 + rng.uniform(-DRIFT_PPM, DRIFT_PPM) / 1e6
        wall = found.taken_wall_ns + int(elapsed * rate)
        monotonic = found.taken_monotonic_ns + int(elapsed * rate)
        event = rng.choice(["none", "step", "sleep"])
        if event == "step":
            wall += rng.randrange(-3600 * SECOND, 3600 * SECOND)
        elif event == "sleep":
            monotonic -= rng.randrange(0, int(elapsed * rate) + 1)
        earliest, latest = interval_ns(found, wall, monotonic)
        utc_now = utc_at_zero + elapsed
        assert earliest <= utc_now <= latest, (exchange, found, event, elapsed)
