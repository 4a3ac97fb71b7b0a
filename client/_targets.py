"""Client targets: a comma-separated list of servers, or any single gRPC target.

gRPC dials one target string. A list of servers is written for it as ``ipv4:a:p,b:p`` or
``ipv6:[a]:p,[b]:p``, a form people rarely type; here they write ``a:p,b:p`` and the
client translates. Host names in a list are resolved once, when the client is built:
unlike ``dns:///name:port``, whose addresses gRPC looks up again when connections
close, a list never learns of new addresses. Use ``dns:///`` for a name whose address
set changes, or ``etcd://ENDPOINTS[/NAME]`` for a set that servers register in etcd
(see :func:`parse_etcd_target` and :mod:`client._etcd`).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass

# A target that starts with one of these is already in gRPC's own syntax.
_SCHEMES = frozenset({"dns", "ipv4", "ipv6", "unix", "unix-abstract", "vsock", "xds", "google-c2p"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")
# A URI of some other scheme gRPC may know (passthrough:///...): never a host:port.
_URI = re.compile(r"^[a-z][a-z0-9+.-]*:/")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """A target as the channel dials it, and the authority that goes with it."""

    dial: str
    """The target string for ``grpc.*_channel``."""
    authority: str | None
    """For a list, its first entry: the name TLS checks every server's certificate
    against (gRPC would take the whole list for it). None: gRPC's default."""


def channel_target(text: str) -> str:
    """The gRPC target for ``text``: a single target unchanged, a list translated.

    ``text`` is either any single gRPC target (``host:port``, ``dns:///name:port``,
    ``ipv4:a:p,b:p``, ``unix:/path``...), returned as it is, or a comma-separated list
    of ``host:port`` entries (IPv4, ``[IPv6]`` or host names), returned as an ``ipv4:``
    list, or an ``ipv6:`` one as soon as one address is IPv6 (IPv4 addresses are then
    written IPv4-mapped, ``[::ffff:a.b.c.d]``). Host names are resolved now, with
    ``socket.getaddrinfo``, to every address they have. Raises ValueError naming the
    entry that is empty, lacks a port, has a port outside 1-65535 or does not resolve,
    or naming a single ``host:port`` whose port gRPC could not dial (see
    :func:`parse_target`).
    """
    return parse_target(text).dial


def parse_target(text: str) -> Target:
    """``text`` as :func:`channel_target` translates it, with the authority for TLS.

    A single ``host:port`` (bare or ``dns:``) whose port gRPC could never dial raises
    ValueError here, rather than failing every call later as if no server answered.
    An ``etcd://`` target (see :func:`parse_etcd_target`) is checked and returned as it
    is: the client resolves it through etcd, not gRPC.
    """
    scheme = _SCHEME.match(text)
    if scheme and scheme[1] == "etcd":
        parse_etcd_target(text)
        return Target(text, None)
    if "," not in text or (scheme and scheme[1] in _SCHEMES):
        _check_single(text, scheme[1] if scheme else None)
        return Target(text, None)
    return list_target([entry.strip() for entry in text.split(",")], text)


def list_target(entries: Sequence[str], text: str | None = None) -> Target:
    """The ``ipv4:``/``ipv6:`` target for ``host:port`` ``entries``, each resolved now.

    The authority is the first entry. ``text`` is what error messages quote (default:
    the entries joined). Raises ValueError naming the first entry that does not parse or
    resolve.
    """
    text = ",".join(entries) if text is None else text
    addresses: list[tuple[IPAddress, int]] = []
    for entry in entries:
        host, port = _split(entry, text)
        for address in _addresses(host, port, entry, text):
            if (address, port) not in addresses:
                addresses.append((address, port))
    return Target(_join(addresses), entries[0])


ETCD_PREFIX = "chrono/services/"
"""The etcd key prefix under which chrono's services register by default."""


@dataclass(frozen=True)
class EtcdTarget:
    """An ``etcd://ENDPOINTS[/NAME]`` target: where etcd is, and which name to look up."""

    endpoints: tuple[str, ...]
    """etcd's client endpoints, ``host:port`` each."""
    name: str
    """The naming service name: the key prefix before ``/<address>``; "" for the client's."""

    def key_prefix(self, service: str) -> str:
        """The etcd key prefix listing the endpoints of ``service`` (a full gRPC name).

        A name with no ``/`` is a service under :data:`ETCD_PREFIX`; one with a ``/`` is
        the whole naming name, as Go's etcd resolver takes its target's path.
        """
        name = self.name or service
        return f"{name if '/' in name else ETCD_PREFIX + name}/"


