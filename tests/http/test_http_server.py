"""The HTTP/JSON listener of real servers: every RPC, errors, streams, CORS, limits, drain."""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import json
import logging
import os
import signal
import socket
import threading
import zoneinfo
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import status_pb2
from grpc_status import rpc_status

from chrono.date.v1 import date_service_pb2 as date_pb
from chrono.time.v1 import time_service_pb2 as time_pb
from chrono_server.config import check, parse_settings
from chrono_server.http.server import HttpServer
from chrono_server.spec import Resources, Service, ServiceEntry, ServiceSpec
from date_service.options import DateOptions
from date_service.server import SPEC as DATE_SPEC
from tests.chrono_server.helpers import (
    ServiceProcess,
    access_lines,
    eventually,
    tracebacks_and_errors,
)
from tests.devcerts import DevCerts
from tests.http.conftest import PINNED, Served, call, serving, stream
from tests.servers import tls_settings
from time_service import ENTRY as TIME_ENTRY
from time_service.options import TimeOptions
from time_service.server import SPEC as TIME_SPEC


def _msg(cls: type[Message], **fields: Any) -> Message:
    """A message of ``cls`` from proto field names, read by protobuf's own JSON parser."""
    return json_format.ParseDict(fields, cls())


# An HTTP request and the gRPC call it stands for: the two must get the same answer.
SAME_ANSWER: list[tuple[str, str, str, bytes, str, Message]] = [
    ("time", "GET", "/v1/time?time_zone=Asia/Kathmandu", b"", "GetTime",
     _msg(time_pb.GetTimeRequest, time_zone="Asia/Kathmandu")),
    ("time", "GET", "/v1/timezones?page_size=7&country_code=US", b"", "ListTimeZones",
     _msg(time_pb.ListTimeZonesRequest, page_size=7, country_code="US")),
    ("time", "GET", "/v1/timezones/America/Argentina/Buenos_Aires", b"", "GetTimeZone",
     _msg(time_pb.GetTimeZoneRequest, time_zone="America/Argentina/Buenos_Aires")),
    ("time", "GET",
     "/v1/timezones/Europe/London:transitions?startTime=2020-01-01T00:00:00Z"
     "&end_time=2023-01-01T00:00:00Z&page_size=4", b"", "ListTimeZoneTransitions",
     _msg(time_pb.ListTimeZoneTransitionsRequest,
         time_zone="Europe/London", start_time="2020-01-01T00:00:00Z",
         end_time="2023-01-01T00:00:00Z", page_size=4)),
    ("time", "POST", "/v1/time:convert",
     b'{"localTime": {"year": 2026, "month": 3, "day": 29, "hours": 1, "minutes": 30, '
     b'"timeZone": {"id": "Europe/London"}}, "timeZones": ["Asia/Tokyo", "UTC"], '
     b'"disambiguation": "DISAMBIGUATION_LATER"}', "ConvertTime",
     _msg(time_pb.ConvertTimeRequest,
         local_time={"year": 2026, "month": 3, "day": 29, "hours": 1, "minutes": 30,
                     "time_zone": {"id": "Europe/London"}},
         time_zones=["Asia/Tokyo", "UTC"], disambiguation="DISAMBIGUATION_LATER")),
    ("date", "GET", "/v1/date?time_zone=Pacific/Kiritimati", b"", "GetDate",
     _msg(date_pb.GetDateRequest, time_zone="Pacific/Kiritimati")),
    ("date", "GET", "/v1/date?date.year=2024&date.month=2&date.day=29", b"", "GetDate",
     _msg(date_pb.GetDateRequest, date={"year": 2024, "month": 2, "day": 29})),
    ("date", "POST", "/v1/date:addPeriod",
     b'{"date": {"year": 2026, "month": 1, "day": 31}, "months": 1}', "AddPeriod",
     _msg(date_pb.AddPeriodRequest, date={"year": 2026, "month": 1, "day": 31}, months=1)),
    ("date", "POST", "/v1/date:diff",
     b'{"start_date": {"year": 2000, "month": 2, "day": 29}, '
     b'"endDate": {"year": 2026, "month": 7, "day": 3}}', "DiffDates",
     _msg(date_pb.DiffDatesRequest, start_date={"year": 2000, "month": 2, "day": 29},
                              end_date={"year": 2026, "month": 7, "day": 3})),
    ("date", "POST", "/v1/calendars/XNYS:isBusinessDay",
     b'{"date": {"year": 2026, "month": 7, "day": 3}}', "IsBusinessDay",
     _msg(date_pb.IsBusinessDayRequest, calendar="calendars/XNYS",
                                  date={"year": 2026, "month": 7, "day": 3})),
    ("date", "POST", "/v1/calendars/US:adjust",
     b'{"date": {"year": 2026, "month": 7, "day": 3}, '
     b'"convention": "BUSINESS_DAY_CONVENTION_PRECEDING"}',
     "AdjustToBusinessDay",
     _msg(date_pb.AdjustToBusinessDayRequest, calendar="calendars/US",
                                        date={"year": 2026, "month": 7, "day": 3},
                                        convention="BUSINESS_DAY_CONVENTION_PRECEDING")),
    ("date", "POST", "/v1/calendars/DE:addBusinessDays",
     b'{"date": {"year": 2026, "month": 12, "day": 23}, "days": 3}', "AddBusinessDays",
     _msg(date_pb.AddBusinessDaysRequest, calendar="calendars/DE",
                                    date={"year": 2026, "month": 12, "day": 23}, days=3)),
    ("date", "POST", "/v1/calendars/US-CA:countBusinessDays",
     b'{"startDate": {"year": 2026, "month": 1, "day": 1}, '
     b'"endDate": {"year": 2027, "month": 1, "day": 1}}', "CountBusinessDays",
     _msg(date_pb.CountBusinessDaysRequest, calendar="calendars/US-CA",
                                      start_date={"year": 2026, "month": 1, "day": 1},
                                      end_date={"year": 2027, "month": 1, "day": 1})),
    ("date", "GET",
     "/v1/calendars/US/holidays?start_date.year=2026&start_date.month=1&start_date.day=1"
     "&endDate.year=2026&endDate.month=12&endDate.day=31&page_size=5", b"", "ListHolidays",
     _msg(date_pb.ListHolidaysRequest, calendar="calendars/US",
                                 start_date={"year": 2026, "month": 1, "day": 1},
                                 end_date={"year": 2026, "month": 12, "day": 31},
                                 page_size=5)),
    ("date", "GET", "/v1/calendars/XNYS", b"", "GetCalendar",
     _msg(date_pb.GetCalendarRequest, name="calendars/XNYS")),
    ("date", "GET", "/v1/calendars?page_size=3", b"", "ListCalendars",
     _msg(date_pb.ListCalendarsRequest, page_size=3)),
]  # fmt: skip


