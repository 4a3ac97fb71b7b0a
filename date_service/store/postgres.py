"""Custom calendars in PostgreSQL, shared by every replica of the date service.

Calls borrow a connection from a small ``psycopg_pool.AsyncConnectionPool`` and send one
statement each (a create, its request id and the pruning of old ones are one statement
with data-modifying CTEs); only an update or delete that finds nothing to change sends a
second one, to tell a missing calendar from a changed one. Connections run in autocommit,
so no statement costs a BEGIN and a COMMIT besides.

When the database goes away, calls raise :class:`StoreUnavailableError` within
``timeout`` seconds, and the pool reconnects on the first call after it is back: a slot
that fails to connect is given up at once (``reconnect_timeout=0``) rather than retried
on a backoff schedule, so every call that finds no connection starts an attempt of its
own. A pooled connection the server has closed is noticed without a round trip (the
store reads what its socket holds before using it), and the pool is drained.

At start a store applies the migrations its database lacks, under an advisory lock, so
that replicas starting together apply each once. If it cannot connect then, the store
starts anyway (the built-in calendars need no database) with a warning that says why
(libpq tells a refused connection from a wrong password only in its message text), and
the first call that reaches the database applies them.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

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
    make_etag,
    new_record,
    new_uid,
    parse_etag,
    record_from_json,
    record_from_values,
    record_to_json,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
Connection = psycopg.AsyncConnection[TupleRow]

# How long a create's request id is remembered (at least; pruned by later creates).
REQUEST_ID_RETENTION = timedelta(days=1)

# The pg_advisory_xact_lock key replicas take to apply migrations one at a time.
MIGRATION_LOCK = int.from_bytes(b"calendar", "big")

_COLUMNS = (
    "calendar_id, display_name, base_calendars, weekend_days, extra_holidays, "
    "removed_holidays, revision, uid, create_time, update_time"
)

_GET = f"SELECT {_COLUMNS} FROM calendars WHERE calendar_id = %s"
_LIST = f"SELECT {_COLUMNS} FROM calendars WHERE calendar_id > %s ORDER BY calendar_id LIMIT %s"
_CURRENT = "SELECT revision, uid FROM calendars WHERE calendar_id = %s"
_REPLAY = "SELECT response FROM calendar_requests WHERE request_id = %s"

# One statement: replay the answer to an earlier create with this request id, or insert
# the calendar (nothing if its id is taken), remember the answer under the request id,
# and forget request ids older than the retention.
_CREATE = f"""
WITH prior AS (
    SELECT response FROM calendar_requests
    WHERE %(request_id)s::text <> '' AND request_id = %(request_id)s::text
), created AS (
    INSERT INTO calendars ({_COLUMNS})
    SELECT %(calendar_id)s::text, %(display_name)s::text, %(base_calendars)s::jsonb,
        %(weekend_days)s::jsonb, %(extra_holidays)s::jsonb, %(removed_holidays)s::jsonb,
        1, %(uid)s::text, %(now)s, %(now)s
    WHERE NOT EXISTS (SELECT FROM prior)
    ON CONFLICT (calendar_id) DO NOTHING
    RETURNING 1
), remembered AS (
    INSERT INTO calendar_requests (request_id, response, create_time)
    SELECT %(request_id)s::text, %(response)s::jsonb, %(now)s
    FROM created WHERE %(request_id)s::text <> ''
), forgotten AS (
    DELETE FROM calendar_requests WHERE create_time < %(forget_before)s
)
SELECT true, NULL::jsonb FROM created
UNION ALL
SELECT false, response FROM prior
"""

_SET = (
    "UPDATE calendars SET display_name = %(display_name)s, "
    "base_calendars = %(base_calendars)s::jsonb, weekend_days = %(weekend_days)s::jsonb, "
    "extra_holidays = %(extra_holidays)s::jsonb, "
    "removed_holidays = %(removed_holidays)s::jsonb, revision = revision + 1, "
    # Never earlier than the last change, whatever the replicas' clocks say.
    "update_time = GREATEST(update_time, %(now)s) "
    "WHERE calendar_id = %(calendar_id)s"
)
# The compare of compare-and-set: in the same statement as the write, so that of two
# updates that expect the same etag, the second (waiting for the first's row lock)
# finds the revision moved on and changes nothing.
_IF_ETAG = " AND revision = %(revision)s AND left(uid, 16) = %(uid_prefix)s"
_UPDATE = f"{_SET} RETURNING {_COLUMNS}"
_UPDATE_IF = f"{_SET}{_IF_ETAG} RETURNING {_COLUMNS}"
_DELETE = "DELETE FROM calendars WHERE calendar_id = %(calendar_id)s"
_DELETE_IF = f"{_DELETE}{_IF_ETAG}"

_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
    "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
)


# How long a call waits for a connection while the database is known to be down.
_DOWN_WAIT = 0.5


def _record(row: tuple[Any, ...]) -> CalendarRecord:
    calendar_id, display_name, base, weekend, extra, removed, revision, uid, created, updated = row
    return record_from_values(
        calendar_id=calendar_id,
        display_name=display_name,
        base_calendars=base,
        weekend_days=weekend,
        extra_holidays=extra,
        removed_holidays=removed,
        revision=revision,
        uid=uid,
        create_time=created.astimezone(UTC),
        update_time=updated.astimezone(UTC),
    )


def _draft_params(draft: CalendarDraft, now: datetime) -> dict[str, Any]:
    lists = {column: json.dumps(value) for column, value in lists_to_json(draft).items()}
    return {
        "calendar_id": draft.calendar_id,
        "display_name": draft.display_name,
        **lists,
        "now": now,
    }


def _closed_by_server(conn: Connection) -> bool:
    """Whether the server has closed this idle connection; never blocks, no round trip.

    The server's last words (a FATAL notice) may be read first and the end of the
    stream only on the next read: read twice.
    """
    try:
        for _ in range(2):
            conn.pgconn.consume_input()
    except psycopg.OperationalError:
        return True
    return conn.pgconn.status != psycopg.pq.ConnStatus.OK


class PostgresStore:
    """Custom calendars in the PostgreSQL database at ``url`` (``postgresql://...``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        min_size: int = 1,
        max_size: int = 4,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Connect to ``url`` with up to ``max_size`` connections, ``min_size`` kept open.

        A call waits at most ``timeout`` seconds for a connection (and a connection
        attempt as long) before it raises StoreUnavailableError. ``clock`` returns the
        current instant, for create and update times. Raises ValueError for a URL that
        is not a PostgreSQL connection string.
        """
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise ValueError(f"not a PostgreSQL URL: {error}") from None
        host = str(params.get("host") or params.get("hostaddr") or "localhost")
        self.where = f"{host}:{params.get('port') or 5432}/{params.get('dbname') or ''}"
        self.name = f"calendar store (PostgreSQL {self.where})"
        self._url = url
        self._secret = str(params.get("password") or "")
        self._timeout = timeout
        self._min_size = min_size
        self._max_size = max_size
        self._clock = clock
        # Settings the URL gives win; libpq counts connect_timeout in whole seconds, >= 2.
        self._connect_kwargs: dict[str, Any] = {
            "connect_timeout": max(2, round(timeout)),
            # Unacknowledged data (a database gone without a word) fails the call.
            "tcp_user_timeout": int(timeout * 1000),
        }
        for key in list(self._connect_kwargs):
            if key in params:
                del self._connect_kwargs[key]
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._migrated = False
        self._migrating = asyncio.Lock()
        # Set while the database is unreachable: calls then wait only briefly, so that a
        # client's retries end within its deadline with UNAVAILABLE, not DEADLINE_EXCEEDED.
        self._down = False

    async def start(self) -> None:
        """Apply the migrations the database lacks (later, if it is unreachable); open the pool."""
        try:
            async with await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, **self._connect_kwargs
            ) as conn:
                await self._migrate(conn)
        except psycopg.OperationalError as error:
            logger.warning(
                "%s; custom calendars answer UNAVAILABLE until it can be reached",
                self._describe(error),
            )
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self._url,
            kwargs={"autocommit": True, **self._connect_kwargs},
            min_size=self._min_size,
            max_size=self._max_size,
            open=False,
            timeout=self._timeout,
            reconnect_timeout=0,
            name="calendar store",
        )
        # The pool logs every failed attempt (several per call while the database is
        # down); the store says once that it is down and once that it is back.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
        await pool.open(wait=False)
        self._pool = pool

    async def stop(self) -> None:
        """Close every connection."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def create(self, draft: CalendarDraft, request_id: str = "") -> CalendarRecord:
        """Store revision 1 of ``draft`` (see :class:`~date_service.store.CalendarStore`)."""
        now = self._clock()
        record = new_record(draft, new_uid(), now)
        params = {
            **_draft_params(draft, now),
            "uid": record.uid,
            "request_id": request_id,
            "response": record_to_json(record),
            "forget_before": now - REQUEST_ID_RETENTION,
        }

        async def create(conn: Connection) -> CalendarRecord:
            try:
                rows = await (await conn.execute(_CREATE, params)).fetchall()
            except pg_errors.UniqueViolation:
                # A create with the same request id committed first.
                rows = []
            if rows:
                created, response = rows[0]
                return record if created else record_from_json(response)
            # The id is taken, perhaps by a retry of this create that committed while
            # this one waited for it.
            if request_id:
                replay = await (await conn.execute(_REPLAY, (request_id,))).fetchall()
                if replay:
                    return record_from_json(replay[0][0])
            raise AlreadyExistsError(draft.calendar_id)

        return await self._run(create)

    async def get(self, calendar_id: str) -> CalendarRecord:
        """The calendar ``calendar_id``; NotFoundError if there is none."""

        async def get(conn: Connection) -> CalendarRecord:
            rows = await (await conn.execute(_GET, (calendar_id,))).fetchall()
            if not rows:
                raise NotFoundError(calendar_id)
            return _record(rows[0])

        return await self._run(get)

    async def list(self, page_size: int, after_id: str = "") -> builtins.list[CalendarRecord]:
        """Up to ``page_size`` calendars whose ids sort after ``after_id``, by id."""
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")

        async def page(conn: Connection) -> builtins.list[CalendarRecord]:
            rows = await (await conn.execute(_LIST, (after_id, page_size))).fetchall()
            return [_record(row) for row in rows]

        return await self._run(page)

    async def update(
        self, draft: CalendarDraft, expected_etag: str | None = None
    ) -> CalendarRecord:
        """Replace the calendar with ``draft`` if its etag is ``expected_etag`` (when given)."""
        params = _draft_params(draft, self._clock())

        async def update(conn: Connection) -> CalendarRecord:
            query = self._compare(params, expected_etag, _UPDATE, _UPDATE_IF)
            if query is not None:
                rows = await (await conn.execute(query, params)).fetchall()
                if rows:
                    return _record(rows[0])
            raise await self._refusal(conn, draft.calendar_id, expected_etag)

        return await self._run(update)

    async def delete(self, calendar_id: str, expected_etag: str | None = None) -> None:
        """Delete the calendar if its etag is ``expected_etag`` (when given)."""
        params: dict[str, Any] = {"calendar_id": calendar_id}

        async def delete(conn: Connection) -> None:
            query = self._compare(params, expected_etag, _DELETE, _DELETE_IF)
            if query is not None and (await conn.execute(query, params)).rowcount:
                return
            raise await self._refusal(conn, calendar_id, expected_etag)

        await self._run(delete)

    @staticmethod
    def _compare(
        params: dict[str, Any], expected_etag: str | None, plain: str, conditional: str
    ) -> str | None:
        """The statement to run (adding the etag's parts to ``params``); None if none can match."""
        if not expected_etag:
            return plain
        parsed = parse_etag(expected_etag)
        if parsed is None:
            return None
        params["revision"], params["uid_prefix"] = parsed
        return conditional

    @staticmethod
    async def _refusal(
        conn: Connection, calendar_id: str, expected_etag: str | None
    ) -> NotFoundError | EtagMismatchError:
        """Why a write that expected ``expected_etag`` changed nothing."""
        rows = await (await conn.execute(_CURRENT, (calendar_id,))).fetchall()
        if not rows or not expected_etag:
            return NotFoundError(calendar_id)
        revision, uid = rows[0]
        return EtagMismatchError(calendar_id, make_etag(revision, uid))

    async def _run(self, operation: Callable[[Connection], Awaitable[T]]) -> T:
        pool = self._pool
        if pool is None:
            raise StoreUnavailableError(f"the {self.name} is not running")
        wait = min(self._timeout, _DOWN_WAIT) if self._down else self._timeout
        deadline = time.monotonic() + wait
        try:
            while True:
                async with pool.connection(timeout=deadline - time.monotonic()) as conn:
                    if _closed_by_server(conn):
                        # The server restarted (or dropped idle connections), which
                        # closed the other idle ones too: replace them all now, rather
                        # than through the pool's check, which waits longer after each.
                        await pool.drain()
                        continue
                    if not self._migrated:
                        async with self._migrating:
                            if not self._migrated:
                                await self._migrate(conn)
                    answer = await operation(conn)
                    if self._down:
                        self._down = False
                        logger.info("the calendar database at %s is reachable again", self.where)
                    return answer
        except (psycopg.OperationalError, PoolTimeout) as error:
            description = self._describe(error, wait)
            if not self._down:
                self._down = True
                logger.warning(
                    "%s; custom calendars answer UNAVAILABLE until it is back", description
                )
            raise StoreUnavailableError(description) from error

    async def _migrate(self, conn: Connection) -> None:
        known = migrations.load("postgres")
        async with conn.transaction():
            # Replicas starting together wait here for each other; the lock goes with
            # the transaction, also when the connection drops.
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(_MIGRATIONS_TABLE)
            cursor = await conn.execute("SELECT version FROM schema_migrations")
            applied = {row[0] for row in await cursor.fetchall()}
            for migration in known:
                if migration.version in applied:
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
                logger.info(
                    "applied migration %04d_%s to %s", migration.version, migration.name, self.where
                )
        newer = sorted(applied - {migration.version for migration in known})
        if newer:
            logger.warning(
                "%s has schema versions %s that this version does not know; carrying on",
                self.where,
                newer,
            )
        self._migrated = True

    def _describe(self, error: Exception, wait: float | None = None) -> str:
        """What went wrong, naming the database but never its password."""
        if isinstance(error, PoolTimeout):
            reason = f"no connection within {wait or self._timeout:g} s"
        else:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        if self._secret:
            reason = reason.replace(self._secret, "***")
        return f"the calendar database at {self.where} is unavailable: {reason}"
