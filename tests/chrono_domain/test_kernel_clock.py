"""The kernel clock reading: the C layout, two independent readings, and the unknown cases."""

from __future__ import annotations

import ctypes
import errno
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from chrono_domain import kernel_clock as kc
from chrono_domain.kernel_clock import ClockStatus, KernelClock, LeapSecond

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_long) != 8,
    reason="adjtimex is read on 64-bit Linux only",
)

FIELDS = [field[0] for field in kc.Timex._fields_ if not field[0].startswith("_")]

# A second program, compiled against the system's <sys/timex.h>: its layout and its
# own adjtimex call are what the ctypes structure and reading must agree with.
C_ORACLE = r"""
#include <stddef.h>
#include <stdio.h>
#include <sys/timex.h>
#define FIELD(name) printf(#name " %zu\n", offsetof(struct timex, name))
int main(void) {
    struct timex t = {0};
    FIELD(modes); FIELD(offset); FIELD(freq); FIELD(maxerror); FIELD(esterror);
    FIELD(status); FIELD(constant); FIELD(precision); FIELD(tolerance);
    printf("time_sec %zu\n", offsetof(struct timex, time) + offsetof(struct timeval, tv_sec));
    printf("time_usec %zu\n", offsetof(struct timex, time) + offsetof(struct timeval, tv_usec));
    FIELD(tick); FIELD(ppsfreq); FIELD(jitter); FIELD(shift); FIELD(stabil);
    FIELD(jitcnt); FIELD(calcnt); FIELD(errcnt); FIELD(stbcnt); FIELD(tai);
    printf("sizeof %zu\n", sizeof t);
    int state = adjtimex(&t);
    printf("reading %d %d %ld %ld %d\n", state, t.status, t.maxerror, t.esterror, t.tai);
    return state < 0;
}
"""


@dataclass(frozen=True)
class Oracle:
    """What the compiled C program printed: field offsets, the size and one reading."""

    offsets: dict[str, int]
    reading: KernelClock


@pytest.fixture(scope="module")
def c_oracle(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Oracle]:
    """A function running the compiled C oracle once; skips the tests without a compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the struct timex oracle")
    directory = tmp_path_factory.mktemp("timex")
    source, binary = directory / "oracle.c", directory / "oracle"
    source.write_text(C_ORACLE)
    subprocess.run([compiler, "-O0", "-o", str(binary), str(source)], check=True, timeout=60)
    return lambda: _run_oracle(binary)


def _run_oracle(binary: Path) -> Oracle:
    output = subprocess.run([str(binary)], capture_output=True, text=True, check=True, timeout=10)
    offsets: dict[str, int] = {}
    reading = kc.UNKNOWN
    for line in output.stdout.splitlines():
        name, *values = line.split()
        if name == "reading":
            state, status, maxerror, esterror, tai = map(int, values)
            reading = kc.kernel_clock(
                state, kc.Timex(status=status, maxerror=maxerror, esterror=esterror, tai=tai)
            )
        else:
            offsets[name] = int(values[0])
    return Oracle(offsets, reading)


def agreeing_reading(second_reading: Callable[[], KernelClock]) -> tuple[KernelClock, KernelClock]:
    """A reading of ours and ``second_reading()`` taken while ours did not change.

    maxerror grows every second and the discipline rewrites it, so the other reading
    is bracketed by two of ours that agree; a few attempts always find such a moment.
    """
    for _ in range(10):
        before = kc.read_kernel_clock()
        other = second_reading()
        after = kc.read_kernel_clock()
        if before == after:
            return before, other
    pytest.fail("the kernel clock state changed during every one of 10 attempts")


def test_timex_layout_is_the_c_layout(c_oracle: Callable[[], Oracle]) -> None:
    """Every field of the ctypes struct timex sits where the C compiler puts it."""
    oracle = c_oracle()
    assert oracle.offsets.pop("sizeof") == ctypes.sizeof(kc.Timex) == kc.TIMEX_SIZE
    assert oracle.offsets == {name: getattr(kc.Timex, name).offset for name in FIELDS}


def test_reading_agrees_with_a_c_program(c_oracle: Callable[[], Oracle]) -> None:
    """Status, errors, leap and TAI offset are what a C program's adjtimex call reads."""
    ours, theirs = agreeing_reading(lambda: c_oracle().reading)
    assert ours == theirs
    assert ours.status is not ClockStatus.UNKNOWN


class NtpTimeval(ctypes.Structure):
    """glibc's ``struct ntptimeval`` (``ntp_gettimex``), a different view of the same state."""

    _fields_ = (
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("tai", ctypes.c_long),
        *((f"reserved{n}", ctypes.c_long) for n in range(4)),
    )


def _ntp_gettimex() -> tuple[int, NtpTimeval]:
    function = ctypes.CDLL(None).ntp_gettimex
    function.argtypes = (ctypes.POINTER(NtpTimeval),)
    function.restype = ctypes.c_int
    value = NtpTimeval()
    return function(ctypes.byref(value)), value


def test_reading_agrees_with_ntp_gettimex() -> None:
    """Synchronisation, maxerror, esterror and TAI offset match glibc's ntp_gettimex."""

    def their_view() -> KernelClock:
        state, value = _ntp_gettimex()
        assert state >= 0
        # ntp_gettimex has no status word: TIME_ERROR is how it says unsynchronised.
        synced = state != kc.TIME_ERROR
        return KernelClock(
            status=ClockStatus.SYNCHRONIZED if synced else ClockStatus.UNSYNCHRONIZED,
            max_error=timedelta(microseconds=value.maxerror),
            estimated_error=timedelta(microseconds=value.esterror),
            leap=LeapSecond.NONE,
            tai_offset=value.tai or None,
        )

    ours, theirs = agreeing_reading(their_view)
    assert ours.status == theirs.status
    assert (ours.max_error, ours.estimated_error) == (theirs.max_error, theirs.estimated_error)
    assert ours.tai_offset == theirs.tai_offset


