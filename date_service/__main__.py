"""``python -m date_service`` and the ``date-service`` command."""

from __future__ import annotations

import sys

from chrono_server.app import run
from date_service.server import SPEC


def main() -> int:
    """Run the DateService server until SIGTERM or SIGINT."""
    return run(SPEC)


if __name__ == "__main__":
    sys.exit(main())
