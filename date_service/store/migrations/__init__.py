"""The calendar store's schema, as numbered SQL files applied in order.

Each change is ``NNNN_what.DIALECT.sql`` in this package (``0001_calendars.postgres.sql``
and ``0001_calendars.sqlite.sql``): versions start at 1, leave no gaps, and every dialect
has every version. A store applies those its database lacks when it starts, in one
transaction, and records each in ``schema_migrations``; a file once released is never
edited, only followed by a new one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

DIALECTS = ("postgres", "sqlite")

_FILE = re.compile(r"(?P<version>[0-9]{4})_(?P<name>[a-z0-9_]+)\.(?P<dialect>[a-z]+)\.sql")


@dataclass(frozen=True)
class Migration:
    """One schema change: its version, its short name and its SQL (several statements)."""

    version: int
    name: str
    sql: str


def load(dialect: str) -> tuple[Migration, ...]:
    """The migrations of ``dialect`` ("postgres" or "sqlite"), by version.

    Raises ValueError if a file is misnamed or a version is missing.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    found: list[Migration] = []
    for entry in resources.files(__name__).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE.fullmatch(entry.name)
        if match is None:
            raise ValueError(f"migration file {entry.name!r} is not named NNNN_name.DIALECT.sql")
        if match["dialect"] not in DIALECTS:
            raise ValueError(f"migration file {entry.name!r} is for an unknown dialect")
        if match["dialect"] == dialect:
            sql = entry.read_text(encoding="utf-8")
            found.append(Migration(int(match["version"]), match["name"], sql))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(
            f"{dialect} migrations must be numbered 1, 2, ... without gaps: {versions}"
        )
    return tuple(found)
