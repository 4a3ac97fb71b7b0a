"""``python -m time_service`` and the ``time-service`` command."""

from __future__ import annotations

import sys

from chrono_server.main import main as run
from time_service import ENTRY


def main() -> int:
    """Run the TimeService server until SIGTERM or SIGINT."""
    return run(ENTRY)


if __name__ == "__main__":
    sys.exit(main())