def test_error_bound_is_published_only_when_synchronised() -> None:
    """The kernel's maxerror bounds the clock when synchronised; unsynchronised it is None."""
    clock = kc.read_kernel_clock()
    assert clock.max_error is not None
    if clock.status is ClockStatus.SYNCHRONIZED:
        assert clock.error_bound == clock.max_error
        # The kernel declares the clock unsynchronised once maxerror reaches 16 s.
        assert clock.max_error < timedelta(seconds=16)
    else:
        assert clock.status is ClockStatus.UNSYNCHRONIZED
        assert clock.error_bound is None


def _dynamic_loader() -> ctypes.CDLL:
    # ld.so is loaded in every dynamically linked process and depends on nothing,
    # so a symbol lookup in it never reaches libc.
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "/ld-linux" in line}
    assert paths, "no ld-linux in /proc/self/maps"
    return ctypes.CDLL(paths.pop())


def _no_library() -> object:
    raise OSError("libc.so.6: cannot open shared object file")


def _refusing_libc() -> object:
    # A sandbox that refuses the call: -1 with EPERM, as a seccomp filter answers.
    def refuse(_timex: Any) -> int:
        ctypes.set_errno(errno.EPERM)
        return -1

    prototype = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(kc.Timex))
    return SimpleNamespace(adjtimex=prototype(refuse))


@pytest.mark.parametrize(
    "load_libc",
    [_dynamic_loader, _no_library, _refusing_libc],
    ids=["no-symbol", "no-lib", "eperm"],
)
def test_unknown_when_adjtimex_cannot_be_called(load_libc: Callable[[], object]) -> None:
    """A library without adjtimex, none at all, or a refused call read as UNKNOWN."""
    clock = kc.read_kernel_clock(load_libc)
    assert clock == kc.UNKNOWN
    assert (clock.status, clock.max_error, clock.error_bound) == (ClockStatus.UNKNOWN, None, None)


def test_ntp_adjtime_is_used_where_adjtimex_is_missing() -> None:
    """A C library exporting only ntp_adjtime is read through it."""
    libc = ctypes.CDLL(None)
    only_ntp_adjtime = SimpleNamespace(ntp_adjtime=libc.ntp_adjtime)
    ours, theirs = agreeing_reading(lambda: kc.read_kernel_clock(lambda: only_ntp_adjtime))
    assert ours == theirs
    assert theirs.status is not ClockStatus.UNKNOWN


LEAP_CASES = [
    # (adjtimex result, status bits, status, leap): the kernel's leap second states.
    (kc.TIME_OK, 0, ClockStatus.SYNCHRONIZED, LeapSecond.NONE),
    (kc.TIME_OK, kc.STA_INS, ClockStatus.SYNCHRONIZED, LeapSecond.INSERT),
    (kc.TIME_INS, kc.STA_INS, ClockStatus.SYNCHRONIZED, LeapSecond.INSERT),
    (kc.TIME_DEL, kc.STA_DEL, ClockStatus.SYNCHRONIZED, LeapSecond.DELETE),
    (kc.TIME_OOP, kc.STA_INS, ClockStatus.SYNCHRONIZED, LeapSecond.INSERT),
    (kc.TIME_WAIT, kc.STA_INS, ClockStatus.SYNCHRONIZED, LeapSecond.NONE),
    (kc.TIME_WAIT, 0, ClockStatus.SYNCHRONIZED, LeapSecond.NONE),
    (kc.TIME_ERROR, kc.STA_UNSYNC, ClockStatus.UNSYNCHRONIZED, LeapSecond.NONE),
    (kc.TIME_ERROR, kc.STA_UNSYNC | kc.STA_INS, ClockStatus.UNSYNCHRONIZED, LeapSecond.INSERT),
    (kc.TIME_ERROR, kc.STA_DEL, ClockStatus.UNSYNCHRONIZED, LeapSecond.DELETE),
    # TIME_ERROR without STA_UNSYNC: a clock hardware or PPS fault.
    (kc.TIME_ERROR, 0, ClockStatus.UNSYNCHRONIZED, LeapSecond.NONE),
    (kc.TIME_OK, kc.STA_UNSYNC, ClockStatus.UNSYNCHRONIZED, LeapSecond.NONE),
]


@pytest.mark.parametrize(("state", "bits", "status", "leap"), LEAP_CASES)
def test_state_and_status_bits_decode(
    state: int, bits: int, status: ClockStatus, leap: LeapSecond
) -> None:
    """The return value and status word give the synchronisation and the pending leap."""
    clock = kc.kernel_clock(state, kc.Timex(status=bits, maxerror=1500, esterror=250, tai=37))
    assert (clock.status, clock.leap) == (status, leap)
    assert clock.max_error == timedelta(microseconds=1500)
    assert clock.estimated_error == timedelta(microseconds=250)
    assert clock.tai_offset == 37


def test_unset_tai_offset_is_none() -> None:
    """A TAI offset of 0, the kernel's value until a discipline sets it, reads as None."""
    assert kc.kernel_clock(kc.TIME_OK, kc.Timex(tai=0)).tai_offset is None
