"""Custom calendars in one SQLite file: the store a single date-service needs nothing for.

The file is opened by one dedicated worker thread that owns the connection and runs every
call in turn, so calls never block the event loop and never race within a process. The
journal is a write-ahead log, so reads do not wait for a writer; every write is one
``BEGIN IMMEDIATE`` transaction, so that several processes sharing the file (each
waiting up to ``busy_timeout`` for the write lock) still compare-and-set atomically.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from chrono_domain.clock import utc_now
from date_service.store import migrations
from date_service.store.model import (
    AlreadyExistsError,
    CalendarDraft,
    CalendarRecord,
    EtagMismatchError,
    NotFoundError,
    StoreUnavailableError,
    lists_to_json,
    new_record,
    new_uid,
    record_from_json,
    record_from_values,
    record_to_json,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long a create's request id is remembered (at least; pruned by later creates).
REQUEST_ID_RETENTION = timedelta(days=1)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_COLUMNS = (
    "calendar_id, display_name, base_calendars, weekend_days, extra_holidays, "
    "removed_holidays, revision, uid, create_time, update_time"
)
_LISTS = ("base_calendars", "weekend_days", "extra_holidays", "removed_holidays")


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros: int) -> datetime:
    return _EPOCH + micros * _MICROSECOND


def _record(row: tuple[Any, ...]) -> CalendarRecord:
    calendar_id, display_name, base, weekend, extra, removed, revision, uid, created, updated = row
    return record_from_values(
        calendar_id=calendar_id,
        display_name=display_name,
        base_calendars=json.loads(base),
        weekend_days=json.loads(weekend),
        extra_holidays=json.loads(extra),
        removed_holidays=json.loads(removed),
        revision=revision,
        uid=uid,
        create_time=_moment(created),
        update_time=_moment(updated),
    )


def _lists(draft: CalendarDraft) -> tuple[str, ...]:
    values = lists_to_json(draft)
    return tuple(json.dumps(values[column]) for column in _LISTS)


def split_statements(sql: str) -> list[str]:
    """The statements of a migration file, which sqlite3 runs one ``execute`` at a time.

    (``executescript`` would commit the migration's transaction first.)
    """
    statements, pending = [], ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    leftover = "".join(
        line for line in pending.splitlines() if not line.strip().startswith("--")
    ).strip()
    if leftover:
        raise ValueError(f"migration ends in an unfinished statement: {leftover[:60]!r}")
    return statements


class SqliteStore:
    """Custom calendars in the SQLite file ``path`` (created, with its directory, at start)."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout: float = 5.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Keep calendars in ``path``; wait up to ``busy_timeout`` s for another writer.

        ``clock`` returns the current instant, for create and update times.
        """
        self.path = str(path)
        self.name = f"calendar store (SQLite {self.path})"
        self._busy_timeout = busy_timeout
        self._clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def start(self) -> None:
        """Open the file (WAL mode) and apply the migrations it lacks."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calendar-store")
        self._executor = executor
        try:
            await self._call(self._open)
        except BaseException:
            self._executor = None
            await asyncio.to_thread(executor.shutdown)
            raise

    async def stop(self) -> None:
        """Close the file once the calls already queued have run."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        await asyncio.get_running_loop().run_in_executor(executor, self._close)
        await asyncio.to_thread(executor.shutdown)

    async def create(self, draft: CalendarDraft, request_id: str = "") -> CalendarRecord:
        """Store revision 1 of ``draft`` (see :class:`~date_service.store.CalendarStore`)."""
        return await self._call(self._create, draft, request_id, self._clock(), new_uid())

    async def get(self, calendar_id: str) -> CalendarRecord:
        """The calendar ``calendar_id``; NotFoundError if there is none."""
        return await self._call(self._get, calendar_id)

    async def list(self, page_size: int, after_id: str = "") -> builtins.list[CalendarRecord]:
        """Up to ``page_size`` calendars whose ids sort after ``after_id``, by id."""
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        return await self._call(self._list, page_size, after_id)

    async def update(
        self, draft: CalendarDraft, expected_etag: str | None = None
    ) -> CalendarRecord:
        """Replace the calendar with ``draft`` if its etag is ``expected_etag`` (when given)."""
        return await self._call(self._update, draft, expected_etag, self._clock())

    async def delete(self, calendar_id: str, expected_etag: str | None = None) -> None:
        """Delete the calendar if its etag is ``expected_etag`` (when given)."""
        await self._call(self._delete, calendar_id, expected_etag)

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        executor = self._executor
        if executor is None:
            raise StoreUnavailableError(f"the {self.name} is not running")
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, function, *args)
        except sqlite3.OperationalError as error:
            # "database is locked" after busy_timeout, a full disk, an unreadable file.
            raise StoreUnavailableError(
                f"the calendar database {self.path} is unavailable: {error}"
            ) from error

    # Everything below runs on the store's own thread.

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailableError(f"the {self.name} is not running")
        return self._conn

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: the store opens its transactions itself, BEGIN IMMEDIATE for writes.
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
            self._use_wal(conn)
            self._conn = conn
            self._migrate()
        except BaseException:
            self._conn = None
            conn.close()
            raise

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        # Turning a new file to WAL while another connection opens it answers SQLITE_BUSY
        # at once, without the busy handler: wait for it here, as the handler would.
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorname != "SQLITE_BUSY" or time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        known = migrations.load("sqlite")
        with self._write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
            )
            applied = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            for migration in known:
                if migration.version in applied:
                    continue
                for statement in split_statements(migration.sql):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, _micros(self._clock())),
                )
                logger.info(
                    "applied migration %04d_%s to %s", migration.version, migration.name, self.path
                )
        newer = sorted(applied - {migration.version for migration in known})
        if newer:
            logger.warning(
                "%s has schema versions %s that this version does not know; carrying on",
                self.path,
                newer,
            )

    def _create(
        self, draft: CalendarDraft, request_id: str, now: datetime, uid: str
    ) -> CalendarRecord:
        record = new_record(draft, uid, now)
        with self._write() as db:
            if request_id:
                rows = db.execute(
                    "SELECT response FROM calendar_requests WHERE request_id = ?", (request_id,)
                ).fetchall()
                if rows:
                    return record_from_json(rows[0][0])
            inserted = db.execute(
                f"INSERT INTO calendars ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (calendar_id) DO NOTHING",
                (
                    draft.calendar_id,
                    draft.display_name,
                    *_lists(draft),
                    record.revision,
                    uid,
                    _micros(now),
                    _micros(now),
                ),
            )
            if inserted.rowcount == 0:
                raise AlreadyExistsError(draft.calendar_id)
            if request_id:
                db.execute(
                    "INSERT INTO calendar_requests (request_id, response, create_time) "
                    "VALUES (?, ?, ?)",
                    (request_id, record_to_json(record), _micros(now)),
                )
            db.execute(
                "DELETE FROM calendar_requests WHERE create_time < ?",
                (_micros(now - REQUEST_ID_RETENTION),),
            )
        return record

    def _find(self, db: sqlite3.Connection, calendar_id: str) -> CalendarRecord:
        # fetchall, not fetchone: a statement left unfinished would keep COMMIT from running.
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM calendars WHERE calendar_id = ?", (calendar_id,)
        ).fetchall()
        if not rows:
            raise NotFoundError(calendar_id)
        return _record(rows[0])

    def _get(self, calendar_id: str) -> CalendarRecord:
        return self._find(self._db, calendar_id)

    def _list(self, page_size: int, after_id: str) -> builtins.list[CalendarRecord]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM calendars WHERE calendar_id > ? ORDER BY calendar_id LIMIT ?",
            (after_id, page_size),
        ).fetchall()
        return [_record(row) for row in rows]

    def _update(
        self, draft: CalendarDraft, expected_etag: str | None, now: datetime
    ) -> CalendarRecord:
        with self._write() as db:
            current = self._find(db, draft.calendar_id)
            if expected_etag and expected_etag != current.etag:
                raise EtagMismatchError(draft.calendar_id, current.etag)
            rows = db.execute(
                "UPDATE calendars SET display_name = ?, base_calendars = ?, weekend_days = ?, "
                "extra_holidays = ?, removed_holidays = ?, revision = revision + 1, "
                # Never earlier than the last change, whatever the clock did since.
                "update_time = max(update_time, ?) "
                f"WHERE calendar_id = ? RETURNING {_COLUMNS}",
                (draft.display_name, *_lists(draft), _micros(now), draft.calendar_id),
            ).fetchall()
        return _record(rows[0])

    def _delete(self, calendar_id: str, expected_etag: str | None) -> None:
        with self._write() as db:
            current = self._find(db, calendar_id)
            if expected_etag and expected_etag != current.etag:
                raise EtagMismatchError(calendar_id, current.etag)
            db.execute("DELETE FROM calendars WHERE calendar_id = ?", (calendar_id,))
