"""Writes the OpenAPI 3.0 document of each service in protos/ from the protos themselves.

``python scripts/openapi.py --out DIR [--googleapis DIR] PROTO...`` (``scripts/generate``
runs it) compiles the protos with their comments (``--include_source_info``) and writes,
for each file that defines a service, ``DIR/<package path>/<file stem>.openapi.json``:
one operation per RPC from its ``google.api.http`` rule, schemas that follow protobuf's
JSON mapping, and the proto comments as descriptions. Nothing here is edited by hand; the
output depends on the protos alone, key order included, so ``scripts/generate --check``
can diff it like the stubs.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from google.rpc import code_pb2

# Both ship without a py.typed marker (googleapis-common-protos' stubs are not read for
# google.api): imported by name, and used as untyped modules.
annotations_pb2 = importlib.import_module("google.api.annotations_pb2")
field_behavior_pb2 = importlib.import_module("google.api.field_behavior_pb2")
resource_pb2 = importlib.import_module("google.api.resource_pb2")
protoc = importlib.import_module("grpc_tools.protoc")

Json = dict[str, Any]
Note = Callable[[str, tuple[int, ...]], None]
FieldProto = descriptor_pb2.FieldDescriptorProto

OPENAPI_VERSION = "3.0.3"
ERROR_SCHEMA = "Error"
# Numbers of the descriptor fields that source locations name (descriptor.proto).
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 4, 5, 6
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM, MESSAGE_ONEOF = 2, 3, 4, 8
ENUM_VALUE, SERVICE_METHOD = 2, 2

_SCALARS: dict[int, Json] = {
    FieldProto.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldProto.TYPE_FLOAT: {"type": "number", "format": "float"},
    # Protobuf's JSON mapping writes 64-bit integers as strings: JavaScript numbers
    # cannot hold them.
    FieldProto.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldProto.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldProto.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldProto.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FieldProto.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldProto.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldProto.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldProto.TYPE_BOOL: {"type": "boolean"},
    FieldProto.TYPE_STRING: {"type": "string"},
    FieldProto.TYPE_BYTES: {"type": "string", "format": "byte"},
}

# Well-known types that protobuf's JSON mapping writes as something other than an object
# of their fields.
_WELL_KNOWN: dict[str, Json] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "An RFC 3339 instant in UTC, such as `2026-11-27T20:51:16.403125Z`.",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
        "example": "3600s",
        "description": "A duration in seconds with up to nine decimals and an `s`, "
        'such as `"3.5s"` or `"-10800s"`.',
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Field paths in lowerCamelCase, separated by commas, "
        "such as `displayName,weekendDays`.",
    },
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
        "description": "A message of any type: its `@type` URL and its fields.",
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {"description": "Any JSON value."},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.DoubleValue": {"type": "number", "format": "double", "nullable": True},
    "google.protobuf.FloatValue": {"type": "number", "format": "float", "nullable": True},
    "google.protobuf.Int64Value": {"type": "string", "format": "int64", "nullable": True},
    "google.protobuf.UInt64Value": {"type": "string", "format": "uint64", "nullable": True},
    "google.protobuf.Int32Value": {"type": "integer", "format": "int32", "nullable": True},
    "google.protobuf.UInt32Value": {"type": "integer", "format": "int64", "nullable": True},
    "google.protobuf.BoolValue": {"type": "boolean", "nullable": True},
    "google.protobuf.StringValue": {"type": "string", "nullable": True},
    "google.protobuf.BytesValue": {"type": "string", "format": "byte", "nullable": True},
}
# Those of them a URL query parameter can carry, as the string they are written as.
_QUERY_WELL_KNOWN = {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
    *(name for name in _WELL_KNOWN if name.endswith("Value") and name != "google.protobuf.Value"),
}


@dataclass(frozen=True)
class Legacy:
    """An HTTP endpoint that no RPC declares: the original design's, kept for its callers."""

    path: str
    operation_id: str
    description: str
    key: str
    example: str


