"""Resource limits of one attempt: rlimits (in the child) and per-slot cgroups (engine side).

cgroup v1 is what this machine mounts (/sys/fs/cgroup/{pids,memory}). The runner keeps a
pool of *slots*, each a pids cgroup and a memory cgroup nested under the engine's own
cgroups (so the session's accounting still covers them); an attempt leases a slot, the
engine moves the child in before it reads its input, and at the end kills every process
still in it — grandchildren that daemonised with setsid included.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CgroupPool", "CgroupSlot", "RlimitPlan", "apply_rlimits", "cgroup_v1_dir",
           "hard_limits", "rlimit_plan"]

_V1_ROOT = Path("/sys/fs/cgroup")


RlimitPlan = list[tuple[int, tuple[int, int]]]
_RLIMITS = (resource.RLIMIT_CORE, resource.RLIMIT_FSIZE, resource.RLIMIT_NOFILE,
            resource.RLIMIT_AS, resource.RLIMIT_DATA, resource.RLIMIT_CPU,
            resource.RLIMIT_NPROC)


def hard_limits() -> dict[int, int]:
    """This process's hard limits, read once (by the zygote) for ``rlimit_plan``."""
    return {which: resource.getrlimit(which)[1] for which in _RLIMITS}


def rlimit_plan(hard: dict[int, int], *, address_space_bytes: int | None,
                cpu_seconds: float | None, file_size_bytes: int, open_files: int,
                processes: int | None, data_bytes: int | None = None) -> RlimitPlan:
    """The ``setrlimit`` calls that lower a process's limits to these (soft = hard, so the
    skill cannot raise them back), never above the current hard limits ``hard``.

    Worked out in the zygote before the fork; the child only makes the calls.
    """
    inf = resource.RLIM_INFINITY

    def both(which: int, value: int) -> tuple[int, tuple[int, int]]:
        h = hard[which]
        if h != inf:
            value = min(value, h)
        return which, (value, value)

    plan: RlimitPlan = [(resource.RLIMIT_CORE, (0, 0)),
                        both(resource.RLIMIT_FSIZE, file_size_bytes),
                        both(resource.RLIMIT_NOFILE, open_files)]
    if address_space_bytes is not None:
        plan.append(both(resource.RLIMIT_AS, address_space_bytes))
    if data_bytes is not None:
        plan.append(both(resource.RLIMIT_DATA, data_bytes))
    if cpu_seconds is not None:
        soft = max(1, int(cpu_seconds + 0.999))
        # SIGXCPU at the soft limit, SIGKILL one second later if it is caught or ignored.
        h = hard[resource.RLIMIT_CPU]
        plan.append((resource.RLIMIT_CPU, (soft, soft + 1 if h == inf else min(h, soft + 1))))
    if processes is not None:
        plan.append(both(resource.RLIMIT_NPROC, processes))
    return plan


def apply_rlimits(*, address_space_bytes: int | None, cpu_seconds: float | None,
                  file_size_bytes: int, open_files: int, processes: int | None) -> None:
    """Lower this process's limits (soft = hard, so the skill cannot raise them back)."""
    setrlimit = resource.setrlimit
    for which, pair in rlimit_plan(hard_limits(), address_space_bytes=address_space_bytes,
                                   cpu_seconds=cpu_seconds, file_size_bytes=file_size_bytes,
                                   open_files=open_files, processes=processes):
        setrlimit(which, pair)


def cgroup_v1_dir(controller: str) -> Path | None:
    """This process's cgroup directory in a v1 hierarchy, or None if it is not mounted."""
    root = _V1_ROOT / controller
    if not (root / "cgroup.procs").exists():
        return None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _hid, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return root / path.lstrip("/")
    return None


