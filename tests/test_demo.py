"""The README's quick start: scripts/demo runs both services end to end and stops them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "scripts" / "demo"


def test_demo_calls_both_services_and_stops_them_cleanly() -> None:
    """scripts/demo prints the time and date lines, grpcurl answers, and both servers exit 0."""
    result = subprocess.run(
        [str(DEMO)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^Current time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", out, flags=re.MULTILINE)
    assert re.search(r"^Current date: \d{4}-\d\d-\d\d$", out, flags=re.MULTILINE)
    assert '"abbreviation": "+0545"' in out
    assert '"status": "SERVING"' in out
    assert "received SIGTERM; shutting down" in out
    assert "demo: both services drained and exited 0" in out