# The original design's endpoints, served beside the RPCs by the service named.
LEGACY: dict[str, Legacy] = {
    "chrono.time.v1.TimeService": Legacy(
        path="/time",
        operation_id="LegacyGetTime",
        description="The original design's endpoint: the current time in `time_zone` "
        '(UTC when it is absent) as `{"time": "YYYY-MM-DD HH:MM:SS"}`, truncated to whole '
        "seconds. GetTime (`GET /v1/time`) answers the same and more.",
        key="time",
        example="2026-11-27 21:51:16",
    ),
    "chrono.date.v1.DateService": Legacy(
        path="/date",
        operation_id="LegacyGetDate",
        description="The original design's endpoint: the current date in `time_zone` "
        '(UTC when it is absent) as `{"date": "YYYY-MM-DD"}`. GetDate (`GET /v1/date`) '
        "answers the same and more.",
        key="date",
        example="2026-11-27",
    ),
}


class ProtoError(ValueError):
    """A proto declares something this generator cannot write as OpenAPI."""


def _clean(comment: str) -> str:
    """A proto comment as Markdown: without the space after ``//`` or lint directives."""
    lines = [line[1:] if line.startswith(" ") else line for line in comment.splitlines()]
    kept = [line for line in lines if not line.lstrip().startswith("buf:lint:")]
    return "\n".join(kept).strip()


def _summary(description: str) -> str:
    """The first sentence of a description."""
    paragraph = " ".join(description.split("\n\n", 1)[0].split())
    match = re.match(r"(.+?\.)(\s|$)", paragraph)
    return match.group(1) if match else paragraph


@dataclass
class Protos:
    """Every message, enum and service of a descriptor set, and the comments on them."""

    files: dict[str, descriptor_pb2.FileDescriptorProto] = field(default_factory=dict)
    messages: dict[str, descriptor_pb2.DescriptorProto] = field(default_factory=dict)
    enums: dict[str, descriptor_pb2.EnumDescriptorProto] = field(default_factory=dict)
    # Keyed by full name; a field's or an enum value's key is its parent's full name,
    # a dot and its own name; a oneof's is the message's, ".oneof.", its name.
    comments: dict[str, str] = field(default_factory=dict)
    # Resource patterns, "calendars/{calendar}", by resource type.
    resources: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, descriptor_set: descriptor_pb2.FileDescriptorSet) -> Protos:
        """Index ``descriptor_set``, which needs source info for the comments."""
        protos = cls()
        for file in descriptor_set.file:
            protos.files[file.name] = file
            note = protos._noter(file)
            prefix = f"{file.package}." if file.package else ""
            for index, message in enumerate(file.message_type):
                protos._message(prefix + message.name, message, (FILE_MESSAGE, index), note)
            for index, enum in enumerate(file.enum_type):
                protos._enum(prefix + enum.name, enum, (FILE_ENUM, index), note)
            for index, service in enumerate(file.service):
                name = prefix + service.name
                note(name, (FILE_SERVICE, index))
                for number, method in enumerate(service.method):
                    note(f"{name}.{method.name}", (FILE_SERVICE, index, SERVICE_METHOD, number))
            for resource in file.options.Extensions[resource_pb2.resource_definition]:
                protos.resources.setdefault(resource.type, []).extend(resource.pattern)
        return protos

    def _noter(self, file: descriptor_pb2.FileDescriptorProto) -> Note:
        """A function that files the comment at a source path of ``file`` under a name."""
        locations = {tuple(location.path): location for location in file.source_code_info.location}

        def note(name: str, path: tuple[int, ...]) -> None:
            location = locations.get(path)
            if location is not None:
                text = _clean(location.leading_comments or location.trailing_comments)
                if text:
                    self.comments[name] = text

        return note

    def _message(
        self,
        name: str,
        message: descriptor_pb2.DescriptorProto,
        path: tuple[int, ...],
        note: Note,
    ) -> None:
        self.messages[name] = message
        note(name, path)
        for index, item in enumerate(message.field):
            note(f"{name}.{item.name}", (*path, MESSAGE_FIELD, index))
        for index, oneof in enumerate(message.oneof_decl):
            note(f"{name}.oneof.{oneof.name}", (*path, MESSAGE_ONEOF, index))
        for index, nested in enumerate(message.nested_type):
            self._message(f"{name}.{nested.name}", nested, (*path, MESSAGE_NESTED, index), note)
        for index, enum in enumerate(message.enum_type):
            self._enum(f"{name}.{enum.name}", enum, (*path, MESSAGE_ENUM, index), note)
        if message.options.HasExtension(resource_pb2.resource):
            resource = message.options.Extensions[resource_pb2.resource]
            self.resources.setdefault(resource.type, []).extend(resource.pattern)

    def _enum(
        self,
        name: str,
        enum: descriptor_pb2.EnumDescriptorProto,
        path: tuple[int, ...],
        note: Note,
    ) -> None:
        self.enums[name] = enum
        note(name, path)
        for index, value in enumerate(enum.value):
            note(f"{name}.{value.name}", (*path, ENUM_VALUE, index))

    def field_named(self, message: str, path: str) -> tuple[str, FieldProto]:
        """The message that declares the last field of a dotted ``path``, and that field."""
        owner = message
        parts = path.split(".")
        for depth, part in enumerate(parts):
            found = next((f for f in self.messages[owner].field if f.name == part), None)
            if found is None:
                raise ProtoError(f"{message} has no field {path!r}")
            if depth == len(parts) - 1:
                return owner, found
            if found.type != FieldProto.TYPE_MESSAGE:
                raise ProtoError(f"{message}: {part!r} in {path!r} is not a message")
            owner = found.type_name.lstrip(".")
        raise ProtoError(f"empty field path in {message}")


