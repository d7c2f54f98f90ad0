"""Authorization at admission: may this principal run this skill, with what it asks for?

A stage of the pipeline, run on the resolved skill before any other admission check: the
skill must be among the principal's grants, and the manifest permissions the skill asks
for must stay under the principal's ceiling (its key's ``permissions``, and the
``access.role_permissions`` setting for its role). A refusal is a ``permission_error``;
the engine journals and audits it as any refused call.
"""

from __future__ import annotations

from collections.abc import Mapping

from skillexec.errors import SkillPermissionError
from skillexec.scripts import base_id
from skillexec.security.principals import LOCAL, Principal
from skillexec.skills.model import Skill

__all__ = ["Authorization"]


class Authorization:
    def __init__(self, *, role_permissions: Mapping[str, frozenset[str]]) -> None:
        self._ceilings = {role: frozenset(str(p) for p in perms)
                          for role, perms in role_permissions.items()}
        self._local_free = "admin" not in self._ceilings  # else local has a ceiling too

    def ceiling(self, who: Principal) -> frozenset[str] | None:
        """The most manifest permissions a skill run by ``who`` may get (None: no ceiling)."""
        by_role = self._ceilings.get(who.role.value)
        if who.permissions is None:
            return by_role
        return who.permissions if by_role is None else who.permissions & by_role

    def check(self, who: Principal, skill: Skill) -> None:
        """Raise SkillPermissionError if ``who`` may not run ``skill``."""
        if who is LOCAL and self._local_free:  # the CLI, unnamed Python callers: no check
            return
        # A script's call is its skill's to grant (a key granted a plugin's skill plug:a ran
        # plain skill plug's script a, whose task id is plug:a too).
        if not who.may_run(base_id(skill)):
            raise SkillPermissionError(
                f"principal {who.id!r} ({who.role.value}) may not run skill {skill.id!r}",
                code="skill_not_granted",
                details={"principal": who.id, "skill_id": skill.id})
        if not skill.permissions:  # most skills ask for none: no ceiling to work out
            return
        ceiling = self.ceiling(who)
        if ceiling is not None:
            over = {p.value for p in skill.permissions} - ceiling
            if over:
                raise SkillPermissionError(
                    f"skill {skill.id!r} asks for permissions principal {who.id!r} may not "
                    f"grant: {', '.join(sorted(over))}", code="permission_beyond_grant",
                    details={"principal": who.id, "skill_id": skill.id,
                             "refused": sorted(over)})
