"""Pages over a sequence the server holds: sizes, and tokens that only it issues.

A token is the offset of the page's first item, base64url-encoded; it is opaque to
callers, and one this server could not have issued is refused.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from chrono_domain.errors import InvalidArgumentError, shorten

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of items and the token of the next one (empty on the last page)."""

    items: Sequence[T]
    next_page_token: str
    total_size: int


def encode_token(offset: int) -> str:
    """The page token for the page that starts at ``offset``."""
    return base64.urlsafe_b64encode(str(offset).encode("ascii")).decode("ascii")


def decode_token(token: str, total: int) -> int:
    """The offset ``token`` stands for; empty is 0. Raises InvalidArgumentError if foreign."""
    if not token:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii"))
    except (ValueError, UnicodeError, binascii.Error):
        offset = -1
    if not 0 < offset < total:
        raise InvalidArgumentError(
            "page_token",
            f"page_token {shorten(token)} was not issued by this server; pass the "
            "next_page_token of a previous response, or empty for the first page",
            "INVALID_PAGE_TOKEN",
        )
    return offset


def page_length(page_size: int, max_page_size: int, default: int | None = None) -> int:
    """The length of a page asked for with ``page_size``: 0 means ``default``.

    ``default`` None means ``max_page_size``; larger values are cut to the maximum, and
    a negative one is refused.
    """
    if default is None:
        default = max_page_size
    if page_size < 0:
        raise InvalidArgumentError(
            "page_size",
            f"page_size must be zero (the default, {default}) or more, not {page_size}",
            "PAGE_SIZE_NEGATIVE",
        )
    return min(page_size or default, max_page_size)


def page(
    items: Sequence[T],
    page_size: int,
    page_token: str,
    max_page_size: int,
    default: int | None = None,
) -> Page[T]:
    """The page of ``items`` that ``page_token`` starts, at most ``page_size`` long.

    ``page_size`` 0 means ``default`` (None: ``max_page_size``); see :func:`page_length`.
    """
    size = page_length(page_size, max_page_size, default)
    start = decode_token(page_token, len(items))
    end = start + size
    return Page(
        items=items[start:end],
        next_page_token=encode_token(end) if end < len(items) else "",
        total_size=len(items),
    )