def _behaviors(item: FieldProto) -> set[int]:
    return set(item.options.Extensions[field_behavior_pb2.field_behavior])


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _described(schema: Json, description: str) -> Json:
    """``schema`` with ``description`` in front of its own (a $ref keeps no siblings)."""
    if not description:
        return schema
    if "$ref" in schema:
        return {"allOf": [schema], "description": description}
    own = schema.get("description")
    return {**schema, "description": f"{description}\n\n{own}" if own else description}


def _is_map(protos: Protos, item: FieldProto) -> bool:
    if item.type != FieldProto.TYPE_MESSAGE or item.label != FieldProto.LABEL_REPEATED:
        return False
    entry = protos.messages.get(item.type_name.lstrip("."))
    return entry is not None and entry.options.map_entry


class Schemas:
    """The component schemas of one document, added as operations reach them."""

    def __init__(self, protos: Protos) -> None:
        """Start with no schemas."""
        self.protos = protos
        self.components: dict[str, Json] = {}

    def _flat(self, name: str) -> str:
        """The comment on ``name`` on one line."""
        return " ".join(self.protos.comments.get(name, "").split())

    def value(self, item: FieldProto) -> Json:
        """The schema of one value of ``item`` (an element, if it is repeated)."""
        if item.type == FieldProto.TYPE_ENUM:
            return self.enum(item.type_name.lstrip("."))
        if item.type in (FieldProto.TYPE_MESSAGE, FieldProto.TYPE_GROUP):
            return self.message(item.type_name.lstrip("."))
        return dict(_SCALARS[item.type])

    def field(self, owner: str, item: FieldProto) -> Json:
        """The schema of ``item`` as a property, described by its comment."""
        if _is_map(self.protos, item):
            entry = self.protos.messages[item.type_name.lstrip(".")]
            schema: Json = {"type": "object", "additionalProperties": self.value(entry.field[1])}
        elif item.label == FieldProto.LABEL_REPEATED:
            schema = {"type": "array", "items": self.value(item)}
        else:
            schema = self.value(item)
        schema = _described(schema, self.protos.comments.get(f"{owner}.{item.name}", ""))
        if field_behavior_pb2.OUTPUT_ONLY in _behaviors(item):
            schema["readOnly"] = True
        if item.options.deprecated:
            schema["deprecated"] = True
        return schema

    def enum(self, name: str) -> Json:
        """A reference to the schema of enum ``name``, added if new."""
        if name not in self.components:
            enum = self.protos.enums[name]
            lines = [self.protos.comments.get(name, "")]
            values = [
                f"- `{value.name}`: {self._flat(f'{name}.{value.name}')}" for value in enum.value
            ]
            lines.append("\n".join(values))
            self.components[name] = {
                "type": "string",
                "enum": [value.name for value in enum.value],
                "description": "\n\n".join(line for line in lines if line),
            }
        return _ref(name)

    def message(self, name: str) -> Json:
        """The schema of message ``name``: inline for well-known types, else a reference."""
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name not in self.components:
            # Set before the fields are visited, so that a recursive message ends.
            self.components[name] = {}
            self.components[name] = self.object(name, exclude=())
        return _ref(name)

    def object(self, name: str, exclude: Sequence[str]) -> Json:
        """The object schema of message ``name`` without the top-level fields ``exclude``."""
        message = self.protos.messages[name]
        properties: Json = {}
        required: list[str] = []
        for item in message.field:
            if item.name in exclude:
                continue
            properties[item.json_name] = self.field(name, item)
            if field_behavior_pb2.REQUIRED in _behaviors(item):
                required.append(item.json_name)
        description = [self.protos.comments.get(name, "")]
        for index, oneof in enumerate(message.oneof_decl):
            members = [
                f"`{item.json_name}`"
                for item in message.field
                if item.HasField("oneof_index")
                and item.oneof_index == index
                and not item.proto3_optional
            ]
            if members:
                text = " ".join(self.protos.comments.get(f"{name}.oneof.{oneof.name}", "").split())
                description.append(
                    f"At most one of {', '.join(members[:-1])} and {members[-1]} is set "
                    f"(`{oneof.name}`). {text}".strip()
                    if len(members) > 1
                    else f"`{oneof.name}`: {members[0]}. {text}".strip()
                )
        schema: Json = {"type": "object"}
        text = "\n\n".join(line for line in description if line)
        if text:
            schema["description"] = text
        if required:
            schema["required"] = required
        schema["properties"] = properties
        return schema

    def error(self) -> Json:
        """A reference to the error schema, added if new."""
        if ERROR_SCHEMA not in self.components:
            codes = [name for name, _ in sorted(code_pb2.Code.items(), key=lambda item: item[1])]
            self.components[ERROR_SCHEMA] = {
                "type": "object",
                "required": ["error"],
                "description": "A failed call: its google.rpc.Status in JSON, as Google's "
                "HTTP APIs answer.",
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "status", "message"],
                        "properties": {
                            "code": {
                                "type": "integer",
                                "format": "int32",
                                "description": "The HTTP status code of the response.",
                            },
                            "status": {
                                "type": "string",
                                "enum": codes,
                                "description": "The gRPC status code's name, such as "
                                "`INVALID_ARGUMENT`.",
                            },
                            "message": {
                                "type": "string",
                                "description": "What went wrong, and what to fix.",
                            },
                            "details": {
                                "type": "array",
                                "items": dict(_WELL_KNOWN["google.protobuf.Any"]),
                                "description": "google.rpc details such as "
                                "`type.googleapis.com/google.rpc.BadRequest` (the field "
                                "to fix) and `type.googleapis.com/google.rpc.ErrorInfo` "
                                "(a reason and domain to match on).",
                            },
                        },
                    }
                },
            }
        return _ref(ERROR_SCHEMA)


