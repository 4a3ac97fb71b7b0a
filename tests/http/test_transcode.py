"""Transcoding rules read from the services' annotations: routes, path matching, requests."""

from __future__ import annotations

import urllib.parse
import zoneinfo
from typing import Any

import pytest
from google.api import annotations_pb2  # type: ignore[import-untyped]
from google.protobuf import json_format
from google.protobuf.descriptor import ServiceDescriptor
from google.type.date_pb2 import Date

from chrono.date.v1 import date_service_pb2 as date_pb
from chrono.time.v1 import time_service_pb2 as time_pb
from chrono_server.http.transcode import (
    NoRouteError,
    RequestError,
    RouteTable,
    TemplateError,
    build_request,
    parse_template,
    response_json,
)

TIME = time_pb.DESCRIPTOR.services_by_name["TimeService"]
DATE = date_pb.DESCRIPTOR.services_by_name["DateService"]
TABLES = {"time": RouteTable.from_service(TIME), "date": RouteTable.from_service(DATE)}


def _request(table: str, method: str, path: str, query: str = "", body: bytes = b"") -> Any:
    found = TABLES[table].find(method, path)
    return build_request(found, query, body)


@pytest.mark.parametrize("service", [TIME, DATE], ids=lambda s: s.name)
def test_every_annotated_method_has_its_route(service: ServiceDescriptor) -> None:
    """Each method's google.api.http rule becomes exactly one route, to that method."""
    table = RouteTable.from_service(service)
    annotated = [
        method.name
        for method in service.methods
        if method.GetOptions().HasExtension(annotations_pb2.http)
    ]
    assert annotated == [method.name for method in service.methods]
    assert [route.method.name for route in table.routes] == annotated
    for route in table.routes:
        rule = route.method.GetOptions().Extensions[annotations_pb2.http]
        assert getattr(rule, route.http_method.lower()) == route.template.text
        assert route.body == rule.body


@pytest.mark.parametrize(
    ("table", "method", "path", "rpc", "bindings"),
    [
        ("time", "GET", "/v1/time", "GetTime", {}),
        ("time", "GET", "/v1/time:watch", "WatchTime", {}),
        ("time", "GET", "/v1/timezones", "ListTimeZones", {}),
        ("time", "POST", "/v1/time:convert", "ConvertTime", {}),
        ("time", "POST", "/v1/clock:read", "ReadClock", {}),
        (
            "time",
            "GET",
            "/v1/timezones/Europe/London",
            "GetTimeZone",
            {"time_zone": "Europe/London"},
        ),
        (
            "time",
            "GET",
            "/v1/timezones/Europe/London:transitions",
            "ListTimeZoneTransitions",
            {"time_zone": "Europe/London"},
        ),
        (
            "time",
            "GET",
            "/v1/timezones/America/Argentina/Buenos_Aires",
            "GetTimeZone",
            {"time_zone": "America/Argentina/Buenos_Aires"},
        ),
        ("time", "GET", "/v1/timezones/UTC", "GetTimeZone", {"time_zone": "UTC"}),
        ("date", "GET", "/v1/date", "GetDate", {}),
        ("date", "POST", "/v1/date:addPeriod", "AddPeriod", {}),
        ("date", "POST", "/v1/date:diff", "DiffDates", {}),
        (
            "date",
            "POST",
            "/v1/calendars/US:isBusinessDay",
            "IsBusinessDay",
            {"calendar": "calendars/US"},
        ),
        (
            "date",
            "POST",
            "/v1/calendars/XNYS:adjust",
            "AdjustToBusinessDay",
            {"calendar": "calendars/XNYS"},
        ),
        (
            "date",
            "POST",
            "/v1/calendars/US-CA:addBusinessDays",
            "AddBusinessDays",
            {"calendar": "calendars/US-CA"},
        ),
        (
            "date",
            "POST",
            "/v1/calendars/DE:countBusinessDays",
            "CountBusinessDays",
            {"calendar": "calendars/DE"},
        ),
        ("date", "GET", "/v1/calendars/US/holidays", "ListHolidays", {"calendar": "calendars/US"}),
        ("date", "GET", "/v1/calendars", "ListCalendars", {}),
        ("date", "POST", "/v1/calendars", "CreateCalendar", {}),
        ("date", "GET", "/v1/calendars/acme", "GetCalendar", {"name": "calendars/acme"}),
        (
            "date",
            "PATCH",
            "/v1/calendars/acme",
            "UpdateCalendar",
            {"calendar.name": "calendars/acme"},
        ),
        ("date", "DELETE", "/v1/calendars/acme", "DeleteCalendar", {"name": "calendars/acme"}),
    ],
)
def test_paths_go_to_their_method_with_their_fields(
    table: str, method: str, path: str, rpc: str, bindings: dict[str, str]
) -> None:
    """A sample path reaches the method its annotation names, its variables bound."""
    found = TABLES[table].find(method, path)
    assert found.route.method.name == rpc
    assert {".".join(name): value for name, value in found.bindings} == bindings


