"""The flags only the date service has: where custom calendars live, and who may write."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from chrono_server.config import readable_file
from chrono_server.spec import option


def _database(text: str) -> str:
    if not text.startswith(("sqlite:", "postgresql://", "postgres://")):
        raise argparse.ArgumentTypeError(
            f"database {text!r} must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
        )
    return text


def _identities(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("write client ids must name at least one identity")
    return names


@dataclass(frozen=True)
class DateOptions:
    """The date service's own settings, beside the shared server's."""

    database: str | None = option(
        None,
        _database,
        "URL",
        "where custom calendars are stored: sqlite:///PATH (default: "
        "$XDG_STATE_HOME/chrono/date-service.db) or postgresql://... shared by replicas",
    )
    write_token_file: Path | None = option(
        None,
        readable_file("write token file"),
        "FILE",
        "bearer tokens (one per line) that may create, update and delete calendars",
    )
    write_client_ids: tuple[str, ...] = option(
        (),
        _identities,
        "NAMES",
        "mTLS client certificate names (CN or SAN, comma-separated) that may write",
    )