# --- path templates ------------------------------------------------------------------

_VARIABLE = re.compile(r"\{([A-Za-z_][\w.]*)(?:=([^}]*))?\}")


@dataclass(frozen=True)
class PathParameter:
    """One path parameter of an OpenAPI path, and the request field it fills."""

    name: str
    field_path: str
    # The resource pattern it is a segment of ("calendars/{calendar}"), if any.
    pattern: str = ""
    # Whether the value may itself hold slashes (a "**" segment).
    multi_segment: bool = False


def _singular(collection: str) -> str:
    if collection.endswith("ies"):
        return collection[:-3] + "y"
    return collection[:-1] if collection.endswith("s") else collection


def _resource_pattern(protos: Protos, segments: str) -> str | None:
    """The declared resource pattern that ``segments`` ("calendars/*") matches, if one."""
    for patterns in protos.resources.values():
        for pattern in patterns:
            if re.sub(r"\{[^}]*\}", "*", pattern) == segments:
                return pattern
    return None


def openapi_path(protos: Protos, template: str) -> tuple[str, list[PathParameter]]:
    """The OpenAPI path of a google.api.http template, and its parameters.

    ``{name=calendars/*}`` becomes ``calendars/{calendar}``, named after the resource
    pattern the segments match (or the collection's singular): the path a person types.
    ``{time_zone=**}`` stays one parameter, ``{time_zone}``, whose value holds slashes.
    """
    if not template.startswith("/"):
        raise ProtoError(f"http path {template!r} does not start with /")
    parameters: list[PathParameter] = []

    def expand(match: re.Match[str]) -> str:
        field_path, segments = match.group(1), match.group(2) or "*"
        if segments == "*":
            parameters.append(PathParameter(field_path, field_path))
            return f"{{{field_path}}}"
        if segments == "**":
            parameters.append(PathParameter(field_path, field_path, multi_segment=True))
            return f"{{{field_path}}}"
        parts = segments.split("/")
        pairs = list(zip(parts[::2], parts[1::2], strict=False))
        if len(parts) % 2 or any(star != "*" or "*" in literal for literal, star in pairs):
            raise ProtoError(f"http path {template!r}: cannot document {{{match.group(0)}}}")
        pattern = _resource_pattern(protos, segments)
        names = (
            re.findall(r"\{([^}]*)\}", pattern)
            if pattern
            else [_singular(literal) for literal, _ in pairs]
        )
        pattern = pattern or "/".join(
            f"{literal}/{{{n}}}" for (literal, _), n in zip(pairs, names, strict=True)
        )
        out = []
        for (literal, _), name in zip(pairs, names, strict=True):
            parameters.append(PathParameter(name, field_path, pattern=pattern))
            out.append(f"{literal}/{{{name}}}")
        return "/".join(out)

    path = _VARIABLE.sub(expand, template)
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        raise ProtoError(f"http path {template!r} repeats a parameter name: {names}")
    if "*" in path.replace("{", "").replace("}", ""):
        raise ProtoError(f"http path {template!r} has a wildcard outside a variable")
    return path, parameters


