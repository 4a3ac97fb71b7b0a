"""What /proc says about a server's process tree: members, CPU time, peak memory, ports.

Every function takes the root PID of a tree (a server and the workers it started) and
reads the kernel's own accounting, so nothing inside the servers needs to cooperate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK")
_LISTEN = "0A"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state on (field 3), or None if it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return text[text.rfind(")") + 2 :].split()


def tree(root: int) -> list[int]:
    """``root`` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if _stat_fields(pid) is None:
            continue
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User plus system CPU time the processes have used so far."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # utime and stime are fields 14 and 15, counted from 1.
            ticks += int(fields[11]) + int(fields[12])
    return ticks / _TICKS


def _status_kib(pid: int, key: str) -> int:
    try:
        lines = (PROC / str(pid) / "status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in lines:
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def peak_rss_bytes(pids: Iterable[int]) -> int:
    """The sum of each process's peak resident set (VmHWM)."""
    return 1024 * sum(_status_kib(pid, "VmHWM") for pid in pids)


def rss_bytes(pids: Iterable[int]) -> int:
    """The sum of each process's resident set now (VmRSS)."""
    return 1024 * sum(_status_kib(pid, "VmRSS") for pid in pids)


def maps_mention(pids: Iterable[int], needle: str) -> bool:
    """Whether any of the processes has a file whose path contains ``needle`` mapped."""
    for pid in pids:
        try:
            if needle in (PROC / str(pid) / "maps").read_text():
                return True
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return False


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = list((PROC / str(pid) / "fd").iterdir())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def listening_ports(pids: Iterable[int]) -> set[int]:
    """TCP ports on which any of the processes has a listening socket.

    This is how the runner learns the port of a server started with ``--port 0``
    whatever it logs: the socket's inode in /proc/PID/fd, matched in /proc/net/tcp.
    """
    inodes: set[str] = set()
    for pid in pids:
        inodes |= _socket_inodes(pid)
    ports: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT, st the state, inode the 10th field.
            if fields[3] == _LISTEN and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def machine_busy_seconds() -> float:
    """CPU time all cores of the machine have spent not idle, since boot (/proc/stat)."""
    fields = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    # user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    ticks = [int(value) for value in fields[:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICKS


def wait_until_quiet(threshold: float = 0.3, sample: float = 0.5, timeout: float = 30.0) -> float:
    """Wait (at most ``timeout`` s) until the machine's busy cores drop below ``threshold``.

    Returns the busy cores of the last sample: what else is running (another user's
    test suite, say) steals CPU from a measurement, so a measurement starts in a quiet
    moment when there is one.
    """
    deadline = time.monotonic() + timeout
    while True:
        before = machine_busy_seconds()
        time.sleep(sample)
        busy = (machine_busy_seconds() - before) / sample
        if busy < threshold or time.monotonic() >= deadline:
            return busy
