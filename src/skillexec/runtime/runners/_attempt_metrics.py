"""What an isolated attempt is measured by, read from outside the child: its rusage, its
network namespace's counters and its cgroup's peak memory."""

from __future__ import annotations

import os
import time
from typing import Any

from skillexec.runtime.limits import CgroupSlot
from skillexec.runtime.runners.base import Outcome

__all__ = ["ms_since", "net_counters", "with_metrics"]

_MB = 1024 * 1024


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def net_counters(pid: int) -> tuple[int, int] | None:
    """Bytes received and sent in process ``pid``'s network namespace (all interfaces)."""
    # os.open/os.read, not open(): read twice per sandboxed attempt on the engine's loop,
    # where io's file and buffer layers cost more than the system calls.
    try:
        fd = os.open(f"/proc/{pid}/net/dev", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = b""
        while chunk := os.read(fd, 65536):
            data += chunk
    except OSError:
        return None
    finally:
        os.close(fd)
    lines = data.splitlines()[2:]
    rx = tx = 0
    for line in lines:
        cols = line.partition(b":")[2].split()
        if len(cols) >= 9:
            rx += int(cols[0])
            tx += int(cols[8])
    return rx, tx


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
