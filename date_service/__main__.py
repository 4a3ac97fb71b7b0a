"""``python -m date_service`` and the ``date-service`` command."""

from __future__ import annotations

import sys

from chrono_server.main import main as run
from date_service import ENTRY


def main() -> int:
    """Run the DateService server until SIGTERM or SIGINT."""
    return run(ENTRY)


if __name__ == "__main__":
    sys.exit(main())
