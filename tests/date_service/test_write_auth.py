"""Who may write calendars: bearer tokens from a file, mTLS client identities; reads stay open."""

from __future__ import annotations

import contextlib
import secrets
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from chrono.date.v1 import date_service_pb2 as pb
from chrono.date.v1 import date_service_pb2_grpc as pb_grpc
from chrono_server.config import ServerSettings
from date_service.options import DateOptions
from date_service.server import SPEC
from tests.chrono_server.helpers import (
    RichError,
    ServiceProcess,
    access_lines,
    rich_error,
    running,
)
from tests.devcerts import DevCerts, issue, make_ca
from tests.servers import server_settings

Stub = pb_grpc.DateServiceStub
Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    """The metadata of a call authorised by ``token``."""
    return (("authorization", f"Bearer {token}"),)


def token_of(path: Path) -> str:
    """The first token in a token file."""
    return path.read_text(encoding="utf-8").split()[0]


def refused(call: Callable[[], object]) -> RichError:
    """The rich error of a call that must fail."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return rich_error(caught.value)


def create(stub: Stub, metadata: Metadata, calendar_id: str = "acme") -> pb.Calendar:
    """Create a small custom calendar ``calendar_id`` with ``metadata``."""
    request = pb.CreateCalendarRequest(
        calendar_id=calendar_id, calendar=pb.Calendar(display_name="Acme")
    )
    return stub.CreateCalendar(request, metadata=metadata, timeout=10)


def writes(stub: Stub, name: str = "calendars/acme") -> dict[str, Callable[[Metadata], object]]:
    """The three writes on calendar ``name``, each taking the call's metadata."""
    calendar_id = name.removeprefix("calendars/")
    return {
        "create": lambda metadata: create(stub, metadata, calendar_id),
        "update": lambda metadata: stub.UpdateCalendar(
            pb.UpdateCalendarRequest(calendar=pb.Calendar(name=name, display_name="New")),
            metadata=metadata,
            timeout=10,
        ),
        "delete": lambda metadata: stub.DeleteCalendar(
            pb.DeleteCalendarRequest(name=name), metadata=metadata, timeout=10
        ),
    }


def create_update_delete(stub: Stub, name: str, metadata: Metadata = ()) -> None:
    """Create, update and delete calendar ``name`` with ``metadata``, checking each answer."""
    actions = writes(stub, name)
    created = actions["create"](metadata)
    assert isinstance(created, pb.Calendar)
    assert created.name == name
    updated = actions["update"](metadata)
    assert isinstance(updated, pb.Calendar)
    assert (updated.display_name, updated.create_time) == ("New", created.create_time)
    actions["delete"](metadata)
    error = refused(lambda: stub.GetCalendar(pb.GetCalendarRequest(name=name), timeout=10))
    assert error.code == grpc.StatusCode.NOT_FOUND


