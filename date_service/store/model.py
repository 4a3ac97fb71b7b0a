"""What the calendar store keeps and raises: custom calendars, their etags, its errors.

A custom calendar is a :class:`CalendarDraft` (what a caller chooses) plus what the store
assigns (:class:`CalendarRecord`): a uid, a revision that starts at 1 and grows by one on
every update, the create and update times, and an etag. The etag is a strong etag in
quotes (AIP-154), ``"<revision>-<first 16 hex digits of the uid>"``: it changes on every
update, and a calendar deleted and created again under the same id never takes the old
one's etags back. Callers treat it as opaque.

Nothing here knows gRPC: the servicer maps each :class:`StoreError` to its status.
"""

from __future__ import annotations

import builtins
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

# A calendar's resource name is this prefix and its id.
NAME_PREFIX = "calendars/"

_ETAG = re.compile(r'"([0-9]+)-([0-9a-f]{16})"')


@dataclass(frozen=True)
class CalendarDraft:
    """A custom calendar as a caller defines it: everything but what the store assigns."""

    calendar_id: str
    """The last segment of the resource name ``calendars/{calendar_id}``."""
    display_name: str = ""
    base_calendars: tuple[str, ...] = ()
    """Resource names of the calendars this one starts from, e.g. ``calendars/US``."""
    weekend_days: tuple[int, ...] = (6, 7)
    """ISO weekdays (Monday 1 to Sunday 7) that are not business days."""
    extra_holidays: tuple[tuple[date, str], ...] = ()
    """Holidays added to the base calendars' ones: (date, name)."""
    removed_holidays: tuple[date, ...] = ()
    """Dates of the base calendars' holidays that this calendar does not keep."""

    @property
    def name(self) -> str:
        """The resource name, ``calendars/{calendar_id}``."""
        return NAME_PREFIX + self.calendar_id


@dataclass(frozen=True)
class CalendarRecord:
    """A stored custom calendar: its draft's fields and what the store assigned."""

    calendar_id: str
    display_name: str
    base_calendars: tuple[str, ...]
    weekend_days: tuple[int, ...]
    extra_holidays: tuple[tuple[date, str], ...]
    removed_holidays: tuple[date, ...]
    etag: str
    create_time: datetime
    """When it was created, an aware UTC datetime."""
    update_time: datetime
    """When it last changed (its create time until the first update), aware UTC."""
    revision: int
    """1 when created, one more on every update."""
    uid: str
    """A UUID4 the store gives it when it is created (AIP-148), hex without dashes."""

    @property
    def name(self) -> str:
        """The resource name, ``calendars/{calendar_id}``."""
        return NAME_PREFIX + self.calendar_id

    def draft(self) -> CalendarDraft:
        """The caller-defined part, e.g. to change a few fields and pass to ``update``."""
        return CalendarDraft(
            calendar_id=self.calendar_id,
            display_name=self.display_name,
            base_calendars=self.base_calendars,
            weekend_days=self.weekend_days,
            extra_holidays=self.extra_holidays,
            removed_holidays=self.removed_holidays,
        )


def new_uid() -> str:
    """A fresh uid for a calendar being created."""
    return uuid.uuid4().hex


def make_etag(revision: int, uid: str) -> str:
    """The etag of revision ``revision`` of the calendar with ``uid``."""
    return f'"{revision}-{uid[:16]}"'


def parse_etag(etag: str) -> tuple[int, str] | None:
    """The (revision, uid prefix) an etag of this store names; None if it never issued it."""
    match = _ETAG.fullmatch(etag)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


def new_record(draft: CalendarDraft, uid: str, now: datetime) -> CalendarRecord:
    """Revision 1 of ``draft``, created at ``now``."""
    now = now.astimezone(UTC)
    return CalendarRecord(
        calendar_id=draft.calendar_id,
        display_name=draft.display_name,
        base_calendars=draft.base_calendars,
        weekend_days=draft.weekend_days,
        extra_holidays=draft.extra_holidays,
        removed_holidays=draft.removed_holidays,
        etag=make_etag(1, uid),
        create_time=now,
        update_time=now,
        revision=1,
        uid=uid,
    )


# Both stores keep the list fields as JSON (one column each) and a create's answer, for
# retries with its request id, as one JSON document.


def lists_to_json(draft: CalendarDraft | CalendarRecord) -> dict[str, Any]:
    """The draft's list fields as JSON-ready values, keyed by their column names."""
    return {
        "base_calendars": list(draft.base_calendars),
        "weekend_days": list(draft.weekend_days),
        "extra_holidays": [[day.isoformat(), name] for day, name in draft.extra_holidays],
        "removed_holidays": [day.isoformat() for day in draft.removed_holidays],
    }


