"""The calendars DateService answers from: built in (the holidays package) or stored.

A built-in calendar is named by an upper-case code (``calendars/US``, ``calendars/US-CA``,
``calendars/XNYS``); a custom one by a lower-case id, so the two never collide. A custom
calendar is read from the store on every call that uses it (one round trip), so that a
change made through any replica is seen by every replica's next call; what is cached is
the compiled business-day calendar, keyed by the record's etag.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections import OrderedDict
from collections.abc import Sequence

import grpc

from chrono.date.v1 import date_service_pb2 as pb
from chrono_domain import holiday_calendars
from chrono_domain.business import BusinessCalendar
from chrono_domain.errors import InvalidArgumentError, shorten
from chrono_server.errors import ServiceError
from date_service.convert import date_message
from date_service.store import CalendarRecord, CalendarStore, StoreError
from date_service.store.model import NAME_PREFIX

CALENDAR_ID = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
_BUILTIN = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)?")
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
_COMPILED = 256

_STORE_CODES = {
    "CALENDAR_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "CALENDAR_ALREADY_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "ETAG_MISMATCH": grpc.StatusCode.ABORTED,
    "CALENDAR_STORE_UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
}


def store_failure(error: StoreError) -> ServiceError:
    """The status a store error is answered with."""
    code = _STORE_CODES.get(error.reason, grpc.StatusCode.INTERNAL)
    return ServiceError(code, str(error), error.reason)


def not_found(name: str) -> ServiceError:
    """NOT_FOUND for a calendar name that names nothing."""
    return ServiceError(
        grpc.StatusCode.NOT_FOUND,
        f"calendar {shorten(name)} does not exist; ListCalendars lists them all",
        "CALENDAR_NOT_FOUND",
    )


def split_name(name: str, field: str) -> tuple[str, bool]:
    """The id of calendar ``name`` and whether it is a built-in one's."""
    calendar_id = name.removeprefix(NAME_PREFIX)
    if name.startswith(NAME_PREFIX):
        if CALENDAR_ID.fullmatch(calendar_id):
            return calendar_id, False
        if _BUILTIN.fullmatch(calendar_id):
            return calendar_id, True
    raise InvalidArgumentError(
        field,
        f"{field} {shorten(name)} is not a calendar name: use calendars/US (a country), "
        "calendars/US-CA (a subdivision), calendars/XNYS (a market) or calendars/{id} "
        "with a custom calendar's lower-case id",
        "INVALID_CALENDAR_NAME",
    )


def builtin_message(name: str) -> pb.Calendar | None:
    """The Calendar resource of a built-in calendar; None if there is none of that name."""
    info = holiday_calendars.describe_builtin(name)
    calendar = holiday_calendars.builtin(name)
    if info is None or calendar is None:
        return None
    return pb.Calendar(
        name=name,
        display_name=info.display_name,
        weekend_days=sorted(calendar.weekend),
        builtin=True,
        data_version=holiday_calendars.DATA_VERSION,
    )


def _builtin_messages(names: Sequence[str]) -> list[pb.Calendar]:
    return [found for name in names if (found := builtin_message(name)) is not None]


def record_message(record: CalendarRecord) -> pb.Calendar:
    """The Calendar resource of a stored custom calendar."""
    message = pb.Calendar(
        name=record.name,
        display_name=record.display_name,
        base_calendars=record.base_calendars,
        weekend_days=record.weekend_days,
        extra_holidays=[
            pb.Holiday(date=date_message(day), name=name) for day, name in record.extra_holidays
        ],
        removed_holidays=[date_message(day) for day in record.removed_holidays],
        etag=record.etag,
    )
    message.create_time.FromDatetime(record.create_time)
    message.update_time.FromDatetime(record.update_time)
    return message


