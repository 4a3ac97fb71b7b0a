"""DateService messages to and from the domain's values, with each field checked."""

from __future__ import annotations

from datetime import date
from typing import Any

from google.type import date_pb2

from chrono.date.v1 import date_service_pb2 as pb
from chrono_domain.business import Convention, Holiday
from chrono_domain.errors import InvalidArgumentError
from chrono_domain.periods import Overflow

CONVENTIONS = {
    pb.BUSINESS_DAY_CONVENTION_UNSPECIFIED: Convention.FOLLOWING,
    pb.BUSINESS_DAY_CONVENTION_FOLLOWING: Convention.FOLLOWING,
    pb.BUSINESS_DAY_CONVENTION_MODIFIED_FOLLOWING: Convention.MODIFIED_FOLLOWING,
    pb.BUSINESS_DAY_CONVENTION_PRECEDING: Convention.PRECEDING,
    pb.BUSINESS_DAY_CONVENTION_MODIFIED_PRECEDING: Convention.MODIFIED_PRECEDING,
}

OVERFLOWS = {
    pb.OVERFLOW_UNSPECIFIED: Overflow.CLAMP,
    pb.OVERFLOW_CLAMP: Overflow.CLAMP,
    pb.OVERFLOW_REJECT: Overflow.REJECT,
}


def enum_value(table: dict[Any, Any], value: int, field: str, enum_name: str) -> Any:
    """The domain value of enum ``value``; an unknown number names ``field``."""
    try:
        return table[value]
    except KeyError:
        raise InvalidArgumentError(
            field,
            f"{field} {value} is not one of the {enum_name} values; leave it unset for the default",
            "UNKNOWN_ENUM_VALUE",
        ) from None


def date_message(day: date) -> date_pb2.Date:
    """``day`` as a google.type.Date."""
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def to_date(message: Any, field: str) -> date:
    """The date in ``message.<field>``: required, and a real date from 0001 to 9999."""
    if not message.HasField(field):
        raise InvalidArgumentError(
            field, f"{field} is required: give year, month and day", "DATE_REQUIRED"
        )
    return parse_date(getattr(message, field), field)


def parse_date(value: date_pb2.Date, field: str) -> date:
    """``value`` as a date; InvalidArgumentError naming ``field`` if it is none."""
    try:
        return date(value.year, value.month, value.day)
    except ValueError:
        raise InvalidArgumentError(
            field,
            f"{field} {value.year:04d}-{value.month:02d}-{value.day:02d} is not a date: "
            "the year must be 1 to 9999, the month 1 to 12 and the day within the month",
            "INVALID_DATE",
        ) from None


def holiday_message(holiday: Holiday) -> pb.Holiday:
    """A domain holiday as a message."""
    return pb.Holiday(date=date_message(holiday.date), name=holiday.name, observed=holiday.observed)


def int32(value: int, field: str) -> int:
    """``value`` if it fits the int32 a response field holds; else the request's field is blamed."""
    if not -(2**31) <= value < 2**31:
        raise InvalidArgumentError(
            field, f"the answer ({value}) does not fit a 32-bit integer", "RESULT_OUT_OF_RANGE"
        )
    return value
