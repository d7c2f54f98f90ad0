"""Skills: what they are (model), how folders and functions become them, and the registry."""

from __future__ import annotations

from skillexec.skills.decorator import skill, skill_of
from skillexec.skills.loader import (
    LoadProblem,
    LoadReport,
    is_skill_folder,
    load_skill,
    load_skills,
)
from skillexec.skills.model import (
    Entry,
    EntryKind,
    ExecutionSettings,
    Isolation,
    PackageDependency,
    Permission,
    Skill,
    SkillDependency,
)
from skillexec.skills.registry import SkillRegistry
from skillexec.skills.schema import normalize_parameters_schema
from skillexec.skills.semver import best_match, matches

__all__ = [
    "Entry",
    "EntryKind",
    "ExecutionSettings",
    "Isolation",
    "LoadProblem",
    "LoadReport",
    "PackageDependency",
    "Permission",
    "Skill",
    "SkillDependency",
    "SkillRegistry",
    "best_match",
    "is_skill_folder",
    "load_skill",
    "load_skills",
    "matches",
    "normalize_parameters_schema",
    "skill",
    "skill_of",
]
