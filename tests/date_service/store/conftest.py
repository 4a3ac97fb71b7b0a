"""Fixtures for the calendar store tests: both stores on fresh databases, a pinned clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from date_service.store import CalendarStore, SqliteStore
from date_service.store.postgres import PostgresStore

# postgres_cluster, postgres_url and private_postgres (tests/pg.py) come from
# tests/date_service/conftest.py, so that the package shares one session cluster.


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        """Start at noon UTC on 1 March 2026."""
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        """The instant the test set."""
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move the clock on by ``delta``."""
        self.now += delta


@dataclass(frozen=True)
class Backend:
    """Where the stores of a test keep their calendars: an SQLite file or a database URL."""

    kind: str
    target: str
    clock: Clock

    def store(self, **options: Any) -> CalendarStore:
        """A store (not started) on this backend, on the test's clock."""
        if self.kind == "sqlite":
            return SqliteStore(Path(self.target), clock=self.clock, **options)
        return PostgresStore(self.target, clock=self.clock, **options)


StoreFactory = Callable[..., Awaitable[CalendarStore]]


@pytest.fixture
def clock() -> Clock:
    """The clock the stores read for create and update times."""
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Backend:
    """A fresh SQLite file, or a fresh database on the session's PostgreSQL cluster."""
    if request.param == "sqlite":
        return Backend("sqlite", str(tmp_path / "calendars.db"), clock)
    return Backend("postgres", request.getfixturevalue("postgres_url"), clock)


@pytest.fixture
async def stores(backend: Backend) -> AsyncIterator[StoreFactory]:
    """Starts stores on the test's backend; stops every one of them afterwards."""
    started: list[CalendarStore] = []

    async def start(**options: Any) -> CalendarStore:
        store = backend.store(**options)
        await store.start()
        started.append(store)
        return store

    try:
        yield start
    finally:
        for store in reversed(started):
            await store.stop()


@pytest.fixture
async def store(stores: StoreFactory) -> CalendarStore:
    """A started store on a fresh backend."""
    return await stores()
