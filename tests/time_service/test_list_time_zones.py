"""ListTimeZones: every zone of the pinned tzdata package, in order, in pages."""

from __future__ import annotations

import base64

import grpc
import pytest
import tzdata

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from tests.chrono_server.helpers import assert_invalid_argument, package_zone_names, rich_error

ALL_NAMES = sorted(package_zone_names())


def test_default_page_holds_every_zone(pinned_stub: pb_grpc.TimeServiceStub) -> None:
    """An empty request returns all zone names, sorted, with the package's IANA version."""
    response = pinned_stub.ListTimeZones(pb.ListTimeZonesRequest(), timeout=5)
    assert list(response.time_zones) == ALL_NAMES
    assert response.next_page_token == ""
    assert response.tzdata_version == tzdata.IANA_VERSION
    assert response.total_size == len(ALL_NAMES)
    assert {"UTC", "Asia/Kathmandu", "US/Eastern", "Europe/Kiev"} <= set(response.time_zones)
    assert not {"localtime", "posixrules", "right/UTC", "posix/UTC"} & set(response.time_zones)


@pytest.mark.parametrize("page_size", [1, 7, 100, len(ALL_NAMES) - 1, len(ALL_NAMES), 5000])
def test_pages_walk_every_name_once_in_order(
    pinned_stub: pb_grpc.TimeServiceStub, page_size: int
) -> None:
    """Following next_page_token yields each name exactly once, in order, in full pages."""
    names: list[str] = []
    token = ""
    pages = 0
    while True:
        response = pinned_stub.ListTimeZones(
            pb.ListTimeZonesRequest(page_size=page_size, page_token=token), timeout=5
        )
        pages += 1
        assert response.total_size == len(ALL_NAMES)
        assert response.tzdata_version == tzdata.IANA_VERSION
        assert 1 <= len(response.time_zones) <= page_size
        names.extend(response.time_zones)
        token = response.next_page_token
        if not token:
            break
        assert len(response.time_zones) == page_size
    assert names == ALL_NAMES
    assert pages == -(-len(ALL_NAMES) // min(page_size, 1000))


def encoded(text: str) -> str:
    """``text`` encoded the way the server encodes its page tokens' offsets."""
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not a token",
        "%%%%",
        "é",
        encoded("0"),
        encoded("-1"),
        encoded(str(len(ALL_NAMES))),
        encoded("99999999999999999999"),
        encoded("seven"),
        "x" * 3_000,
    ],
    ids=[
        "garbage",
        "symbols",
        "non-ascii",
        "offset-zero",
        "negative-offset",
        "offset-at-end",
        "huge-offset",
        "not-a-number",
        "3000-characters",
    ],
)
def test_foreign_page_token_is_invalid_argument(
    pinned_stub: pb_grpc.TimeServiceStub, token: str
) -> None:
    """A page_token the server never issued fails with a BadRequest naming page_token."""
    with pytest.raises(grpc.RpcError) as failure:
        pinned_stub.ListTimeZones(pb.ListTimeZonesRequest(page_token=token), timeout=5)
    assert_invalid_argument(rich_error(failure.value), "page_token", "INVALID_PAGE_TOKEN")


@pytest.mark.parametrize("page_size", [-1, -(2**31)])
def test_negative_page_size_is_invalid_argument(
    pinned_stub: pb_grpc.TimeServiceStub, page_size: int
) -> None:
    """A negative page_size fails with a BadRequest naming page_size."""
    with pytest.raises(grpc.RpcError) as failure:
        pinned_stub.ListTimeZones(pb.ListTimeZonesRequest(page_size=page_size), timeout=5)
    error = rich_error(failure.value)
    assert_invalid_argument(error, "page_size", "PAGE_SIZE_NEGATIVE")
    assert str(page_size) in error.message
