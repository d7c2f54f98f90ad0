"""The folder a task's skill came from, and the rule for running a journaled task again.

The journal names a task's skill by id, and an id is whatever a manifest says: two folders
may claim one (the second is not loaded, "already defined", yet runs by its path; an equal
version registered later replaces the first), and which one an id names can change between
a task's acceptance and a restart. So a task also keeps its skill's folder
(``Request.folder``), and whatever runs it again (``tasks replay``, an engine resuming it
after a restart, a distributed worker's claim) first asks :meth:`FolderCheck.refusal`
whether the id still names that folder here: a task never runs another folder's code
under its id (nor has that folder's environment made for it).

On one node the rule is strict: the folder must be the same. A distributed worker's folder
is its own (README, "Distributed mode": its copy of the skill is what runs, wherever its
skills folder is), so there a task is refused only where the worker itself knows the
task's folder as one claiming the id, and the id names another of its folders.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Collection

from skillexec.errors import SkillNotFoundError
from skillexec.scripts import base_id
from skillexec.skills.model import EntryKind, Skill
from skillexec.task import Request

__all__ = ["FolderCheck", "folder_of"]


def folder_of(skill: Skill) -> str:
    """What the journal keeps of a skill's folder: its absolute path ("" without one).
    A loaded folder's path is already resolved (``load_skill``): no system call per task."""
    path = skill.path
    if path is None:
        return ""
    return str(path) if path.is_absolute() else os.path.abspath(path)


class FolderCheck:
    """The rule, for one engine (``distributed``: a worker's, which runs claims)."""

    def __init__(self, *, claimants: Callable[[str], Collection[str]],
                 distributed: bool = False) -> None:
        self.claimants = claimants  # an id -> every folder that claimed it on this node
        self.distributed = distributed

    def refusal(self, task_id: str, request: Request,
                skill: Skill) -> SkillNotFoundError | None:
        """Why ``skill``, what ``request``'s id names here, must not run it (None: it may)."""
        ran = request.folder
        if ran is None:  # a journal from before folders were kept: only the id is known
            return _unknown(task_id, skill, self.claimants(base_id(skill)))
        here = folder_of(skill)
        if here == ran:  # a loaded folder's path is its real path: one spelling each
            return None
        if self.distributed and not self._claims_here(base_id(skill), ran):
            return None  # another node's folder: this worker's copy is what runs here
        return _refused(task_id, skill, ran, here)

    def _claims_here(self, skill_id: str, folder: str) -> bool:
        if not folder:
            return False
        real = os.path.realpath(folder)
        return any(os.path.realpath(c) == real for c in self.claimants(skill_id))


def _unknown(task_id: str, skill: Skill, claimants: Collection[str],
             ) -> SkillNotFoundError | None:
    """A task journaled without its folder: run by its id, as it was then, unless several
    folders claim the id here (which of them it ran, nothing says)."""
    folders = sorted({os.path.realpath(c) for c in claimants})
    if len(folders) < 2:
        return None
    name = base_id(skill)
    return SkillNotFoundError(
        f"task {task_id} was journaled without its skill's folder (by an older skillexec), "
        f"and {len(folders)} folders claim {name!r} here ({', '.join(folders)}): not run, "
        "since nothing says which of them it ran; submit the call again",
        code="skill_folder_differs",
        details={"task_id": task_id, "skill_id": skill.id, "folder": None,
                 "folders_here": folders})


def _refused(task_id: str, skill: Skill, ran: str, here: str) -> SkillNotFoundError:
    name = base_id(skill)
    script = (skill.entry.attr or "") if skill.entry.kind is EntryKind.SCRIPT else None
    what = f"script {script} of skill {name!r}" if script is not None else f"skill {name!r}"
    there = bool(ran) and os.path.isdir(ran)
    theirs = f"the folder {ran}" if ran else "a function registered in its process"
    gone = " (no longer there)" if ran and not there else ""
    ours = f"the one at {here}" if here else "a function registered in this process"
    if not there:
        todo = "submit the call again"
    elif script is not None:
        todo = (f"to run that folder's script again, name the folder: skillexec script "
                f"{shlex.quote(ran)} {shlex.quote(script)} (with its arguments)")
    else:
        todo = f"to run that folder again, name it: skillexec run {shlex.quote(ran)}"
    return SkillNotFoundError(
        f"task {task_id} ran {what} from {theirs}{gone}, but {name!r} here is {ours}: "
        f"not run with another folder's code under its id; {todo}",
        code="skill_folder_differs",
        details={"task_id": task_id, "skill_id": skill.id, "folder": ran,
                 "folder_here": here})
