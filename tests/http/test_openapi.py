"""The OpenAPI documents: valid OpenAPI, one operation per RPC, protobuf's JSON mapping.

The oracles are independent of the generator: the OpenAPI 3.0 meta-schema, the runtime
descriptors of the generated stubs, protobuf's own JSON printer (``json_format``) run on
fully populated messages, and the comments read straight from the text of ``protos/``.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from google.protobuf import descriptor, json_format, message_factory
from google.protobuf.message import Message
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from chrono.date.v1 import date_service_pb2
from chrono.time.v1 import time_service_pb2
from chrono_server.http import openapi, status

Json = dict[str, Any]
REPO = Path(__file__).resolve().parents[2]
SERVICES = {
    "chrono.time.v1.TimeService": time_service_pb2.DESCRIPTOR.services_by_name["TimeService"],
    "chrono.date.v1.DateService": date_service_pb2.DESCRIPTOR.services_by_name["DateService"],
}
# googleapis-common-protos has no py.typed: its http annotation is read untyped.
HTTP = importlib.import_module("google.api.annotations_pb2").http
VERBS = ("get", "put", "post", "delete", "patch")
FD = descriptor.FieldDescriptor


def load(service: str) -> Json:
    """The served document of ``service``, parsed."""
    document: Json = json.loads(openapi.document(service))
    return document


def operations(document: Json) -> Iterator[tuple[str, str, Json]]:
    """(path, HTTP method, operation) of every operation in ``document``."""
    for path, item in document["paths"].items():
        for verb, operation in item.items():
            yield path, verb, operation


def by_id(document: Json) -> dict[str, tuple[str, str, Json]]:
    """Every operation by its operationId."""
    return {op["operationId"]: (path, verb, op) for path, verb, op in operations(document)}


def rule_of(method: descriptor.MethodDescriptor) -> tuple[str, str, str]:
    """(HTTP method, path template, body) of a method's google.api.http rule."""
    rule = method.GetOptions().Extensions[HTTP]
    verb = rule.WhichOneof("pattern")
    return verb, getattr(rule, verb), rule.body


