"""The original design's client, unchanged but for its two URLs, against chrono's services.

``seed_client.py.txt`` is that client byte for byte (kept as text, so that the linters
leave its style alone): a ``requests`` script that asks ``GET /time`` of one service and
``GET /date`` of the other and prints one line for each. The test writes a copy whose
only change is the two URLs, now pointing at a time and a date service's
``--http-port``, and runs it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from date_service.server import SPEC as DATE_SPEC
from tests.chrono_server.helpers import PinnedClock
from tests.http.conftest import PINNED, Served, serving
from tests.servers import with_clock
from time_service.server import SPEC as TIME_SPEC

CLIENT = Path(__file__).with_name("seed_client.py.txt")
TIME_URL = "http://localhost:5001/time"
DATE_URL = "http://localhost:5002/date"


@pytest.fixture
def services() -> Iterator[tuple[Served, Served]]:
    """A time and a date service with HTTP/JSON on, both reading the pinned instant."""
    clock = PinnedClock(PINNED)
    with (
        serving(with_clock(TIME_SPEC, clock)) as time,
        serving(with_clock(DATE_SPEC, clock)) as date,
    ):
        yield time, date


def test_the_original_client_prints_its_two_lines(
    services: tuple[Served, Served], tmp_path: Path
) -> None:
    """With only its URLs changed, the original client prints the time and the date."""
    time, date = services
    original = CLIENT.read_text(encoding="utf-8")
    assert original.count(TIME_URL) == original.count(DATE_URL) == 1
    changed = original.replace(TIME_URL, f"http://127.0.0.1:{time.http_port}/time").replace(
        DATE_URL, f"http://127.0.0.1:{date.http_port}/date"
    )
    differing = [
        (before, after)
        for before, after in zip(original.splitlines(), changed.splitlines(), strict=True)
        if before != after
    ]
    assert len(differing) == 2
    script = tmp_path / "client.py"
    script.write_text(changed, encoding="utf-8")
    finished = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines() == [
        "Current time: 2026-07-03 12:34:56",
        "Current date: 2026-07-03",
    ]
