"""Run a command whose clock reads ahead of or behind this machine's: libfaketime.

Debian's ``faketime`` package ships libfaketime, which, preloaded, shifts what
``clock_gettime`` and friends return. Used with a relative offset (``FAKETIME=+2.5s``):

- CLOCK_REALTIME (``time.time()``) reads the real time plus the shift, exactly.
- CLOCK_MONOTONIC (and BOOTTIME, MONOTONIC_RAW) is faked too: it starts from the shifted
  wall clock's reading (some 1.8e9 s) and advances as the real monotonic clock does.
  Timers, sleeps, asyncio and grpc's deadlines work, since the process only compares
  its own readings; monotonic readings cannot be compared across the two processes.
- ``FAKETIME_DONT_FAKE_MONOTONIC=1`` must not be set: with libfaketime 0.9.10,
  ``time.sleep`` then fails with EINVAL (the absolute monotonic deadline is converted as
  if it were faked).

The ``faketime`` command itself is not used: it forks the program and waits, so a
SIGTERM sent to it kills the wrapper alone, leaves the program running orphaned, and
leaks the wrapper's /dev/shm segments. Instead the library is preloaded through ``env``,
which execs: the process started is the program, and signals reach it.
"""

from __future__ import annotations

import glob
import math

LIBRARY_PATTERNS = (
    "/usr/lib/*/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)


def libfaketime() -> str | None:
    """The path of the libfaketime shared library, or None where it is not installed."""
    for pattern in LIBRARY_PATTERNS:
        if found := sorted(glob.glob(pattern)):
            return found[0]
    return None


def faketime_prefix(shift_seconds: float) -> list[str]:
    """A command prefix that runs what follows with its clock ``shift_seconds`` off.

    For ``ServiceProcess(..., prefix=faketime_prefix(2.5))``. Raises FileNotFoundError
    without libfaketime (Debian package ``faketime``).
    """
    if not math.isfinite(shift_seconds):
        raise ValueError(f"shift_seconds must be a finite number, not {shift_seconds}")
    library = libfaketime()
    if library is None:
        raise FileNotFoundError("libfaketime is not installed: apt-get install faketime")
    # Seconds are libfaketime's default unit; fixed notation, since it reads the
    # string with atof and then looks for unit letters in it.
    return ["env", f"LD_PRELOAD={library}", f"FAKETIME={shift_seconds:+.6f}"]


def faketime_command(shift_seconds: float, argv: list[str]) -> list[str]:
    """``argv`` run with its wall clock ``shift_seconds`` ahead (negative: behind)."""
    return [*faketime_prefix(shift_seconds), *argv]