def _grpc_call(served: Served, rpc: str, request: Message) -> Any:
    """Call ``rpc`` of the service ``served`` runs over gRPC with ``request``."""
    services: Any = request.DESCRIPTOR.file.services_by_name
    descriptor: ServiceDescriptor = next(iter(services.values()))
    method = descriptor.methods_by_name[rpc]
    with grpc.insecure_channel(served.target) as channel:
        answer = channel.unary_unary(
            f"/{descriptor.full_name}/{rpc}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=GetMessageClass(method.output_type).FromString,
        )(request, timeout=10)
    return answer


@pytest.fixture
def both(time_http: Served, date_http: Served) -> dict[str, Served]:
    """The pinned servers, by service."""
    return {"time": time_http, "date": date_http}


@pytest.mark.parametrize(
    ("service", "method", "path", "body", "rpc", "request_message"),
    SAME_ANSWER,
    ids=[f"{entry[4]}-{index}" for index, entry in enumerate(SAME_ANSWER)],
)
def test_an_http_call_answers_what_the_grpc_call_does(
    both: dict[str, Served],
    service: str,
    method: str,
    path: str,
    body: bytes,
    rpc: str,
    request_message: Message,
) -> None:
    """Each RPC over HTTP/JSON gets the very answer gRPC gives, in protobuf's JSON mapping."""
    served = both[service]
    reply = served.call(method, path, body or None, {"Content-Type": "application/json"})
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    expected = _grpc_call(served, rpc, request_message)
    assert json_format.Parse(reply.body, type(expected)()) == expected
    assert reply.json() == json_format.MessageToDict(
        expected, always_print_fields_with_no_presence=True
    )


def test_get_time_is_the_pinned_instant_in_the_zone(time_http: Served) -> None:
    """GET /v1/time: lowerCamelCase fields, a Timestamp and Durations as strings."""
    reply = time_http.call("GET", "/v1/time?timeZone=Asia%2FKathmandu")
    local = PINNED.astimezone(zoneinfo.ZoneInfo("Asia/Kathmandu"))
    assert reply.json() == {
        "currentTime": "2026-07-03T12:34:56.789Z",
        "timeZone": "Asia/Kathmandu",
        "formatted": local.strftime("%Y-%m-%d %H:%M:%S"),
        "utcOffset": f"{int(local.utcoffset().total_seconds())}s",  # type: ignore[union-attr]
        "abbreviation": local.tzname(),
        "dst": False,
        "dstOffset": "0s",
    }


