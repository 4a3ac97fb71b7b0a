"""The ``chrono`` command (also ``python -m client``): the time and date from the services.

Usage::

    chrono [OPTIONS]              "Current time: YYYY-MM-DD HH:MM:SS" and "Current date: YYYY-MM-DD"
    chrono [OPTIONS] time         the time line alone
    chrono [OPTIONS] date         the date line alone
    chrono [OPTIONS] watch [--interval SECONDS] [--count N] [--no-reconnect]
                                  a time line per update (default every 1 s, until Ctrl-C);
                                  the watch carries on across a server restart unless
                                  --no-reconnect
    chrono [OPTIONS] zones        every zone name the time service knows, one per line
    chrono [OPTIONS] health [time|date]
                                  "time-service TARGET: SERVING" per service (default both)

Options go before or after the command: ``--tz ZONE`` (default: this machine's zone,
from TZ or the system setting; UTC if none is found), ``--json`` (each response as one
line of proto3 JSON; for ``zones`` one object with ``tzdataVersion``; for ``health`` one
object per service), ``--time-target`` and ``--date-target`` (env TIME_SERVICE_TARGET and
DATE_SERVICE_TARGET; default 127.0.0.1:50051 and 127.0.0.1:50052; a gRPC target or a
comma-separated list of ``host:port``), ``--timeout SECONDS`` (default 5: the deadline of
each call, and for ``watch`` the longest wait for the first update of a stream),
``--ca FILE``, ``--cert FILE`` and ``--key FILE`` (env CHRONO_CA, CHRONO_CERT, CHRONO_KEY:
TLS to both services, verified against the CA in ``--ca``, with a client certificate for
mutual TLS), ``-v``.

Exit statuses:

- 0: done; for ``health``, every service checked is SERVING.
- 1: a service could not be reached, did not answer in time, or failed; for ``health``,
  a service is not SERVING or did not answer.
- 2: bad input: a usage error, an unusable target or TLS file, a value the service
  refused (INVALID_ARGUMENT), such as an unknown ``--tz``, or a request too large for it.
- 130: interrupted (Ctrl-C).
- 141: the reader of the output went away (``chrono zones | head``).

Errors are one line on stderr starting with ``chrono: ``.

Layout: :mod:`.parser` builds the parser from the subcommands registered in
:mod:`.commands` (a module each); :mod:`.context` is what their handlers share;
:mod:`.errors` holds the exit statuses and explains failed calls. ``client.__main__``
is the entry point, which quiets grpc's C core before grpc loads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from client.cli.context import Context, Handler
from client.cli.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, CommandError
from client.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``chrono`` with ``argv`` (default: the command line); return the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2, message printed)
        return int(exit_.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="chrono: %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handler: Handler = args.handler
    try:
        return handler(Context(args))
    except CommandError as error:
        print(f"chrono: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Whoever read the output stopped (chrono zones | head): end quietly, and keep
        # Python from failing again when it flushes stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
