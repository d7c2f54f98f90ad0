"""What this kernel and these privileges can really enforce, detected once, failing closed.

Namespaces are probed in a throw-away interpreter (an ``unshare`` that works there works in
a zygote); Landlock by asking the kernel its ABI; cgroups by looking for writable v1
hierarchies (or a v2 one with controllers). ``doctor_rows()`` turns the result into the
table ``skillexec doctor`` prints, including what each isolation level gets here.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import orjson

from skillexec.runtime.limits import cgroup_v1_dir
from skillexec.security import landlock, seccomp

__all__ = ["Capabilities", "detect_capabilities", "doctor_rows", "missing_for"]

_PROBE = r"""
import ctypes, os, json
libc = ctypes.CDLL(None, use_errno=True)
def try_unshare(flags):
    pid = os.fork()
    if pid == 0:
        os._exit(0 if libc.unshare(flags) == 0 else 1)
    _, st = os.waitpid(pid, 0)
    return os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0
NEWUSER, NEWPID, NEWNET = 0x10000000, 0x20000000, 0x40000000
root = os.geteuid() == 0
userns = try_unshare(NEWUSER)
# What the runners really do: root unshares directly, anyone else inside a user namespace.
extra = 0 if root else NEWUSER
out = {"userns": userns,
       "netns": try_unshare(extra | NEWNET) if root or userns else False,
       "pidns": try_unshare(extra | NEWPID) if root or userns else False,
       "seccomp": libc.prctl(21, 0, 0, 0, 0) >= 0,
       "pdeathsig": libc.prctl(1, 0, 0, 0, 0) == 0}