def parse_etcd_target(text: str) -> EtcdTarget:
    """``etcd://HOST:PORT[,HOST:PORT...][/NAME]`` read; ValueError saying what is wrong.

    NAME is left out for the client's own service (``chrono/services/<full service
    name>``), a full gRPC service name (``chrono.time.v1.TimeService``) for that service
    under ``chrono/services/``, or a name with a ``/`` for exactly that key prefix.
    """
    rest = text[len("etcd://") :] if text.startswith("etcd://") else None
    if rest is None:
        raise ValueError(f"target {text!r}: an etcd target starts with etcd://")
    authority, _, name = rest.partition("/")
    if not authority:
        raise ValueError(
            f"target {text!r}: name etcd's endpoints, as etcd://127.0.0.1:2379/SERVICE"
        )
    endpoints = tuple(entry.strip() for entry in authority.split(","))
    for entry in endpoints:
        _split(entry, text)
    name = name.strip("/")
    if name and any(not part for part in name.split("/")):
        raise ValueError(f"target {text!r}: empty part in the name {name!r}")
    return EtcdTarget(endpoints, name)


def _check_single(text: str, scheme: str | None) -> None:
    """Refuse a bare or ``dns:`` target's port unless it is 1-65535, ``http`` or ``https``.

    gRPC reads a target with no scheme it knows as ``dns:///text``, and a ``dns:`` target
    as ``dns:[//authority/]host[:port]``; targets of other schemes pass as they are. A
    port gRPC cannot parse fails every call as UNAVAILABLE; one out of range it wraps
    modulo 65536 (70000 dials 4464), which nobody means. ``http`` and ``https`` it takes
    as 80 and 443, and no port at all as 443.
    """
    if scheme == "dns":
        endpoint = text[len("dns:") :]
        if endpoint.startswith("//"):
            endpoint = endpoint[2:].partition("/")[2]
    elif scheme in _SCHEMES or _URI.match(text):
        return
    else:
        endpoint = text
    if endpoint.startswith("["):
        _, _, rest = endpoint.partition("]")
        if not rest.startswith(":"):
            return
        port = rest[1:]
    elif endpoint.count(":") == 1:
        port = endpoint.partition(":")[2]
    else:
        return  # no port, or an IPv6 address without brackets (and so without a port)
    if port not in ("http", "https") and not _is_port(port):
        raise ValueError(
            f"target {text!r}: the port must be a number from 1 to 65535, not {port!r}"
        )


def _is_port(text: str) -> bool:
    """Whether ``text`` is a TCP port number as people write them: 1 to 65535, digits only."""
    return text.isascii() and text.isdigit() and 1 <= int(text) <= 65535


def _split(entry: str, text: str) -> tuple[str, int]:
    """``entry``'s host (IPv6 without brackets) and port."""
    where = f"target entry {entry!r} of {text!r}"
    if not entry:
        raise ValueError(f"empty entry in the target list {text!r}")
    if entry.startswith("["):
        host, bracket, rest = entry[1:].partition("]")
        if not bracket:
            raise ValueError(f"{where}: no ']' after the IPv6 address")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{where}: {host!r} is not an IPv6 address") from None
        colon, port_text = rest[:1], rest[1:]
    else:
        host, colon, port_text = entry.rpartition(":")
        if ":" in host:
            raise ValueError(f"{where}: write an IPv6 address in brackets, as [::1]:50051")
        if colon and not host:
            raise ValueError(f"{where}: no host before the port")
    if not colon:
        raise ValueError(f"{where}: no port; write host:port")
    if not _is_port(port_text):
        raise ValueError(f"{where}: the port must be a number from 1 to 65535, not {port_text!r}")
    return host, int(port_text)


def _addresses(host: str, port: int, entry: str, text: str) -> list[IPAddress]:
    """The addresses of ``host``: itself if it is one, else what the resolver says now."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise ValueError(
            f"target entry {entry!r} of {text!r}: cannot resolve {host!r}: {error}"
        ) from None
    # getaddrinfo may list address families this Python was built without (e.g.
    # AF_INET6 on an IPv4-only build); only IPv4 and IPv6 can be dialled here.
    addresses = [
        ipaddress.ip_address(sockaddr[0])
        for family, _, _, _, sockaddr in found
        if family in (socket.AF_INET, socket.AF_INET6)
    ]
    if not addresses:
        raise ValueError(f"target entry {entry!r} of {text!r}: {host!r} has no IP address")
    return addresses


def _join(addresses: list[tuple[IPAddress, int]]) -> str:
    """An ``ipv4:`` list if every address is IPv4, else an ``ipv6:`` one."""
    if all(isinstance(address, ipaddress.IPv4Address) for address, _ in addresses):
        return "ipv4:" + ",".join(f"{address}:{port}" for address, port in addresses)
    # gRPC's ipv6: scheme takes IPv6 only; a dual-stack socket reaches IPv4 servers at
    # their IPv4-mapped address.
    return "ipv6:" + ",".join(
        f"[::ffff:{address}]:{port}" if address.version == 4 else f"[{address}]:{port}"
        for address, port in addresses
    )
