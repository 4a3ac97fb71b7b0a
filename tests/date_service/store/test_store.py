"""What every calendar store does, checked on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, timedelta, timezone

import pytest

from date_service.store import (
    AlreadyExistsError,
    CalendarDraft,
    CalendarStore,
    EtagMismatchError,
    NotFoundError,
)
from tests.date_service.store.conftest import Clock, StoreFactory

TEAM = CalendarDraft(
    calendar_id="team-berlin",
    display_name="Team Berlin — Feiertage",
    base_calendars=("calendars/DE", "calendars/DE-BE"),
    weekend_days=(5, 6, 7),
    extra_holidays=((date(2026, 12, 24), "Heiligabend"), (date(2026, 12, 31), "Silvester")),
    removed_holidays=(date(2026, 5, 1),),
)


async def test_create_then_get_returns_every_field(store: CalendarStore, clock: Clock) -> None:
    """A created calendar comes back from get exactly as create returned it, at revision 1."""
    created = await store.create(TEAM)
    assert created.draft() == TEAM
    assert created.name == "calendars/team-berlin"
    assert created.revision == 1
    assert created.create_time == created.update_time == clock.now
    assert created.create_time.utcoffset() == timedelta(0)
    assert created.etag == f'"1-{created.uid[:16]}"'
    assert await store.get("team-berlin") == created


async def test_empty_lists_round_trip(store: CalendarStore) -> None:
    """A calendar with no base calendars, weekend days or holidays keeps them empty."""
    bare = CalendarDraft(calendar_id="bare", weekend_days=())
    created = await store.create(bare)
    assert (await store.get("bare")).draft() == bare == created.draft()


async def test_create_refuses_a_taken_id(store: CalendarStore) -> None:
    """A second create with the same id raises AlreadyExistsError and changes nothing."""
    created = await store.create(TEAM)
    with pytest.raises(AlreadyExistsError) as caught:
        await store.create(CalendarDraft(calendar_id="team-berlin", display_name="other"))
    assert caught.value.calendar_id == "team-berlin"
    assert await store.get("team-berlin") == created


async def test_missing_calendar_is_not_found(store: CalendarStore) -> None:
    """Get, update and delete of an id nobody created raise NotFoundError naming it."""
    with pytest.raises(NotFoundError) as caught:
        await store.get("nobody")
    assert caught.value.calendar_id == "nobody"
    with pytest.raises(NotFoundError):
        await store.update(CalendarDraft(calendar_id="nobody"))
    with pytest.raises(NotFoundError):
        await store.update(
            CalendarDraft(calendar_id="nobody"), expected_etag='"1-0000000000000000"'
        )
    with pytest.raises(NotFoundError):
        await store.delete("nobody")
    with pytest.raises(NotFoundError):
        await store.delete("nobody", expected_etag='"1-0000000000000000"')


async def test_list_pages_by_id(store: CalendarStore) -> None:
    """Pages of any size, each after the last id of the one before, give every id in order."""
    # Punctuation and case sort by code point in both stores, whatever the locale.
    ids = ["a", "a-1", "a0", "a_b", "b", "Z", "z9", "zz", "m-m", "m.m", "0", "9-lives"]
    for calendar_id in random.Random(7).sample(ids, len(ids)):
        await store.create(CalendarDraft(calendar_id=calendar_id))
    for page_size in (1, 2, 5, len(ids), 100):
        seen: list[str] = []
        after = ""
        while True:
            page = await store.list(page_size, after)
            assert len(page) <= page_size
            seen += [record.calendar_id for record in page]
            if len(page) < page_size:
                break
            after = page[-1].calendar_id
        assert seen == sorted(ids)
    assert await store.list(3, "zz") == []


async def test_list_returns_full_records(store: CalendarStore) -> None:
    """A listed calendar equals what get returns for it."""
    await store.create(TEAM)
    assert await store.list(10) == [await store.get("team-berlin")]


async def test_list_refuses_a_page_size_below_one(store: CalendarStore) -> None:
    """A page size of 0 is a programming error (the servicer picks the default)."""
    with pytest.raises(ValueError, match="page_size"):
        await store.list(0)


async def test_update_replaces_the_fields_and_moves_the_etag(
    store: CalendarStore, clock: Clock
) -> None:
    """An update stores the new draft at the next revision with a new etag and update time."""
    created = await store.create(TEAM)
    clock.advance(timedelta(minutes=5))
    changed = CalendarDraft(
        calendar_id="team-berlin",
        display_name="Berlin",
        base_calendars=("calendars/DE",),
        weekend_days=(6, 7),
        extra_holidays=((date(2027, 1, 2), "Brückentag"),),
    )
    updated = await store.update(changed, expected_etag=created.etag)
    assert updated.draft() == changed
    assert updated.revision == 2
    assert updated.etag not in ("", created.etag)
    assert updated.create_time == created.create_time
    assert updated.update_time == clock.now
    assert updated.uid == created.uid
    assert await store.get("team-berlin") == updated


async def test_update_time_never_goes_back(store: CalendarStore, clock: Clock) -> None:
    """An update on a clock that went backwards keeps the previous update time."""
    created = await store.create(TEAM)
    clock.advance(timedelta(hours=-1))
    updated = await store.update(TEAM)
    assert updated.update_time == created.update_time


async def test_every_update_changes_the_etag(store: CalendarStore) -> None:
    """Etags of successive revisions, even with the same content, are all different."""
    record = await store.create(TEAM)
    etags = {record.etag}
    for revision in range(2, 7):
        record = await store.update(TEAM, expected_etag=record.etag)
        assert record.revision == revision
        etags.add(record.etag)
    assert len(etags) == 6


async def test_update_with_a_stale_etag_is_refused(store: CalendarStore) -> None:
    """An update that expects an older etag raises EtagMismatchError with the current one."""
    created = await store.create(TEAM)
    current = await store.update(TEAM, expected_etag=created.etag)
    with pytest.raises(EtagMismatchError) as caught:
        await store.update(CalendarDraft(calendar_id="team-berlin"), expected_etag=created.etag)
    assert caught.value.calendar_id == "team-berlin"
    assert caught.value.current_etag == current.etag
    assert await store.get("team-berlin") == current


@pytest.mark.parametrize("etag", ['W/"1-0000000000000000"', "1", '"1"', "nonsense", '"1-zz"'])
async def test_a_foreign_etag_never_matches(store: CalendarStore, etag: str) -> None:
    """An etag this store could not have issued is a mismatch, not a match or a crash."""
    created = await store.create(TEAM)
    with pytest.raises(EtagMismatchError) as caught:
        await store.update(TEAM, expected_etag=etag)
    assert caught.value.current_etag == created.etag
    with pytest.raises(EtagMismatchError):
        await store.delete("team-berlin", expected_etag=etag)
    assert await store.get("team-berlin") == created


@pytest.mark.parametrize("etag", [None, ""])
async def test_update_without_an_etag_is_unconditional(
    store: CalendarStore, etag: str | None
) -> None:
    """An update with no etag (None or empty, as proto3 sends it) always applies."""
    await store.create(TEAM)
    await store.update(TEAM)
    updated = await store.update(CalendarDraft(calendar_id="team-berlin"), expected_etag=etag)
    assert updated.revision == 3
    assert updated.draft() == CalendarDraft(calendar_id="team-berlin")


async def test_delete_checks_the_etag(store: CalendarStore) -> None:
    """A delete that expects a stale etag is refused; one with the current etag deletes."""
    created = await store.create(TEAM)
    updated = await store.update(TEAM)
    with pytest.raises(EtagMismatchError) as caught:
        await store.delete("team-berlin", expected_etag=created.etag)
    assert caught.value.current_etag == updated.etag
    assert await store.get("team-berlin") == updated
    await store.delete("team-berlin", expected_etag=updated.etag)
    with pytest.raises(NotFoundError):
        await store.get("team-berlin")
    assert await store.list(10) == []


async def test_delete_without_an_etag(store: CalendarStore) -> None:
    """A delete without an etag deletes whatever revision is there."""
    await store.create(TEAM)
    await store.update(TEAM)
    await store.delete("team-berlin")
    with pytest.raises(NotFoundError):
        await store.delete("team-berlin")


async def test_a_recreated_calendar_has_new_etags(store: CalendarStore) -> None:
    """A calendar deleted and created again refuses the etag its predecessor had."""
    first = await store.create(TEAM)
    await store.delete("team-berlin")
    second = await store.create(TEAM)
    assert second.revision == first.revision == 1
    assert second.etag != first.etag
    assert second.uid != first.uid
    with pytest.raises(EtagMismatchError):
        await store.update(TEAM, expected_etag=first.etag)


async def test_a_retried_create_returns_the_first_calendar(store: CalendarStore) -> None:
    """A create retried with the same request id returns the first answer and adds nothing."""
    first = await store.create(TEAM, request_id="req-1")
    again = await store.create(TEAM, request_id="req-1")
    assert again == first
    # What the retry asks for does not matter: the request id names the first answer.
    other = await store.create(CalendarDraft(calendar_id="other"), request_id="req-1")
    assert other == first
    assert [record.calendar_id for record in await store.list(10)] == ["team-berlin"]


async def test_request_ids_do_not_stand_for_the_id(store: CalendarStore) -> None:
    """A create with another request id, or none, for a taken id is AlreadyExistsError."""
    await store.create(TEAM, request_id="req-1")
    with pytest.raises(AlreadyExistsError):
        await store.create(TEAM, request_id="req-2")
    with pytest.raises(AlreadyExistsError):
        await store.create(TEAM)
    # A refused create is not remembered: its request id is free for a real one.
    created = await store.create(CalendarDraft(calendar_id="other"), request_id="req-2")
    assert created.calendar_id == "other"


async def test_a_retry_after_a_change_returns_the_first_answer(store: CalendarStore) -> None:
    """A retry after the calendar changed or went returns the first answer, creating nothing."""
    first = await store.create(TEAM, request_id="req-1")
    await store.update(CalendarDraft(calendar_id="team-berlin"))
    assert await store.create(TEAM, request_id="req-1") == first
    await store.delete("team-berlin")
    assert await store.create(TEAM, request_id="req-1") == first
    assert await store.list(10) == []


async def test_request_ids_are_forgotten_after_a_day(store: CalendarStore, clock: Clock) -> None:
    """A request id is remembered for a day; after that a retry is a new create."""
    first = await store.create(TEAM, request_id="req-1")
    clock.advance(timedelta(hours=23))
    assert await store.create(TEAM, request_id="req-1") == first
    clock.advance(timedelta(hours=2))
    # Any create prunes request ids older than a day.
    await store.create(CalendarDraft(calendar_id="later"), request_id="req-2")
    with pytest.raises(AlreadyExistsError):
        await store.create(TEAM, request_id="req-1")


async def test_times_are_utc(store: CalendarStore, clock: Clock) -> None:
    """Times given in another zone come back as the same instants in UTC."""
    clock.now = clock.now.astimezone(timezone(timedelta(hours=5, minutes=30)))
    clock.now = clock.now.replace(microsecond=123456)
    created = await store.create(TEAM)
    fetched = await store.get("team-berlin")
    assert created.create_time == fetched.create_time == clock.now
    assert created.create_time.tzinfo is fetched.create_time.tzinfo is UTC


async def test_two_stores_share_one_database(stores: StoreFactory) -> None:
    """What one store creates the other reads; what the other deletes the first no longer has."""
    first, second = await stores(), await stores()
    created = await first.create(TEAM, request_id="req-1")
    assert await second.get("team-berlin") == created
    # The request id is shared too: a retry that lands on the other replica.
    assert await second.create(TEAM, request_id="req-1") == created
    updated = await second.update(TEAM, expected_etag=created.etag)
    with pytest.raises(EtagMismatchError):
        await first.update(TEAM, expected_etag=created.etag)
    await second.delete("team-berlin", expected_etag=updated.etag)
    with pytest.raises(NotFoundError):
        await first.get("team-berlin")


async def test_concurrent_retries_create_one_calendar(stores: StoreFactory) -> None:
    """Retries of one create racing on two stores all return the same, single calendar."""
    first, second = await stores(), await stores()
    results = await asyncio.gather(
        *(store.create(TEAM, request_id="req-1") for store in (first, second) * 3)
    )
    assert len({result.uid for result in results}) == 1
    assert [record.uid for record in await first.list(10)] == [results[0].uid]


async def test_one_request_id_racing_for_two_ids(stores: StoreFactory) -> None:
    """Two creates of different ids under one request id at once: every answer is the first."""
    first, second = await stores(), await stores()
    results = await asyncio.gather(
        first.create(CalendarDraft(calendar_id="one"), request_id="req-1"),
        second.create(CalendarDraft(calendar_id="two"), request_id="req-1"),
    )
    assert results[0] == results[1]
    assert [record.calendar_id for record in await first.list(10)] == [results[0].calendar_id]