@contextlib.contextmanager
def serving(tmp_path: Path, **options: object) -> Iterator[Stub]:
    """A stub of a DateService server with ``options``, its calendars in ``tmp_path``."""
    service = DateOptions(database=f"sqlite:///{tmp_path / 'calendars.db'}", **options)  # type: ignore[arg-type]
    with (
        running(SPEC, server_settings(service=service)) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        yield pb_grpc.DateServiceStub(channel)


def test_writes_are_refused_without_write_flags(tmp_path: Path) -> None:
    """With neither flag, every write is PERMISSION_DENIED saying how to allow them; reads work."""
    with serving(tmp_path) as stub:
        for method, call in writes(stub).items():
            for metadata in ((), bearer("anything")):
                error = refused(lambda: call(metadata))  # noqa: B023
                assert error.code == grpc.StatusCode.PERMISSION_DENIED, (method, error)
                assert error.reasons == ["WRITES_DISABLED"]
                assert "--write-token-file" in error.message
                assert "--write-client-ids" in error.message
        assert stub.GetCalendar(pb.GetCalendarRequest(name="calendars/US"), timeout=10).builtin
        assert stub.ListCalendars(pb.ListCalendarsRequest(page_size=1), timeout=10).calendars


@pytest.mark.parametrize(
    ("metadata", "code", "reason"),
    [
        ((), grpc.StatusCode.UNAUTHENTICATED, "CREDENTIALS_MISSING"),
        (bearer("not-the-token"), grpc.StatusCode.PERMISSION_DENIED, "WRITE_NOT_ALLOWED"),
        ((("authorization", "Basic x"),), grpc.StatusCode.UNAUTHENTICATED, "CREDENTIALS_MALFORMED"),
        ((("authorization", "Bearer"),), grpc.StatusCode.UNAUTHENTICATED, "CREDENTIALS_MALFORMED"),
        (
            (("authorization", "Bearer   "),),
            grpc.StatusCode.UNAUTHENTICATED,
            "CREDENTIALS_MALFORMED",
        ),
        (
            (("authorization", "tokenonly"),),
            grpc.StatusCode.UNAUTHENTICATED,
            "CREDENTIALS_MALFORMED",
        ),
    ],
    ids=["none", "wrong", "basic", "bearer-alone", "bearer-blank", "no-scheme"],
)
def test_writes_need_the_token(
    tmp_path: Path, token_file: Path, metadata: Metadata, code: grpc.StatusCode, reason: str
) -> None:
    """Missing or malformed credentials are UNAUTHENTICATED, a wrong token PERMISSION_DENIED."""
    with serving(tmp_path, write_token_file=token_file) as stub:
        create(stub, bearer(token_of(token_file)))
        for method, call in writes(stub).items():
            error = refused(lambda: call(metadata))  # noqa: B023
            assert (error.code, error.reasons) == (code, [reason]), (method, error)
        assert stub.GetCalendar(pb.GetCalendarRequest(name="calendars/acme")).display_name == "Acme"


def test_the_right_token_writes_and_reads_need_none(tmp_path: Path, token_file: Path) -> None:
    """With the file's token a create, update and delete succeed; reads need no credentials."""
    token = token_of(token_file)
    with serving(tmp_path, write_token_file=token_file) as stub:
        actions = writes(stub)
        actions["create"](bearer(token))
        found = stub.GetCalendar(pb.GetCalendarRequest(name="calendars/acme"), timeout=10)
        assert found.display_name == "Acme"
        day = pb.IsBusinessDayRequest(calendar="calendars/acme")
        day.date.year, day.date.month, day.date.day = 2026, 7, 4
        assert not stub.IsBusinessDay(day, timeout=10).business_day
        listed = stub.ListCalendars(pb.ListCalendarsRequest(page_size=1000), timeout=10)
        assert listed.calendars[-1].name == "calendars/acme"
        actions["update"]((("authorization", f"bearer {token}"),))  # the scheme in any case
        actions["delete"](bearer(token))
        error = refused(lambda: stub.GetCalendar(pb.GetCalendarRequest(name="calendars/acme")))
        assert error.code == grpc.StatusCode.NOT_FOUND


def test_credentials_are_checked_before_the_request(tmp_path: Path, token_file: Path) -> None:
    """A caller without credentials learns nothing about its request: UNAUTHENTICATED first."""
    with serving(tmp_path, write_token_file=token_file) as stub:
        bad = pb.CreateCalendarRequest(calendar_id="Not_An_Id")
        error = refused(lambda: stub.CreateCalendar(bad, timeout=10))
        assert error.code == grpc.StatusCode.UNAUTHENTICATED
        error = refused(lambda: writes(stub, "calendars/US")["delete"](()))
        assert error.code == grpc.StatusCode.UNAUTHENTICATED


def test_every_token_in_the_file_is_accepted(tmp_path: Path) -> None:
    """A token file holds one token per line; blank lines and surrounding spaces do not count."""
    tokens = [secrets.token_hex(16), secrets.token_hex(20)]
    path = tmp_path / "tokens"
    path.write_text(f"\n  {tokens[0]}  \n\n{tokens[1]}\n", encoding="utf-8")
    with serving(tmp_path, write_token_file=path) as stub:
        create(stub, bearer(tokens[0]), "one")
        create(stub, bearer(tokens[1]), "two")
        error = refused(lambda: create(stub, bearer(tokens[0] + tokens[1]), "three"))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED


def test_rotating_the_token_file_takes_effect_without_restart(
    tmp_path: Path, token_file: Path
) -> None:
    """Rewriting the token file swaps the tokens at the next write; an emptied file keeps them."""
    old = token_of(token_file)
    new = secrets.token_urlsafe(30)  # another length, so the file's size changes too
    with serving(tmp_path, write_token_file=token_file) as stub:
        create(stub, bearer(old), "before")
        token_file.write_text(new + "\n", encoding="utf-8")
        error = refused(lambda: create(stub, bearer(old), "after"))
        assert (error.code, error.reasons) == (
            grpc.StatusCode.PERMISSION_DENIED,
            ["WRITE_NOT_ALLOWED"],
        )
        create(stub, bearer(new), "after")
        token_file.write_text("\n", encoding="utf-8")
        create(stub, bearer(new), "still")


def test_the_token_never_appears_in_the_log(tmp_path: Path, token_file: Path) -> None:
    """A real process logging every call at DEBUG writes neither the token nor a wrong one."""
    token = token_of(token_file)
    wrong = "wrong-" + secrets.token_hex(12)
    args = [
        "-m", "date_service", "--port", "0", "--log-level", "DEBUG",
        "--database", f"sqlite:///{tmp_path / 'calendars.db'}",
        "--write-token-file", str(token_file),
    ]  # fmt: skip
    with ServiceProcess(args) as process:
        port = process.wait_for_port()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.DateServiceStub(channel)
            for metadata in (bearer(wrong), (("authorization", f"Basic {wrong}"),)):
                error = refused(lambda: create(stub, metadata))  # noqa: B023
                assert wrong not in error.message
            create(stub, bearer(token))
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0
    log = "\n".join(process.lines)
    assert token not in log
    assert wrong not in log
    codes = [line["code"] for line in access_lines(process) if line["method"].endswith("Calendar")]
    assert codes == ["PERMISSION_DENIED", "UNAUTHENTICATED", "OK"]


@dataclass(frozen=True)
class Pki:
    """A CA, a server certificate for 127.0.0.1 and client certificates, as files."""

    ca: Path
    server_cert: Path
    server_key: Path
    clients: dict[str, tuple[Path, Path]]
    """Client certificate and key files by a short name."""

    def credentials(self, client: str | None) -> grpc.ChannelCredentials:
        """Channel credentials trusting the CA, with the client certificate ``client``."""
        if client is None:
            return grpc.ssl_channel_credentials(self.ca.read_bytes())
        cert, key = self.clients[client]
        return grpc.ssl_channel_credentials(
            self.ca.read_bytes(), key.read_bytes(), cert.read_bytes()
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA and a server certificate; clients "writer" (CN), "san" (a DNS name), "other"."""
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    issued = {
        "server": issue(ca, "chrono server", hosts=("127.0.0.1",)),
        "writer": issue(ca, "calendar-writer", client=True),
        "san": issue(ca, "unlisted name", hosts=("writer.example",), client=True),
        "other": issue(ca, "someone else", client=True),
    }
    (directory / "ca.pem").write_bytes(ca.cert_pem)
    for name, item in issued.items():
        (directory / f"{name}.pem").write_bytes(item.cert_pem)
        (directory / f"{name}.key").write_bytes(item.key_pem)
    clients = {
        name: (directory / f"{name}.pem", directory / f"{name}.key")
        for name in ("writer", "san", "other")
    }
    return Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key", clients)


@contextlib.contextmanager
def mtls_server(
    tmp_path: Path, pki: Pki, *, client_ca: bool = True, **options: object
) -> Iterator[int]:
    """The port of a grpcio DateService server on TLS, requiring client certificates of the CA.

    Always the grpcio engine, whatever the run's: the native one has no TLS.
    """
    service = DateOptions(database=f"sqlite:///{tmp_path / 'calendars.db'}", **options)  # type: ignore[arg-type]
    settings = ServerSettings(
        port=0,
        grace=1.0,
        tls_cert=pki.server_cert,
        tls_key=pki.server_key,
        tls_client_ca=pki.ca if client_ca else None,
        service=service,
    )
    with running(SPEC, settings) as server:
        yield server.port


@contextlib.contextmanager
def mtls_stub(port: int, pki: Pki, client: str) -> Iterator[Stub]:
    """A stub on a TLS channel presenting the client certificate ``client``."""
    with grpc.secure_channel(f"127.0.0.1:{port}", pki.credentials(client)) as channel:
        yield pb_grpc.DateServiceStub(channel)


def test_a_listed_client_certificate_writes_without_a_token(tmp_path: Path, pki: Pki) -> None:
    """With --write-client-ids, a certificate whose CN or DNS SAN is listed may write, no token."""
    ids = ("calendar-writer", "writer.example")
    with mtls_server(tmp_path, pki, write_client_ids=ids) as port:
        with mtls_stub(port, pki, "writer") as stub:
            create_update_delete(stub, "calendars/by-cn")
        with mtls_stub(port, pki, "san") as stub:
            create_update_delete(stub, "calendars/by-san")


def test_the_development_client_certificate(tmp_path: Path, certs: DevCerts) -> None:
    """scripts/dev-certs' client certificate writes on a server listing its CN, chrono client."""
    clients = {"dev": (certs.client_cert, certs.client_key)}
    pki = Pki(certs.ca, certs.server_cert, certs.server_key, clients)
    with (
        mtls_server(tmp_path, pki, write_client_ids=("chrono client",)) as port,
        mtls_stub(port, pki, "dev") as stub,
    ):
        create_update_delete(stub, "calendars/acme")


def test_an_unlisted_client_certificate_is_denied(tmp_path: Path, pki: Pki) -> None:
    """A valid certificate whose names are not listed is PERMISSION_DENIED; reads still work."""
    with (
        mtls_server(tmp_path, pki, write_client_ids=("calendar-writer",)) as port,
        mtls_stub(port, pki, "other") as stub,
    ):
        for method, call in writes(stub).items():
            error = refused(lambda: call(()))  # noqa: B023
            assert error.code == grpc.StatusCode.PERMISSION_DENIED, (method, error)
            assert error.reasons == ["WRITE_NOT_ALLOWED"]
            assert "someone else" in error.message
        assert stub.GetCalendar(pb.GetCalendarRequest(name="calendars/US"), timeout=10).builtin


def test_a_token_also_works_over_mtls(tmp_path: Path, pki: Pki, token_file: Path) -> None:
    """With both flags, an unlisted certificate writes with the token, and not without it."""
    ids = ("calendar-writer",)
    with (
        mtls_server(tmp_path, pki, write_client_ids=ids, write_token_file=token_file) as port,
        mtls_stub(port, pki, "other") as stub,
    ):
        assert refused(lambda: create(stub, ())).code == grpc.StatusCode.PERMISSION_DENIED
        assert create(stub, bearer(token_of(token_file))).name == "calendars/acme"


def test_tls_without_client_ca_has_no_identities(tmp_path: Path, pki: Pki) -> None:
    """Without --tls-client-ca no certificate is asked for, so listed names allow nothing."""
    ids = ("calendar-writer",)
    with (
        mtls_server(tmp_path, pki, client_ca=False, write_client_ids=ids) as port,
        mtls_stub(port, pki, "writer") as stub,
    ):
        error = refused(lambda: create(stub, ()))
        assert (error.code, error.reasons) == (
            grpc.StatusCode.UNAUTHENTICATED,
            ["CREDENTIALS_MISSING"],
        )
