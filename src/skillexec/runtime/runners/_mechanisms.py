"""Whether an isolated runner takes a skill, and which kernel mechanisms its zygote gets.

A manifest is a request, never a grant: the permission policy decides what it may have, and
a level this machine cannot give is refused unless weaker isolation is allowed.
"""

from __future__ import annotations

from skillexec.errors import ErrorInfo, ErrorSeverity, ErrorType, SkillPermissionError
from skillexec.runtime.capabilities import Capabilities, missing_for
from skillexec.runtime.runners.settings import IsolationSettings
from skillexec.skills.model import EntryKind, Permission, Skill

__all__ = ["mechanisms", "refusal"]


def refusal(level: str, settings: IsolationSettings, caps: Capabilities,
            skill: Skill) -> ErrorInfo | None:
    """Why the ``level`` runner ("process" or "sandbox") will not run this skill, or None."""
    kind = skill.entry.kind
    if kind is EntryKind.NONE:
        reason = f": {skill.entry.reason}" if skill.entry.reason else ""
        return ErrorInfo(type=ErrorType.DEPENDENCY, code="no_entry_point",
                         message=f"skill {skill.id!r} has no executable entry{reason}")
    if kind is EntryKind.CALLABLE:
        return ErrorInfo(type=ErrorType.DEPENDENCY, code="entry_not_isolatable",
                         message=f"skill {skill.id!r} is an in-memory function; it can "
                                 f"only run inline, not in a {level} child")
    try:
        settings.permission_policy.check(skill)
    except SkillPermissionError as exc:
        return exc.info
    network = bool(skill.permissions & {Permission.NETWORK_ACCESS,
                                         Permission.DATABASE_ACCESS})
    missing = missing_for(level, caps, network=network)
    if missing and not settings.allow_weaker_isolation:
        return ErrorInfo(
            type=ErrorType.RESOURCE, code="isolation_unavailable",
            severity=ErrorSeverity.CRITICAL,
            message=f"skill {skill.id!r} needs {level} isolation, which this machine "
                    f"cannot give: missing {', '.join(missing)}",
            details={"missing": missing, "level": level})
    return None


def mechanisms(settings: IsolationSettings, caps: Capabilities, skill: Skill, *,
               sandbox: bool) -> dict[str, bool]:
    """Which mechanisms this skill's zygote uses (a weaker level only if allowed)."""
    c = caps
    perms = skill.permissions
    network = Permission.NETWORK_ACCESS in perms
    netns = (sandbox and c.network_namespaces and not network
             and Permission.DATABASE_ACCESS not in perms)
    return {
        "uid": c.is_root and (sandbox or settings.drop_privileges_in_process),
        "netns": netns,
        # Without root, namespaces need a user namespace of their own.
        "userns": not c.is_root and c.user_namespaces and (netns or c.pid_namespaces),
        "pidns": c.pid_namespaces,
        "landlock": sandbox and c.landlock_abi >= 1,
        "seccomp": sandbox and c.seccomp,
    }
