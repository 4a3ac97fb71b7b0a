"""Choosing a store from its URL, and where the default file lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from date_service.store import SqliteStore, default_sqlite_path, migrations, open_store
from date_service.store.postgres import PostgresStore


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/lib/chrono/calendars.db", "/var/lib/chrono/calendars.db"),
        ("sqlite:////var/lib/chrono/calendars.db", "/var/lib/chrono/calendars.db"),
        ("sqlite:calendars.db", "calendars.db"),
        ("sqlite:state/calendars.db", "state/calendars.db"),
        ("/srv/calendars.db", "/srv/calendars.db"),
        ("calendars.db", "calendars.db"),
        ("./data/calendars.db", "data/calendars.db"),
    ],
)
def test_sqlite_urls_and_paths(url: str, path: str) -> None:
    """An sqlite: URL or a plain path opens an SQLite store on that file."""
    store = open_store(url)
    assert isinstance(store, SqliteStore)
    assert store.path == path


def test_a_home_relative_path_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A path that starts with ~ is under the home directory."""
    monkeypatch.setenv("HOME", str(tmp_path))
    store = open_store("~/calendars.db")
    assert isinstance(store, SqliteStore)
    assert store.path == str(tmp_path / "calendars.db")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://chrono@db.internal:6432/calendars",
        "postgres://chrono:hunter2@db.internal:6432/calendars?sslmode=require",
    ],
)
def test_postgres_urls(url: str) -> None:
    """postgresql:// and postgres:// open a PostgreSQL store, named by host, port and database."""
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    assert store.name == "calendar store (PostgreSQL db.internal:6432/calendars)"
    assert "hunter2" not in store.name


@pytest.mark.parametrize(
    "url", ["mysql://db/calendars", "http://example.com/x.db", "sqlite://host/x.db", "sqlite:"]
)
def test_other_urls_are_refused_with_the_accepted_forms(url: str) -> None:
    """A URL no store understands is a ValueError that lists the forms that work."""
    with pytest.raises(ValueError, match=r"accepted forms: sqlite:///absolute/path\.db") as caught:
        open_store(url)
    assert "postgresql://" in str(caught.value)


def test_the_default_path_follows_xdg_state_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """XDG_STATE_HOME, when absolute, holds chrono/date-service.db."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_sqlite_path() == tmp_path / "state" / "chrono" / "date-service.db"


@pytest.mark.parametrize("value", [None, "", "relative/state"])
def test_the_default_path_falls_back_to_local_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str | None
) -> None:
    """Without a usable XDG_STATE_HOME the file is ~/.local/state/chrono/date-service.db."""
    monkeypatch.setenv("HOME", str(tmp_path))
    if value is None:
        monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_STATE_HOME", value)
    assert default_sqlite_path() == tmp_path / ".local" / "state" / "chrono" / "date-service.db"


async def test_no_url_means_the_default_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty URL opens the default file, whose directory the start creates."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    store = open_store("")
    await store.start()
    try:
        await store.list(1)
    finally:
        await store.stop()
    assert (tmp_path / "state" / "chrono" / "date-service.db").is_file()


def test_both_dialects_have_the_same_migrations() -> None:
    """Every schema version exists for SQLite and for PostgreSQL, under the same name."""
    sqlite = [(m.version, m.name) for m in migrations.load("sqlite")]
    postgres = [(m.version, m.name) for m in migrations.load("postgres")]
    assert sqlite == postgres
    assert sqlite[0] == (1, "calendars")


def test_an_unknown_dialect_is_refused() -> None:
    """Loading the migrations of a dialect the store does not have is a ValueError."""
    with pytest.raises(ValueError, match="unknown dialect"):
        migrations.load("oracle")