def record_from_values(
    *,
    calendar_id: str,
    display_name: str,
    base_calendars: list[str],
    weekend_days: list[int],
    extra_holidays: list[list[str]],
    removed_holidays: list[str],
    revision: int,
    uid: str,
    create_time: datetime,
    update_time: datetime,
) -> CalendarRecord:
    """A record from its columns, the list ones already decoded from JSON."""
    return CalendarRecord(
        calendar_id=calendar_id,
        display_name=display_name,
        base_calendars=tuple(base_calendars),
        weekend_days=tuple(weekend_days),
        extra_holidays=tuple((date.fromisoformat(day), name) for day, name in extra_holidays),
        removed_holidays=tuple(date.fromisoformat(day) for day in removed_holidays),
        etag=make_etag(revision, uid),
        create_time=create_time,
        update_time=update_time,
        revision=revision,
        uid=uid,
    )


def record_to_json(record: CalendarRecord) -> str:
    """The whole record as one JSON document."""
    return json.dumps(
        {
            "calendar_id": record.calendar_id,
            "display_name": record.display_name,
            **lists_to_json(record),
            "revision": record.revision,
            "uid": record.uid,
            "create_time": record.create_time.isoformat(),
            "update_time": record.update_time.isoformat(),
        }
    )


def record_from_json(document: str | dict[str, Any]) -> CalendarRecord:
    """The record :func:`record_to_json` wrote (or its already parsed JSON)."""
    values = json.loads(document) if isinstance(document, str) else dict(document)
    values["create_time"] = datetime.fromisoformat(values["create_time"])
    values["update_time"] = datetime.fromisoformat(values["update_time"])
    return record_from_values(**values)


class StoreError(Exception):
    """A calendar store failure the servicer answers with a status of its own."""

    reason = "CALENDAR_STORE_ERROR"
    """An UPPER_SNAKE_CASE constant for the status' ErrorInfo."""


class NotFoundError(StoreError):
    """No calendar has this id (NOT_FOUND)."""

    reason = "CALENDAR_NOT_FOUND"

    def __init__(self, calendar_id: str) -> None:
        """Say which calendar is missing."""
        super().__init__(f"calendar {NAME_PREFIX}{calendar_id} does not exist")
        self.calendar_id = calendar_id


class AlreadyExistsError(StoreError):
    """A calendar with this id exists already (ALREADY_EXISTS)."""

    reason = "CALENDAR_ALREADY_EXISTS"

    def __init__(self, calendar_id: str) -> None:
        """Say which id is taken."""
        super().__init__(
            f"calendar {NAME_PREFIX}{calendar_id} already exists; choose another id "
            "or update that calendar"
        )
        self.calendar_id = calendar_id


class EtagMismatchError(StoreError):
    """The calendar changed since the caller read it (AIP-154: ABORTED)."""

    reason = "ETAG_MISMATCH"

    def __init__(self, calendar_id: str, current_etag: str) -> None:
        """Name the calendar and the etag it has now."""
        super().__init__(
            f"calendar {NAME_PREFIX}{calendar_id} has changed (its etag is now "
            f"{current_etag}); read it again and retry"
        )
        self.calendar_id = calendar_id
        self.current_etag = current_etag


class StoreUnavailableError(StoreError):
    """The database is down, unreachable or too slow (UNAVAILABLE); retrying may work."""

    reason = "CALENDAR_STORE_UNAVAILABLE"

    def __init__(self, message: str) -> None:
        """``message`` names the database (never its password) and what went wrong."""
        super().__init__(message)
        self.message = message


class CalendarStore(Protocol):
    """Where custom calendars live.

    Every method but ``stop`` may raise :class:`StoreUnavailableError`. A store is a
    server component: ``name`` is what the start and stop log lines call it.
    """

    name: str

    async def start(self) -> None:
        """Open the database and apply the migrations it lacks."""

    async def stop(self) -> None:
        """Close the database; calls after this raise StoreUnavailableError."""

    async def create(self, draft: CalendarDraft, request_id: str = "") -> CalendarRecord:
        """Store revision 1 of ``draft``; AlreadyExistsError if its id is taken.

        A create retried with the same non-empty ``request_id`` within a day returns
        the calendar as the first one created it, and creates nothing.
        """
        ...

    async def get(self, calendar_id: str) -> CalendarRecord:
        """The calendar ``calendar_id``; NotFoundError if there is none."""
        ...

    async def list(self, page_size: int, after_id: str = "") -> builtins.list[CalendarRecord]:
        """Up to ``page_size`` calendars whose ids sort after ``after_id``, by id."""
        ...

    async def update(
        self, draft: CalendarDraft, expected_etag: str | None = None
    ) -> CalendarRecord:
        """Replace the calendar ``draft.calendar_id`` with ``draft``; the next revision.

        With an ``expected_etag`` (neither None nor empty) other than the calendar's,
        EtagMismatchError and nothing changes; NotFoundError if there is no such calendar.
        """
        ...

    async def delete(self, calendar_id: str, expected_etag: str | None = None) -> None:
        """Delete the calendar; NotFoundError, or EtagMismatchError as ``update`` does."""
        ...