@pytest.mark.parametrize(
    ("table", "method", "path", "allowed"),
    [
        ("time", "GET", "/v1/nothing", ()),
        ("time", "GET", "/v2/time", ()),
        ("time", "GET", "/v1/time/extra", ()),
        ("time", "GET", "/v1//time", ()),
        ("time", "GET", "/", ()),
        ("time", "GET", "/v1/time:unknownVerb", ()),
        ("time", "POST", "/v1/time", ("GET",)),
        ("time", "GET", "/v1/time:convert", ("POST",)),
        ("time", "DELETE", "/v1/timezones/Europe/London:transitions", ("GET",)),
        ("date", "PUT", "/v1/calendars/acme", ("DELETE", "GET", "PATCH")),
        ("date", "DELETE", "/v1/calendars", ("GET", "POST")),
        # A declared verb takes its path: this is not a calendar named "US:isBusinessDay".
        ("date", "GET", "/v1/calendars/US:isBusinessDay", ("POST",)),
        ("date", "GET", "/v1/calendars//holidays", ()),
    ],
)
def test_unrouted_paths_say_what_the_path_takes(
    table: str, method: str, path: str, allowed: tuple[str, ...]
) -> None:
    """No route: the methods the path takes (405 with Allow), or none at all (404)."""
    with pytest.raises(NoRouteError) as raised:
        TABLES[table].find(method, path)
    assert raised.value.allowed == allowed


def test_every_zone_name_binds_to_both_zone_routes_as_it_is() -> None:
    """Every IANA zone name, plain or percent-encoded, reaches GetTimeZone and :transitions."""
    names = sorted(zoneinfo.available_timezones())
    assert len(names) > 400
    table = TABLES["time"]
    for name in names:
        for spelled in (name, urllib.parse.quote(name, safe="/")):
            zone = table.find("GET", f"/v1/timezones/{spelled}")
            transitions = table.find("GET", f"/v1/timezones/{spelled}:transitions")
            assert zone.route.method.name == "GetTimeZone"
            assert transitions.route.method.name == "ListTimeZoneTransitions"
            assert zone.bindings == transitions.bindings == ((("time_zone",), name),)


def test_percent_decoding_keeps_encoded_slashes_in_multi_segment_variables() -> None:
    """A multi-segment variable keeps ``%2F`` (google.api.http's rule); ``{id}`` decodes all."""
    zone = TABLES["time"].find("GET", "/v1/timezones/Etc%2FGMT%2B5")
    assert zone.bindings == ((("time_zone",), "Etc%2FGMT+5"),)
    calendar = TABLES["date"].find("GET", "/v1/calendars/caf%C3%A9%2Fx")
    assert calendar.bindings == ((("name",), "calendars/café%2Fx"),)
    assert parse_template("/v1/{id}").bind(["v1", "caf%C3%A9%2Fx"]) == ((("id",), "café/x"),)
    with pytest.raises(RequestError) as raised:
        TABLES["date"].find("GET", "/v1/calendars/%FF")
    assert raised.value.field == "name"