# Plain os calls rather than open(): a handful of cgroup files are read or written per
# attempt on the engine's event loop, and io.open's file, buffer and text layers cost more
# than the system calls themselves.
def _write(path: Path | str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: Path | str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_int(path: Path | str) -> int:
    try:
        return int(_read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return 0


@dataclass(slots=True)
class CgroupSlot:
    index: int
    pids_dir: Path | None
    memory_dir: Path | None
    oom_kills_before: int = 0
    forks_refused_before: int = 0
    # Per-attempt bookkeeping costs a handful of cgroup file operations on the engine's
    # event loop, so paths are joined once and limits are only rewritten when they change
    # (only the engine's uid may write these files; a process that could rewrite them could
    # as well leave the slot through cgroup.procs).
    _procs: tuple[str, ...] = ()
    _pids_max: str | None = None
    _mem_limit: str | None = None
    _mem_usage: str = ""
    _oom_control: str = ""
    _pids_max_set: str | None = None
    _mem_limit_set: str | None = None
    _clean: bool = False  # nothing was added since kill_all last saw the slot empty
    _ready: bool = False  # peak and OOM count reset since its last attempt (see rearm)

    def __post_init__(self) -> None:
        self._procs = tuple(f"{d}/cgroup.procs" for d in (self.pids_dir, self.memory_dir)
                            if d is not None)
        if self.pids_dir is not None:
            self._pids_max = f"{self.pids_dir}/pids.max"
        if self.memory_dir is not None:
            self._mem_limit = f"{self.memory_dir}/memory.limit_in_bytes"
            self._mem_usage = f"{self.memory_dir}/memory.max_usage_in_bytes"
            self._oom_control = f"{self.memory_dir}/memory.oom_control"

    def arm(self, *, memory_bytes: int | None, max_pids: int) -> None:
        if self._pids_max is not None:
            value = str(max_pids)
            if value != self._pids_max_set:
                self._pids_max_set = None
                _write(self._pids_max, value)
                self._pids_max_set = value
        if self.memory_dir is not None and self._mem_limit is not None:
            limit = str(memory_bytes) if memory_bytes is not None else "-1"
            if limit != self._mem_limit_set:
                self._mem_limit_set = None
                with contextlib.suppress(OSError):
                    _write(self._mem_limit, limit)
                    self._mem_limit_set = limit
        if not self._ready:
            self._reset_counts()
        self._ready = False

    def rearm(self) -> None:
        """Once emptied after an attempt: the next one's peak, OOM and refused-fork counts
        reset now, off its path (nothing runs in an empty slot to move them until it does)."""
        if self._clean:
            self._reset_counts()
            self._ready = True

    def _reset_counts(self) -> None:
        if self.memory_dir is not None:
            with contextlib.suppress(OSError):
                _write(self._mem_usage, "0")
            self.oom_kills_before = self._oom_kills()
        self.forks_refused_before = self._forks_refused()

    def forks_refused(self) -> int:
        """How many forks the pids limit refused in this attempt (a fork loop's)."""
        return max(0, self._forks_refused() - self.forks_refused_before)

    def _forks_refused(self) -> int:
        if self.pids_dir is None:
            return 0
        try:
            for line in _read(f"{self.pids_dir}/pids.events").decode().splitlines():
                if line.startswith("max "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    @property
    def emptied(self) -> bool:
        """Seen empty by ``kill_all`` since a process was last added."""
        return self._clean

    def add(self, pid: int) -> None:
        """Move ``pid`` in (engine side, before the child reads its input)."""
        self._clean = False
        for path in self._procs:
            _write(path, str(pid))

    def pids(self) -> list[int]:
        out: set[int] = set()
        for path in self._procs:
            try:
                out.update(int(x) for x in _read(path).split())
            except (OSError, ValueError):
                continue
            # Children inherit both cgroups: one listing is enough unless it failed.
            break
        return sorted(out)

    def kill_all(self, *, rounds: int = 200) -> int:
        """SIGKILL everything in the slot until it is empty; returns how many were killed.

        Repeated because a process may fork between the listing and the kill; the pids
        limit bounds how long that can go on. Once the slot was seen empty, nothing can
        enter it again until the next ``add`` (only a process inside can fork into it).
        """
        if self._clean:
            return 0
        killed = 0
        for i in range(rounds):
            pids = self.pids()
            if not pids:
                self._clean = True
                return killed
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
            if i:
                time.sleep(0.001)
        return killed

    def signal_all(self) -> None:
        """SIGKILL what is in the slot now, without waiting for it to be gone (``kill_all``
        does that): a process with SIGKILL pending forks nothing more."""
        if self._clean:
            return
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def oom_killed(self) -> bool:
        return self.memory_dir is not None and self._oom_kills() > self.oom_kills_before

    def peak_memory_bytes(self) -> int | None:
        if self.memory_dir is None:
            return None
        return _read_int(self._mem_usage)

    def _oom_kills(self) -> int:
        if self.memory_dir is None:
            return 0
        try:
            for line in _read(self._oom_control).decode().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return _read_int(self.memory_dir / "memory.failcnt")


class CgroupPool:
    """Slots created on demand under ``<own cgroup>/skillexec-<pid>``, reused, removed at close."""

    def __init__(self, *, use_pids: bool, use_memory: bool) -> None:
        tag = f"skillexec-{os.getpid()}-{id(self):x}"
        self._bases: dict[str, Path] = {}
        for ctl, wanted in (("pids", use_pids), ("memory", use_memory)):
            own = cgroup_v1_dir(ctl) if wanted else None
            if own is None:
                continue
            _sweep_stale(own)
            base = own / tag
            try:
                base.mkdir(exist_ok=True)
                if ctl == "memory":
                    with contextlib.suppress(OSError):
                        _write(base / "memory.use_hierarchy", "1")
            except OSError:
                continue
            self._bases[ctl] = base
        self._free: list[CgroupSlot] = []
        self._all: list[CgroupSlot] = []

    @property
    def has_pids(self) -> bool:
        return "pids" in self._bases

    @property
    def has_memory(self) -> bool:
        return "memory" in self._bases

    def lease(self) -> CgroupSlot:
        if self._free:
            return self._free.pop()
        index = len(self._all)
        dirs: dict[str, Path | None] = {}
        for ctl in ("pids", "memory"):
            base = self._bases.get(ctl)
            if base is None:
                dirs[ctl] = None
                continue
            d = base / f"slot{index}"
            d.mkdir(exist_ok=True)
            dirs[ctl] = d
        slot = CgroupSlot(index=index, pids_dir=dirs["pids"], memory_dir=dirs["memory"])
        self._all.append(slot)
        return slot

    def release(self, slot: CgroupSlot) -> None:
        self._free.append(slot)

    def close(self) -> None:
        for slot in self._all:
            slot.kill_all()
        for slot in self._all:
            for d in (slot.pids_dir, slot.memory_dir):
                if d is not None:
                    _rmdir(d)
        for base in self._bases.values():
            _rmdir(base)
        self._all.clear()
        self._free.clear()


def _sweep_stale(own: Path) -> None:
    """Kill what a SIGKILLed engine left behind (daemons in its slots) and remove its cgroups.

    Its zygotes and children died with it (parent-death signal); a grandchild that
    daemonised did not, but it is still in the dead engine's slot.
    """
    try:
        entries = [e for e in own.iterdir() if e.name.startswith("skillexec-")]
    except OSError:
        return
    for base in entries:
        try:
            pid = int(base.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        try:
            slots = [d for d in base.iterdir() if d.is_dir()]
        except OSError:
            continue  # swept meanwhile by another engine starting beside this one
        for d in slots:
            CgroupSlot(index=-1, pids_dir=d, memory_dir=None).kill_all()
            _rmdir(d)
        _rmdir(base)


def _rmdir(d: Path) -> None:
    for _ in range(50):
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.002)
