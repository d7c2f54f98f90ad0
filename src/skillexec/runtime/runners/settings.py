"""IsolationSettings: every knob of the process and sandbox runners, in one frozen object."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from skillexec.security.policy import PermissionPolicy

__all__ = ["DEFAULT_ENV_ALLOWLIST", "IsolationSettings"]

# Variables a child may inherit from the engine; everything else (tokens, keys, proxies
# with credentials) is dropped. HOME, TMPDIR and PATH are always set by the runner.
DEFAULT_ENV_ALLOWLIST: tuple[str, ...] = ("LANG", "LC_ALL", "LC_CTYPE", "LANGUAGE", "TZ",
                                          "PYTHONIOENCODING", "PYTHONUTF8")


def _default_path() -> tuple[str, ...]:
    venv_bin = os.path.dirname(sys.executable)
    return (venv_bin, "/usr/local/bin", "/usr/bin", "/bin")


@dataclass(frozen=True, slots=True, kw_only=True)
class IsolationSettings:
    # Memory the attempt may add on top of the warm zygote (address space and memory cgroup).
    default_memory_mb: int = 512
    max_memory_mb: int = 4096  # a manifest's execution.memory_mb may raise up to this
    default_cpu_seconds: float = 60.0
    max_cpu_seconds: float = 600.0
    max_open_files: int = 1024  # a shell's usual soft limit (Lighthouse's ESM graph: >256)
    max_file_size_mb: int = 256
    max_processes: int = 64  # per attempt (pids cgroup); per skill uid via RLIMIT_NPROC x8
    max_stdout_bytes: int = 8 << 20  # each of stdout and stderr; more kills the attempt
    max_output_bytes: int = 16 * 1024 * 1024  # the result; attempt.limits may lower it
    max_input_bytes: int = 64 * 1024 * 1024
    max_artifact_bytes: int = 64 * 1024 * 1024
    zygote_max_attempts: int = 1000  # recycled after this many attempts ...
    zygote_max_rss_mb: int = 512  # ... or when it grew past this
    zygote_idle_s: float = 300.0  # an idle zygote is stopped (re-warmed on next use)
    # A skill whose import (its zygote's start) takes longer fails with import_timeout.
    zygote_import_timeout_s: float = 30.0
    zygote_memory_mb: int = 2048  # the zygote's own memory (cgroup; address space with more)
    # The zygote keeps a child forked ahead of the next call, in its cgroup slot already,
    # while no call runs (see runners/_spare.py).
    zygote_spare: bool = True
    zygote_preload: bool = True  # a script parent imports its scripts' top-level imports
    allow_weaker_isolation: bool = False  # run anyway when a mechanism is missing
    env_allowlist: tuple[str, ...] = DEFAULT_ENV_ALLOWLIST
    path_allowlist: tuple[str, ...] = field(default_factory=_default_path)
    permission_policy: PermissionPolicy = field(default_factory=PermissionPolicy)
    # When the engine runs as root, each skill's zygote and children run as their own uid
    # (and gid) from [unprivileged_uid, unprivileged_uid + unprivileged_uid_count).
    unprivileged_uid: int = 61000
    unprivileged_uid_count: int = 1000
    drop_privileges_in_process: bool = True  # the process runner drops root too
    use_cgroups: bool = True
    extra_read_paths: tuple[Path, ...] = ()  # readable by every sandboxed skill
    work_root: Path | None = None  # where the engine makes workdirs; learnt if None
    data_dir: Path | None = None  # the engine's journal and artifacts: no skill's to read