# --- operations ----------------------------------------------------------------------


def _rules(rule: Any) -> Iterator[tuple[str, str, Any]]:
    """(HTTP method, path template, rule) of a rule and each of its additional bindings."""
    for each in (rule, *rule.additional_bindings):
        kind = each.WhichOneof("pattern")
        if kind is None:
            continue
        if kind == "custom":
            yield each.custom.kind.lower(), each.custom.path, each
        else:
            yield kind, getattr(each, kind), each


class Document:
    """The OpenAPI document of one service."""

    def __init__(self, protos: Protos, file: descriptor_pb2.FileDescriptorProto, index: int):
        """Describe service ``index`` of ``file``."""
        self.protos = protos
        self.file = file
        self.service = file.service[index]
        self.name = f"{file.package}.{self.service.name}"
        self.schemas = Schemas(protos)
        self.paths: dict[str, Json] = {}

    def build(self) -> Json:
        """The whole document."""
        for method in self.service.method:
            rule = method.options.Extensions[annotations_pb2.http]
            for number, (verb, template, binding) in enumerate(_rules(rule)):
                operation_id = method.name if number == 0 else f"{method.name}{number + 1}"
                self._operation(method, verb, template, binding, operation_id)
        legacy = LEGACY.get(self.name)
        if legacy is not None:
            self._legacy(legacy)
        description = self.protos.comments.get(self.name, "")
        about = (
            f"The HTTP/JSON face of the gRPC service `{self.name}` "
            f"(`{self.file.name}`), written from the proto by `scripts/generate`. "
            "Field names follow protobuf's JSON mapping (lowerCamelCase); errors answer "
            f"with the `{ERROR_SCHEMA}` schema."
        )
        tags: list[Json] = [{"name": self.service.name, "description": description}]
        if legacy is not None:
            tags.append({"name": "legacy", "description": "The original design's endpoint."})
        return {
            "openapi": OPENAPI_VERSION,
            "info": {
                "title": self.name,
                "version": self.file.package.rsplit(".", 1)[-1],
                "description": f"{description}\n\n{about}" if description else about,
                "license": {"name": "Apache-2.0"},
                "x-grpc-service": self.name,
            },
            "tags": tags,
            "paths": self.paths,
            "components": {"schemas": dict(sorted(self.schemas.components.items()))},
        }

    def _operation(
        self,
        method: descriptor_pb2.MethodDescriptorProto,
        verb: str,
        template: str,
        rule: Any,
        operation_id: str,
    ) -> None:
        request = method.input_type.lstrip(".")
        if method.client_streaming:
            raise ProtoError(f"{self.name}.{method.name}: client streaming has no HTTP mapping")
        path, path_parameters = openapi_path(self.protos, template)
        covered = {p.field_path for p in path_parameters}
        parameters = [self._path_parameter(request, p) for p in path_parameters]
        body = self._request_body(request, rule.body, covered)
        if rule.body != "*":
            covered |= {rule.body} - {""}
            parameters += self._query_parameters(request, "", "", covered, ())
        description = self.protos.comments.get(f"{self.name}.{method.name}", "")
        operation: Json = {
            "operationId": operation_id,
            "tags": [self.service.name],
            "summary": _summary(description),
            "description": description,
        }
        if method.options.deprecated:
            operation["deprecated"] = True
        if parameters:
            operation["parameters"] = parameters
        if body is not None:
            operation["requestBody"] = body
        operation["responses"] = {
            "200": self._answer(method, rule.response_body),
            "default": {
                "description": "An error.",
                "content": {"application/json": {"schema": self.schemas.error()}},
            },
        }
        self.paths.setdefault(path, {})[verb] = operation

    def _request_body(self, request: str, body: str, covered: set[str]) -> Json | None:
        """The request body a rule's ``body`` names: all fields, one field, or none."""
        if not body:
            return None
        if body == "*":
            top = sorted({p.split(".")[0] for p in covered})
            schema = self.schemas.object(request, exclude=top) if top else None
            return {
                "required": True,
                "content": {
                    "application/json": {"schema": schema or self.schemas.message(request)}
                },
            }
        owner, item = self.protos.field_named(request, body)
        return {
            "required": True,
            "description": self.protos.comments.get(f"{owner}.{item.name}", ""),
            "content": {"application/json": {"schema": self.schemas.value(item)}},
        }

    def _answer(self, method: descriptor_pb2.MethodDescriptorProto, response_body: str) -> Json:
        """The successful response: the response message, or the field a rule names."""
        response = method.output_type.lstrip(".")
        if response_body:
            _, item = self.protos.field_named(response, response_body)
            schema = self.schemas.field(response, item)
        else:
            schema = self.schemas.message(response)
        if method.server_streaming:
            return {
                "description": f"OK: a stream of `{response}` messages, each a JSON object "
                "on a line of its own, written as the server sends it. A stream that fails "
                f'after its start ends with one more line, `{{"error": {{...}}}}` '
                f"(the `{ERROR_SCHEMA}` schema).",
                "content": {"application/x-ndjson": {"schema": schema}},
            }
        return {
            "description": f"OK: a `{response}`.",
            "content": {"application/json": {"schema": schema}},
        }

    def _path_parameter(self, request: str, parameter: PathParameter) -> Json:
        owner, item = self.protos.field_named(request, parameter.field_path)
        text = " ".join(self.protos.comments.get(f"{owner}.{item.name}", "").split())
        if parameter.pattern:
            text = (
                f"`{{{parameter.name}}}` in the `{parameter.pattern}` that the request's "
                f"`{parameter.field_path}` names. {text}"
            )
        if parameter.multi_segment:
            # google.api.http: a multi-segment variable is sent with its slashes as they
            # are, and a server keeps an escaped one (%2F) escaped.
            text += (
                " The value holds slashes (`Europe/Paris`): send them as they are, "
                "unescaped; `%2F` is not read as a slash."
            )
        return {
            "name": parameter.name,
            "in": "path",
            "required": True,
            "description": text.strip(),
            "schema": {"type": "string"},
        }

    def _query_parameters(
        self, message: str, prefix: str, json_prefix: str, covered: set[str], seen: tuple[str, ...]
    ) -> list[Json]:
        """The fields of ``message`` not in the path or body, as query parameters.

        A non-repeated message field is flattened into its own fields, named with dots
        (``startDate.year``); a repeated one cannot be written in a query and is left out.
        """
        parameters: list[Json] = []
        for item in self.protos.messages[message].field:
            path = prefix + item.name
            name = json_prefix + item.json_name
            if path in covered:
                continue
            type_name = item.type_name.lstrip(".")
            if item.type == FieldProto.TYPE_MESSAGE and type_name not in _QUERY_WELL_KNOWN:
                if item.label == FieldProto.LABEL_REPEATED or type_name in seen:
                    continue
                parameters += self._query_parameters(
                    type_name, f"{path}.", f"{name}.", covered, (*seen, message)
                )
                continue
            schema = self.schemas.field(message, item)
            description = schema.pop("description", "")
            if list(schema) == ["allOf"] and len(schema["allOf"]) == 1:
                schema = schema["allOf"][0]
            parameter: Json = {"name": name, "in": "query"}
            if description:
                parameter["description"] = description
            if field_behavior_pb2.REQUIRED in _behaviors(item):
                parameter["required"] = True
            parameter["schema"] = schema
            parameters.append(parameter)
        return parameters

    def _legacy(self, legacy: Legacy) -> None:
        self.paths[legacy.path] = {
            "get": {
                "operationId": legacy.operation_id,
                "tags": ["legacy"],
                "summary": _summary(legacy.description),
                "description": legacy.description,
                "parameters": [
                    {
                        "name": "time_zone",
                        "in": "query",
                        "description": "An IANA time zone name, such as `Europe/Paris`. "
                        "Absent means UTC.",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "OK.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": [legacy.key],
                                    "properties": {
                                        legacy.key: {"type": "string", "example": legacy.example}
                                    },
                                }
                            }
                        },
                    },
                    "default": {
                        "description": "An error.",
                        "content": {"application/json": {"schema": self.schemas.error()}},
                    },
                },
            }
        }