def compile_record(record: CalendarRecord) -> BusinessCalendar:
    """The business-day calendar a stored record defines."""
    bases = []
    for name in record.base_calendars:
        base = holiday_calendars.builtin(name)
        if base is not None:  # a base the package no longer has contributes nothing
            bases.append(base)
    return BusinessCalendar.union(
        bases,
        weekend=record.weekend_days,
        extra=dict(record.extra_holidays),
        removed=record.removed_holidays,
    )


class CalendarBook:
    """Finds calendars by name: built-in ones from the package, custom ones in the store."""

    def __init__(self, store: CalendarStore) -> None:
        """Read custom calendars from ``store``."""
        self.store = store
        self._compiled: OrderedDict[tuple[str, str], BusinessCalendar] = OrderedDict()

    async def record(self, name: str, field: str = "name") -> CalendarRecord:
        """The stored custom calendar ``name``; NOT_FOUND or UNAVAILABLE as the store says."""
        calendar_id, builtin = split_name(name, field)
        if builtin and holiday_calendars.describe_builtin(name) is None:
            raise not_found(name)
        if builtin:
            raise ServiceError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{name} is a built-in calendar and cannot be changed; create a custom "
                f"calendar with base_calendars [{name!r}] instead",
                "BUILTIN_CALENDAR_READ_ONLY",
            )
        try:
            return await self.store.get(calendar_id)
        except StoreError as error:
            raise store_failure(error) from None

    async def business(self, name: str, field: str = "calendar") -> BusinessCalendar:
        """The business-day calendar ``name`` (checked as request field ``field``)."""
        _, builtin = split_name(name, field)
        if builtin:
            found = holiday_calendars.builtin(name)
            if found is None:
                raise not_found(name)
            return found
        record = await self.record(name, field)
        key = (record.calendar_id, record.etag)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = compile_record(record)
            if len(self._compiled) > _COMPILED:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        return compiled

    async def message(self, name: str) -> pb.Calendar:
        """The Calendar resource ``name``."""
        _, builtin = split_name(name, "name")
        if builtin:
            found = builtin_message(name)
            if found is None:
                raise not_found(name)
            return found
        return record_message(await self.record(name))

    async def page(self, page_size: int, page_token: str) -> pb.ListCalendarsResponse:
        """One page of every calendar: the built-in ones by name, then the custom ones."""
        if page_size < 0:
            raise InvalidArgumentError(
                "page_size",
                f"page_size must not be negative, not {page_size}",
                "PAGE_SIZE_NEGATIVE",
            )
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        names = holiday_calendars.builtin_names()
        where, after = _decode(page_token, len(names))
        response = pb.ListCalendarsResponse()
        if where == "b":
            offset = int(after)
            # A built-in calendar is loaded from the package on first use (about 1.5 ms
            # each): a page of them is loaded off the event loop.
            page = names[offset : offset + size]
            response.calendars.extend(await asyncio.to_thread(_builtin_messages, page))
            if offset + size < len(names):
                response.next_page_token = _encode("b", str(offset + size))
                return response
            after = ""
        room = size - len(response.calendars)
        try:
            # One more than fits tells whether another page follows.
            records = await self.store.list(room + 1, after) if room else []
        except StoreError as error:
            raise store_failure(error) from None
        response.calendars.extend(record_message(record) for record in records[:room])
        if len(records) > room:
            response.next_page_token = _encode("c", records[room - 1].calendar_id)
        elif not room:
            response.next_page_token = _encode("c", "")
        return response


def _encode(where: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{where}:{value}".encode()).decode()


def _decode(token: str, builtins: int) -> tuple[str, str]:
    if not token:
        return "b", "0"
    try:
        where, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
    except (ValueError, UnicodeError, binascii.Error):
        where, value = "", ""
    if where == "b" and value.isdigit() and 0 < int(value) < builtins:
        return where, value
    if where == "c" and (not value or CALENDAR_ID.fullmatch(value)):
        return where, value
    raise InvalidArgumentError(
        "page_token",
        f"page_token {shorten(token)} was not issued by this server; pass the "
        "next_page_token of a previous response, or empty for the first page",
        "INVALID_PAGE_TOKEN",
    )
