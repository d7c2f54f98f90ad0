"""Security mechanisms: permission policy, Landlock, seccomp, privilege dropping.

Names are imported on first use (PEP 562): the warm zygotes import ``landlock``,
``seccomp``, ``fsview`` and ``privileges`` from here, and the policy would bring the skill
loaders (YAML, ``packaging``: ~7 MB) into every zygote, whose memory each fork copies the
page tables of and each child's exit frees again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skillexec.security.policy import DEFAULT_DATABASE_PORTS, PermissionPolicy

__all__ = ["DEFAULT_DATABASE_PORTS", "PermissionPolicy"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'skillexec.security' has no attribute {name!r}")
    from skillexec.security import policy

    value = getattr(policy, name)
    globals()[name] = value
    return value
