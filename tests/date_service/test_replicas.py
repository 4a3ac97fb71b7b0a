"""Real date-service processes sharing a store: PostgreSQL replicas, SQLite restarts, outages."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from google.type import date_pb2

import client.__main__ as cli
from chrono.date.v1 import date_service_pb2 as pb
from chrono.date.v1 import date_service_pb2_grpc as pb_grpc
from client import DateClient
from date_service.store import migrations
from tests.chrono_server.helpers import RichError, ServiceProcess, health_status, rich_error
from tests.pg import PostgresCluster

Stub = pb_grpc.DateServiceStub
Metadata = tuple[tuple[str, str], ...]

# Longer than the store's 2 s wait for a connection: a call to a database that is down
# must come back UNAVAILABLE, not DEADLINE_EXCEEDED.
DEADLINE = 20


@dataclass(frozen=True)
class Replica:
    """A running date-service process, a stub on a channel to it, and its write metadata."""

    process: ServiceProcess
    channel: grpc.Channel
    stub: Stub
    writes: Metadata
    target: str


@contextlib.contextmanager
def replicas(count: int, database: str, token_file: Path) -> Iterator[list[Replica]]:
    """``count`` date-service processes on ``database``, all started at once; always stopped.

    On the way out each is sent SIGTERM and must exit 0.
    """
    args = ["-m", "date_service", "--port", "0", "--drain-delay", "0", "--database", database]
    args += ["--write-token-file", str(token_file)]
    token = token_file.read_text(encoding="utf-8").strip()
    with contextlib.ExitStack() as stack:
        processes = [stack.enter_context(ServiceProcess(args)) for _ in range(count)]
        started = []
        for process in processes:
            target = f"127.0.0.1:{process.wait_for_port()}"
            channel = stack.enter_context(grpc.insecure_channel(target))
            stub = pb_grpc.DateServiceStub(channel)
            writes = (("authorization", f"Bearer {token}"),)
            started.append(Replica(process, channel, stub, writes, target))
        yield started
        for replica in started:
            replica.channel.close()
            replica.process.process.send_signal(signal.SIGTERM)
        for replica in started:
            assert replica.process.finish() == 0, replica.process.lines


def ymd(text: str) -> date_pb2.Date:
    """``YYYY-MM-DD`` as a google.type.Date."""
    year, month, day = (int(part) for part in text.split("-"))
    return date_pb2.Date(year=year, month=month, day=day)


def refused(call: Callable[[], object]) -> RichError:
    """The rich error of a call that must fail."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return rich_error(caught.value)


def create(replica: Replica, calendar_id: str = "acme") -> pb.Calendar:
    """Create ``calendar_id``: US holidays plus 2026-07-10 (a Friday), through ``replica``."""
    calendar = pb.Calendar(
        display_name="Acme",
        base_calendars=["calendars/US"],
        extra_holidays=[pb.Holiday(date=ymd("2026-07-10"), name="Founders' Day")],
    )
    request = pb.CreateCalendarRequest(calendar_id=calendar_id, calendar=calendar)
    return replica.stub.CreateCalendar(request, metadata=replica.writes, timeout=DEADLINE)


def get(replica: Replica, name: str = "calendars/acme") -> pb.Calendar:
    """GetCalendar of ``name`` through ``replica``."""
    return replica.stub.GetCalendar(pb.GetCalendarRequest(name=name), timeout=DEADLINE)


def business(replica: Replica, day: str, name: str = "calendars/acme") -> bool:
    """Whether ``day`` is a business day on ``name``, asked of ``replica``."""
    request = pb.IsBusinessDayRequest(calendar=name, date=ymd(day))
    return replica.stub.IsBusinessDay(request, timeout=DEADLINE).business_day


def update_request(calendar: pb.Calendar, display_name: str) -> pb.UpdateCalendarRequest:
    """An update of the display name, conditional on ``calendar``'s etag."""
    change = pb.Calendar(name=calendar.name, display_name=display_name, etag=calendar.etag)
    request = pb.UpdateCalendarRequest(calendar=change)
    request.update_mask.paths.append("display_name")
    return request


def test_replicas_started_together_migrate_once(postgres_url: str, token_file: Path) -> None:
    """Two processes started at once on a fresh database both serve; each migration ran once."""
    with replicas(2, postgres_url, token_file) as (one, two):
        create(one, "from-one")
        create(two, "from-two")
        with psycopg.connect(postgres_url) as conn:
            applied = conn.execute("SELECT version FROM schema_migrations ORDER BY version")
            versions = [row[0] for row in applied.fetchall()]
        assert versions == [migration.version for migration in migrations.load("postgres")]
    for replica in (one, two):
        assert not [line for line in replica.process.lines if " ERROR " in line]


def test_a_change_through_one_replica_is_seen_by_the_other(
    postgres_url: str, token_file: Path
) -> None:
    """What A creates B serves at once; what B changes or deletes A answers by its next call."""
    with replicas(2, postgres_url, token_file) as (a, b):
        created = create(a)
        assert get(b) == created
        assert not business(a, "2026-07-10")
        assert not business(b, "2026-07-10")
        change = pb.Calendar(name=created.name, etag=created.etag)
        request = pb.UpdateCalendarRequest(calendar=change)
        request.update_mask.paths.append("extra_holidays")
        updated = b.stub.UpdateCalendar(request, metadata=b.writes, timeout=DEADLINE)
        assert get(a) == updated
        assert business(a, "2026-07-10")  # A compiled the first version; it sees the second
        b.stub.DeleteCalendar(
            pb.DeleteCalendarRequest(name=created.name, etag=updated.etag),
            metadata=b.writes,
            timeout=DEADLINE,
        )
        for call in (lambda: get(a), lambda: business(a, "2026-07-10")):
            error = refused(call)
            assert (error.code, error.reasons) == (
                grpc.StatusCode.NOT_FOUND,
                ["CALENDAR_NOT_FOUND"],
            )


