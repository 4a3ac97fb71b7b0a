"""``python -m time_service`` and the ``time-service`` command."""

from __future__ import annotations

import sys

from chrono_server.app import run
from time_service.server import SPEC


def main() -> int:
    """Run the TimeService server until SIGTERM or SIGINT."""
    return run(SPEC)


if __name__ == "__main__":
    sys.exit(main())
