"""Where DateService keeps custom calendars: an SQLite file by default, or PostgreSQL.

``open_store(url)`` picks the store from its URL; both implement
:class:`CalendarStore` and raise the errors of :mod:`date_service.store.model`. The
built-in calendars are not stored: they never touch a store, so they keep working
whatever happens to the database.

Without a URL the calendars live in :func:`default_sqlite_path`,
``$XDG_STATE_HOME/chrono/date-service.db`` (``~/.local/state/chrono/date-service.db``
when ``XDG_STATE_HOME`` is unset), whose directory the store creates when it starts.
"""

from __future__ import annotations

import os
from pathlib import Path

from date_service.store.model import (
    AlreadyExistsError,
    CalendarDraft,
    CalendarRecord,
    CalendarStore,
    EtagMismatchError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
)
from date_service.store.sqlite import SqliteStore

__all__ = [
    "AlreadyExistsError",
    "CalendarDraft",
    "CalendarRecord",
    "CalendarStore",
    "EtagMismatchError",
    "NotFoundError",
    "SqliteStore",
    "StoreError",
    "StoreUnavailableError",
    "default_sqlite_path",
    "open_store",
]

ACCEPTED_FORMS = (
    "sqlite:///absolute/path.db, sqlite:relative/path.db, a plain file path, "
    "postgresql://user@host:port/database or postgres://..., "
    "or nothing for the default file"
)


def default_sqlite_path() -> Path:
    """The file custom calendars live in when no store URL is given.

    ``$XDG_STATE_HOME/chrono/date-service.db``; ``XDG_STATE_HOME`` unset, empty or
    relative (which the XDG specification says to ignore) means ``~/.local/state``.
    """
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "chrono" / "date-service.db"


def open_store(url: str = "") -> CalendarStore:
    """The store ``url`` names (not started yet); ValueError lists the accepted forms.

    ``postgresql://...`` or ``postgres://...`` is a PostgreSQL database (any libpq URL);
    ``sqlite:///absolute/path.db``, ``sqlite:relative/path.db`` or a plain path an SQLite
    file; an empty ``url`` the file :func:`default_sqlite_path` names.
    """
    if not url:
        return SqliteStore(default_sqlite_path())
    if url.startswith(("postgresql://", "postgres://")):
        # Imported here, so that a date service on SQLite never loads psycopg.
        from date_service.store.postgres import PostgresStore

        return PostgresStore(url)
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:")
        if path.startswith("//"):
            path = path.removeprefix("//")
            if not path.startswith("/"):
                raise ValueError(
                    f"the store URL {url!r} names a host, which SQLite has none of; "
                    f"accepted forms: {ACCEPTED_FORMS}"
                )
            # sqlite:////abs/path (SQLAlchemy's spelling) is the same file.
            path = "/" + path.lstrip("/")
        if not path:
            raise ValueError(
                f"the store URL {url!r} names no file; accepted forms: {ACCEPTED_FORMS}"
            )
        return SqliteStore(Path(path).expanduser())
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise ValueError(
            f"unknown calendar store {scheme + '://'!r}; accepted forms: {ACCEPTED_FORMS}"
        )
    return SqliteStore(Path(url).expanduser())
