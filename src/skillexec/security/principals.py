"""Principals and roles: who asks, and what that role may do (DESIGN §4.5).

Every task has a principal. A Python caller that names none is ``local`` (an admin, as the
CLI is); a plain name (``principal="alice"``) is a runner of that name with every skill; an
API key authenticates to the :class:`Principal` it was created for (its name, role and
grants). Decisions are dictionary and set lookups: they run on every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from types import MappingProxyType

from skillexec.errors import ParameterError

__all__ = ["ACTIONS", "LOCAL", "LOCAL_ID", "Principal", "Role", "Who", "principal_id",
           "principal_of"]


class Role(StrEnum):
    ADMIN = "admin"  # everything
    OPERATOR = "operator"  # run, cancel and read any task, reports
    RUNNER = "runner"  # run the skills it is granted, read its own tasks and artifacts
    VIEWER = "viewer"  # read-only reports and skills
    AUDITOR = "auditor"  # the audit log, nothing else (separation of duties)


# route-level action -> the roles that may take it
ACTIONS: MappingProxyType[str, frozenset[Role]] = MappingProxyType({
    "run": frozenset({Role.ADMIN, Role.OPERATOR, Role.RUNNER}),
    "cancel_any": frozenset({Role.ADMIN, Role.OPERATOR}),
    "read_any": frozenset({Role.ADMIN, Role.OPERATOR}),
    "reports": frozenset({Role.ADMIN, Role.OPERATOR, Role.VIEWER}),
    "skills": frozenset({Role.ADMIN, Role.OPERATOR, Role.RUNNER, Role.VIEWER}),
    "keys": frozenset({Role.ADMIN}),
    "audit": frozenset({Role.ADMIN, Role.AUDITOR}),
})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a call is for.

    ``skills``: the skill ids (or ``fnmatch`` patterns such as ``csv.*``) it may run; None:
    every skill. ``permissions``: a ceiling on the manifest permissions a skill it runs may
    be granted (names such as ``network_access``); None: no ceiling beyond the engine's
    policy. ``key_id``: the API key it authenticated with, if any.
    """

    id: str
    role: Role
    skills: frozenset[str] | None = None
    key_id: str | None = None
    permissions: frozenset[str] | None = None

    @classmethod
    def local(cls) -> Principal:
        """The CLI's (and an unnamed Python caller's) principal: ``local``, an admin."""
        return LOCAL

    def can(self, action: str) -> bool:
        """Whether this role may take a route-level action (see :data:`ACTIONS`); an action
        nobody listed is refused (fail closed)."""
        roles = ACTIONS.get(action)
        return roles is not None and self.role in roles

    def may_run(self, skill_id: str) -> bool:
        return self.role in _RUNNERS and self.granted(skill_id)

    def granted(self, skill_id: str) -> bool:
        """Whether the key's skill grants name ``skill_id`` (none: every skill), whatever
        its role: what it is shown of the skills (a viewer reads them, runs none)."""
        grants = self.skills
        if grants is None or skill_id in grants:
            return True
        return any(("*" in g or "?" in g or "[" in g) and fnmatchcase(skill_id, g)
                   for g in grants)

    def may_read_task(self, owner_principal_id: str | None) -> bool:
        """Its own tasks (``None``, a task from before principals, is ``local``'s), or any
        with ``read_any``."""
        return self.role in _READ_ANY or (owner_principal_id or LOCAL_ID) == self.id

    def may_cancel_task(self, owner_principal_id: str | None) -> bool:
        return self.role in _CANCEL_ANY or (
            (owner_principal_id or LOCAL_ID) == self.id and self.role in _RUNNERS)


Who = str | Principal | None  # what a caller may pass as ``principal=``
LOCAL_ID = "local"
LOCAL = Principal(LOCAL_ID, Role.ADMIN)
_RUNNERS = ACTIONS["run"]
_READ_ANY = ACTIONS["read_any"]
_CANCEL_ANY = ACTIONS["cancel_any"]


def principal_id(given: Who) -> str | None:
    """The principal a task is journaled under (None: ``local``); never raises (a refused
    call is still journaled)."""
    if isinstance(given, Principal):
        return None if given is LOCAL else given.id
    return given if isinstance(given, str) and given.strip() and given != LOCAL_ID else None


def principal_of(given: Who) -> Principal:
    """The principal of a call: None (or ``"local"``) is ``local``, an admin; another name
    is a runner of that name with every skill (a Python caller is trusted to say whom a
    call is for, never to raise its rights); a Principal is itself."""
    if given is None or given == LOCAL_ID:  # "local" by name is local itself
        return LOCAL
    if isinstance(given, Principal):
        return given
    if not isinstance(given, str) or not given.strip():
        raise ParameterError(f"principal must be a name or a Principal (got {given!r})",
                             code="invalid_principal")
    return Principal(given, Role.RUNNER)
