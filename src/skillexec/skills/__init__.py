"""Skills: what they are (model), how folders and functions become them, and the registry.

Names are imported on first use (PEP 562), so code that needs only the model (the runners'
warm zygotes) does not import pydantic and the loaders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "skill": "decorator", "skill_of": "decorator",
    "LoadProblem": "loader", "LoadReport": "loader", "is_skill_folder": "loader",
    "load_skill": "loader", "load_skills": "loader",
    "Entry": "model", "EntryKind": "model", "ExecutionSettings": "model", "Isolation": "model",
    "PackageDependency": "model", "Permission": "model", "Skill": "model",
    "SkillDependency": "model",
    "SkillRegistry": "registry",
    "normalize_parameters_schema": "schema",
    "best_match": "semver", "matches": "semver",
}

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


def __getattr__(name: str) -> Any:
    import importlib

    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'skillexec.skills' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"skillexec.skills.{module}"), name)
    globals()[name] = value
    return value