def test_list_time_zones_pages_over_http_cover_every_zone(time_http: Served) -> None:
    """Following nextPageToken over HTTP lists every zone once, as one gRPC page does."""
    names: list[str] = []
    token = ""
    while True:
        page = time_http.call("GET", f"/v1/timezones?pageSize=97&pageToken={token}").json()
        names += page["timeZones"]
        token = page["nextPageToken"]
        if not token:
            break
    everything = _grpc_call(time_http, "ListTimeZones", time_pb.ListTimeZonesRequest())
    assert names == list(everything.time_zones)
    assert page["totalSize"] == len(names)


def test_legacy_endpoints_answer_the_original_shapes(both: dict[str, Served]) -> None:
    """GET /time and GET /date answer as the original service did, UTC or ?time_zone=."""
    time_port, date_port = both["time"].http_port, both["date"].http_port
    assert call(time_port, "GET", "/time").json() == {"time": "2026-07-03 12:34:56"}
    tokyo = PINNED.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))
    assert call(time_port, "GET", "/time?time_zone=Asia/Tokyo").json() == {
        "time": tokyo.strftime("%Y-%m-%d %H:%M:%S")
    }
    assert call(date_port, "GET", "/date").json() == {"date": "2026-07-03"}
    kiritimati = PINNED.astimezone(zoneinfo.ZoneInfo("Pacific/Kiritimati"))
    assert call(date_port, "GET", "/date?time_zone=Pacific/Kiritimati").json() == {
        "date": kiritimati.strftime("%Y-%m-%d")
    }
    refused = call(time_port, "GET", "/time?time_zone=Mars/Base")
    assert (refused.status, refused.error["status"]) == (400, "INVALID_ARGUMENT")
    wrong = call(date_port, "POST", "/date")
    assert (wrong.status, wrong.headers["allow"]) == (405, "GET")
    assert call(date_port, "GET", "/time").status == 404


def _grpc_error(served: Served, rpc: str, request: Message) -> status_pb2.Status:
    with pytest.raises(grpc.RpcError) as raised:
        _grpc_call(served, rpc, request)
    assert isinstance(raised.value, grpc.Call)
    found = rpc_status.from_call(raised.value)
    assert found is not None
    return found


def test_errors_carry_the_http_status_and_the_grpc_details(
    time_http: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """An unknown zone: 400, INVALID_ARGUMENT, and the BadRequest and ErrorInfo gRPC sends."""
    reply = time_http.call("GET", "/v1/time?time_zone=Mars/Base")
    assert reply.status == 400
    assert reply.headers["content-type"] == "application/json"
    status = _grpc_error(time_http, "GetTime", time_pb.GetTimeRequest(time_zone="Mars/Base"))
    assert reply.json() == {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": status.message,
            "details": [json_format.MessageToDict(detail) for detail in status.details],
        }
    }
    types = [detail["@type"] for detail in reply.error["details"]]
    assert types == [
        "type.googleapis.com/google.rpc.BadRequest",
        "type.googleapis.com/google.rpc.ErrorInfo",
    ]
    assert reply.error["details"][0]["fieldViolations"][0]["field"] == "time_zone"
    assert tracebacks_and_errors(caplog) == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "says"),
    [
        ("GET", "/nowhere", None, 404, "NOT_FOUND", "/openapi.json"),
        ("GET", "/v1/time/now", None, 404, "NOT_FOUND", "nothing is served"),
        ("DELETE", "/v1/time", None, 405, "UNIMPLEMENTED", "takes GET"),
        ("POST", "/v1/time:convert", "{not json", 400, "INVALID_ARGUMENT", "not valid JSON"),
        ("POST", "/v1/time:convert", '{"when": "now"}', 400, "INVALID_ARGUMENT", '"when"'),
        ("POST", "/v1/time:convert", '{"timeZones": 7}', 400, "INVALID_ARGUMENT", "timeZones"),
        ("POST", "/v1/time:convert", '{"time": "noon"}', 400, "INVALID_ARGUMENT", "time"),
        ("POST", "/v1/time:convert", "[]", 400, "INVALID_ARGUMENT", "JSON object"),
        ("GET", "/v1/timezones?pageSize=lots", None, 400, "INVALID_ARGUMENT", "page"),
        ("GET", "/v1/time?zone=UTC", None, 400, "INVALID_ARGUMENT", "no field 'zone'"),
        ("GET", "/v1/time", '{"timeZone": "UTC"}', 400, "INVALID_ARGUMENT", "query parameters"),
        ("POST", "/v1/time:convert", '{"x": "' + "y" * 5000 + '"}', 400, "INVALID_ARGUMENT",
         "--max-request-bytes"),
    ],
)  # fmt: skip
def test_bad_requests_get_google_errors_and_no_traceback(
    time_http: Served,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: str | None,
    status: int,
    code: str,
    says: str,
) -> None:
    """Unknown paths 404, wrong methods 405 with Allow, bad JSON 400 saying what to fix."""
    reply = time_http.call(method, path, body, {"Content-Type": "application/json"})
    assert reply.status == status, reply.body
    assert reply.error["code"] == status
    assert reply.error["status"] == code
    assert says in reply.error["message"]
    assert len(reply.error["message"]) < 400
    reasons = [d["reason"] for d in reply.error["details"] if "reason" in d]
    assert len(reasons) == 1
    if status == 405:
        assert reply.headers["allow"] == "GET"
    assert tracebacks_and_errors(caplog) == []


