"""The sandbox runner: the process runner plus kernel isolation in the zygote and child.

Network namespace (unless ``network_access``), Landlock (reads: interpreter, libraries, the
skill's folder and granted paths; writes: the attempt's workdir and granted paths; TCP
denied without ``network_access``; abstract-unix and signal scoping on ABI 6+), a seccomp
filter, and an unprivileged uid when the engine is root. See ``_zygote`` for the order.
"""

from __future__ import annotations

from skillexec.runtime.runners.process import ProcessRunner
from skillexec.runtime.runners.settings import IsolationSettings

__all__ = ["SandboxRunner"]


class SandboxRunner(ProcessRunner):
    name = "sandbox"

    def __init__(self, *, settings: IsolationSettings | None = None) -> None:
        super().__init__(settings=settings, sandbox=True)
