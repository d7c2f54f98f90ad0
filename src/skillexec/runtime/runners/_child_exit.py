"""What a child's exit says when it ended without an answer: the error it is reported as."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from skillexec.errors import ErrorInfo, ErrorType
from skillexec.runtime.limits import CgroupSlot
from skillexec.runtime.runners._zygote_handle import ChildExit

__all__ = ["exit_error"]


def exit_error(child: ChildExit, *, cpu_limit_s: float | None, slot: CgroupSlot | None,
               stderr_tail: Callable[[], str]) -> ErrorInfo:
    """The error of a child that exited (or vanished) without answering: its CPU limit,
    its memory limit, the sandbox's seccomp filter, or a crash with its signal or status."""
    status = child.status
    if status is None:
        return ErrorInfo(type=ErrorType.EXECUTION, code="child_crashed",
                         message="the child process vanished (its zygote died)",
                         retryable=True)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        cpu = child.cpu_s or 0.0
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_limit_s is not None
                                     and cpu >= cpu_limit_s):
            return ErrorInfo(type=ErrorType.RESOURCE, code="cpu_limit_exceeded",
                             message=f"the skill used more than {cpu_limit_s:g} s of CPU")
        if sig == signal.SIGKILL and slot is not None and slot.oom_killed():
            return ErrorInfo(type=ErrorType.RESOURCE, code="memory_limit_exceeded",
                             message="the skill exceeded its memory limit (killed by the "
                                     "kernel)")
        if sig == signal.SIGSYS:
            return ErrorInfo(type=ErrorType.PERMISSION, code="sandbox_denied",
                             message="the sandbox killed the skill for a forbidden system "
                                     "call")
        return ErrorInfo(type=ErrorType.EXECUTION, code="child_crashed",
                         message=f"the child process was killed by {name}",
                         details={"signal": name, "stderr": stderr_tail()})
    code = os.WEXITSTATUS(status)
    if slot is not None and slot.oom_killed():
        return ErrorInfo(type=ErrorType.RESOURCE, code="memory_limit_exceeded",
                         message="the skill exceeded its memory limit")
    return ErrorInfo(type=ErrorType.EXECUTION, code="child_crashed",
                     message=f"the child process exited with status {code} without an "
                             "answer",
                     details={"exit_code": code, "stderr": stderr_tail()})
