"""The date client's arithmetic, business-day and calendar methods, blocking and asyncio."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from google.type import date_pb2
from grpc_status import rpc_status

from chrono.date.v1 import date_service_pb2 as pb
from client import AsyncDateClient, DateClient, _common, _requests
from date_service.options import DateOptions
from date_service.server import SPEC
from tests.chrono_server.helpers import running
from tests.servers import server_settings

READS = {
    "GetDate",
    "AddPeriod",
    "DiffDates",
    "IsBusinessDay",
    "AdjustToBusinessDay",
    "AddBusinessDays",
    "CountBusinessDays",
    "ListHolidays",
    "GetCalendar",
    "ListCalendars",
}
WRITES = {"CreateCalendar", "UpdateCalendar", "DeleteCalendar"}


@dataclass(frozen=True)
class WritableServer:
    """A DateService server's target and the bearer token it takes for writes."""

    target: str
    token: str


@pytest.fixture
def writable(tmp_path: Path) -> Iterator[WritableServer]:
    """A DateService server with calendars of the test's own and a write token."""
    token = secrets.token_urlsafe(24)
    token_file = tmp_path / "tokens"
    token_file.write_text(token + "\n", encoding="utf-8")
    options = DateOptions(
        database=f"sqlite:///{tmp_path / 'calendars.db'}", write_token_file=token_file
    )
    with running(SPEC, server_settings(service=options)) as server:
        yield WritableServer(server.target, token)


def iso(message: date_pb2.Date) -> str:
    """A google.type.Date as ``YYYY-MM-DD``."""
    return f"{message.year:04d}-{message.month:02d}-{message.day:02d}"


def acme() -> pb.Calendar:
    """US holidays and Christmas Eve."""
    return pb.Calendar(
        display_name="Acme",
        base_calendars=["calendars/US"],
        extra_holidays=[pb.Holiday(date=_requests.date_message(date(2026, 12, 24)), name="Eve")],
    )


def test_read_methods(writable: WritableServer) -> None:
    """Each read method sends its request and returns the answer; calendars by id or by name."""
    with DateClient(writable.target) as client:
        facts = client.get_date("Asia/Tokyo", day=date(2026, 12, 31))
        assert (facts.formatted, facts.time_zone, facts.iso_week) == (
            "2026-12-31",
            "Asia/Tokyo",
            53,
        )
        assert client.get_date("Pacific/Kiritimati").time_zone == "Pacific/Kiritimati"
        added = client.add_period(date(2026, 1, 31), months=1)
        assert (iso(added.date), added.clamped) == ("2026-02-28", True)
        back = client.add_period(date(2026, 3, 10), years=-1, months=-2, weeks=-1, days=-3)
        assert iso(back.date) == "2024-12-31"
        period = client.diff_dates(date(2010, 1, 15), date(2011, 3, 18))
        assert (period.years, period.months, period.days, period.total_days) == (1, 2, 3, 427)
        for name in ("XNYS", "calendars/XNYS"):
            answer = client.is_business_day(name, date(2026, 7, 3))
            assert not answer.business_day
            assert [h.name for h in answer.holidays] == ["Independence Day (observed)"]
        adjusted = client.adjust_to_business_day(
            "US", date(2026, 10, 31), pb.BUSINESS_DAY_CONVENTION_MODIFIED_FOLLOWING
        )
        assert iso(adjusted.date) == "2026-10-30"
        assert iso(client.adjust_to_business_day("US", date(2026, 7, 4)).date) == "2026-07-06"
        assert iso(client.add_business_days("XNYS", date(2026, 7, 2), 1).date) == "2026-07-06"
        assert iso(client.add_business_days("XNYS", date(2026, 7, 6), -1).date) == "2026-07-02"
        count = client.count_business_days("XNYS", date(2026, 6, 29), date(2026, 7, 6))
        assert count.business_days == 4
        dates, token = [], ""
        while True:
            page = client.list_holidays("US", date(2026, 1, 1), date(2026, 12, 31), 5, token)
            dates += [iso(h.date) for h in page.holidays]
            token = page.next_page_token
            if not token:
                break
        assert len(dates) == 12
        assert dates == sorted(dates)


def test_errors_carry_the_field(writable: WritableServer) -> None:
    """A refused request raises grpc.RpcError with a BadRequest naming the field."""
    with DateClient(writable.target) as client, pytest.raises(grpc.RpcError) as caught:
        client.is_business_day("Bad_Id", date(2026, 7, 3))
    error = caught.value
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None
    fields = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields += [violation.field for violation in bad_request.field_violations]
    assert fields == ["calendar"]


