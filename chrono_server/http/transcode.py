"""HTTP/JSON to gRPC transcoding, from the ``google.api.http`` annotations of a service.

The rules are those of ``google/api/http.proto`` (AIP-127): a path template of literal
segments, ``*`` (one segment), ``**`` (the rest of the path) and variables
(``{calendar.name=calendars/*}``, ``{name}`` meaning ``{name=*}``), with an optional verb
(``:transitions``); the body is the whole request (``body: "*"``), one of its fields, or
nothing; every field neither in the path nor in the body may be given as a query
parameter (``date.year=2026&date.month=7``, a repeated field by repeating it). JSON is
protobuf's own mapping (:mod:`google.protobuf.json_format`): lowerCamelCase names out,
either name in.

:meth:`RouteTable.from_service` reads the rules of every method once; a newly annotated
method is routed with no code of its own.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# googleapis-common-protos ships google.api without a py.typed marker.
from google.api import annotations_pb2, http_pb2  # type: ignore[import-untyped]
from google.protobuf import json_format
from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from chrono_domain.errors import shorten

LITERAL, SINGLE, MULTI = "literal", "*", "**"

# How well a path segment matched, per kind: a literal beats a variable, which beats "**".
_SCORES = {LITERAL: 2, SINGLE: 1, MULTI: 0}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENCODED_SLASH = re.compile("%2F", re.IGNORECASE)
_BOOLS = {"true": True, "1": True, "false": False, "0": False}
# Well-known types whose JSON form is a string: a query parameter sets them whole.
_STRING_TYPES = frozenset(
    ("google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask")
)
# Wrappers, whose JSON form is the value they wrap.
_WRAPPERS = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
# Longest error text quoted back from json_format, which may echo input.
_MAX_DETAIL = 300

FieldPath = tuple[str, ...]


class TemplateError(ValueError):
    """An annotation this server cannot serve; the message names the method."""


class RequestError(Exception):
    """An HTTP request that does not make a request message: what to fix, and which field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        """Say what to fix in ``message``; ``field`` is the proto field path, if one is at fault."""
        super().__init__(message)
        self.message = message
        self.field = field


class NoRouteError(Exception):
    """No route takes the request: ``allowed`` lists the methods its path takes (none: 404)."""

    def __init__(self, allowed: tuple[str, ...] = ()) -> None:
        """A path no route matches, or (``allowed`` given) a method its routes do not take."""
        super().__init__(", ".join(allowed) or "no route")
        self.allowed = allowed


@dataclass(frozen=True)
class Segment:
    """One segment of a path template: a literal, ``*`` or ``**``."""

    kind: str
    text: str = ""


@dataclass(frozen=True)
class Variable:
    """A template variable: the field it sets and the template segments it spans."""

    field_path: FieldPath
    start: int
    stop: int


@dataclass(frozen=True)
class Template:
    """A parsed path template such as ``/v1/{name=calendars/*}:isBusinessDay``."""

    text: str
    segments: tuple[Segment, ...]
    variables: tuple[Variable, ...]
    verb: str

    @property
    def rest(self) -> bool:
        """Whether the template ends in ``**``, which takes the rest of the path."""
        return bool(self.segments) and self.segments[-1].kind == MULTI

    def match(self, parts: Sequence[str]) -> tuple[int, ...] | None:
        """How well the raw path ``parts`` match, one score per part; None if they do not."""
        count = len(self.segments)
        fits = len(parts) >= count - 1 if self.rest else len(parts) == count
        if not fits:
            return None
        scores: list[int] = []
        for index, segment in enumerate(self.segments):
            if segment.kind == MULTI:
                scores += [_SCORES[MULTI]] * (len(parts) - index)
                break
            part = parts[index]
            if segment.kind == LITERAL:
                if urllib.parse.unquote(part) != segment.text:
                    return None
            elif not part:
                return None
            scores.append(_SCORES[segment.kind])
        return tuple(scores)

    def bind(self, parts: Sequence[str]) -> tuple[tuple[FieldPath, str], ...]:
        """The decoded value of each variable in matching ``parts``; RequestError if garbled."""
        values = []
        for variable in self.variables:
            stop = (
                len(parts) if variable.stop == len(self.segments) and self.rest else variable.stop
            )
            raw = "/".join(parts[variable.start : stop])
            single = stop - variable.start == 1 and self.segments[variable.start].kind != MULTI
            values.append((variable.field_path, _decode(raw, single, variable.field_path)))
        return tuple(values)


def _decode(raw: str, single: bool, field_path: FieldPath) -> str:
    """Percent-decode a variable: all of one segment; a multi-segment one but for ``%2F``."""
    try:
        if single:
            return urllib.parse.unquote(raw, errors="strict")
        return "%2F".join(
            urllib.parse.unquote(piece, errors="strict") for piece in _ENCODED_SLASH.split(raw)
        )
    except UnicodeDecodeError:
        name = ".".join(field_path)
        raise RequestError(
            f"the URL path's {name} is not percent-encoded UTF-8: {shorten(raw)}", name
        ) from None


