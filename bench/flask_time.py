"""The original design doc's time service in Flask, kept as it was, as a baseline.

GET /time answers ``{"time": "YYYY-MM-DD HH:MM:SS"}`` (the machine's local time). Fixed
only so that it runs: the design's code used ``datetime`` without importing it. It
listens on 127.0.0.1 rather than the design's 0.0.0.0, since benchmarks stay on the
loopback.

- Flask's development server: ``python -m bench.flask_time --port 0``
- gunicorn: ``gunicorn -w 2 -b 127.0.0.1:0 bench.flask_time:app``
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import NoReturn

from flask import Flask, Response, jsonify

app = Flask(__name__)


@app.route("/time", methods=["GET"])
def get_time() -> Response:
    """The local time, formatted as the design doc did."""
    return jsonify({"time": datetime.now().strftime("%Y-%m-%d %H:%M:%S")})


def _exit(signum: int, frame: object) -> NoReturn:
    # The dev server knows only Ctrl-C; leave on SIGTERM with status 0 as well.
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the Flask development server (threaded, as ``app.run`` is by default)."""
    parser = argparse.ArgumentParser(prog="flask_time", description=__doc__)
    parser.add_argument("--port", type=int, default=5001, help="0 picks a free port")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit)
    app.run(host="127.0.0.1", port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
