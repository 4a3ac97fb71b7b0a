"""Compare-and-set under contention: of updates that expect the same etag, one wins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import psycopg
from psycopg.rows import TupleRow

from date_service.store import (
    CalendarDraft,
    CalendarRecord,
    CalendarStore,
    EtagMismatchError,
)
from date_service.store.postgres import PostgresStore
from tests.date_service.store.conftest import Clock, StoreFactory

LOCK_WAIT_DEADLINE = 30.0


def _draft(number: int) -> CalendarDraft:
    return CalendarDraft(calendar_id="shared", display_name=f"writer {number}")


async def _race(stores: list[CalendarStore], etag: str, writers: int) -> list[object]:
    """Every store sends ``writers`` updates that expect ``etag``, all at once."""
    calls = [
        store.update(_draft(number * len(stores) + index), expected_etag=etag)
        for number in range(writers)
        for index, store in enumerate(stores)
    ]
    return await asyncio.gather(*calls, return_exceptions=True)


def _one_winner(results: Sequence[object]) -> CalendarRecord:
    winners = [result for result in results if isinstance(result, CalendarRecord)]
    losers = [result for result in results if isinstance(result, EtagMismatchError)]
    assert len(winners) == 1, results
    assert len(losers) == len(results) - 1, results
    assert {loser.current_etag for loser in losers} <= {winners[0].etag}
    return winners[0]


async def test_concurrent_updates_with_one_etag(stores: StoreFactory) -> None:
    """Eight updates expecting the same etag, from two stores at once: exactly one applies."""
    first, second = await stores(), await stores()
    created = await first.create(CalendarDraft(calendar_id="shared"))
    # Open the PostgreSQL pools' connections first, so that the updates overlap.
    await asyncio.gather(*(store.get("shared") for store in (first, second) for _ in range(4)))
    winner = _one_winner(await _race([first, second], created.etag, writers=4))
    assert winner.revision == 2
    assert await second.get("shared") == winner


async def test_rounds_of_contention(stores: StoreFactory) -> None:
    """Round after round, each round's racing updates move the calendar by one revision."""
    first, second = await stores(), await stores()
    record = await first.create(CalendarDraft(calendar_id="shared"))
    for revision in range(2, 7):
        record = _one_winner(await _race([first, second], record.etag, writers=2))
        assert record.revision == revision
    assert await first.get("shared") == record


async def _wait_for_lock_waiters(conn: psycopg.AsyncConnection[TupleRow], count: int) -> None:
    deadline = time.monotonic() + LOCK_WAIT_DEADLINE
    while True:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            ("UPDATE calendars %",),
        )
        row = await cursor.fetchone()
        if row is not None and row[0] >= count:
            return
        assert time.monotonic() < deadline, "the updates never queued for the row lock"
        await asyncio.sleep(0.02)  # between polls


async def test_postgres_updates_queued_on_one_row_lock(postgres_url: str, clock: Clock) -> None:
    """Two updates with the same etag both waiting for the row: the second finds it changed."""
    first = PostgresStore(postgres_url, clock=clock)
    second = PostgresStore(postgres_url, clock=clock)
    await first.start()
    await second.start()
    try:
        created = await first.create(CalendarDraft(calendar_id="shared"))
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as holder:
            async with holder.transaction():
                await holder.execute(
                    "SELECT 1 FROM calendars WHERE calendar_id = 'shared' FOR UPDATE"
                )
                racing = asyncio.gather(
                    first.update(_draft(1), expected_etag=created.etag),
                    second.update(_draft(2), expected_etag=created.etag),
                    return_exceptions=True,
                )
                async with await psycopg.AsyncConnection.connect(
                    postgres_url, autocommit=True
                ) as watcher:
                    await _wait_for_lock_waiters(watcher, 2)
            # The holder's transaction ended: both updates go on, one after the other.
            winner = _one_winner(await racing)
        assert winner.revision == 2
    finally:
        await first.stop()
        await second.stop()