def test_a_chunked_body_over_the_limit_is_refused(time_http: Served) -> None:
    """A body with no Content-Length is cut off at --max-request-bytes, with a 400."""
    connection = socket.create_connection(("127.0.0.1", time_http.http_port), timeout=10)
    with connection:
        chunk = b"x" * 3000
        head = b"POST /v1/time:convert HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        connection.sendall(head + frame + frame + b"0\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = connection.recv(65536)
            if not data:
                break
            answer += data
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert "over 4096 bytes" in body["error"]["message"]


def test_garbage_on_the_http_port_gets_a_400_and_no_traceback(
    time_http: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """A request line that is not HTTP is answered 400; the log shows no traceback."""
    caplog.set_level(logging.INFO)
    with socket.create_connection(("127.0.0.1", time_http.http_port), timeout=10) as connection:
        connection.sendall(b"GET /v1/time HTTP/1.1\r\nBad Header Line\r\n\r\n")
        answer = connection.recv(65536)
    assert answer.partition(b"\r\n")[0].endswith(b" 400 Bad Request")
    assert tracebacks_and_errors(caplog) == []
    assert time_http.call("GET", "/v1/time").status == 200


def test_watch_time_streams_one_json_line_per_update(time_http: Served) -> None:
    """WatchTime over HTTP: NDJSON, each update a WatchTimeResponse, ended after max_updates."""
    with stream(time_http.http_port, "/v1/time:watch?max_updates=3&interval=0.1s") as response:
        assert response.status == 200
        assert response.getheader("Content-Type") == "application/x-ndjson"
        lines = response.read().splitlines()
    assert len(lines) == 3
    for line in lines:
        update = json_format.Parse(line, time_pb.WatchTimeResponse())
        assert update.time_zone == "UTC"
        assert update.formatted == "2026-07-03 12:34:56"


def test_watch_lines_arrive_while_the_stream_is_open(time_http: Served) -> None:
    """Each update is flushed as it is sent: two lines of an endless watch can be read."""
    servicer: Any = time_http.server.app.servicer
    with stream(time_http.http_port, "/v1/time:watch?interval=0.1s&timeZone=Asia/Tokyo") as open_:
        first, second = open_.readline(), open_.readline()
        assert json.loads(first)["timeZone"] == json.loads(second)["timeZone"] == "Asia/Tokyo"
        assert servicer.open_watches == 1
    # The caller has hung up: the server ends the watch and frees its slot.
    assert eventually(lambda: servicer.open_watches == 0)


def test_a_watch_past_its_deadline_ends_with_an_error_line(time_http: Served) -> None:
    """grpc-timeout bounds a stream: updates, then one DEADLINE_EXCEEDED line, then the end."""
    headers = {"grpc-timeout": "300m"}
    # Ticks fall on whole multiples of the interval: with 10 s, a call made within 0.3 s of
    # one got a second update before its deadline (about 1 run in 30); with 1 h, never.
    with stream(time_http.http_port, "/v1/time:watch?interval=3600s", headers) as response:
        lines = response.read().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["formatted"] == "2026-07-03 12:34:56"
    assert json.loads(lines[1])["error"]["status"] == "DEADLINE_EXCEEDED"
    assert json.loads(lines[1])["error"]["code"] == 504


@pytest.mark.parametrize(
    ("header", "value"),
    [("grpc-timeout", "5 seconds"), ("grpc-timeout", "123456789S"), ("X-Server-Timeout", "-1")],
)
def test_malformed_deadlines_are_refused(time_http: Served, header: str, value: str) -> None:
    """A deadline header that cannot be read is a 400 that says the form it takes."""
    reply = time_http.call("GET", "/v1/time", headers={header: value})
    assert reply.status == 400
    assert header.lower() in reply.error["message"].lower()


def test_a_request_id_header_is_echoed(time_http: Served) -> None:
    """X-Request-Id travels as metadata: the answer carries it back, as gRPC trailers do."""
    reply = time_http.call("GET", "/v1/time", headers={"X-Request-Id": "http-abc-1"})
    assert reply.headers["x-request-id"] == "http-abc-1"
    assert reply.headers["x-chrono-worker"].endswith(f":{os.getpid()}")


def test_keep_alive_serves_several_calls_on_one_connection(time_http: Served) -> None:
    """An HTTP/1.1 connection stays open between calls."""
    connection = http.client.HTTPConnection("127.0.0.1", time_http.http_port, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/v1/time")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
            assert not response.will_close
    finally:
        connection.close()


def test_cors_is_off_unless_origins_are_listed(time_http: Served) -> None:
    """By default no answer has CORS headers and a preflight is a 405."""
    origin = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    plain = time_http.call("GET", "/v1/time", headers=origin)
    assert not [name for name in plain.headers if name.startswith("access-control-")]
    preflight = time_http.call("OPTIONS", "/v1/time", headers=origin)
    assert preflight.status == 405
    assert not [name for name in preflight.headers if name.startswith("access-control-")]


@pytest.fixture(scope="module")
def cors_http() -> Iterator[Served]:
    """A TimeService server that lets https://app.example call it from browsers."""
    with serving(TIME_SPEC, http_cors_origins=("https://app.example",)) as served:
        yield served


def test_cors_allows_listed_origins_only(cors_http: Served) -> None:
    """A listed origin gets preflights and Access-Control-Allow-Origin; another does not."""
    asking = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, x-request-id",
    }
    preflight = cors_http.call("OPTIONS", "/v1/timezones/Europe/Paris", headers=asking)
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert preflight.headers["access-control-allow-methods"] == "GET"
    assert preflight.headers["access-control-allow-headers"] == "authorization, x-request-id"
    simple = cors_http.call("GET", "/v1/time", headers={"Origin": "https://app.example"})
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"]
    assert simple.headers["vary"] == "Origin"
    other = {**asking, "Origin": "https://evil.example"}
    refused = cors_http.call("OPTIONS", "/v1/time", headers=other)
    assert (refused.status, refused.error["status"]) == (403, "PERMISSION_DENIED")
    assert "access-control-allow-origin" not in refused.headers
    stranger = cors_http.call("GET", "/v1/time", headers={"Origin": "https://evil.example"})
    assert stranger.status == 200
    assert "access-control-allow-origin" not in stranger.headers


def test_the_api_description_is_routed(time_http: Served) -> None:
    """/openapi.json is the service's document and /docs its page; other /docs paths 404."""
    document = time_http.call("GET", "/openapi.json")
    assert document.status == 200
    assert document.json()["info"]["x-grpc-service"] == "chrono.time.v1.TimeService"
    page = time_http.call("GET", "/docs")
    assert (page.status, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert time_http.call("GET", "/docs/../openapi.json").status == 404
    assert time_http.call("POST", "/openapi.json").headers["allow"] == "GET"


def test_http_calls_are_counted_as_grpc_calls() -> None:
    """The same metric families count HTTP calls, and refused requests, per method."""
    with serving(TIME_SPEC, metrics_port=0) as served:
        metrics = served.server.app.metrics
        assert metrics is not None

        def handled(method: str, code: str) -> float:
            labels = {
                "grpc_type": "unary",
                "grpc_service": "chrono.time.v1.TimeService",
                "grpc_method": method,
                "grpc_code": code,
            }
            value = metrics.registry.get_sample_value("grpc_server_handled_total", labels)
            return value or 0.0

        served.call("GET", "/v1/time")
        served.call("GET", "/v1/time?time_zone=Mars/Base")
        served.call("POST", "/v1/time:convert", "{oops")
        assert eventually(lambda: handled("GetTime", "OK") == 1)
        assert handled("GetTime", "INVALID_ARGUMENT") == 1
        assert handled("ConvertTime", "INVALID_ARGUMENT") == 1


def test_the_watch_limit_applies_to_http_watches() -> None:
    """With --max-watches 1 a second watch over HTTP is refused 429 with a QuotaFailure."""
    with (
        serving(TIME_SPEC, service=TimeOptions(max_watches=1)) as served,
        stream(served.http_port, "/v1/time:watch?interval=0.1s") as first,
    ):
        first.readline()
        second = served.call("GET", "/v1/time:watch?interval=0.1s")
        assert (second.status, second.error["status"]) == (429, "RESOURCE_EXHAUSTED")
        types = [detail["@type"] for detail in second.error["details"]]
        assert "type.googleapis.com/google.rpc.QuotaFailure" in types


@pytest.fixture(scope="module")
def writable_date(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A DateService server whose writes need the bearer token ``s3cret``."""
    folder = tmp_path_factory.mktemp("writes")
    tokens = folder / "tokens"
    tokens.write_text("s3cret\n", encoding="utf-8")
    options = DateOptions(database=f"sqlite:///{folder / 'calendars.db'}", write_token_file=tokens)
    with serving(DATE_SPEC, service=options) as served:
        yield served


def test_writes_over_http_need_the_same_authorization(writable_date: Served) -> None:
    """Creating a calendar over HTTP: 401 without a token, 403 with a wrong one, then 200."""
    body = json.dumps({"displayName": "Acme", "baseCalendars": ["calendars/US"]})
    path = "/v1/calendars?calendarId=acme"
    missing = writable_date.call("POST", path, body)
    assert (missing.status, missing.error["status"]) == (401, "UNAUTHENTICATED")
    wrong = writable_date.call("POST", path, body, {"Authorization": "Bearer guess"})
    assert (wrong.status, wrong.error["status"]) == (403, "PERMISSION_DENIED")
    created = writable_date.call("POST", path, body, {"Authorization": "Bearer s3cret"})
    assert created.status == 200, created.body
    assert created.json()["name"] == "calendars/acme"
    patched = writable_date.call(
        "PATCH",
        "/v1/calendars/acme?updateMask=displayName",
        json.dumps({"displayName": "Acme Corp", "etag": created.json()["etag"]}),
        {"Authorization": "Bearer s3cret"},
    )
    assert patched.status == 200, patched.body
    assert writable_date.call("GET", "/v1/calendars/acme").json()["displayName"] == "Acme Corp"
    deleted = writable_date.call(
        "DELETE", "/v1/calendars/acme", headers={"Authorization": "Bearer s3cret"}
    )
    assert (deleted.status, deleted.json()) == (200, {})
    gone = writable_date.call("GET", "/v1/calendars/acme")
    assert (gone.status, gone.error["status"]) == (404, "NOT_FOUND")


# A service annotated here, not compiled: HTTP/JSON must serve it with no code of its own.
def _widgets_file() -> descriptor_pb2.FileDescriptorProto:
    from google.api import annotations_pb2  # type: ignore[import-untyped]

    proto = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="tests/http/widgets.proto",
        package="chrono.test.widgets.v1",
        syntax="proto3",
        dependency=["google/api/annotations.proto"],
    )
    color = file.enum_type.add(name="Color")
    for number, name in enumerate(("COLOR_UNSPECIFIED", "RED", "BLUE")):
        color.value.add(name=name, number=number)
    fields = (
        ("name", proto.TYPE_STRING, proto.LABEL_OPTIONAL, ""),
        ("size", proto.TYPE_INT32, proto.LABEL_OPTIONAL, ""),
        ("tags", proto.TYPE_STRING, proto.LABEL_REPEATED, ""),
        ("color", proto.TYPE_ENUM, proto.LABEL_OPTIONAL, ".chrono.test.widgets.v1.Color"),
    )
    for message_name in ("Widget", "GetWidgetRequest"):
        message = file.message_type.add(name=message_name)
        for number, (name, kind, label, type_name) in enumerate(fields, 1):
            field = message.field.add(name=name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name
    update = file.message_type.add(name="UpdateWidgetRequest")
    update.field.add(
        name="widget",
        number=1,
        type=proto.TYPE_MESSAGE,
        label=proto.LABEL_OPTIONAL,
        type_name=".chrono.test.widgets.v1.Widget",
    )
    service = file.service.add(name="WidgetService")
    for name, request, binding in (
        ("GetWidget", "GetWidgetRequest", {"get": "/v1/{name=shelves/*/widgets/*}"}),
        (
            "UpdateWidget",
            "UpdateWidgetRequest",
            {"patch": "/v1/{widget.name=shelves/*/widgets/*}", "body": "widget"},
        ),
        (
            "GetSize",
            "GetWidgetRequest",
            {"get": "/v1/{name=shelves/*/widgets/*}/size", "response_body": "size"},
        ),
        ("HoldWidget", "GetWidgetRequest", {"get": "/v1/{name=shelves/*/widgets/*}:hold"}),
    ):
        method = service.method.add(
            name=name,
            input_type=f".chrono.test.widgets.v1.{request}",
            output_type=".chrono.test.widgets.v1.Widget",
        )
        rule = method.options.Extensions[annotations_pb2.http]
        for key, value in binding.items():
            setattr(rule, key, value)
        if name == "GetWidget":
            rule.additional_bindings.add(post="/v1/{name=shelves/*/widgets/*}:fetch", body="*")
    return file


descriptor_pool.Default().Add(_widgets_file())
WIDGETS = descriptor_pool.Default().FindServiceByName("chrono.test.widgets.v1.WidgetService")
Widget: Any = GetMessageClass(WIDGETS.methods_by_name["GetWidget"].output_type)


class WidgetServicer:
    """Echoes the widget it is asked about; HoldWidget answers once the test releases it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = asyncio.Event()

    async def GetWidget(self, request: Any, context: Any) -> Any:  # noqa: N802
        """The widget, its size the number of its tags."""
        return Widget(
            name=request.name, size=len(request.tags), tags=request.tags, color=request.color
        )

    async def UpdateWidget(self, request: Any, context: Any) -> Any:  # noqa: N802
        """The widget as sent."""
        return request.widget

    async def GetSize(self, request: Any, context: Any) -> Any:  # noqa: N802
        """A widget of size 42."""
        return Widget(name=request.name, size=42)

    async def HoldWidget(self, request: Any, context: Any) -> Any:  # noqa: N802
        """The widget, once :attr:`release` is set."""
        self.entered.set()
        await self.release.wait()
        return Widget(name=request.name)


def _build_widgets(resources: Resources) -> Service:
    """A new WidgetServicer, for one server."""
    return Service(servicer=WidgetServicer())


WIDGET_SPEC = ServiceSpec(
    entry=ServiceEntry(
        prog="widget-service",
        env_prefix="WIDGET_SERVICE",
        default_port=0,
        spec_module=__name__,
    ),
    descriptor=WIDGETS,
    build=_build_widgets,
)


def test_a_newly_annotated_service_is_served_with_no_code_of_its_own() -> None:
    """Nested templates, additional bindings, a body field and response_body, from data."""
    with serving(WIDGET_SPEC) as served:
        got = served.call("GET", "/v1/shelves/s1/widgets/w1?tags=a&tags=b&color=2")
        assert got.json() == {
            "name": "shelves/s1/widgets/w1",
            "size": 2,
            "tags": ["a", "b"],
            "color": "BLUE",
        }
        fetched = served.call("POST", "/v1/shelves/s1/widgets/w2:fetch", '{"color": "RED"}')
        assert fetched.json()["color"] == "RED"
        updated = served.call(
            "PATCH", "/v1/shelves/s1/widgets/w3", '{"name": "shelves/x/widgets/y", "size": 3}'
        )
        assert updated.json()["name"] == "shelves/s1/widgets/w3"
        assert updated.json()["size"] == 3
        assert served.call("GET", "/v1/shelves/s1/widgets/w1/size").json() == 42
        assert served.call("PUT", "/v1/shelves/s1/widgets/w1").headers["allow"] == "GET, PATCH"


def test_a_drain_answers_calls_in_flight_and_refuses_new_connections() -> None:
    """On stop the listener closes at once, and a call already in flight still gets its answer."""
    with serving(WIDGET_SPEC, grace=5) as served, ThreadPoolExecutor(1) as pool:
        servicer: Any = served.server.app.servicer
        listener = next(c for c in served.server.app.components if isinstance(c, HttpServer))
        held = pool.submit(served.call, "GET", "/v1/shelves/s/widgets/w:hold")
        assert servicer.entered.wait(10)
        stopping = served.server.submit(served.server.app.shutdown(5))
        assert eventually(lambda: not listener.accepting)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", served.http_port), timeout=5).close()

        async def release() -> None:
            servicer.release.set()

        served.server.run(release())
        assert held.result(10).json() == {
            "name": "shelves/s/widgets/w",
            "size": 0,
            "tags": [],
            "color": "COLOR_UNSPECIFIED",
        }
        stopping.result(10)


def test_a_drain_does_not_wait_for_idle_keep_alive_connections() -> None:
    """An idle keep-alive connection is closed at the start of a drain, not after the grace."""
    with serving(TIME_SPEC, grace=30) as served:
        connection = http.client.HTTPConnection("127.0.0.1", served.http_port, timeout=10)
        try:
            connection.request("GET", "/v1/time")
            connection.getresponse().read()
            # ServerThread.run gives up after 10 s: far less than the grace.
            served.server.run(served.server.app.shutdown(30))
            assert connection.sock is not None
            assert connection.sock.recv(1) == b""
        finally:
            connection.close()


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--http-cors-origins", "https://a.example"], "--http-cors-origins is for --http-port"),
        (["--port", "8080", "--http-port", "8080"], "--http-port must differ from --port"),
        (["--metrics-port", "9000", "--http-port", "9000"], "must differ from --metrics-port"),
        (["--http-port", "8080", "--http-cors-origins", "a.example"], "scheme://host[:port]"),
    ],
)
def test_http_flags_that_do_not_fit_are_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], problem: str
) -> None:
    """--http-port and --http-cors-origins are checked with the other settings."""
    with pytest.raises(SystemExit):
        parse_settings(TIME_ENTRY, argv, environ={})
    assert problem in capsys.readouterr().err


