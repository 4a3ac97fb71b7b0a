"""Pages and page tokens: every item exactly once, foreign tokens refused."""

from __future__ import annotations

import pytest

from chrono_domain import paging
from chrono_domain.errors import InvalidArgumentError

ITEMS = [f"item-{n}" for n in range(23)]


@pytest.mark.parametrize("page_size", [1, 2, 5, 22, 23, 24, 0])
def test_following_tokens_yields_every_item_once(page_size: int) -> None:
    """Page after page, following next_page_token, returns each item once, in order."""
    seen: list[str] = []
    token = ""
    while True:
        found = paging.page(ITEMS, page_size, token, max_page_size=10)
        assert len(found.items) <= min(page_size or 10, 10)
        assert found.total_size == len(ITEMS)
        seen.extend(found.items)
        token = found.next_page_token
        if not token:
            break
    assert seen == ITEMS


@pytest.mark.parametrize("token", ["garbage", "MA==", "LTE=", "MjM=", "OTk5", "é"])
def test_tokens_this_server_did_not_issue_are_refused(token: str) -> None:
    """A token that does not decode to an offset inside the sequence names page_token."""
    with pytest.raises(InvalidArgumentError) as failure:
        paging.page(ITEMS, 5, token, max_page_size=10)
    assert (failure.value.field, failure.value.reason) == ("page_token", "INVALID_PAGE_TOKEN")


def test_negative_page_size_is_refused() -> None:
    """A negative page_size is INVALID_ARGUMENT naming page_size."""
    with pytest.raises(InvalidArgumentError) as failure:
        paging.page(ITEMS, -1, "", max_page_size=10)
    assert (failure.value.field, failure.value.reason) == ("page_size", "PAGE_SIZE_NEGATIVE")
