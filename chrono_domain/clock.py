"""The clock the servicers read; tests pass their own instead."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current instant, as an aware UTC datetime."""
    return datetime.now(UTC)
