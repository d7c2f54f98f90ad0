"""What one attempt's child is told: its limits, environment and command, as the request the
zygote forks it with (JSON over the zygote's socket; nothing here runs code)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillexec.errors import DependencyError
from skillexec.runtime.runners import _protocol as proto
from skillexec.runtime.runners import _spec
from skillexec.runtime.runners.base import Attempt
from skillexec.runtime.runners.settings import IsolationSettings
from skillexec.scripts import interpreter
from skillexec.skills.model import EntryKind

__all__ = ["AttemptPlan", "args_frame", "child_request", "first_frame", "plan_attempt",
           "script_exe"]

_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class AttemptPlan:
    """One attempt's limits, settled: the call's, else the manifest's, else the default,
    never past the engine's maxima."""

    memory_mb: int
    cpu_s: float
    max_output_bytes: int
    command: bool  # an external command (not a Python entry)


def plan_attempt(s: IsolationSettings, attempt: Attempt) -> AttemptPlan:
    skill = attempt.skill
    return AttemptPlan(
        memory_mb=min(attempt.limits.memory_mb or skill.execution.memory_mb
                      or s.default_memory_mb, s.max_memory_mb),
        cpu_s=min(attempt.limits.cpu_seconds or skill.execution.cpu_seconds
                  or s.default_cpu_seconds, s.max_cpu_seconds),
        max_output_bytes=min(attempt.limits.max_output_bytes, s.max_output_bytes),
        command=skill.entry.kind is EntryKind.COMMAND)


def child_request(s: IsolationSettings, attempt: Attempt, plan: AttemptPlan, *,
                  workdir: Path, own_pids: bool, hello: bool,
                  memory_cgroup: bool = False) -> dict[str, Any]:
    """``own_pids``: the child runs under a uid or user namespace of its own, so a process
    limit counts only its processes. ``hello``: the child first sends ``proto.HELLO`` on its
    socket (the engine learns its pid from it; see ``_channels.peer_pid``).
    ``memory_cgroup``: a memory cgroup bounds the attempt.

    The child's environment is its zygote's as that was started (the settings' allowlist,
    read from the engine's environment once per zygote) with the attempt's own folders on
    top: a variable the engine sets later reaches the skill's next zygote, as it would
    have reached the import."""
    command = plan.command
    skill = attempt.skill
    script = skill.entry.kind is EntryKind.SCRIPT
    interp = interpreter(skill.entry.file or "") if script else None
    # Commands and scripts run programs (node, a JVM, a Python script's pandoc) that reserve
    # far more address space than they use (node ~10 GB for any WebAssembly memory;
    # monkey-skills' epub_to_markdown.py "succeeded" with nothing written): where the
    # memory cgroup bounds them, no RLIMIT_AS; else a looser one than a Python entry's.
    # A Python script's libraries and threads reserve address space (glibc's 64 MB arena a
    # thread, OpenBLAS's buffers): under RLIMIT_AS of memory_mb, matplotlib could not map
    # fontTools' library ("failed to map segment from shared object"). Its memory is then
    # RLIMIT_DATA's (what it writes privately, reservations not) and its address space
    # 1 GB more: shared memory, which RLIMIT_DATA does not count, is bounded by that.
    memory_bytes: int | None = None
    data_bytes: int | None = None
    if not (memory_cgroup and (command or script)):
        big = command or interp not in (None, "python")
        memory_bytes = plan.memory_mb * _MB * (4 if big else 1) + (1024 * _MB if big else 0)
        if script and not big:
            data_bytes, memory_bytes = memory_bytes, memory_bytes + 1024 * _MB
    request: dict[str, Any] = {
        "kind": "command" if command else "script" if script else "python",
        "workdir": str(workdir),
        "max_input_bytes": s.max_input_bytes, "max_output_bytes": plan.max_output_bytes,
        "limits": {
            "memory_bytes": memory_bytes, "data_bytes": data_bytes,
            "cpu_seconds": plan.cpu_s, "file_size_bytes": s.max_file_size_mb * _MB,
            "open_files": s.max_open_files,
            "processes": s.max_processes * 8 if own_pids else None,
        },
    }
    wd = str(workdir)
    # The attempt's HOME, TMPDIR and XDG folders are in its workdir (what a library cached
    # at import stays in the zygote's private folder, which its attempts may write); what
    # is left in TMPDIR is no output (_script_files.collect), as a plain run's /tmp is not.
    dirs = {"HOME": wd, "TMPDIR": f"{wd}/.tmp", "XDG_CACHE_HOME": f"{wd}/.cache",
            "XDG_CONFIG_HOME": f"{wd}/.config", "XDG_DATA_HOME": f"{wd}/.local"}
    secrets = attempt.context.secrets
    if secrets:  # the operator's secrets for this skill, as environment variables
        dirs = {**secrets, **dirs}
    if script and (given := attempt.input_data.get("env")):
        # The call's own (checked before its files were written: see ProcessRunner), never
        # over the operator's secrets or the engine's folders.
        dirs = {**given, **dirs}
    # Only what it adds to the zygote's own environment (smaller to send and parse).
    request["env_extra"] = dirs
    if hello:
        request["hello"] = True
    if script:
        request["script"], request["interp"] = str(skill.entry.file), interp
        data = attempt.input_data
        if data.get("stdin") is None and args_frame(data.get("args") or ()) is not None:
            # Its script parent sets its run up before the fork (see _child_script.stage)
            # and the child reads only its arguments, as one plain frame. The arguments
            # never reach the parent: what its memory held would be inherited (freed, not
            # wiped) by the children of later calls, other callers' included.
            request["args_frame"] = True
        if interp != "python":
            request["exe"] = script_exe(s, str(interp))
    if command:
        request["exe"] = _spec.command_exe(s, skill) or skill.entry.command[0]
        request["argv"] = _spec.argv(skill)
    return request


def first_frame(attempt: Attempt, kind: str, *, args_sent: bool) -> bytes:
    """The first frame a child of ``kind`` reads: a Python entry's input and context, or
    a script's arguments (and stdin). TypeError or orjson's error: the input is not JSON."""
    if kind == "script":
        data = attempt.input_data
        args = data.get("args") or ()
        if args_sent:
            return proto.encode_frame(args_frame(args), kind=proto.KIND_BYTES)
        return proto.encode_frame({"args": args or [], "stdin": data.get("stdin")})
    ctx = attempt.context
    return proto.encode_frame({"input": attempt.input_data, "context": {
        "task_id": ctx.task_id, "skill_id": ctx.skill_id, "attempt": ctx.attempt,
        "config": ctx.config, "deadline": ctx.deadline, "trace": ctx.trace}})


def script_exe(s: IsolationSettings, interp: str) -> str:
    """The program that runs a script (``node``, ``bash``), found on the allowed PATH only;
    refused (``interpreter_unavailable``) when the operator's PATH has none."""
    exe = shutil.which(interp, path=":".join(s.path_allowlist))
    if exe is None:
        raise DependencyError(f"no {interp!r} on the allowed PATH ({':'.join(s.path_allowlist)})"
                              f" to run this script", code="interpreter_unavailable")
    return exe


def args_frame(args: Any) -> bytes | None:
    """A script's arguments as the body of a bytes frame: each one UTF-8 and NUL-ended
    (no argument holds a NUL: no program's argv can). None if one cannot be sent so."""
    try:
        out = b"".join(str(a).encode() + b"\0" for a in args)
    except UnicodeError:
        return None
    return None if out.count(b"\0") != len(args) else out