def test_calendar_methods(writable: WritableServer) -> None:
    """Create, get, list, update and delete through the client, with etags and bare ids."""
    with DateClient(writable.target, token=writable.token) as client:
        created = client.create_calendar("acme", acme())
        assert created.name == "calendars/acme"
        assert client.get_calendar("acme") == created
        assert client.get_calendar("calendars/acme") == created
        assert not client.is_business_day("acme", date(2026, 12, 24)).business_day
        listed = client.list_calendars(page_size=1000)
        assert listed.calendars[-1] == created
        assert client.get_calendar("US").builtin
        change = pb.Calendar(name="acme", display_name="Acme Inc", etag=created.etag)
        updated = client.update_calendar(change, ["display_name"])
        assert (updated.display_name, list(updated.base_calendars)) == (
            "Acme Inc",
            ["calendars/US"],
        )
        with pytest.raises(grpc.RpcError) as caught:
            client.update_calendar(change, ["display_name"])  # the etag is stale now
        assert caught.value.code() == grpc.StatusCode.ABORTED
        # No mask: only the fields set change (AIP-134); "*": every field is replaced.
        renamed = client.update_calendar(pb.Calendar(name="calendars/acme", display_name="A"))
        assert (renamed.display_name, list(renamed.base_calendars)) == ("A", ["calendars/US"])
        everything = client.update_calendar(pb.Calendar(name="calendars/acme"), ["*"])
        assert (everything.display_name, list(everything.base_calendars)) == ("", [])
        with pytest.raises(grpc.RpcError) as caught:
            client.delete_calendar("acme", updated.etag)
        assert caught.value.code() == grpc.StatusCode.ABORTED
        client.delete_calendar("acme", everything.etag)
        with pytest.raises(grpc.RpcError) as caught:
            client.get_calendar("acme")
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_create_retried_with_its_request_id_returns_the_first(writable: WritableServer) -> None:
    """The same request_id gives back the first calendar; each create otherwise gets its own id."""
    with DateClient(writable.target, token=writable.token) as client:
        request_id = str(uuid.uuid4())
        first = client.create_calendar("acme", acme(), request_id=request_id)
        assert client.create_calendar("acme", acme(), request_id=request_id) == first
        with pytest.raises(grpc.RpcError) as caught:
            client.create_calendar("acme", acme())
        assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    made = [_requests.create_calendar_request("acme", acme(), None) for _ in range(2)]
    assert all(uuid.UUID(request.request_id).version == 4 for request in made)
    assert made[0].request_id != made[1].request_id
    assert _requests.create_calendar_request("acme", acme(), "mine").request_id == "mine"


def test_writes_need_the_clients_token(writable: WritableServer) -> None:
    """Without a token a write is UNAUTHENTICATED, with a wrong one PERMISSION_DENIED."""
    for token, code in (
        (None, grpc.StatusCode.UNAUTHENTICATED),
        ("x", grpc.StatusCode.PERMISSION_DENIED),
    ):
        with DateClient(writable.target, token=token) as client:
            with pytest.raises(grpc.RpcError) as caught:
                client.create_calendar("acme", acme())
            assert caught.value.code() == code
            with pytest.raises(grpc.RpcError) as caught:
                client.delete_calendar("acme")
            assert caught.value.code() == code


async def test_async_methods(writable: WritableServer) -> None:
    """The asyncio client has the same methods with the same answers."""
    async with AsyncDateClient(writable.target, token=writable.token) as client:
        facts = await client.get_date(day=date(2024, 2, 29))
        assert (facts.leap_year, facts.time_zone) == (True, "UTC")
        added = await client.add_period(date(2024, 2, 29), years=1)
        assert (iso(added.date), added.clamped) == ("2025-02-28", True)
        period = await client.diff_dates(date(2026, 1, 31), date(2026, 2, 28))
        assert (period.years, period.months, period.days) == (0, 0, 28)
        assert not (await client.is_business_day("XNYS", date(2025, 1, 9))).business_day
        adjusted = await client.adjust_to_business_day("US", date(2026, 7, 4))
        assert iso(adjusted.date) == "2026-07-06"
        reached = await client.add_business_days("XNYS", date(2026, 7, 3), 0)
        assert iso(reached.date) == "2026-07-06"
        count = await client.count_business_days("XNYS", date(2026, 7, 6), date(2026, 6, 29))
        assert count.business_days == -4
        page = await client.list_holidays("US", date(2026, 7, 1), date(2026, 7, 31))
        assert [iso(h.date) for h in page.holidays] == ["2026-07-03", "2026-07-04"]

        request_id = str(uuid.uuid4())
        created = await client.create_calendar("acme", acme(), request_id=request_id)
        assert await client.create_calendar("acme", acme(), request_id=request_id) == created
        assert await client.get_calendar("acme") == created
        assert (await client.list_calendars(page_size=1000)).calendars[-1] == created
        change = pb.Calendar(name="acme", display_name="Acme Inc", etag=created.etag)
        updated = await client.update_calendar(change, ["display_name"])
        assert updated.display_name == "Acme Inc"
        with pytest.raises(grpc.RpcError) as caught:
            await client.update_calendar(change, ["display_name"])
        assert caught.value.code() == grpc.StatusCode.ABORTED
        await client.delete_calendar("acme", updated.etag)
        with pytest.raises(grpc.RpcError) as caught:
            await client.get_calendar("acme")
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_async_writes_need_the_token(writable: WritableServer) -> None:
    """The asyncio client without a token is UNAUTHENTICATED on writes; reads still work."""
    async with AsyncDateClient(writable.target) as client:
        with pytest.raises(grpc.RpcError) as caught:
            await client.create_calendar("acme", acme())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert (await client.get_calendar("XNYS")).builtin


def test_writes_are_never_retried() -> None:
    """The channel's retry policy names every read of DateService and none of its writes."""
    config = json.loads(_common.service_config(_common.DATE_SERVICE))
    retried = {
        name["method"]
        for method in config["methodConfig"]
        if "retryPolicy" in method
        for name in method["name"]
    }
    assert retried == READS
    assert {method.name for method in _common.DATE_SERVICE.methods} == READS | WRITES