# --- files ---------------------------------------------------------------------------


def descriptor_set(
    protos: Sequence[str], includes: Sequence[Path]
) -> descriptor_pb2.FileDescriptorSet:
    """``protos`` compiled by protoc with their imports and comments."""
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory(prefix="chrono-openapi-") as scratch:
        out = Path(scratch) / "descriptors.binpb"
        status = protoc.main(
            [
                "protoc",
                *(f"-I{include}" for include in includes),
                f"-I{well_known}",
                "--include_imports",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                *protos,
            ]
        )
        if status != 0:
            raise ProtoError(f"protoc failed with status {status}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def render(document: Json) -> bytes:
    """The document as the bytes written: indented JSON, in the order it was built."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def documents(
    descriptors: descriptor_pb2.FileDescriptorSet, protos: Sequence[str]
) -> dict[str, bytes]:
    """The document of each service in ``protos``, by path relative to the output root."""
    index = Protos.load(descriptors)
    out: dict[str, bytes] = {}
    for name in protos:
        file = index.files[name]
        if len(file.service) > 1:
            raise ProtoError(f"{name}: one service a file, so that its document has a name")
        if file.service:
            target = str(Path(name).with_suffix(".openapi.json"))
            out[target] = render(Document(index, file, 0).build())
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write the documents; the exit status."""
    parser = argparse.ArgumentParser(prog="scripts/openapi.py", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="the generated/ root to write")
    parser.add_argument(
        "--proto-path", type=Path, default=Path("protos"), help="where the protos are"
    )
    parser.add_argument(
        "--googleapis",
        type=Path,
        default=Path("third_party/googleapis"),
        help="the googleapis protos they import",
    )
    parser.add_argument("protos", nargs="+", help="proto files, relative to --proto-path")
    args = parser.parse_args(argv)
    try:
        written = documents(
            descriptor_set(args.protos, [args.proto_path, args.googleapis]), args.protos
        )
    except ProtoError as error:
        print(f"scripts/openapi.py: {error}", file=sys.stderr)
        return 1
    for name, content in written.items():
        target = args.out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