def strict(document: Json) -> Json:
    """``document`` with every object schema closed, so an unknown property fails."""
    closed = copy.deepcopy(document)

    def close(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(closed["components"])
    close(closed["paths"])
    return closed


def check(document: Json, schema: Json, instance: object) -> None:
    """Validate ``instance`` against ``schema``, whose refs point into ``document``."""
    root = {"components": document["components"], "allOf": [schema]}
    OAS30Validator(root, format_checker=OAS30Validator.FORMAT_CHECKER).validate(instance)


# --- populated messages --------------------------------------------------------------

INSTANT = datetime(2026, 11, 27, 20, 51, 16, 403125, tzinfo=UTC)


def _scalar(field: FD) -> object:
    values: dict[int, object] = {
        FD.TYPE_DOUBLE: 1.5,
        FD.TYPE_FLOAT: 0.25,
        FD.TYPE_INT64: -(2**40),
        FD.TYPE_UINT64: 2**63,
        FD.TYPE_SINT64: -(2**50),
        FD.TYPE_FIXED64: 2**60,
        FD.TYPE_SFIXED64: -7,
        FD.TYPE_INT32: -7,
        FD.TYPE_SINT32: -8,
        FD.TYPE_SFIXED32: 9,
        FD.TYPE_UINT32: 2**31,
        FD.TYPE_FIXED32: 11,
        FD.TYPE_BOOL: True,
        FD.TYPE_STRING: "Europe/Paris",
        FD.TYPE_BYTES: b"\x00\xff",
    }
    if field.type == FD.TYPE_ENUM:
        assert field.enum_type is not None
        return field.enum_type.values[-1].number
    return values[field.type]


def _message_type(field: FD) -> descriptor.Descriptor:
    assert field.message_type is not None
    return field.message_type


def fill(message: Message, choice: int = 0, depth: int = 0) -> Message:
    """Set every field of ``message`` to a non-default value, recursively.

    Of each oneof, member ``choice`` (modulo its size) is set, so that calls with
    ``choice`` 0, 1, ... cover every member.
    """
    # The stubs type a message's descriptor as either implementation's; both are this.
    described = cast(descriptor.Descriptor, message.DESCRIPTOR)
    kind = described.full_name
    if kind == "google.protobuf.Timestamp":
        message.FromDatetime(INSTANT)  # type: ignore[attr-defined]
        return message
    if kind == "google.protobuf.Duration":
        message.FromTimedelta(timedelta(hours=-3, microseconds=500))  # type: ignore[attr-defined]
        return message
    if kind == "google.protobuf.FieldMask":
        message.paths.extend(["display_name", "weekend_days"])  # type: ignore[attr-defined]
        return message
    for field in described.fields:
        oneof = field.containing_oneof
        if oneof is not None and oneof.fields[choice % len(oneof.fields)] is not field:
            continue
        repeated = field.is_repeated
        if field.type == FD.TYPE_MESSAGE:
            assert not _message_type(field).GetOptions().map_entry, "maps are not filled"
            if depth > 6:
                continue
            target = getattr(message, field.name)
            for _ in range(2 if repeated else 1):
                fill(target.add() if repeated else target, choice, depth + 1)
        elif repeated:
            getattr(message, field.name).extend([_scalar(field), _scalar(field)])
        else:
            setattr(message, field.name, _scalar(field))
    return message


def populated(kind: descriptor.Descriptor, choice: int = 0) -> Message:
    """A message of type ``kind`` with every field set."""
    return fill(message_factory.GetMessageClass(kind)(), choice)


def choices(kind: descriptor.Descriptor) -> range:
    """Enough ``choice`` values to set each member of each oneof of ``kind`` once."""
    return range(max([len(oneof.fields) for oneof in kind.oneofs] + [1]))


# --- comments, read from the proto text ----------------------------------------------

_BLOCK = re.compile(r"^\s*(message|enum|service|oneof)\s+(\w+)\s*\{")
_RPC = re.compile(r"^\s*rpc\s+(\w+)\s*\(")
_FIELD = re.compile(r"^\s*(?:repeated\s+)?[\w.]+\s+(\w+)\s*=\s*\d+")
_VALUE = re.compile(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s*\d+\s*;")


def proto_comments(path: Path, package: str) -> dict[str, str]:
    """The leading comment of each service, RPC, message, field and enum value of a file.

    Keys are full names; a field's and an enum value's are its parent's name, a dot and
    its own. Lines are joined with single spaces; ``buf:lint:`` directives are dropped.
    """
    found: dict[str, str] = {}
    stack: list[tuple[str, str]] = []
    pending: list[str] = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            text = stripped[2:].strip()
            if not text.startswith("buf:lint:"):
                pending.append(text)
            continue
        comment = " ".join(" ".join(pending).split())
        pending = []
        named = [name for kind, name in stack if kind in ("message", "enum", "service")]
        parent = ".".join([package, *named])
        inside = stack[-1][0] if stack else ""
        if block := _BLOCK.match(line):
            kind, name = block.groups()
            if kind != "oneof":
                found[f"{parent}.{name}"] = comment
        elif rpc := _RPC.match(line):
            found[f"{parent}.{rpc.group(1)}"] = comment
        elif inside in ("message", "oneof") and (field := _FIELD.match(line)):
            found[f"{parent}.{field.group(1)}"] = comment
        elif inside == "enum" and (value := _VALUE.match(line)):
            found[f"{parent}.{value.group(1)}"] = comment
        # The first brace of a line opens the block it declares; any other (an option's
        # value, a path template in a string) opens an anonymous one.
        opened = (block.group(1), block.group(2)) if block else ("", "")
        for char in line:
            if char == "{":
                stack.append(opened)
                opened = ("", "")
            elif char == "}":
                stack.pop()
    return found


def flat(text: str) -> str:
    """``text`` on one line."""
    return " ".join(text.split())


COMMENTS = {
    **proto_comments(REPO / "protos/chrono/time/v1/time_service.proto", "chrono.time.v1"),
    **proto_comments(REPO / "protos/chrono/date/v1/date_service.proto", "chrono.date.v1"),
}


# --- the tests -----------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_document_is_valid_openapi(service: str) -> None:
    """Each service's document passes the OpenAPI 3.0 meta-schema and names its service."""
    document = load(service)
    validate(document)
    assert document["openapi"].startswith("3.0.")
    assert document["info"]["x-grpc-service"] == service
    assert document["info"]["title"] == service


@pytest.mark.parametrize("service", SERVICES)
def test_document_is_the_generated_file_read_once(service: str) -> None:
    """document() answers the file scripts/generate wrote, the same bytes every call."""
    package = service.rpartition(".")[0].replace(".", "/")
    files = list((REPO / "generated" / package).glob("*.openapi.json"))
    assert len(files) == 1
    assert openapi.document(service) == files[0].read_bytes()
    assert openapi.document(service) is openapi.document(service)


@pytest.mark.parametrize("name", ["grpc.health.v1.Health", "chrono.nowhere.v1.Service", "x"])
def test_a_service_without_a_document_is_a_lookup_error(name: str) -> None:
    """Asking for a service that has no document raises LookupError, naming it."""
    with pytest.raises(LookupError, match=re.escape(repr(name))):
        openapi.document(name)


def _template_regex(template: str) -> re.Pattern[str]:
    """A regex for the URLs a google.api.http template matches; one group per variable."""
    out = ""
    for token in re.split(r"(\{[^}]*\})", template):
        if token.startswith("{"):
            field, _, segments = token[1:-1].partition("=")
            parts = [
                ".+" if s == "**" else "[^/]+" if s == "*" else re.escape(s)
                for s in (segments or "*").split("/")
            ]
            out += f"(?P<{field.replace('.', '__')}>{'/'.join(parts)})"
        else:
            out += re.escape(token)
    return re.compile(out)


@pytest.mark.parametrize("service", SERVICES)
def test_every_rpc_is_one_operation_at_its_http_rule(service: str) -> None:
    """Each RPC is the operation of its name, tagged with its service, at its rule's URL.

    Filling the path parameters gives a URL that the rule's template matches, each
    template variable holding the value it was given.
    """
    document = load(service)
    found = by_id(document)
    methods = SERVICES[service].methods
    legacy = {
        "chrono.time.v1.TimeService": "LegacyGetTime",
        "chrono.date.v1.DateService": "LegacyGetDate",
    }
    assert set(found) == {m.name for m in methods} | {legacy[service]}
    for method in methods:
        path, verb, operation = found[method.name]
        rule_verb, template, _ = rule_of(method)
        assert verb == rule_verb, method.name
        assert operation["tags"] == [SERVICES[service].name]
        value = "Europe/Paris" if "**" in template else "US"
        url = re.sub(r"\{\w+\}", value, path)
        match = _template_regex(template).fullmatch(url)
        assert match is not None, (method.name, url, template)
        assert all(captured.endswith(value) for captured in match.groupdict().values())


@pytest.mark.parametrize("service", SERVICES)
def test_schemas_match_protobuf_json_mapping(service: str) -> None:
    """Protobuf's JSON of every fully set request body and response validates, closed.

    Every object schema is closed (no other properties), so a property named other than
    protobuf's lowerCamelCase, or a value of another form (an int64 that
    is not a string, an enum that is not its name, a Timestamp that is not RFC 3339, a
    Duration that is not "3.5s") fails.
    """
    document = strict(load(service))
    found = by_id(document)
    for method in SERVICES[service].methods:
        _, _, operation = found[method.name]
        _, template, body = rule_of(method)
        in_path = {name.split(".")[0] for name in re.findall(r"\{([\w.]+)", template)}
        for choice in choices(method.input_type):
            request = populated(method.input_type, choice)
            if body == "*":
                for name in in_path:
                    request.ClearField(name)
                sent = json_format.MessageToDict(request)
            elif body:
                sent = json_format.MessageToDict(getattr(request, body))
            if body:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                check(document, schema, sent)
        for choice in choices(method.output_type):
            answer = json_format.MessageToDict(populated(method.output_type, choice))
            content = operation["responses"]["200"]["content"]
            check(document, next(iter(content.values()))["schema"], answer)


@pytest.mark.parametrize("service", SERVICES)
def test_every_property_has_every_field_of_its_message(service: str) -> None:
    """Each message schema lists each field of the message, by its JSON name."""
    document = load(service)
    for name, schema in document["components"]["schemas"].items():
        if name == "Error" or schema.get("type") != "object" or name.startswith("google."):
            continue
        kind = time_service_pb2.DESCRIPTOR.pool.FindMessageTypeByName(name)
        assert list(schema["properties"]) == [f.json_name for f in kind.fields], name


def _query_leaves(kind: descriptor.Descriptor, prefix: str = "") -> set[str]:
    """The dotted JSON names of the fields of ``kind`` a URL query can carry."""
    scalar_messages = {
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.FieldMask",
    }
    leaves: set[str] = set()
    for field in kind.fields:
        name = prefix + field.json_name
        if field.type == FD.TYPE_MESSAGE and _message_type(field).full_name not in scalar_messages:
            if not field.is_repeated:
                leaves |= _query_leaves(_message_type(field), f"{name}.")
        else:
            leaves.add(name)
    return leaves


@pytest.mark.parametrize("service", SERVICES)
def test_fields_outside_the_path_and_body_are_query_parameters(service: str) -> None:
    """Every request field outside the path and body is a query parameter, messages flattened.

    google.type.Date becomes ``startDate.year``, ``startDate.month``, ``startDate.day``.
    """
    document = load(service)
    found = by_id(document)
    for method in SERVICES[service].methods:
        _, _, operation = found[method.name]
        _, template, body = rule_of(method)
        if body == "*":
            assert all(p["in"] == "path" for p in operation.get("parameters", []))
            continue
        bound = {n.split(".")[0] for n in re.findall(r"\{([\w.]+)", template)} | {body}
        kind = method.input_type
        bound_json = {kind.fields_by_name[name].json_name for name in bound if name}
        expected = {leaf for leaf in _query_leaves(kind) if leaf.split(".")[0] not in bound_json}
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert query == expected, method.name
    holidays = by_id(load("chrono.date.v1.DateService"))["ListHolidays"][2]["parameters"]
    names = [p["name"] for p in holidays]
    assert names[:1] == ["calendar"]
    assert {"startDate.year", "startDate.month", "startDate.day", "endDate.day"} <= set(names)


def test_a_zone_path_parameter_says_it_holds_slashes() -> None:
    """GetTimeZone's zone is one path parameter whose description says it holds slashes."""
    path, verb, operation = by_id(load("chrono.time.v1.TimeService"))["GetTimeZone"]
    assert (verb, path) == ("get", "/v1/timezones/{time_zone}")
    (parameter,) = operation["parameters"]
    assert parameter["in"] == "path"
    assert parameter["required"] is True
    assert "slashes" in parameter["description"]


def test_resource_names_are_split_into_their_pattern() -> None:
    """A ``{name=calendars/*}`` variable is documented as ``calendars/{calendar}``."""
    found = by_id(load("chrono.date.v1.DateService"))
    assert found["GetCalendar"][:2] == ("/v1/calendars/{calendar}", "get")
    assert found["UpdateCalendar"][:2] == ("/v1/calendars/{calendar}", "patch")
    assert found["DeleteCalendar"][:2] == ("/v1/calendars/{calendar}", "delete")
    assert found["IsBusinessDay"][:2] == ("/v1/calendars/{calendar}:isBusinessDay", "post")


@pytest.mark.parametrize("service", SERVICES)
def test_descriptions_are_the_proto_comments(service: str) -> None:
    """Services, RPCs, messages, fields and enum values carry their proto comments."""
    document = load(service)
    package = service.rpartition(".")[0]
    assert flat(document["info"]["description"]).startswith(COMMENTS[service])
    for method in SERVICES[service].methods:
        operation = by_id(document)[method.name][2]
        assert flat(operation["description"]) == COMMENTS[f"{service}.{method.name}"]
    schemas = document["components"]["schemas"]
    checked = 0
    for name, schema in schemas.items():
        if not name.startswith(package):
            continue
        assert flat(schema["description"]).startswith(COMMENTS[name]), name
        if "enum" in schema:
            for value in schema["enum"]:
                assert f"`{value}`: {COMMENTS[f'{name}.{value}']}" in flat(schema["description"])
                checked += 1
        for field_name, prop in schema.get("properties", {}).items():
            kind = time_service_pb2.DESCRIPTOR.pool.FindMessageTypeByName(name)
            proto_name = next(f.name for f in kind.fields if f.json_name == field_name)
            assert flat(prop["description"]).startswith(COMMENTS[f"{name}.{proto_name}"])
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("service", SERVICES)
def test_errors_are_the_status_schema_the_server_sends(service: str) -> None:
    """Every operation's other answers are the Error schema, which the server's body fits."""
    document = strict(load(service))
    for _, _, operation in operations(document):
        error = operation["responses"]["default"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/Error"}
    body = status.rich(
        grpc.StatusCode.INVALID_ARGUMENT,
        "unknown time zone 'Mars/Olympus'",
        "UNKNOWN_TIME_ZONE",
        service,
        field_name="time_zone",
    ).body()
    check(document, {"$ref": "#/components/schemas/Error"}, json.loads(body))


@pytest.mark.parametrize(
    ("service", "path", "key"),
    [
        ("chrono.time.v1.TimeService", "/time", "time"),
        ("chrono.date.v1.DateService", "/date", "date"),
    ],
)
def test_the_legacy_endpoint_is_documented(service: str, path: str, key: str) -> None:
    """The original design's GET endpoint is there, with its optional time_zone query."""
    operation = load(service)["paths"][path]["get"]
    (parameter,) = operation["parameters"]
    assert (parameter["name"], parameter["in"]) == ("time_zone", "query")
    assert not parameter.get("required", False)
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["required"] == [key]


# Sample values for the parameters the GET operations need, by name.
PATH_VALUES = {"time_zone": "Europe/Paris", "calendar": "US"}
QUERY_VALUES = {
    "startDate.year": "2026",
    "startDate.month": "7",
    "startDate.day": "1",
    "endDate.year": "2026",
    "endDate.month": "7",
    "endDate.day": "31",
    "maxUpdates": "1",
}


@pytest.mark.parametrize("service", SERVICES)
def test_every_documented_get_answers_as_documented(
    service: str, request: pytest.FixtureRequest
) -> None:
    """A real server answers each GET at its documented path with JSON its schema fits.

    Every object schema is closed, so the server's JSON (which writes every field) may
    hold no property the document lacks; a stream's every line fits too.
    """
    served = request.getfixturevalue("time_http" if "time" in service else "date_http")
    document = strict(load(service))
    answered = 0
    for path, verb, operation in operations(document):
        if verb != "get":
            continue
        parameters = operation.get("parameters", [])
        url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)
        query = "&".join(
            f"{p['name']}={QUERY_VALUES[p['name']]}"
            for p in parameters
            if p["in"] == "query" and p["name"] in QUERY_VALUES
        )
        reply = served.call("GET", f"{url}?{query}" if query else url)
        assert reply.status == 200, (path, reply.body[:300])
        ((media, content),) = operation["responses"]["200"]["content"].items()
        assert reply.headers["content-type"].split(";")[0] == media
        bodies = reply.body.splitlines() if media == "application/x-ndjson" else [reply.body]
        for body in bodies:
            check(document, content["schema"], json.loads(body))
        answered += 1
    assert answered == sum(1 for _, verb, _ in operations(document) if verb == "get")
