"""argparse types for the values subcommands take: dates, civil times, offsets, choices."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import TypeVar

T = TypeVar("T")

_OFFSET = re.compile(r"^([+-])(\d{1,2}):?(\d{2})$")


def iso_date(text: str) -> date:
    """``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def moment(text: str) -> datetime:
    """``YYYY-MM-DD HH:MM[:SS]`` (civil, naive) or with ``Z``/an offset (an instant)."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither 'YYYY-MM-DD HH:MM:SS' nor an instant such as "
            "'2026-03-29T01:30:00Z'"
        ) from None


def instant(text: str) -> datetime:
    """A date (midnight UTC) or an instant with ``Z`` or an offset."""
    value = moment(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} names no instant: add Z or an offset, e.g. '{text}Z'"
        )
    return value


def day_or_instant(text: str) -> datetime:
    """``YYYY-MM-DD`` as its midnight UTC, or an instant."""
    if len(text) == 10:
        return instant(f"{text}T00:00:00Z")
    return instant(text)


def utc_offset(text: str) -> timedelta | None:
    """``+05:30``, ``-0800``: a fixed offset; None when ``text`` is not one."""
    match = _OFFSET.match(text)
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    value = timedelta(hours=int(hours), minutes=int(minutes))
    return -value if sign == "-" else value


def choice(table: Mapping[str, T]) -> Callable[[str], T]:
    """A type accepting the keys of ``table`` (any case, ``_`` or ``-``)."""

    def convert(text: str) -> T:
        key = text.lower().replace("_", "-")
        if key not in table:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(sorted(table))}")
        return table[key]

    return convert


def signed(text: str) -> int:
    """An integer that may be negative (``-3``), within int32."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not -(2**31) <= value < 2**31:
        raise argparse.ArgumentTypeError(f"{text} is out of range")
    return value


def format_seconds(value: timedelta) -> str:
    """A duration as a signed ``+HH:MM`` offset (with seconds when it has them)."""
    total = int(value.total_seconds())
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