def parse_template(text: str) -> Template:
    """Parse a google.api.http path template; TemplateError if it breaks the grammar."""
    if not text.startswith("/"):
        raise TemplateError(f"path template {text!r} must start with '/'")
    depth, cut = 0, len(text)
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == ":" and depth == 0:
            cut = index
            break
        if depth not in (0, 1):
            raise TemplateError(f"path template {text!r} has unbalanced braces")
    path, verb = text[:cut], text[cut + 1 :]
    if cut < len(text) and (not verb or set(verb) & set("/{}:*")):
        raise TemplateError(f"path template {text!r} has a malformed verb {verb!r}")
    tokens: list[str] = []
    depth, start = 0, 1
    for index, char in enumerate(path + "/"):
        if index == 0:
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "/" and depth == 0:
            tokens.append(path[start:index])
            start = index + 1
    if depth != 0:
        raise TemplateError(f"path template {text!r} has unbalanced braces")
    if tokens == [""]:
        tokens = []
    segments: list[Segment] = []
    variables: list[Variable] = []
    for token in tokens:
        if token.startswith("{") and token.endswith("}"):
            name, equals, pattern = token[1:-1].partition("=")
            field_path = tuple(name.split("."))
            if not all(_IDENT.fullmatch(part) for part in field_path):
                raise TemplateError(f"path template {text!r} has a bad field path {name!r}")
            inner = pattern.split("/") if equals else ["*"]
            first = len(segments)
            segments += [_segment(part, text) for part in inner]
            variables.append(Variable(field_path, first, len(segments)))
        else:
            segments.append(_segment(token, text))
    if any(segment.kind == MULTI for segment in segments[:-1]):
        raise TemplateError(f"path template {text!r} has '**' before its last segment")
    return Template(text, tuple(segments), tuple(variables), verb)


def _segment(token: str, text: str) -> Segment:
    if token in (SINGLE, MULTI):
        return Segment(token)
    if not token or set(token) & set("{}*=:"):
        raise TemplateError(f"path template {text!r} has a malformed segment {token!r}")
    return Segment(LITERAL, token)


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one method: its HTTP method, template, body and response field."""

    http_method: str
    template: Template
    body: str
    response_body: str
    method: MethodDescriptor

    @property
    def full_method(self) -> str:
        """The method's gRPC path, ``/package.Service/Method``."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def streaming(self) -> bool:
        """Whether the method streams its responses."""
        return bool(self.method.server_streaming)

    @property
    def request_class(self) -> type[Message]:
        """The request message class."""
        return GetMessageClass(self.method.input_type)

    def __str__(self) -> str:
        return f"{self.http_method} {self.template.text}"


@dataclass(frozen=True)
class Found:
    """A route that takes a request, and the values its path gives the variables."""

    route: Route
    bindings: tuple[tuple[FieldPath, str], ...]


def _rules(method: MethodDescriptor) -> list[http_pb2.HttpRule]:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    return [rule, *rule.additional_bindings]


def _route(method: MethodDescriptor, rule: http_pb2.HttpRule) -> Route:
    """The route one rule of ``method`` makes; TemplateError if the rule cannot be served."""
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise TemplateError(f"{method.full_name}: a google.api.http rule without a path")
    if kind == "custom":
        http_method, text = rule.custom.kind.upper(), rule.custom.path
    else:
        http_method, text = kind.upper(), getattr(rule, kind)
    try:
        template = parse_template(text)
        for variable in template.variables:
            leaf = _walk(method.input_type, variable.field_path)
            if leaf.message_type is not None or _repeated(leaf):
                raise TemplateError(
                    f"path variable {'.'.join(variable.field_path)} is not a scalar"
                )
        if rule.body not in ("", "*"):
            _walk(method.input_type, (rule.body,))
        if rule.response_body:
            _walk(method.output_type, (rule.response_body,))
        elif method.server_streaming and "error" in {
            field.json_name for field in method.output_type.fields
        }:
            raise TemplateError("a streamed message with an 'error' field reads as an error line")
    except (TemplateError, LookupError) as error:
        raise TemplateError(f"{method.full_name} ({http_method} {text}): {error}") from None
    if method.client_streaming:
        raise TemplateError(f"{method.full_name}: client-streaming methods have no HTTP form")
    return Route(http_method, template, rule.body, rule.response_body, method)


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _walk(message: Descriptor, path: FieldPath) -> FieldDescriptor:
    """The field at the proto-name ``path`` in ``message``; LookupError if there is none."""
    descriptor, field = message, None
    for index, name in enumerate(path):
        if index:
            if field is None or field.message_type is None or _repeated(field):
                raise LookupError(f"{'.'.join(path[:index])} is not a message field")
            descriptor = field.message_type
        field = descriptor.fields_by_name.get(name)
        if field is None:
            raise LookupError(f"{descriptor.full_name} has no field {name!r}")
    assert field is not None
    return field


