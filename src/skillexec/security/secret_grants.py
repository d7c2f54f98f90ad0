"""SecretGrants: the skill ids ``[security] skill_secrets`` hands secrets to, held to one
folder each.

Secrets are handed by id, and an id is whatever a manifest says: a second folder claiming
a granted id with a higher version took its calls, and the secrets with them. The skill
book tells this object which folders claim each granted id (after every load and
register); while more than one does, every call of that id is refused before anything
runs, so nothing is handed to either folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from skillexec.errors import SkillPermissionError
from skillexec.scripts import base_id
from skillexec.security.claims import keep_contested
from skillexec.skills.model import Skill

__all__ = ["SecretGrants"]


@dataclass
class SecretGrants:
    ids: frozenset[str] = frozenset()  # the ids secrets are handed to
    _contested: dict[str, tuple[str, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False)

    def claims(self, contested: Mapping[str, tuple[str, ...]]) -> None:
        """Told the ids more than one folder claims, and those folders (ids handed no
        secrets are ignored)."""
        keep_contested(self._contested, contested, self.ids)

    def check(self, skill: Skill) -> None:
        """Raise unless ``skill`` may be handed its id's secrets (or it is handed none): a
        script's are its skill's (``x:scripts/a.py`` gets ``x``'s), so a script of a folder
        that claims ``x`` beside another is refused as a call of ``x`` is."""
        if not self._contested:
            return
        sid = base_id(skill)  # a script's secrets are its skill's alone
        folders = self._contested.get(sid)
        if folders is not None:
            raise SkillPermissionError(
                f"skill {sid!r} is handed secrets by skill_secrets, but {len(folders)} "
                f"folders claim that id ({', '.join(folders)}): no call of it runs until "
                "only one does", code="secret_not_granted",
                details={"skill_id": sid, "folders": list(folders),
                         "setting": "skill_secrets"})

