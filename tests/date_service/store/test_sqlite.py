"""The SQLite store: one file that outlives the process, shared safely, locked politely."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from date_service.store import (
    CalendarDraft,
    SqliteStore,
    StoreUnavailableError,
    migrations,
)
from date_service.store.sqlite import split_statements
from tests.date_service.store.conftest import Clock

TEAM = CalendarDraft(calendar_id="team", display_name="Team", base_calendars=("calendars/FR",))


def _applied(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT version, name FROM schema_migrations ORDER BY version"
        ).fetchall()


async def test_calendars_survive_a_restart(tmp_path: Path, clock: Clock) -> None:
    """A store closed and opened again on the same file finds its calendars and request ids."""
    path = tmp_path / "calendars.db"
    store = SqliteStore(path, clock=clock)
    await store.start()
    created = await store.create(TEAM, request_id="req-1")
    updated = await store.update(CalendarDraft(calendar_id="team"), expected_etag=created.etag)
    await store.stop()

    again = SqliteStore(path, clock=clock)
    await again.start()
    try:
        assert await again.get("team") == updated
        assert await again.create(TEAM, request_id="req-1") == created
        assert await again.list(10) == [updated]
        assert _applied(path) == [(m.version, m.name) for m in migrations.load("sqlite")]
    finally:
        await again.stop()


async def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    """The store turns the write-ahead log on, so that readers never wait for a writer."""
    path = tmp_path / "calendars.db"
    store = SqliteStore(path)
    await store.start()
    await store.stop()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_start_creates_the_directory(tmp_path: Path) -> None:
    """A file in directories that do not exist yet is created with them."""
    path = tmp_path / "state" / "chrono" / "date-service.db"
    store = SqliteStore(path)
    await store.start()
    try:
        await store.create(TEAM)
    finally:
        await store.stop()
    assert path.is_file()


async def test_stores_starting_together_migrate_once(tmp_path: Path) -> None:
    """Several stores opening a fresh file at once all start, and each migration runs once."""
    path = tmp_path / "calendars.db"
    stores = [SqliteStore(path) for _ in range(4)]
    await asyncio.gather(*(store.start() for store in stores))
    try:
        assert _applied(path) == [(m.version, m.name) for m in migrations.load("sqlite")]
        created = await stores[0].create(TEAM)
        assert await stores[3].get("team") == created
    finally:
        await asyncio.gather(*(store.stop() for store in stores))


async def test_a_locked_file_is_unavailable_until_released(tmp_path: Path) -> None:
    """A writer that cannot get the lock within busy_timeout raises StoreUnavailableError."""
    path = tmp_path / "calendars.db"
    store = SqliteStore(path, busy_timeout=0.1)
    await store.start()
    try:
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreUnavailableError) as caught:
                await store.create(TEAM)
            assert str(path) in caught.value.message
            assert "locked" in caught.value.message
            # Readers are not blocked by the writer (WAL).
            assert await store.list(10) == []
        finally:
            holder.close()
        assert (await store.create(TEAM)).revision == 1
    finally:
        await store.stop()


async def test_a_stopped_store_is_unavailable(tmp_path: Path) -> None:
    """Calls after stop raise StoreUnavailableError instead of opening the file again."""
    store = SqliteStore(tmp_path / "calendars.db")
    await store.start()
    await store.stop()
    with pytest.raises(StoreUnavailableError, match="not running"):
        await store.get("team")
    await store.stop()


async def test_a_file_that_is_no_database_fails_the_start(tmp_path: Path) -> None:
    """Start raises when the path holds something other than an SQLite database."""
    path = tmp_path / "calendars.db"
    path.write_bytes(b"not a database, just some bytes " * 64)
    store = SqliteStore(path)
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        await store.start()
    with pytest.raises(StoreUnavailableError):
        await store.get("team")


async def test_an_in_memory_store_works(clock: Clock) -> None:
    """An in-memory database keeps calendars for the life of the store (its one connection)."""
    store = SqliteStore(":memory:", clock=clock)
    await store.start()
    try:
        created = await store.create(TEAM)
        assert await store.get("team") == created
    finally:
        await store.stop()


def test_split_statements_keeps_strings_and_comments() -> None:
    """A migration splits at statement ends only, not at semicolons in strings or comments."""
    sql = (
        "-- first; with a semicolon in a comment\n"
        "CREATE TABLE t (a TEXT DEFAULT 'x;y');\n"
        "INSERT INTO t VALUES ('multi\n;line');\n"
        "-- a trailing comment\n"
    )
    statements = split_statements(sql)
    assert len(statements) == 2
    conn = sqlite3.connect(":memory:")
    for statement in statements:
        conn.execute(statement)
    assert conn.execute("SELECT a FROM t").fetchall() == [("multi\n;line",)]


def test_split_statements_refuses_an_unfinished_statement() -> None:
    """SQL that ends without its semicolon is an error, not a silently skipped change."""
    with pytest.raises(ValueError, match="unfinished"):
        split_statements("CREATE TABLE t (a TEXT);\nCREATE TABLE u (b TEXT)\n")