def test_http_is_refused_beside_tls(certs: DevCerts) -> None:
    """Plain HTTP beside a TLS gRPC port is refused: it would send tokens in the clear."""
    settings = dataclasses.replace(tls_settings(certs), http_port=0)
    problem = check(settings)
    assert problem is not None
    assert "TLS-terminating proxy" in problem


def test_http_flags_parse_into_settings() -> None:
    """--http-port and --http-cors-origins (comma-separated, normalised) read from flags."""
    settings = parse_settings(
        TIME_ENTRY,
        ["--http-port", "8080", "--http-cors-origins", "https://A.example, http://b.example:3000/"],
        environ={},
    )
    assert settings.http_port == 8080
    assert settings.http_cors_origins == ("https://a.example", "http://b.example:3000")
    unset = parse_settings(TIME_ENTRY, [], environ={})
    assert (unset.http_port, unset.http_cors_origins) == (None, ())


def test_sigterm_ends_an_open_http_watch_cleanly(tmp_path: Path) -> None:
    """SIGTERM ends an HTTP watch with an UNAVAILABLE line; each call is logged with its id."""
    with ServiceProcess(["-m", "time_service", "--port", "0", "--http-port", "0"]) as process:
        port = int(process.wait_for_line(r"HTTP/JSON on http://127\.0\.0\.1:(\d+)").group(1))
        process.wait_for_port()
        garbled = call(port, "POST", "/v1/time:convert", "{", {"X-Request-Id": "bad-json"})
        assert garbled.status == 400
        headers = {"X-Request-Id": "watch-over-http"}
        with stream(port, "/v1/time:watch?interval=0.2s", headers) as response:
            assert json.loads(response.readline())["timeZone"] == "UTC"
            process.process.send_signal(signal.SIGTERM)
            # read() raises IncompleteRead unless the chunked answer was ended properly.
            rest = response.read().splitlines()
        assert rest, "the stream ended without its last line"
        last = json.loads(rest[-1])["error"]
        assert (last["code"], last["status"]) == (503, "UNAVAILABLE")
        assert "shutting down" in last["message"]
        assert all("error" not in json.loads(line) for line in rest[:-1])
        assert process.finish() == 0
    watches = [line for line in access_lines(process) if line["request_id"] == "watch-over-http"]
    assert [(line["method"], line["code"]) for line in watches] == [
        ("/chrono.time.v1.TimeService/WatchTime", "UNAVAILABLE")
    ]
    assert watches[0]["peer"].startswith("ipv4:127.0.0.1:")
    refused = [line for line in access_lines(process) if line["request_id"] == "bad-json"]
    assert [(line["method"], line["code"]) for line in refused] == [
        ("/chrono.time.v1.TimeService/ConvertTime", "INVALID_ARGUMENT")
    ]
    assert not [line for line in process.lines if "Traceback" in line or " ERROR " in line]


