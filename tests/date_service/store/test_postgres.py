"""The PostgreSQL store: migrations under concurrent starts, and a database that goes away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable

import psycopg
import pytest

from date_service.store import CalendarDraft, StoreUnavailableError, migrations
from date_service.store.postgres import PostgresStore
from tests.pg import PostgresCluster

# A call that hangs instead of failing fails the test here rather than at pytest's timeout.
HANG_GUARD = 30.0


async def _unavailable(call: Awaitable[object]) -> StoreUnavailableError:
    with pytest.raises(StoreUnavailableError) as caught:
        await asyncio.wait_for(call, HANG_GUARD)
    return caught.value


def _applied(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        return [(version, name) for version, name in rows.fetchall()]


@pytest.fixture
async def outage_store(private_postgres: PostgresCluster) -> AsyncIterator[PostgresStore]:
    """A started store, waiting at most one second for a connection, on a private cluster."""
    store = PostgresStore(private_postgres.url, timeout=1.0)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


async def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    """Four stores starting at once on a fresh database all start; each migration runs once."""
    replicas = [PostgresStore(postgres_url) for _ in range(4)]
    await asyncio.gather(*(replica.start() for replica in replicas))
    try:
        expected = [(m.version, m.name) for m in migrations.load("postgres")]
        assert _applied(postgres_url) == expected
        created = await replicas[0].create(CalendarDraft(calendar_id="team"))
        assert await replicas[3].get("team") == created
    finally:
        await asyncio.gather(*(replica.stop() for replica in replicas))


async def test_a_restarted_store_keeps_its_calendars(postgres_url: str) -> None:
    """A store started again on a migrated database applies nothing and finds its calendars."""
    store = PostgresStore(postgres_url)
    await store.start()
    created = await store.create(CalendarDraft(calendar_id="team"))
    await store.stop()
    applied = _applied(postgres_url)
    again = PostgresStore(postgres_url)
    await again.start()
    try:
        assert await again.get("team") == created
        assert _applied(postgres_url) == applied
    finally:
        await again.stop()


async def test_database_down_mid_run_and_back(
    outage_store: PostgresStore, private_postgres: PostgresCluster
) -> None:
    """With the database down calls raise StoreUnavailableError; once it is back they work."""
    store = outage_store
    created = await store.create(CalendarDraft(calendar_id="team"))
    private_postgres.stop()
    calls: list[Awaitable[object]] = [
        store.get("team"),
        store.list(10),
        store.create(CalendarDraft(calendar_id="other")),
        store.update(CalendarDraft(calendar_id="team")),
        store.delete("team"),
    ]
    for call in calls:
        error = await _unavailable(call)
        assert f"127.0.0.1:{private_postgres.port}/chrono" in error.message
    private_postgres.start()
    # The very next call, on the same store: no retry loop.
    assert await store.get("team") == created
    assert (await store.create(CalendarDraft(calendar_id="other"))).revision == 1


async def test_database_restarted_between_calls(
    outage_store: PostgresStore, private_postgres: PostgresCluster
) -> None:
    """A restart while the store is idle leaves dead pooled connections; the next call works."""
    store = outage_store
    # Several connections in the pool, all of which the restart closes.
    await asyncio.gather(*(store.create(CalendarDraft(calendar_id=f"c{n}")) for n in range(8)))
    private_postgres.stop()
    private_postgres.start()
    assert len(await store.list(100)) == 8
    private_postgres.stop()
    private_postgres.start()
    records = await asyncio.gather(*(store.get(f"c{n}") for n in range(8)))
    assert [record.calendar_id for record in records] == [f"c{n}" for n in range(8)]


async def test_start_with_the_database_down(
    private_postgres: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """A store starts without its database, answers unavailable, and migrates once it is up."""
    private_postgres.stop()
    store = PostgresStore(private_postgres.url, timeout=1.0)
    with caplog.at_level(logging.WARNING, logger="date_service.store.postgres"):
        await store.start()
    try:
        assert "answer UNAVAILABLE until it can be reached" in caplog.text
        await _unavailable(store.get("team"))
        private_postgres.start()
        created = await store.create(CalendarDraft(calendar_id="team"))
        assert await store.get("team") == created
        assert [version for version, _ in _applied(private_postgres.url)] == [
            m.version for m in migrations.load("postgres")
        ]
    finally:
        await store.stop()


async def test_the_message_never_shows_the_password(dead_target: str) -> None:
    """An unreachable database is named by host and port, and its password is left out."""
    store = PostgresStore(f"postgresql://calendars:s3cr3t-pw@{dead_target}/chrono", timeout=1.0)
    await store.start()
    try:
        error = await _unavailable(store.get("team"))
        assert f"{dead_target}/chrono" in error.message
        assert "s3cr3t-pw" not in error.message
        assert "s3cr3t-pw" not in str(error)
    finally:
        await store.stop()


async def test_a_stopped_store_is_unavailable(postgres_url: str) -> None:
    """Calls after stop raise StoreUnavailableError instead of reopening anything."""
    store = PostgresStore(postgres_url)
    await store.start()
    await store.stop()
    error = await _unavailable(store.get("team"))
    assert "not running" in error.message


def test_a_malformed_url_is_refused() -> None:
    """A string libpq cannot parse is a ValueError when the store is made."""
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        PostgresStore("postgresql://host:5432/db?nonsense_option=1")
