"""The package names a skill's files tie to another index or source (see ``sources``).

Such a skill is refused (``invalid_requirements``) until its author names packages of the
operator's index; meanwhile ``skills check`` must not offer those names as packages to
install: ``skills install ID hpkg`` would fetch whatever the public index has under the
name the author meant for their own index or git repository.
"""

from __future__ import annotations

from skillexec.environments.requirements import pep723_block
from skillexec.environments.sources import tied_in_lines, tied_in_script
from skillexec.errors import SkillExecError
from skillexec.skills.folder_files import FolderFileTooLarge, read_folder_file
from skillexec.skills.manifest import MAX_MANIFEST_BYTES
from skillexec.skills.model import Skill

__all__ = ["tied_names"]


def tied_names(skill: Skill) -> frozenset[str]:
    """Canonical names the skill's requirements files and PEP 723 blocks take from
    elsewhere (never raises: a file that cannot be read ties nothing)."""
    if skill.path is None:
        return frozenset()
    names: set[str] = set()
    folders = [skill.path] + ([skill.plugin_root] if skill.plugin_root is not None else [])
    for folder in folders:
        for rel in ("requirements.txt", "scripts/requirements.txt"):
            try:
                data = read_folder_file(folder / rel, max_bytes=MAX_MANIFEST_BYTES)
            except (FolderFileTooLarge, OSError):
                continue
            if data is not None:
                names |= tied_in_lines(data.decode("utf-8", errors="replace"))
    for rel in skill.scripts:
        if rel.endswith(".py"):
            try:
                names |= tied_in_script(pep723_block(skill.path / rel))
            except SkillExecError:
                continue
    return frozenset(names)
