"""The answers of ConvertTime, GetTimeZone, ListTimeZoneTransitions and ReadClock.

Each function turns a request into a response with the domain library
(:mod:`chrono_domain`); it knows messages but nothing of gRPC calls.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from google.protobuf import duration_pb2, timestamp_pb2
from google.type import datetime_pb2

from chrono.time.v1 import time_service_pb2 as pb
from chrono_domain import conversion, paging
from chrono_domain.civil import zoned
from chrono_domain.errors import InvalidArgumentError
from chrono_domain.kernel_clock import ClockStatus, KernelClock, LeapSecond
from chrono_domain.transitions import Transition
from chrono_domain.zones import ZoneDatabase

MAX_TARGETS = 100
MAX_SPAN_YEARS = 200
MAX_TRANSITIONS_PAGE = 1000
DEFAULT_TRANSITIONS_PAGE = 100
# A fixed UTC offset of a civil time: whole seconds, as google.type.DateTime says.
MAX_UTC_OFFSET = timedelta(hours=18)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

DISAMBIGUATIONS = {
    pb.DISAMBIGUATION_UNSPECIFIED: conversion.Disambiguation.COMPATIBLE,
    pb.DISAMBIGUATION_COMPATIBLE: conversion.Disambiguation.COMPATIBLE,
    pb.DISAMBIGUATION_EARLIER: conversion.Disambiguation.EARLIER,
    pb.DISAMBIGUATION_LATER: conversion.Disambiguation.LATER,
    pb.DISAMBIGUATION_REJECT: conversion.Disambiguation.REJECT,
}
_KINDS = {
    conversion.LocalTimeKind.UNIQUE: pb.LOCAL_TIME_KIND_UNIQUE,
    conversion.LocalTimeKind.SKIPPED: pb.LOCAL_TIME_KIND_SKIPPED,
    conversion.LocalTimeKind.AMBIGUOUS: pb.LOCAL_TIME_KIND_AMBIGUOUS,
}
_STATUSES = {
    ClockStatus.SYNCHRONIZED: pb.CLOCK_STATUS_SYNCHRONIZED,
    ClockStatus.UNSYNCHRONIZED: pb.CLOCK_STATUS_UNSYNCHRONIZED,
    ClockStatus.UNKNOWN: pb.CLOCK_STATUS_UNKNOWN,
}
_LEAPS = {
    LeapSecond.NONE: pb.LEAP_SECOND_NONE,
    LeapSecond.INSERT: pb.LEAP_SECOND_INSERT,
    LeapSecond.DELETE: pb.LEAP_SECOND_DELETE,
}


def set_instant(message: timestamp_pb2.Timestamp, instant: datetime) -> None:
    """Set a Timestamp to ``instant`` (aware), to the microsecond."""
    since = instant - _EPOCH
    message.seconds = since // timedelta(seconds=1)
    message.nanos = since.microseconds * 1000


def to_instant(message: timestamp_pb2.Timestamp, field: str) -> datetime:
    """A Timestamp as an aware datetime; one outside years 1 to 9999 names ``field``."""
    if not 0 <= message.nanos < 1_000_000_000:
        raise InvalidArgumentError(
            field, f"{field}.nanos must be 0 to 999999999, not {message.nanos}", "INVALID_TIME"
        )
    try:
        return _EPOCH + timedelta(seconds=message.seconds, microseconds=message.nanos // 1000)
    except OverflowError:
        raise InvalidArgumentError(
            field,
            f"{field} must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
            "TIME_OUT_OF_RANGE",
        ) from None


def _civil(message: datetime_pb2.DateTime, local: datetime, zone: ZoneInfo, version: str) -> None:
    message.year, message.month, message.day = local.year, local.month, local.day
    message.hours, message.minutes, message.seconds = local.hour, local.minute, local.second
    message.nanos = local.microsecond * 1000
    message.time_zone.id = zone.key
    message.time_zone.version = version


def fill_zoned(
    answer: pb.ZonedTime,
    name: str,
    instant: datetime,
    zone: ZoneInfo,
    version: str,
    field: str = "time_zones",
) -> None:
    """Write what ``zone`` (asked for as ``name`` in request ``field``) shows at ``instant``."""
    try:
        facts = zoned(instant, zone)
    except OverflowError:
        raise InvalidArgumentError(
            field,
            f"the time in {name} falls outside the years 1 to 9999",
            "TIME_OUT_OF_RANGE",
        ) from None
    answer.time_zone = name
    answer.formatted = facts.formatted
    answer.abbreviation = facts.abbreviation
    answer.dst = facts.dst
    _civil(answer.local_time, facts.local, zone, version)
    # Zone offsets are whole seconds (RFC 9636): no nanos to carry.
    answer.utc_offset.seconds = int(facts.utc_offset.total_seconds())
    answer.dst_offset.seconds = int(facts.dst_offset.total_seconds())


def _targets(request: pb.ConvertTimeRequest, zones: ZoneDatabase) -> list[tuple[str, ZoneInfo]]:
    names = list(request.time_zones) or ["UTC"]
    if len(names) > MAX_TARGETS:
        raise InvalidArgumentError(
            "time_zones",
            f"time_zones lists {len(names)} zones; ask for at most {MAX_TARGETS} per call",
            "TOO_MANY_TIME_ZONES",
        )
    return [(name, zones.resolve(name, f"time_zones[{i}]")) for i, name in enumerate(names)]


def _source_zone(local: datetime_pb2.DateTime, zones: ZoneDatabase) -> tzinfo:
    which = local.WhichOneof("time_offset")
    if which == "time_zone":
        if not local.time_zone.id:
            raise InvalidArgumentError(
                "local_time.time_zone.id",
                "local_time.time_zone.id is empty: give an IANA name such as 'Europe/Paris'",
                "LOCAL_TIME_ZONE_REQUIRED",
            )
        return zones.resolve(local.time_zone.id, "local_time.time_zone.id")
    if which == "utc_offset":
        offset = local.utc_offset
        if offset.nanos or abs(offset.seconds) > MAX_UTC_OFFSET.total_seconds():
            raise InvalidArgumentError(
                "local_time.utc_offset",
                "local_time.utc_offset must be whole seconds between -18h and +18h",
                "INVALID_UTC_OFFSET",
            )
        return timezone(timedelta(seconds=offset.seconds))
    raise InvalidArgumentError(
        "local_time.time_zone",
        "local_time has neither a time_zone nor a utc_offset: set local_time.time_zone.id "
        "to an IANA name, or local_time.utc_offset",
        "LOCAL_TIME_ZONE_REQUIRED",
    )


def convert_time(request: pb.ConvertTimeRequest, zones: ZoneDatabase) -> pb.ConvertTimeResponse:
    """The ConvertTime answer: the instant the source means, in every target zone."""
    targets = _targets(request, zones)
    response = pb.ConvertTimeResponse()
    source = request.WhichOneof("source")
    if source == "time":
        instant = to_instant(request.time, "time")
    elif source == "local_time":
        local = request.local_time
        civil = conversion.civil_datetime(
            local.year,
            local.month,
            local.day,
            local.hours,
            local.minutes,
            local.seconds,
            local.nanos,
        )
        zone = _source_zone(local, zones)
        way = DISAMBIGUATIONS.get(request.disambiguation)
        if way is None:
            raise InvalidArgumentError(
                "disambiguation",
                f"disambiguation {request.disambiguation} is not a Disambiguation value",
                "UNKNOWN_ENUM_VALUE",
            )
        try:
            resolution = conversion.resolve_local(civil, zone, way)
        except OverflowError:
            raise InvalidArgumentError(
                "local_time",
                "local_time is too close to the ends of the years 1 to 9999 to convert",
                "TIME_OUT_OF_RANGE",
            ) from None
        instant = resolution.instant
        response.local_time_kind = _KINDS[resolution.kind]
        for candidate in resolution.candidates:
            set_instant(response.candidate_times.add(), candidate)
    else:
        raise InvalidArgumentError(
            "source",
            "set either time (an instant) or local_time (a civil time with its zone)",
            "SOURCE_REQUIRED",
        )
    set_instant(response.time, instant)
    for i, (name, zone) in enumerate(targets):
        fill_zoned(response.times.add(), name, instant, zone, zones.version, f"time_zones[{i}]")
    return response


def _duration(value: timedelta) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromTimedelta(value)
    return message


def transition_message(change: Transition) -> pb.Transition:
    """A domain transition as a message."""
    message = pb.Transition(
        utc_offset_before=_duration(change.utc_offset_before),
        utc_offset_after=_duration(change.utc_offset_after),
        abbreviation_before=change.abbreviation_before,
        abbreviation_after=change.abbreviation_after,
        dst_before=change.dst_before,
        dst_after=change.dst_after,
    )
    set_instant(message.time, change.time)
    return message


def required_zone(name: str, zones: ZoneDatabase) -> ZoneInfo:
    """The zone a required ``time_zone`` field names."""
    if not name:
        raise InvalidArgumentError(
            "time_zone",
            "time_zone is required: give an IANA name such as 'Europe/London'",
            "TIME_ZONE_REQUIRED",
        )
    return zones.resolve(name)


def describe_zone(
    name: str,
    zone: ZoneInfo,
    now: datetime,
    zones: ZoneDatabase,
    previous: Transition | None,
    following: Transition | None,
) -> pb.TimeZone:
    """The GetTimeZone answer for ``zone`` (asked for as ``name``) at ``now``."""
    facts = zoned(now, zone)
    answer = pb.TimeZone(
        time_zone=name,
        canonical_time_zone=zones.canonical(name),
        aliases=zones.aliases(name),
        country_codes=zones.country_codes(name),
        utc_offset=_duration(facts.utc_offset),
        standard_offset=_duration(facts.utc_offset - facts.dst_offset),
        abbreviation=facts.abbreviation,
        dst=facts.dst,
        dst_offset=_duration(facts.dst_offset),
        tzdata_version=zones.version,
    )
    if previous is not None:
        answer.previous_transition.CopyFrom(transition_message(previous))
    if following is not None:
        answer.next_transition.CopyFrom(transition_message(following))
    return answer


def _years_after(start: datetime, years: int) -> datetime:
    """``start`` on the same date ``years`` later (29 February: 1 March), or the end of 9999."""
    year = start.year + years
    if year > 9999:
        return _LAST
    try:
        return start.replace(year=year)
    except ValueError:  # 29 February in a year that has none
        return start.replace(year=year, month=3, day=1)


def transition_span(
    request: pb.ListTimeZoneTransitionsRequest, now: datetime
) -> tuple[datetime, datetime]:
    """The checked [start, end) span of a ListTimeZoneTransitions request."""
    start = to_instant(request.start_time, "start_time") if request.HasField("start_time") else now
    if request.HasField("end_time"):
        end = to_instant(request.end_time, "end_time")
    else:
        end = _years_after(start, 1)
    if end < start:
        raise InvalidArgumentError(
            "end_time", "end_time must not be before start_time", "END_BEFORE_START"
        )
    if end > _years_after(start, MAX_SPAN_YEARS):
        raise InvalidArgumentError(
            "end_time",
            f"the span from start_time to end_time is over {MAX_SPAN_YEARS} years; "
            "ask for it in parts",
            "SPAN_TOO_LONG",
        )
    return start, end


def transitions_page(
    found: list[Transition], request: pb.ListTimeZoneTransitionsRequest, version: str
) -> pb.ListTimeZoneTransitionsResponse:
    """One page of ``found`` as the request's size and token say."""
    page = paging.page(
        found,
        request.page_size,
        request.page_token,
        MAX_TRANSITIONS_PAGE,
        DEFAULT_TRANSITIONS_PAGE,
    )
    return pb.ListTimeZoneTransitionsResponse(
        transitions=[transition_message(change) for change in page.items],
        next_page_token=page.next_page_token,
        tzdata_version=version,
    )


def set_nanoseconds(message: timestamp_pb2.Timestamp, nanoseconds: int) -> None:
    """Set a Timestamp to ``nanoseconds`` since the epoch."""
    message.seconds, message.nanos = divmod(nanoseconds, 1_000_000_000)


def clock_answer(
    request: pb.ReadClockRequest, received_ns: int, kernel: KernelClock
) -> pb.ReadClockResponse:
    """ReadClock's answer but for its transmit time, which is set last, just before sending."""
    answer = pb.ReadClockResponse(
        clock_status=_STATUSES[kernel.status],
        leap_second=_LEAPS[kernel.leap],
        timescale=pb.TIMESCALE_UTC,
    )
    if request.HasField("client_transmit_time"):
        answer.client_transmit_time.CopyFrom(request.client_transmit_time)
    set_nanoseconds(answer.receive_time, received_ns)
    if kernel.max_error is not None:
        answer.error_bound.FromTimedelta(kernel.max_error)
    return answer
