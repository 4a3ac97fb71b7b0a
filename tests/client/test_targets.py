"""Target parsing: single gRPC targets pass through, comma lists become ipv4:/ipv6: lists."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from client._common import channel_target
from client._targets import parse_target


@pytest.mark.parametrize(
    "target",
    [
        "127.0.0.1:50051",
        "localhost:50051",
        "[::1]:50051",
        "dns:///time.example:50051",
        "ipv4:10.0.0.1:50051,10.0.0.2:50051",
        "ipv6:[::1]:50051,[::2]:50051",
        "unix:/run/chrono/time.sock",
        "unix-abstract:chrono",
        "xds:///time",
    ],
)
def test_single_targets_are_unchanged(target: str) -> None:
    """Any single gRPC target, including one already in gRPC's list syntax, is kept as is."""
    assert channel_target(target) == target
    assert parse_target(target).authority is None


def test_ipv4_list_becomes_an_ipv4_target() -> None:
    """A list of IPv4 literals becomes an ipv4: target; spaces around entries are ignored."""
    assert channel_target("10.0.0.1:50051, 10.0.0.2:50052") == "ipv4:10.0.0.1:50051,10.0.0.2:50052"


def test_ipv6_list_becomes_an_ipv6_target() -> None:
    """A list of bracketed IPv6 literals becomes an ipv6: target, brackets kept."""
    assert channel_target("[::1]:1,[fd00::2]:2") == "ipv6:[::1]:1,[fd00::2]:2"


def test_mixed_list_maps_ipv4_into_ipv6() -> None:
    """A list mixing IPv4 and IPv6 becomes an ipv6: target with IPv4-mapped addresses."""
    assert channel_target("127.0.0.1:1,[::1]:2") == "ipv6:[::ffff:127.0.0.1]:1,[::1]:2"


def test_repeated_addresses_are_dialled_once() -> None:
    """The same address and port listed twice is one backend."""
    assert channel_target("127.0.0.1:1,127.0.0.1:1,127.0.0.1:2") == "ipv4:127.0.0.1:1,127.0.0.1:2"


def test_list_authority_is_its_first_entry() -> None:
    """A list's authority, which TLS verifies every server against, is its first entry."""
    assert parse_target("127.0.0.1:1,127.0.0.2:2").authority == "127.0.0.1:1"
    assert parse_target("[::1]:1,[::2]:2").authority == "[::1]:1"


def test_host_names_are_resolved_once_to_every_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each host name in a list is resolved with getaddrinfo, to all its IPv4 and IPv6 addresses."""
    calls: list[tuple[Any, ...]] = []

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        calls.append((host, port))
        stream = socket.SOCK_STREAM
        answers: dict[str, list[tuple[Any, ...]]] = {
            "a.test": [(socket.AF_INET, stream, 6, "", ("10.0.0.1", port))],
            "b.test": [
                (socket.AF_INET6, stream, 6, "", ("fd00::b", port, 0, 0)),
                (socket.AF_INET, stream, 6, "", ("10.0.0.2", port)),
            ],
        }
        return answers[host]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    assert channel_target("a.test:1,a.test:2") == "ipv4:10.0.0.1:1,10.0.0.1:2"
    assert channel_target("a.test:1,b.test:2") == (
        "ipv6:[::ffff:10.0.0.1]:1,[fd00::b]:2,[::ffff:10.0.0.2]:2"
    )
    assert calls == [("a.test", 1), ("a.test", 2), ("a.test", 1), ("b.test", 2)]
    assert parse_target("a.test:1,b.test:2").authority == "a.test:1"


def test_localhost_in_a_list_resolves_to_loopback() -> None:
    """Localhost in a list is resolved by the system resolver to a loopback address."""
    dial = channel_target("localhost:50051,127.0.0.1:50052")
    assert dial.startswith(("ipv4:", "ipv6:"))
    assert "127.0.0.1:50051" in dial
    assert "127.0.0.1:50052" in dial


@pytest.mark.parametrize(
    ("text", "entry", "problem"),
    [
        ("127.0.0.1:1,", "''", "empty entry"),
        ("127.0.0.1:1,,127.0.0.1:2", "''", "empty entry"),
        ("127.0.0.1:1,127.0.0.1", "'127.0.0.1'", "no port"),
        ("127.0.0.1:1,[::1]", "'[::1]'", "no port"),
        ("127.0.0.1:1,127.0.0.1:", "'127.0.0.1:'", "from 1 to 65535"),
        ("127.0.0.1:1,127.0.0.1:0", "'127.0.0.1:0'", "from 1 to 65535"),
        ("127.0.0.1:1,127.0.0.1:65536", "'127.0.0.1:65536'", "from 1 to 65535"),
        ("127.0.0.1:1,127.0.0.1:http", "'127.0.0.1:http'", "from 1 to 65535"),
        ("127.0.0.1:1,:2", "':2'", "no host"),
        ("127.0.0.1:1,::1:2", "'::1:2'", "in brackets"),
        ("127.0.0.1:1,[::1:2", "'[::1:2'", "no ']'"),
        ("127.0.0.1:1,[nope]:2", "'[nope]:2'", "not an IPv6 address"),
        ("127.0.0.1:1,host.invalid:2", "'host.invalid:2'", "cannot resolve"),
    ],
)
def test_bad_entries_are_refused_by_name(text: str, entry: str, problem: str) -> None:
    """A list entry that is empty, lacks host or port, or does not resolve: ValueError naming it."""
    with pytest.raises(ValueError, match="entry") as caught:
        channel_target(text)
    message = str(caught.value)
    assert problem in message
    if entry != "''":
        assert entry in message
