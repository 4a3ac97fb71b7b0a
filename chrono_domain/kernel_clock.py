"""How far the kernel says this machine's clock may be from UTC: ``adjtimex(2)``, read only.

The clock discipline (chronyd, ntpd, systemd-timesyncd) tells the kernel its estimate of
the clock's error; the kernel then grows that bound by 500 µs every second until the
discipline tells it again, and declares the clock unsynchronised once the bound reaches
16 s. :func:`read_kernel_clock` reads that state with one system call, with ``modes`` 0,
which any process may do and which changes nothing.

Where the call is not available (not Linux, a 32-bit ABI whose ``struct timex`` this
module does not describe, a sandbox that refuses it) the answer is
:attr:`ClockStatus.UNKNOWN`, never an exception.
"""

from __future__ import annotations

import ctypes
import enum
import functools
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

logger = logging.getLogger(__name__)

# adjtimex's return value: the leap second state machine (<sys/timex.h>).
TIME_OK = 0
TIME_INS = 1
TIME_DEL = 2
TIME_OOP = 3
TIME_WAIT = 4
TIME_ERROR = 5

# struct timex.status bits (<bits/timex.h>).
STA_INS = 0x0010
STA_DEL = 0x0020
STA_UNSYNC = 0x0040


class Timex(ctypes.Structure):
    """glibc's ``struct timex`` on 64-bit Linux (x86-64, aarch64), where a long is 64 bits.

    The padding after ``modes``, ``status`` and ``shift`` is spelt out as the header's
    time64 variant does, and the eleven reserved ints at the end are there so that the
    kernel never writes past this buffer: 208 bytes, as ``sizeof`` says in C.
    """

    _fields_ = (
        ("modes", ctypes.c_uint),
        ("_pad0", ctypes.c_int),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_pad1", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("_pad2", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        *((f"_reserved{n}", ctypes.c_int) for n in range(11)),
    )


TIMEX_SIZE = 208
"""``sizeof(struct timex)`` on 64-bit Linux with glibc."""


class ClockStatus(enum.Enum):
    """Whether the kernel considers the clock disciplined to UTC."""

    SYNCHRONIZED = "synchronized"
    UNSYNCHRONIZED = "unsynchronized"
    UNKNOWN = "unknown"


class LeapSecond(enum.Enum):
    """A leap second the kernel will apply at the end of the current UTC day."""

    NONE = "none"
    INSERT = "insert"
    DELETE = "delete"


@dataclass(frozen=True)
class KernelClock:
    """One reading of the kernel's clock discipline state.

    ``max_error`` and ``estimated_error`` are the kernel's ``maxerror`` and ``esterror``
    as read, None only when nothing could be read. An unsynchronised kernel keeps
    ``maxerror`` at its 16 s ceiling, which bounds nothing: :attr:`error_bound` is the
    value to publish. ``tai_offset`` is TAI - UTC in seconds, None while no discipline
    has set it (the kernel starts at 0).
    """

    status: ClockStatus
    max_error: timedelta | None
    estimated_error: timedelta | None
    leap: LeapSecond
    tai_offset: int | None

    @property
    def error_bound(self) -> timedelta | None:
        """The clock's maximum error from UTC, or None when the kernel cannot bound it."""
        return self.max_error if self.status is ClockStatus.SYNCHRONIZED else None


UNKNOWN = KernelClock(ClockStatus.UNKNOWN, None, None, LeapSecond.NONE, None)
"""What :func:`read_kernel_clock` answers where the kernel cannot be asked."""

Adjtimex = Callable[[Any], int]
"""``int adjtimex(struct timex *)``, as a ctypes function."""


def process_libc() -> ctypes.CDLL:
    """The C library this process runs on, with errno kept for ctypes.get_errno()."""
    return ctypes.CDLL(None, use_errno=True)


def find_adjtimex(load_libc: Callable[[], object]) -> Adjtimex | None:
    """``adjtimex`` (or its other name, ``ntp_adjtime``) from ``load_libc()``; None if absent.

    None too where :class:`Timex` does not describe the platform's structure, since
    calling with the wrong layout would let the kernel write past the buffer.
    """
    if not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_long) != 8:
        return None
    try:
        libc = load_libc()
    except OSError as error:
        logger.debug("no C library to read the kernel clock from: %s", error)
        return None
    for name in ("adjtimex", "ntp_adjtime"):
        try:
            function = getattr(libc, name)
        except AttributeError:
            continue
        function.argtypes = (ctypes.POINTER(Timex),)
        function.restype = ctypes.c_int
        found: Adjtimex = function
        return found
    logger.debug("the C library has neither adjtimex nor ntp_adjtime")
    return None


@functools.cache
def _process_adjtimex() -> Adjtimex | None:
    # The symbol is looked up once; the state itself is read on every call.
    return find_adjtimex(process_libc)


def read_timex(adjtimex: Adjtimex) -> tuple[int, Timex] | None:
    """Call ``adjtimex`` with modes 0: the clock state and the filled structure; None on error."""
    timex = Timex()  # zeroed, so modes is 0: read, never set
    state = adjtimex(ctypes.byref(timex))
    if state < 0:
        code = ctypes.get_errno()
        logger.debug("adjtimex failed: %s", os.strerror(code) if code else "unknown error")
        return None
    return state, timex


def read_kernel_clock(load_libc: Callable[[], object] | None = None) -> KernelClock:
    """The kernel's clock state now: one ``adjtimex`` call, nothing cached but the symbol.

    ``load_libc`` returns the library to find ``adjtimex`` in; the default is the
    process's own C library. Anything that prevents the call gives :data:`UNKNOWN`.
    """
    adjtimex = _process_adjtimex() if load_libc is None else find_adjtimex(load_libc)
    if adjtimex is None:
        return UNKNOWN
    reading = read_timex(adjtimex)
    if reading is None:
        return UNKNOWN
    return kernel_clock(*reading)


def kernel_clock(state: int, timex: Timex) -> KernelClock:
    """What ``adjtimex`` returning ``state`` and filling ``timex`` says about the clock.

    The kernel returns TIME_ERROR whenever STA_UNSYNC (or a clock or PPS fault) is set,
    which hides the leap second state: the STA_INS and STA_DEL bits still tell it.
    """
    unsynchronized = state == TIME_ERROR or bool(timex.status & STA_UNSYNC)
    return KernelClock(
        status=ClockStatus.UNSYNCHRONIZED if unsynchronized else ClockStatus.SYNCHRONIZED,
        max_error=_microseconds(timex.maxerror),
        estimated_error=_microseconds(timex.esterror),
        leap=_leap(state, timex.status),
        tai_offset=timex.tai if timex.tai > 0 else None,
    )


def _leap(state: int, status: int) -> LeapSecond:
    if state == TIME_WAIT:
        # The leap second has just been applied; the bits stay set until the
        # discipline clears them, and announce nothing more.
        return LeapSecond.NONE
    # TIME_OOP is the inserted second itself, 23:59:60, with STA_INS still set.
    if state in (TIME_INS, TIME_OOP) or status & STA_INS:
        return LeapSecond.INSERT
    if state == TIME_DEL or status & STA_DEL:
        return LeapSecond.DELETE
    return LeapSecond.NONE


def _microseconds(value: int) -> timedelta | None:
    return timedelta(microseconds=value) if value >= 0 else None
