"""The skill registry: versions, semver lookups, suggestions and dependency checks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from skillexec.errors import DependencyError, ManifestError, ParameterError, SkillNotFoundError
from skillexec.skills import (
    Entry,
    EntryKind,
    PackageDependency,
    Skill,
    SkillDependency,
    SkillRegistry,
)

SKILLS = Path(__file__).resolve().parent / "fixtures" / "skills"
NO_ENTRY = Entry(EntryKind.NONE, reason="test")


def make(
    id: str,
    version: str = "1.0.0",
    *,
    needs: dict[str, str] | None = None,
    packages: tuple[PackageDependency, ...] = (),
) -> Skill:
    deps = tuple(SkillDependency(k, v) for k, v in (needs or {}).items())
    return Skill(id=id, version=version, entry=NO_ENTRY, skill_dependencies=deps,
                 dependencies=packages)


def registry(*skills: Skill) -> SkillRegistry:
    return SkillRegistry(skills)


# -- versions and lookups ------------------------------------------------------------------


def test_get_returns_the_latest_stable_version_by_default() -> None:
    reg = registry(make("csv", "1.0.0"), make("csv", "1.10.0"), make("csv", "1.2.0"),
                   make("csv", "2.0.0-beta.1"))
    assert reg.get("csv").version == "1.10.0"
    assert reg.get("csv", "*").version == "1.10.0"
    assert reg.get("csv", "latest").version == "1.10.0"
    assert reg.versions("csv") == ["1.0.0", "1.2.0", "1.10.0", "2.0.0-beta.1"]
    assert reg.versions("unknown") == []


def test_get_with_a_requirement_picks_the_latest_match() -> None:
    reg = registry(*(make("csv", v) for v in ("1.0.0", "1.4.2", "1.4.9", "2.1.0", "3.0.0")))
    assert reg.get("csv", "^1.0").version == "1.4.9"
    assert reg.get("csv", "~1.4.0").version == "1.4.9"
    assert reg.get("csv", ">=1.0 <2.0").version == "1.4.9"
    assert reg.get("csv", ">=2.0,<3.0").version == "2.1.0"
    assert reg.get("csv", "1.4.2").version == "1.4.2"
    assert reg.get("csv", "2.x || ^3").version == "3.0.0"


def test_only_prereleases_still_have_a_latest() -> None:
    reg = registry(make("new", "0.1.0-alpha.1"), make("new", "0.1.0-alpha.2"))
    assert reg.get("new").version == "0.1.0-alpha.2"


def test_unknown_id_suggests_the_closest_ids() -> None:
    reg = registry(make("csv-stats"), make("csv-analyzer"), make("text-stats"))
    with pytest.raises(SkillNotFoundError) as caught:
        reg.get("csv-stat")
    err = caught.value
    assert err.code == "skill_not_found"
    assert "no skill 'csv-stat' (did you mean 'csv-stats'" in err.message
    assert err.details["suggestions"][0] == "csv-stats"
    with pytest.raises(SkillNotFoundError) as caught:
        reg.get("csv")
    assert set(caught.value.details["suggestions"]) == {"csv-stats", "csv-analyzer"}
    with pytest.raises(SkillNotFoundError, match="loaded skills: csv-analyzer, csv-stats"):
        reg.get("zzz")
    with pytest.raises(SkillNotFoundError, match="no skills are loaded"):
        SkillRegistry().get("x", "^1")


def test_no_matching_version_names_the_requirement_and_what_is_there() -> None:
    reg = registry(make("pdf", "1.0.0"), make("pdf", "1.3.0"))
    with pytest.raises(SkillNotFoundError) as caught:
        reg.get("pdf", "^2.0")
    err = caught.value
    assert err.code == "version_not_found"
    assert err.message == "skill 'pdf' has no version matching '^2.0'; available: 1.0.0, 1.3.0"
    assert err.details["available"] == ["1.0.0", "1.3.0"]


def test_malformed_requirement_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError, match="invalid version requirement '>>1'"):
        registry(make("pdf")).get("pdf", ">>1")


def test_add_replace_remove_contains_len_and_list() -> None:
    reg = registry(make("b", "1.0.0"), make("a", "1.0.0"), make("a", "2.0.0"))
    assert len(reg) == 2
    assert [s.key for s in reg.list()] == ["a@2.0.0", "b@1.0.0"]
    assert [s.key for s in reg] == ["a@2.0.0", "b@1.0.0"]
    assert "a" in reg and "z" not in reg
    assert make("a", "1.0.0") in reg  # by id and version
    assert make("a", "3.0.0") not in reg

    newer = Skill(id="a", version="2.0", entry=NO_ENTRY, description="replacement")
    reg.add(newer)  # 2.0 == 2.0.0: replaces it
    assert reg.versions("a") == ["1.0.0", "2.0"]
    assert reg.get("a").description == "replacement"
    with pytest.raises(ManifestError, match=r"skill a@2\.0 is already registered") as caught:
        reg.add(make("a", "2.0.0"), replace=False)
    assert caught.value.code == "skill_already_registered"

    assert [s.version for s in reg.remove("a", "2.0.0")] == ["2.0"]
    assert reg.get("a").version == "1.0.0"
    with pytest.raises(SkillNotFoundError, match=r"no version matching '9\.9\.9'"):
        reg.remove("a", "9.9.9")
    assert len(reg.remove("a")) == 1
    assert "a" not in reg and len(reg) == 1
    with pytest.raises(SkillNotFoundError):
        reg.remove("a")


def test_a_malformed_version_cannot_be_registered() -> None:
    with pytest.raises(ManifestError, match="invalid version 'latest-ish'"):
        SkillRegistry().add(make("x", "latest-ish"))


def test_load_dir_adds_what_loaded_and_keeps_the_problems(tmp_path: Path) -> None:
    reg = SkillRegistry()
    report = reg.load_dir(SKILLS)
    assert len(reg) == len(report.skills) == 9
    assert {p.path.name for p in reg.problems} == {
        "bad-execution", "bad-front-matter", "broken-json", "reserved-config"}
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "skill.json").write_text("{")
    reg.load_dir(tmp_path)
    assert len(reg.problems) == 5
    reg.load_dir(SKILLS)  # loading a folder again replaces its problems, not adds to them
    assert len(reg.problems) == 5


def test_get_without_requirement_is_a_dict_lookup() -> None:
    reg = registry(*(make(f"skill-{i}", f"1.{j}.0") for i in range(200) for j in range(5)))
    start = time.perf_counter()
    for _ in range(100_000):
        reg.get("skill-42")
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5  # ~0.05 s here: tens of nanoseconds a call, not microseconds


# -- dependencies ------------------------------------------------------------------------


def test_missing_skill_dependency() -> None:
    reg = registry(make("report", needs={"csv-analyzer": "^1.2"}))
    with pytest.raises(DependencyError) as caught:
        reg.check_dependencies(reg.get("report"))
    err = caught.value
    assert err.code == "skill_dependency_missing"
    assert err.message == "skill 'report' needs skill 'csv-analyzer' ^1.2, which is not loaded"


def test_incompatible_skill_dependency_names_what_was_found() -> None:
    reg = registry(make("report", needs={"csv": "^2.0"}), make("csv", "1.3.0"),
                   make("csv", "1.4.0"))
    with pytest.raises(DependencyError) as caught:
        reg.check_dependencies(reg.get("report"))
    err = caught.value
    assert err.code == "skill_dependency_incompatible"
    assert err.message == ("skill 'report' needs skill 'csv' ^2.0, but only versions "
                           "1.3.0, 1.4.0 are loaded")
    assert err.details["found"] == ["1.3.0", "1.4.0"]


def test_satisfied_dependencies_pass_and_are_cached_until_the_registry_changes() -> None:
    reg = registry(make("report", needs={"csv": "^1.2"}))
    report = reg.get("report")
    with pytest.raises(DependencyError):
        reg.check_dependencies(report)
    with pytest.raises(DependencyError):  # from the cache, as a fresh exception
        reg.check_dependencies(report)
    reg.add(make("csv", "1.5.0"))
    reg.check_dependencies(report)
    reg.remove("csv")
    with pytest.raises(DependencyError, match="not loaded"):
        reg.check_dependencies(report)


def test_dependency_cycles_are_named() -> None:
    reg = registry(make("a", needs={"b": "*"}), make("b", needs={"c": "^1"}),
                   make("c", needs={"a": ">=1.0"}))
    with pytest.raises(DependencyError) as caught:
        reg.check_dependencies(reg.get("a"))
    assert caught.value.code == "dependency_cycle"
    assert caught.value.message == "dependency cycle: a → b → c → a"
    assert caught.value.details["cycle"] == ["a", "b", "c", "a"]
    with pytest.raises(DependencyError, match="dependency cycle: b → c → a → b"):
        reg.check_dependencies(reg.get("b"))
    selfish = make("me", needs={"me": "*"})
    with pytest.raises(DependencyError, match="dependency cycle: me → me"):
        registry(selfish).check_dependencies(selfish)


def test_transitive_failures_say_who_needed_what() -> None:
    reg = registry(make("a", needs={"b": "^1"}), make("b", needs={"c": "^1"}))
    with pytest.raises(DependencyError) as caught:
        reg.check_dependencies(reg.get("a"))
    assert caught.value.message == ("skill 'b' (needed by a) needs skill 'c' ^1, "
                                    "which is not loaded")


def test_diamond_dependencies_are_not_a_cycle() -> None:
    reg = registry(make("top", needs={"left": "*", "right": "*"}),
                   make("left", needs={"base": "^1"}), make("right", needs={"base": "~1.2"}),
                   make("base", "1.2.3"))
    reg.check_dependencies(reg.get("top"))


def test_python_packages_are_checked_against_what_is_installed() -> None:
    import pydantic

    ok = make("ok", packages=(PackageDependency("pydantic", ">=2"),
                              PackageDependency("PyYAML", ""),
                              PackageDependency("python", ">=3.11"),
                              PackageDependency("surely-not-installed-pkg", optional=True),
                              PackageDependency("pydantic", "<1", optional=True)))
    registry(ok).check_dependencies(ok)

    missing = make("m", packages=(PackageDependency("surely-not-installed-pkg", ">=1.0"),))
    with pytest.raises(DependencyError) as caught:
        registry(missing).check_dependencies(missing)
    assert caught.value.code == "package_missing"
    assert caught.value.message == ("skill 'm' needs the Python package "
                                    "'surely-not-installed-pkg' >=1.0, which is not installed")

    old = make("o", packages=(PackageDependency("pydantic", "<2"),))
    with pytest.raises(DependencyError) as caught:
        registry(old).check_dependencies(old)
    assert caught.value.code == "package_incompatible"
    assert caught.value.message == (f"skill 'o' needs the Python package 'pydantic' <2, "
                                    f"but {pydantic.VERSION} is installed")
    assert caught.value.details["installed"] == pydantic.VERSION


def test_fixture_dependencies(tmp_path: Path) -> None:
    reg = SkillRegistry()
    reg.load_dir(SKILLS)
    # report-generator needs csv-analyzer ^1.2 (1.3.0 is there) and pyyaml >=5.1
    with pytest.raises(DependencyError) as caught:
        reg.check_dependencies(reg.get("report-generator"))
    # ... and csv-analyzer itself needs pandas, which this environment does not have
    assert caught.value.code == "package_missing"
    assert "skill 'csv-analyzer' (needed by report-generator)" in caught.value.message
    reg.check_dependencies(reg.get("chart-maker"))
    assert reg.resolve("chart-maker").id == "chart-maker"

    # the same folders, with csv-analyzer's pandas dependency dropped
    folder = tmp_path / "csv-analyzer"
    folder.mkdir()
    manifest = json.loads((SKILLS / "csv-analyzer" / "skill.json").read_text())
    manifest["dependencies"] = []
    (folder / "skill.json").write_text(json.dumps(manifest))
    reg.load_dir(folder)
    reg.check_dependencies(reg.get("report-generator"))


def test_a_dependency_that_names_a_loaded_skill_is_no_package(tmp_path: Path) -> None:
    """aws-agent-skills: ``dependencies: [aws-orchestrator]`` names the skill its pipeline
    starts from; calls were refused, "needs the Python package 'aws-orchestrator'"."""
    for name, deps in (("lambda-deployer", "[aws-orchestrator]"), ("aws-orchestrator", "[]")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: d\ndependencies: {deps}\n---\nBody.\n")
    # Python of its own: a skill that runs none installs no Python package anyway.
    (tmp_path / "lambda-deployer" / "deploy.py").write_text("print(1)\n")
    registry = SkillRegistry()
    registry.load_dir(tmp_path)
    registry.check_dependencies(registry.get("lambda-deployer"))
    (tmp_path / "aws-orchestrator" / "SKILL.md").unlink()
    (tmp_path / "aws-orchestrator").rmdir()
    alone = SkillRegistry()
    alone.load_dir(tmp_path)
    with pytest.raises(DependencyError, match="needs the Python package 'aws-orchestrator'"):
        alone.check_dependencies(alone.get("lambda-deployer"))