class RouteTable:
    """Every HTTP route of a service, matched the way google.api.http says."""

    def __init__(self, routes: Sequence[Route]) -> None:
        """Match ``routes``; among those that match a request, the most literal wins."""
        self.routes = tuple(routes)

    @classmethod
    def from_service(cls, service: ServiceDescriptor) -> RouteTable:
        """The routes of every annotated method of ``service``; TemplateError if one is bad."""
        return cls([_route(method, rule) for method in service.methods for rule in _rules(method)])

    def _candidates(self, raw_path: str) -> list[tuple[tuple[int, ...], Route, list[str]]]:
        """The routes whose template matches ``raw_path``, with their scores and parts.

        A path whose last segment ends in a verb that a matching route declares is that
        route's: ``/v1/timezones/Europe/London:transitions`` is not a zone named
        ``London:transitions``.
        """
        if not raw_path.startswith("/"):
            return []
        parts = raw_path[1:].split("/") if raw_path != "/" else []
        head, colon, verb = parts[-1].rpartition(":") if parts else ("", "", "")
        with_verb: list[tuple[tuple[int, ...], Route, list[str]]] = []
        plain: list[tuple[tuple[int, ...], Route, list[str]]] = []
        for route in self.routes:
            if route.template.verb:
                if not colon or verb != route.template.verb:
                    continue
                stripped = [*parts[:-1], head]
                scores = route.template.match(stripped)
                if scores is not None:
                    with_verb.append((scores, route, stripped))
            else:
                scores = route.template.match(parts)
                if scores is not None:
                    plain.append((scores, route, parts))
        return with_verb or plain

    def allowed(self, raw_path: str) -> tuple[str, ...]:
        """The HTTP methods some route takes at ``raw_path``, sorted; none if no route does."""
        return tuple(sorted({route.http_method for _, route, _ in self._candidates(raw_path)}))

    def find(self, http_method: str, raw_path: str) -> Found:
        """The route that takes ``http_method`` at ``raw_path`` (no query), with its values.

        Raises NoRouteError (with the methods the path takes, if any), or RequestError if a
        path variable is not valid percent-encoded UTF-8.
        """
        candidates = self._candidates(raw_path)
        taking = [entry for entry in candidates if entry[1].http_method == http_method]
        if not taking:
            raise NoRouteError(tuple(sorted({route.http_method for _, route, _ in candidates})))
        # The most literal match wins (segment by segment), then the one with fewer "**".
        best = max(
            taking,
            key=lambda entry: (
                entry[0],
                -sum(segment.kind == MULTI for segment in entry[1].template.segments),
            ),
        )
        _, route, parts = best
        return Found(route, route.template.bind(parts))


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= _MAX_DETAIL else f"{text[:_MAX_DETAIL]}..."


def _parse_into(document: Any, message: Message, where: str) -> None:
    try:
        json_format.ParseDict(document, message)
    except (json_format.ParseError, TypeError, ValueError, AttributeError, RecursionError) as error:
        raise RequestError(f"{where}: {_first_line(error)}") from None


def _nested(path: FieldPath, value: Any) -> dict[str, Any]:
    document: dict[str, Any] = {path[-1]: value}
    for name in reversed(path[:-1]):
        document = {name: document}
    return document


def _merge(message: Message, path: FieldPath, value: Any, where: str) -> None:
    """Set the field at ``path`` to the JSON ``value``, over what the body may have set."""
    scratch = type(message)()
    try:
        json_format.ParseDict(_nested(path, value), scratch)
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as error:
        raise RequestError(f"{where}: {_first_line(error)}", ".".join(path)) from None
    message.MergeFrom(scratch)


