"""What an isolated attempt is measured by, read from outside the child: its rusage, its
network namespace's counters and its cgroup's peak memory."""

from __future__ import annotations

import os
import time
from typing import Any

from skillexec.runtime.limits import CgroupSlot
from skillexec.runtime.runners.base import Outcome

__all__ = ["NetCounters", "ms_since", "with_metrics"]

_MB = 1024 * 1024


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


class NetCounters:
    """Bytes received and sent in process ``pid``'s network namespace (all interfaces), read
    through one descriptor kept open for the process's life (``close`` when it is gone).

    ``/proc/<pid>/net/dev`` is resolved to the namespace when it is opened and generated
    anew at each read from offset 0, so one open file serves every attempt of a zygote:
    two reads per sandboxed attempt on the engine's loop, each an open and a close fewer
    (6.4 -> 1.2 us per read here). os.pread, not open(): io's layers cost more than the
    system calls.
    """

    __slots__ = ("_fd", "_pid")

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._fd = -1

    def read(self) -> tuple[int, int] | None:
        if self._fd < 0:
            try:
                self._fd = os.open(f"/proc/{self._pid}/net/dev", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None  # tried again next time (the process may not be found yet)
        try:
            data = b""
            while chunk := os.pread(self._fd, 65536, len(data)):
                data += chunk
        except OSError:
            return None
        lines = data.splitlines()[2:]
        rx = tx = 0
        for line in lines:
            cols = line.partition(b":")[2].split()
            if len(cols) >= 9:
                rx += int(cols[0])
                tx += int(cols[8])
        return rx, tx

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def with_metrics(outcome: Outcome, started: float, child: Any, net: list[int] | None, *,
                 slot: CgroupSlot | None) -> Outcome:
    m: dict[str, float | int | None] = dict(outcome.metrics)
    m["wall_ms"] = ms_since(started)
    if child is not None and child.status is not None:
        m["cpu_ms"] = (child.cpu_s or 0.0) * 1000.0
        m["max_rss_mb"] = (child.maxrss_kb or 0) / 1024.0
        m["disk_read_bytes"] = (child.inblock or 0) * 512
        m["disk_write_bytes"] = (child.oublock or 0) * 512
    if net is not None:
        m["net_rx_bytes"], m["net_tx_bytes"] = net
    if slot is not None and slot.memory_dir is not None:
        peak = slot.peak_memory_bytes()
        if peak:
            m["cgroup_peak_mb"] = peak / _MB
    return Outcome(output=outcome.output, error=outcome.error, metrics=m,
                   traceback=outcome.traceback)