def test_concurrent_updates_with_one_etag_have_one_winner(
    postgres_url: str, token_file: Path
) -> None:
    """Two updates sent at once through A and B with the same etag: one OK, the other ABORTED."""
    with replicas(2, postgres_url, token_file) as (a, b):
        current = create(a)
        for round_ in range(5):
            calls = [
                replica.stub.UpdateCalendar.future(
                    update_request(current, f"{side} {round_}"),
                    metadata=replica.writes,
                    timeout=DEADLINE,
                )
                for side, replica in (("A", a), ("B", b))
            ]
            winners, codes = [], []
            for call in calls:
                try:
                    winners.append(call.result())
                except grpc.RpcError as error:
                    codes.append(rich_error(error).code)
            assert len(winners) == 1, (round_, winners, codes)
            assert codes == [grpc.StatusCode.ABORTED]
            current = winners[0]
            assert get(a) == get(b) == current


def test_concurrent_updates_of_other_fields_lose_nothing(
    postgres_url: str, token_file: Path
) -> None:
    """Updates of different fields sent at once without etags through A and B both take effect."""
    with replicas(2, postgres_url, token_file) as (a, b):
        created = create(a)
        for round_ in range(20):
            rename = pb.UpdateCalendarRequest(
                calendar=pb.Calendar(name=created.name, display_name=f"Acme {round_}")
            )
            rename.update_mask.paths.append("display_name")
            weekend = [1 + round_ % 5]
            rest = pb.UpdateCalendarRequest(
                calendar=pb.Calendar(name=created.name, weekend_days=weekend)
            )
            rest.update_mask.paths.append("weekend_days")
            calls = [
                a.stub.UpdateCalendar.future(rename, metadata=a.writes, timeout=DEADLINE),
                b.stub.UpdateCalendar.future(rest, metadata=b.writes, timeout=DEADLINE),
            ]
            for call in calls:
                call.result()
            found = get(b)
            assert (found.display_name, list(found.weekend_days)) == (f"Acme {round_}", weekend)


def test_a_restart_on_the_same_sqlite_file_keeps_calendars(
    tmp_path: Path, token_file: Path
) -> None:
    """A date service started again on the same SQLite file serves the calendars made before."""
    database = f"sqlite:///{tmp_path / 'calendars.db'}"
    with replicas(1, database, token_file) as (first,):
        created = create(first)
    with replicas(1, database, token_file) as (second,):
        assert get(second) == created
        assert not business(second, "2026-07-10")
        error = refused(lambda: create(second))
        assert error.code == grpc.StatusCode.ALREADY_EXISTS


def test_database_down_mid_run(
    private_postgres: PostgresCluster, token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With PostgreSQL down custom calendars are UNAVAILABLE, built-in ones work; then it heals."""
    with replicas(1, private_postgres.url, token_file) as (replica,):
        created = create(replica)
        private_postgres.stop()
        stub, day = replica.stub, ymd("2026-07-10")
        # Sent at once: each waits the store's few seconds for a connection in parallel.
        calls: list[grpc.Future[Any]] = [
            stub.GetCalendar.future(pb.GetCalendarRequest(name=created.name), timeout=DEADLINE),
            stub.IsBusinessDay.future(
                pb.IsBusinessDayRequest(calendar=created.name, date=day), timeout=DEADLINE
            ),
            stub.CreateCalendar.future(
                pb.CreateCalendarRequest(calendar_id="during", calendar=pb.Calendar()),
                metadata=replica.writes,
                timeout=DEADLINE,
            ),
            stub.ListCalendars.future(pb.ListCalendarsRequest(page_size=1000), timeout=DEADLINE),
        ]
        for call in calls:
            error = refused(call.result)
            assert error.code == grpc.StatusCode.UNAVAILABLE, error
            assert error.reasons == ["CALENDAR_STORE_UNAVAILABLE"]
            assert "unavailable" in error.message
        assert not business(replica, "2026-07-03", "calendars/US")
        assert get(replica, "calendars/XNYS").builtin
        first_page = replica.stub.ListCalendars(
            pb.ListCalendarsRequest(page_size=10), timeout=DEADLINE
        )
        assert len(first_page.calendars) == 10
        assert health_status(replica.channel, "chrono.date.v1.DateService") == "SERVING"
        # The chrono client, with its retries and its default 5 s deadline, is told the
        # database is down (UNAVAILABLE), not left to time out.
        with DateClient(replica.target) as client:
            with pytest.raises(grpc.RpcError) as failure:
                client.is_business_day(created.name, date(2026, 7, 10))
            assert failure.value.code() == grpc.StatusCode.UNAVAILABLE, failure.value
        # The command says the service failed and why, not that it cannot be reached.
        argv = ["--date-target", replica.target, "busday", "is", created.name, "2026-07-10"]
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"chrono: the date service at {replica.target} failed (UNAVAILABLE)")
        assert "calendar database" in err

        private_postgres.start()
        assert get(replica) == created
        assert not business(replica, "2026-07-10")
        create(replica, "after")