def _json_name_map(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    fields = {field.json_name: field for field in descriptor.fields}
    fields.update(descriptor.fields_by_name)
    return fields


def _resolve(message: Descriptor, name: str) -> tuple[FieldPath, FieldDescriptor]:
    """The proto-name path and leaf field of query parameter ``name`` (either names)."""
    descriptor, path = message, list[str]()
    field: FieldDescriptor | None = None
    for part in name.split("."):
        if field is not None:
            if field.message_type is None or _repeated(field) or _is_leaf_message(field):
                raise RequestError(
                    f"query parameter {shorten(name)}: {'.'.join(path)} has no fields to set",
                    ".".join(path),
                )
            descriptor = field.message_type
        field = _json_name_map(descriptor).get(part)
        if field is None:
            raise RequestError(
                f"query parameter {shorten(name)}: {descriptor.full_name} has no field "
                f"{shorten(part)}",
                name if len(name) <= _MAX_DETAIL else None,
            )
        path.append(field.name)
    assert field is not None
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        raise RequestError(
            f"query parameter {shorten(name)}: a map cannot be set from the query; "
            "send it in a JSON body",
            ".".join(path),
        )
    if field.message_type is not None and not _is_leaf_message(field):
        example = field.message_type.fields[0].json_name if field.message_type.fields else ""
        raise RequestError(
            f"query parameter {shorten(name)} is a {field.message_type.full_name} message: "
            f"give its fields one by one, such as {name}.{example}=...",
            ".".join(path),
        )
    return tuple(path), field


def _is_leaf_message(field: FieldDescriptor) -> bool:
    full_name = field.message_type.full_name if field.message_type is not None else ""
    return full_name in _STRING_TYPES or full_name in _WRAPPERS


def _query_value(field: FieldDescriptor, name: str, text: str) -> Any:
    """A query parameter's text as the JSON value of its field."""
    boolean = field.type == FieldDescriptor.TYPE_BOOL or (
        field.message_type is not None
        and field.message_type.full_name == "google.protobuf.BoolValue"
    )
    if not boolean:
        return text
    value = _BOOLS.get(text.lower())
    if value is None:
        raise RequestError(
            f"query parameter {shorten(name)} must be true or false, not {shorten(text)}",
            field.name,
        )
    return value


def build_request(found: Found, query: str, body: bytes) -> Message:
    """The request message of ``found``'s method from the path, the query and the body.

    Raises RequestError, saying what to fix, for a body that is not JSON or does not fit
    the message, an unknown or repeated query parameter, or a value of the wrong type.
    """
    route = found.route
    request = route.request_class()
    descriptor = route.method.input_type
    if route.body:
        document = _parse_body(body)
        if route.body == "*":
            if document is None:
                document = {}
            if not isinstance(document, dict):
                raise RequestError(
                    f"the request body must be a JSON object (a {descriptor.name}), "
                    f"not {type(document).__name__}"
                )
            _parse_into(document, request, "the request body")
        elif document is not None:
            field = descriptor.fields_by_name[route.body]
            _parse_into({field.json_name: document}, request, f"the request body ({field.name})")
    elif body.strip():
        raise RequestError(
            f"{route} takes no request body: give the fields of {descriptor.name} "
            "as query parameters"
        )
    for path, value in found.bindings:
        _merge(request, path, value, f"the URL path's {'.'.join(path)}")
    _apply_query(route, found, query, request)
    return request


def _parse_body(body: bytes) -> Any:
    """The JSON in ``body``; None if it is empty."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise RequestError(f"the request body is not valid JSON: {_first_line(error)}") from None


def _apply_query(route: Route, found: Found, query: str, request: Message) -> None:
    try:
        pairs = urllib.parse.parse_qsl(
            query, keep_blank_values=True, strict_parsing=False, errors="strict"
        )
    except UnicodeDecodeError:
        raise RequestError("the query string is not percent-encoded UTF-8") from None
    if not pairs:
        return
    if route.body == "*":
        raise RequestError(
            f"{route} takes every field in its JSON body; move query parameter "
            f"{shorten(pairs[0][0])} into the body",
            pairs[0][0] if len(pairs[0][0]) <= _MAX_DETAIL else None,
        )
    bound = [path for path, _ in found.bindings]
    grouped: dict[FieldPath, tuple[str, FieldDescriptor, list[Any]]] = {}
    for name, text in pairs:
        path, field = _resolve(route.method.input_type, name)
        dotted = ".".join(path)
        if any(path[: len(other)] == other or other[: len(path)] == path for other in bound):
            raise RequestError(
                f"query parameter {shorten(name)}: {dotted} is set by the URL path", dotted
            )
        if route.body and path[0] == route.body:
            raise RequestError(
                f"query parameter {shorten(name)}: {dotted} belongs in the request body", dotted
            )
        entry = grouped.setdefault(path, (name, field, []))
        entry[2].append(_query_value(field, name, text))
    for path, (name, field, values) in grouped.items():
        dotted = ".".join(path)
        if not _repeated(field) and len(values) > 1:
            raise RequestError(
                f"query parameter {shorten(name)} is given {len(values)} times; "
                f"{dotted} takes one value",
                dotted,
            )
        value = values if _repeated(field) else values[0]
        _merge(request, path, value, f"query parameter {shorten(name)}")


def response_json(route: Route, message: Message) -> bytes:
    """The JSON of a response message (or of its ``response_body`` field), on one line."""
    document: Any = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    if route.response_body:
        field = route.method.output_type.fields_by_name[route.response_body]
        document = document.get(field.json_name)
    return json.dumps(document, ensure_ascii=False).encode()
