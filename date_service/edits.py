"""Custom calendars as callers send them, checked field by field into store drafts."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from chrono.date.v1 import date_service_pb2 as pb
from chrono_domain import holiday_calendars
from chrono_domain.errors import InvalidArgumentError, shorten
from date_service.calendars import CALENDAR_ID
from date_service.convert import parse_date
from date_service.store import CalendarDraft, CalendarRecord

MAX_DISPLAY_NAME = 200
MAX_HOLIDAY_NAME = 200
MAX_BASES = 20
MAX_DATES = 10_000
DEFAULT_WEEKEND = (6, 7)
FIELDS = ("display_name", "base_calendars", "weekend_days", "extra_holidays", "removed_holidays")


def _display_name(calendar: pb.Calendar) -> str:
    if len(calendar.display_name) > MAX_DISPLAY_NAME:
        raise InvalidArgumentError(
            "calendar.display_name",
            f"calendar.display_name is {len(calendar.display_name)} characters long; "
            f"at most {MAX_DISPLAY_NAME}",
            "DISPLAY_NAME_TOO_LONG",
        )
    return calendar.display_name


def _bases(calendar: pb.Calendar) -> tuple[str, ...]:
    if len(calendar.base_calendars) > MAX_BASES:
        raise InvalidArgumentError(
            "calendar.base_calendars",
            f"calendar.base_calendars lists {len(calendar.base_calendars)} calendars; "
            f"at most {MAX_BASES}",
            "TOO_MANY_BASE_CALENDARS",
        )
    for i, name in enumerate(calendar.base_calendars):
        if holiday_calendars.describe_builtin(name) is None:
            raise InvalidArgumentError(
                f"calendar.base_calendars[{i}]",
                f"calendar.base_calendars[{i}] {shorten(name)} is not a built-in calendar: "
                "use e.g. calendars/US, calendars/DE-BY or calendars/XNYS (ListCalendars "
                "lists them)",
                "UNKNOWN_BASE_CALENDAR",
            )
    return tuple(dict.fromkeys(calendar.base_calendars))


def _weekend(calendar: pb.Calendar, default: tuple[int, ...]) -> tuple[int, ...]:
    days = set()
    for i, day in enumerate(calendar.weekend_days):
        if not 1 <= day <= 7:
            raise InvalidArgumentError(
                f"calendar.weekend_days[{i}]",
                f"calendar.weekend_days[{i}] must be MONDAY to SUNDAY, not {day}",
                "INVALID_WEEKEND_DAY",
            )
        days.add(int(day))
    if len(days) == 7:
        raise InvalidArgumentError(
            "calendar.weekend_days",
            "calendar.weekend_days names every day of the week: the calendar would have no "
            "business day",
            "NO_BUSINESS_DAYS",
        )
    return tuple(sorted(days)) or default


def _count(field: str, count: int) -> None:
    if count > MAX_DATES:
        raise InvalidArgumentError(
            field,
            f"{field} holds {count} dates; at most {MAX_DATES:,}",
            "TOO_MANY_HOLIDAYS",
        )


def _extra(calendar: pb.Calendar) -> tuple[tuple[date, str], ...]:
    _count("calendar.extra_holidays", len(calendar.extra_holidays))
    found = {}
    for i, holiday in enumerate(calendar.extra_holidays):
        field = f"calendar.extra_holidays[{i}]"
        day = parse_date(holiday.date, f"{field}.date")
        name = holiday.name.strip()
        if not name or len(name) > MAX_HOLIDAY_NAME:
            raise InvalidArgumentError(
                f"{field}.name",
                f"{field}.name must be 1 to {MAX_HOLIDAY_NAME} characters",
                "INVALID_HOLIDAY_NAME",
            )
        found[day] = name
    return tuple(sorted(found.items()))


def _removed(calendar: pb.Calendar) -> tuple[date, ...]:
    _count("calendar.removed_holidays", len(calendar.removed_holidays))
    days = {
        parse_date(day, f"calendar.removed_holidays[{i}]")
        for i, day in enumerate(calendar.removed_holidays)
    }
    return tuple(sorted(days))


def draft_for_create(request: pb.CreateCalendarRequest) -> CalendarDraft:
    """The draft a CreateCalendar request describes, every field checked."""
    if not CALENDAR_ID.fullmatch(request.calendar_id):
        raise InvalidArgumentError(
            "calendar_id",
            f"calendar_id {shorten(request.calendar_id)} must be 1 to 63 lower-case letters, "
            "digits and hyphens, start with a letter and not end with a hyphen",
            "INVALID_CALENDAR_ID",
        )
    if len(request.request_id) > 64:
        raise InvalidArgumentError(
            "request_id", "request_id must be at most 64 characters (a UUID)", "INVALID_REQUEST_ID"
        )
    if not request.HasField("calendar"):
        raise InvalidArgumentError(
            "calendar", "calendar is required: the new calendar's fields", "CALENDAR_REQUIRED"
        )
    calendar = request.calendar
    return CalendarDraft(
        calendar_id=request.calendar_id,
        display_name=_display_name(calendar),
        base_calendars=_bases(calendar),
        weekend_days=_weekend(calendar, DEFAULT_WEEKEND),
        extra_holidays=_extra(calendar),
        removed_holidays=_removed(calendar),
    )


def _paths(request: pb.UpdateCalendarRequest) -> tuple[str, ...]:
    paths = tuple(request.update_mask.paths)
    if paths == ("*",):
        return FIELDS
    if not paths:
        # AIP-134: no mask means the fields the caller set; "*" replaces them all.
        calendar = request.calendar
        return tuple(name for name in FIELDS if _populated(calendar, name))
    for i, path in enumerate(paths):
        if path not in FIELDS:
            raise InvalidArgumentError(
                "update_mask",
                f"update_mask.paths[{i}] {shorten(path)} is not a field that can change; "
                f"use {', '.join(FIELDS)} or '*'",
                "INVALID_UPDATE_MASK",
            )
    return paths


def _populated(calendar: pb.Calendar, name: str) -> bool:
    value = getattr(calendar, name)
    return bool(len(value)) if not isinstance(value, str) else bool(value)


def draft_for_update(current: CalendarRecord, request: pb.UpdateCalendarRequest) -> CalendarDraft:
    """``current`` with the fields the request's mask names replaced, each checked."""
    paths = _paths(request)
    calendar = request.calendar
    draft = current.draft()
    changes: dict[str, Any] = {}
    if "display_name" in paths:
        changes["display_name"] = _display_name(calendar)
    if "base_calendars" in paths:
        changes["base_calendars"] = _bases(calendar)
    if "weekend_days" in paths:
        changes["weekend_days"] = _weekend(calendar, DEFAULT_WEEKEND)
    if "extra_holidays" in paths:
        changes["extra_holidays"] = _extra(calendar)
    if "removed_holidays" in paths:
        changes["removed_holidays"] = _removed(calendar)
    return dataclasses.replace(draft, **changes)