@pytest.mark.parametrize(
    ("text", "segments", "variables", "verb"),
    [
        ("/v1/time", ("v1", "time"), {}, ""),
        ("/v1/time:watch", ("v1", "time"), {}, "watch"),
        ("/v1/{name}", ("v1", "*"), {"name": (1, 2)}, ""),
        ("/v1/{name=calendars/*}:adjust", ("v1", "calendars", "*"), {"name": (1, 3)}, "adjust"),
        ("/v1/{a.b=x/**}", ("v1", "x", "**"), {"a.b": (1, 3)}, ""),
        ("/v1/*/{id}/y", ("v1", "*", "*", "y"), {"id": (2, 3)}, ""),
    ],
)
def test_templates_parse_into_segments_variables_and_verb(
    text: str, segments: tuple[str, ...], variables: dict[str, tuple[int, int]], verb: str
) -> None:
    """A template's segments (literals, * and **), its variables' spans and its verb."""
    template = parse_template(text)
    assert tuple(s.text or s.kind for s in template.segments) == segments
    assert {".".join(v.field_path): (v.start, v.stop) for v in template.variables} == variables
    assert template.verb == verb


@pytest.mark.parametrize(
    "text",
    ["v1/time", "/v1/{name", "/v1/name}", "/v1/**/x", "/v1/{a-b}", "/v1//x", "/v1/x:", "/v1/{{a}}"],
)
def test_malformed_templates_are_refused(text: str) -> None:
    """A template that breaks google.api.http's grammar cannot be served."""
    with pytest.raises(TemplateError):
        parse_template(text)


def test_query_parameters_set_nested_repeated_enum_and_well_known_fields() -> None:
    """Dotted names, either spelling, bools, Timestamps and Durations as strings."""
    assert _request(
        "date", "GET", "/v1/date", "date.year=2026&date.month=7&date.day=3&timeZone=Europe/Paris"
    ) == date_pb.GetDateRequest(time_zone="Europe/Paris", date=Date(year=2026, month=7, day=3))
    assert _request(
        "time", "GET", "/v1/timezones", "page_size=5&pageToken=abc&canonicalOnly=true"
    ) == time_pb.ListTimeZonesRequest(page_size=5, page_token="abc", canonical_only=True)
    watch = _request("time", "GET", "/v1/time:watch", "interval=0.25s&max_updates=3")
    assert (watch.interval.ToMilliseconds(), watch.max_updates) == (250, 3)
    span = _request(
        "time",
        "GET",
        "/v1/timezones/Europe/Paris:transitions",
        "start_time=2026-01-01T00:00:00Z&endTime=2027-01-01T00:00:00%2B00:00",
    )
    assert span.time_zone == "Europe/Paris"
    assert (span.start_time.seconds, span.end_time.seconds) == (1767225600, 1798761600)


def test_repeated_fields_and_enums_from_the_query_and_a_body_field() -> None:
    """A repeated field by repeating its parameter; enums by name or number; body "calendar"."""
    created = _request(
        "date",
        "POST",
        "/v1/calendars",
        "calendar_id=acme&requestId=r-1",
        b'{"displayName": "Acme", "weekendDays": ["FRIDAY", 6],'
        b' "base_calendars": ["calendars/US"]}',
    )
    assert created == date_pb.CreateCalendarRequest(
        calendar_id="acme",
        request_id="r-1",
        calendar=date_pb.Calendar(
            display_name="Acme", weekend_days=[5, 6], base_calendars=["calendars/US"]
        ),
    )
    listed = _request("time", "GET", "/v1/time", "time_zone=UTC")
    assert listed == time_pb.GetTimeRequest(time_zone="UTC")


def test_the_path_wins_over_the_body_and_a_mask_comes_from_the_query() -> None:
    """``{calendar.name=calendars/*}`` sets calendar.name whatever the body says."""
    updated = _request(
        "date",
        "PATCH",
        "/v1/calendars/acme",
        "update_mask=displayName,weekendDays",
        b'{"name": "calendars/other", "displayName": "Acme"}',
    )
    assert updated.calendar.name == "calendars/acme"
    assert updated.calendar.display_name == "Acme"
    assert list(updated.update_mask.paths) == ["display_name", "weekend_days"]