print(json.dumps(out))
"""


@dataclass(frozen=True, slots=True)
class Capabilities:
    linux: bool
    arch: str
    is_root: bool
    prctl: bool
    user_namespaces: bool
    network_namespaces: bool
    landlock_abi: int
    seccomp: bool
    cgroup_v1_pids: bool
    cgroup_v1_memory: bool
    cgroup_v2_controllers: tuple[str, ...]
    details: dict[str, str] = field(default_factory=dict)
    pid_namespaces: bool = False

    @property
    def cgroup_pids(self) -> bool:
        return self.cgroup_v1_pids

    @property
    def cgroup_memory(self) -> bool:
        return self.cgroup_v1_memory

    @property
    def uid_drop(self) -> bool:
        return self.is_root


@cache
def detect_capabilities() -> Capabilities:
    linux = sys.platform.startswith("linux")
    details: dict[str, str] = {}
    probe: dict[str, bool] = {}
    if linux:
        try:
            res = subprocess.run([sys.executable, "-I", "-S", "-c", _PROBE], capture_output=True,
                                 timeout=20, check=False, env={"PATH": "/usr/bin:/bin"})
            probe = orjson.loads(res.stdout) if res.returncode == 0 else {}
            if res.returncode != 0:
                details["probe"] = res.stderr.decode(errors="replace")[-300:]
        except (OSError, subprocess.TimeoutExpired, orjson.JSONDecodeError) as exc:
            details["probe"] = f"probe failed: {exc}"
    v2: tuple[str, ...] = ()
    for cand in (Path("/sys/fs/cgroup/cgroup.controllers"),
                 Path("/sys/fs/cgroup/unified/cgroup.controllers")):
        try:
            v2 = tuple(cand.read_text().split())
            details["cgroup_v2"] = str(cand.parent)
            break
        except OSError:
            continue
    pids_dir = cgroup_v1_dir("pids") if linux else None
    mem_dir = cgroup_v1_dir("memory") if linux else None
    is_root = linux and os.geteuid() == 0
    return Capabilities(
        linux=linux, arch=platform.machine(), is_root=is_root,
        prctl=bool(probe.get("pdeathsig")),
        user_namespaces=bool(probe.get("userns")),
        network_namespaces=bool(probe.get("netns")),
        landlock_abi=landlock.abi_version() if linux else 0,
        seccomp=bool(probe.get("seccomp")) and seccomp.supported(),
        cgroup_v1_pids=pids_dir is not None and is_root and os.access(pids_dir, os.W_OK),
        cgroup_v1_memory=mem_dir is not None and is_root and os.access(mem_dir, os.W_OK),
        cgroup_v2_controllers=v2,
        details=details,
        pid_namespaces=bool(probe.get("pidns")),
    )


def missing_for(level: str, caps: Capabilities, *, network: bool) -> list[str]:
    """Mechanisms ``level`` needs that this machine lacks (empty: it is fully available)."""
    if level == "inline":
        return []
    missing = [] if caps.linux and caps.prctl else ["linux process control (prctl)"]
    if level == "sandbox":
        if caps.landlock_abi < 1:
            missing.append("Landlock")
        if not caps.seccomp:
            missing.append(f"seccomp filter (x86_64 only; this is {caps.arch})")
        if not network and not caps.network_namespaces:
            missing.append("network namespace")
        if not caps.pid_namespaces:
            missing.append("PID namespace")
    return missing


def doctor_rows() -> list[dict[str, object]]:
    """Plain rows for ``skillexec doctor``: section, mechanism, available, detail."""
    c = detect_capabilities()
    abi = c.landlock_abi
    rows: list[dict[str, object]] = []

    def row(section: str, mechanism: str, ok: bool, detail: str) -> None:
        rows.append({"section": section, "mechanism": mechanism, "available": ok,
                     "detail": detail})

    row("kernel", "running as root", c.is_root,
        "each skill runs as its own uid, leased host-wide" if c.is_root
        else "skills keep the engine's uid, each in a user namespace of its own"
        if c.user_namespaces else "skills keep the engine's uid")
    row("kernel", "prctl (parent-death signal, subreaper)", c.prctl, "")
    row("kernel", "user namespaces", c.user_namespaces,
        "unprivileged unshare(CLONE_NEWUSER)" + ("" if c.is_root else
                                                 ": what namespaces need without root"))
    ns_how = "" if c.is_root else " (inside a user namespace)"
    row("kernel", "network namespaces", c.network_namespaces,
        "no network unless network_access is granted" + ns_how)
    row("kernel", "PID namespaces", c.pid_namespaces,
        "each skill's zygote is pid 1 of its own: what it starts dies with it, other "
        "skills' processes are invisible" + ns_how)
    row("kernel", "Landlock", abi >= 1,
        f"ABI {abi}: files" + (", TCP bind/connect" if abi >= 4 else ", no TCP rules (ABI<4)")
        + (", abstract-unix and signal scoping" if abi >= 6 else ", no IPC scoping (ABI<6)"))
    row("kernel", "seccomp-bpf", c.seccomp, f"filter written for x86_64; arch {c.arch}")
    row("kernel", "cgroup v1 pids", c.cgroup_v1_pids,
        "per-attempt and per-zygote process limit and kill-all"
        + ("" if c.is_root else " (needs root here)"))
    row("kernel", "cgroup v1 memory", c.cgroup_v1_memory,
        "per-attempt and per-zygote memory limit, OOM seen"
        + ("" if c.is_root else " (needs root here)"))
    row("kernel", "cgroup v2", bool(c.cgroup_v2_controllers),
        "controllers: " + (" ".join(c.cgroup_v2_controllers) or "none")
        + " (not used by the runners yet)")
    uid = ("per-skill unprivileged uid leased host-wide, no capabilities (a private mount "
           "view opens only the needed trees under 0700 folders)") if c.is_root \
        else "engine's uid in a user namespace of its own, no capabilities"
    kill = "pids cgroup kill-all" if c.cgroup_v1_pids else "process group + subreaper zygote"
    if c.pid_namespaces:
        kill += "; PID namespace per skill"
    mem = "RLIMIT_AS + memory cgroup" if c.cgroup_v1_memory else "RLIMIT_AS only"
    base = (f"fork from warm zygote (confined before the skill's import; private HOME and "
            f"TMPDIR; output captured); rlimits (CPU, file size, open files, core off); {mem}; "
            f"{uid}; own session; parent-death signal; private cwd; env allowlist; {kill}")
    row("level", "inline", True, "engine's own process: no isolation (trusted code only)")
    row("level", "process", not missing_for("process", c, network=True), base)
    sandbox_missing = missing_for("sandbox", c, network=False)
    sb = base + "; " + ", ".join(x for x in (
        "network namespace" if c.network_namespaces else "",
        f"Landlock ABI {abi}" if abi else "",
        "seccomp (sockets: IPv4/6 TCP and UDP, netlink route, AF_UNIX stream pairs only; "
        "no ptrace, mount, unshare/setns, bpf, io_uring, keyrings)"
        if c.seccomp else "") if x)
    if sandbox_missing:
        sb += "; MISSING: " + ", ".join(sandbox_missing)
    row("level", "sandbox", not sandbox_missing, sb)
    return rows
