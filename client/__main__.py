"""The entry point of the ``chrono`` command and of ``python -m client``; see :mod:`client.cli`."""

from __future__ import annotations

import os
import sys

# grpc's C core logs to stderr at INFO from the moment it loads: a failed TLS handshake
# adds lines of its own to chrono's one-line error, one per attempt. It reads this
# variable only then; a value the caller set wins. -v does not bring them back: set
# GRPC_VERBOSITY=INFO for that.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

# Only now: grpc loads with the command.
from client.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
