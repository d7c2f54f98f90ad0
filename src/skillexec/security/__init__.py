"""Security mechanisms: permission policy, Landlock, seccomp, privilege dropping."""

from skillexec.security.policy import DEFAULT_DATABASE_PORTS, PermissionPolicy

__all__ = ["DEFAULT_DATABASE_PORTS", "PermissionPolicy"]