def test_a_whole_body_request_takes_every_field_from_the_json() -> None:
    """``body: "*"``: the JSON is the request, in either field spelling; empty means {}."""
    converted = _request(
        "time",
        "POST",
        "/v1/time:convert",
        body=b'{"localTime": {"year": 2026, "month": 3, "day": 29, "hours": 1, "minutes": 30,'
        b' "timeZone": {"id": "Europe/London"}}, "time_zones": ["UTC"],'
        b' "disambiguation": "DISAMBIGUATION_LATER"}',
    )
    assert converted.local_time.time_zone.id == "Europe/London"
    assert list(converted.time_zones) == ["UTC"]
    assert converted.disambiguation == time_pb.DISAMBIGUATION_LATER
    assert _request("time", "POST", "/v1/clock:read") == time_pb.ReadClockRequest()
    business = _request(
        "date", "POST", "/v1/calendars/US:isBusinessDay", body=b'{"date": {"year": 2026}}'
    )
    assert (business.calendar, business.date.year) == ("calendars/US", 2026)


@pytest.mark.parametrize(
    ("table", "method", "path", "query", "body", "field", "says"),
    [
        ("time", "GET", "/v1/time", "foo=1", b"", "foo", "has no field 'foo'"),
        ("time", "GET", "/v1/time", "time_zone=a&timeZone=b", b"", "time_zone", "given 2 times"),
        ("time", "GET", "/v1/timezones", "page_size=many", b"", "page_size", "page_size"),
        (
            "time",
            "GET",
            "/v1/timezones",
            "canonical_only=yes",
            b"",
            "canonical_only",
            "true or false",
        ),
        ("date", "GET", "/v1/date", "date=2026-07-03", b"", "date", "date.year"),
        ("date", "GET", "/v1/date", "date.era=1", b"", "date.era", "has no field 'era'"),
        ("date", "GET", "/v1/calendars/US/holidays", "calendar=x", b"", "calendar", "URL path"),
        ("date", "POST", "/v1/calendars", "calendar.name=x", b"{}", "calendar.name", "body"),
        (
            "time",
            "POST",
            "/v1/time:convert",
            "time_zones=UTC",
            b"{}",
            "time_zones",
            "into the body",
        ),
        ("time", "GET", "/v1/time", "", b'{"timeZone": "UTC"}', None, "query parameters"),
        ("time", "POST", "/v1/time:convert", "", b"{not json", None, "not valid JSON"),
        ("time", "POST", "/v1/time:convert", "", b"[1, 2]", None, "must be a JSON object"),
        ("time", "POST", "/v1/time:convert", "", b'{"zones": []}', None, '"zones"'),
        ("time", "POST", "/v1/time:convert", "", b'{"timeZones": "UTC"}', None, "timeZones"),
        ("time", "POST", "/v1/time:convert", "", b'{"time": 5}', None, "ConvertTimeRequest.time"),
        ("time", "POST", "/v1/time:convert", "", b'{"disambiguation": "NEVER"}', None, "NEVER"),
        ("time", "POST", "/v1/time:convert", "", b"[" * 5000, None, "not valid JSON"),
        ("time", "POST", "/v1/time:convert", "", b"\xff\xfe\x00", None, "not valid JSON"),
    ],
)
def test_requests_that_make_no_message_say_what_to_fix(
    table: str,
    method: str,
    path: str,
    query: str,
    body: bytes,
    field: str | None,
    says: str,
) -> None:
    """Unknown fields, repeats, wrong types, bad JSON: RequestError naming what is wrong."""
    with pytest.raises(RequestError) as raised:
        _request(table, method, path, query, body)
    assert says in raised.value.message
    assert raised.value.field == field
    assert len(raised.value.message) < 400


def test_responses_are_protobuf_json_with_camel_case_names_and_defaults() -> None:
    """Output is json_format's mapping: lowerCamelCase, enums by name, zero values shown."""
    route = TABLES["date"].find("GET", "/v1/date").route
    message = date_pb.GetDateResponse(time_zone="UTC", day_of_week=5, leap_year=False)
    document = json_format.Parse(response_json(route, message), date_pb.GetDateResponse())
    assert document == message
    text = response_json(route, message).decode()
    assert '"timeZone": "UTC"' in text
    assert '"dayOfWeek": "FRIDAY"' in text
    assert '"leapYear": false' in text
    assert "\n" not in text