def test_workers_share_the_http_port(tmp_path: Path) -> None:
    """With --workers 2 every worker serves the one HTTP port the supervisor reserved."""
    args = ["-m", "time_service", "--port", "0", "--http-port", "0", "--workers", "2"]
    with ServiceProcess(args) as process:
        ports = {
            int(process.wait_for_line(r"HTTP/JSON on http://127\.0\.0\.1:(\d+)").group(1))
            for _ in range(2)
        }
        assert len(ports) == 1
        port = ports.pop()
        process.wait_for_line(r"listening on .*2 workers")
        answers = [call(port, "GET", "/time") for _ in range(4)]
        assert all(reply.status == 200 for reply in answers)
        assert all(set(reply.json()) == {"time"} for reply in answers)
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0


def test_interval_durations_cross_the_query_as_strings(time_http: Served) -> None:
    """A Duration query parameter is protobuf's JSON string: 1.5s, not a number."""
    reply = time_http.call("GET", "/v1/time:watch?interval=1.5&max_updates=1")
    assert reply.status == 400
    assert "interval" in reply.error["message"]
    good = time_http.call("GET", "/v1/time:watch?interval=1.5s&max_updates=1")
    assert good.status == 200


def test_a_busy_http_port_stops_the_server_in_one_line() -> None:
    """A taken --http-port is an error line naming the listener, and exit status 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["-m", "time_service", "--port", "0", "--http-port", str(port)]
        with ServiceProcess(args) as process:
            assert process.finish() == 1
    errors = [line for line in process.lines if " ERROR " in line]
    assert len(errors) == 1
    assert "cannot start the HTTP/JSON listener" in errors[0]
    assert "Address already in use" in errors[0]
    assert not [line for line in process.lines if "Traceback" in line]
