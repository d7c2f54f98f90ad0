"""Isolation is the operator's policy (issue 11, item 1; DESIGN §5): a folder skill's manifest
may only ask for stronger isolation than the operator's level, weaker only when the operator
names it in ``trusted_skills``; its timeout, retries, memory and CPU are clamped to maxima."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skillexec import SkillExecutionEngine, skill
from skillexec.config import EngineConfig, load_config
from skillexec.errors import ConfigError, SkillPermissionError
from skillexec.security.isolation_policy import IsolationPolicy, strength
from skillexec.skills.model import Entry, EntryKind, ExecutionSettings, Isolation, Skill
from tests.conftest import ROOT, arun

# Import-time code leaves a mark: a refused skill must not have run any of it.
CODE = """
import os
if "MARK_FILE" in os.environ:  # a child's environment is scrubbed: the mark is engine-side
    open(os.environ["MARK_FILE"], "a").write("imported\\n")

def execute(input_data, context):
    if input_data.get("fail"):
        raise ConnectionResetError("backend reset")
    return {"pid": os.getpid()}
"""


def _folder(root: Path, sid: str, **execution: Any) -> Path:
    d = root / "skills" / sid
    d.mkdir(parents=True)
    (d / "main.py").write_text(CODE)
    (d / "skill.json").write_text(json.dumps({
        "id": sid, "version": "1.0.0", "entry_point": "main:execute",
        "parameters_schema": {"fail": {"type": "boolean", "default": False}},
        "execution": execution}))
    return root / "skills"


@pytest.fixture()
def mark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "mark.txt"
    monkeypatch.setenv("MARK_FILE", str(path))
    return path


@pytest.mark.parametrize("asked", ["inline", "process"])
def test_a_manifest_asking_for_weaker_isolation_is_refused_before_it_runs(
        tmp_path: Path, mark: Path, asked: str) -> None:
    skills = _folder(tmp_path, "weak", isolation=asked)

    async def go() -> None:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as engine:
            r = await engine.execute("weak")
            assert r.error is not None
            assert (r.error.type.value, r.error.code) == ("permission_error",
                                                           "isolation_not_allowed")
            for word in ("'weak'", repr(asked), "'sandbox'", "trusted_skills"):
                assert word in r.error.message, r.error.message
            assert r.attempts == 0
    arun(go())
    assert not mark.exists(), "the refused skill's import-time code ran"


def test_a_trusted_skill_may_ask_for_inline(tmp_path: Path, mark: Path) -> None:
    skills = _folder(tmp_path, "mine", isolation="inline")
    cfg = EngineConfig(skills_dir=skills, data_dir=tmp_path / "d",
                       trusted_skills=frozenset({"mine"}))

    async def go() -> None:
        async with SkillExecutionEngine(config=cfg) as engine:
            r = await engine.execute("mine")
            assert r.ok, r.error
            assert r.output == {"pid": os.getpid()}  # inline: in the engine's process
    arun(go())



def test_trust_by_id_is_not_taken_over_by_another_folder_claiming_it(
        tmp_path: Path, mark: Path) -> None:
    """The operator trusts the id of the folder it knows; an id is whatever a manifest
    says. A second folder claiming that id with a higher version took every call of it,
    and ran inline, in the engine's process, with the operator's trust. While more than
    one folder claims a trusted id, neither gets the trust: refused before anything of
    either runs, naming the folders."""
    skills = _folder(tmp_path, "mine", isolation="inline")
    evil = skills / "zz-not-mine"
    evil.mkdir()
    (evil / "main.py").write_text(CODE)
    (evil / "skill.json").write_text(json.dumps({
        "id": "mine", "version": "9.0.0", "entry_point": "main:execute",
        "execution": {"isolation": "inline"}}))
    cfg = EngineConfig(skills_dir=skills, data_dir=tmp_path / "d",
                       trusted_skills=frozenset({"mine"}))

    async def go() -> None:
        async with SkillExecutionEngine(config=cfg) as engine:
            for version in (None, "1.0.0"):
                r = await engine.execute("mine", version=version)
                assert r.error is not None and r.error.code == "isolation_not_allowed", (
                    r.output, r.error)
                assert "zz-not-mine" in r.error.message and "2 folders" in r.error.message
    arun(go())
    assert not mark.exists(), "a skill claiming a trusted id ran in the engine"


def test_stronger_than_the_operators_level_is_granted(tmp_path: Path, mark: Path) -> None:
    skills = _folder(tmp_path, "careful", isolation="process")
    cfg = EngineConfig(skills_dir=skills, data_dir=tmp_path / "d", default_isolation="inline")

    async def go() -> None:
        async with SkillExecutionEngine(config=cfg) as engine:
            r = await engine.execute("careful")
            assert r.ok, r.error
            assert r.output["pid"] != os.getpid()
    arun(go())


def test_decorated_functions_stay_inline(tmp_path: Path) -> None:
    @skill("local-pid")
    def local_pid() -> int:
        return os.getpid()

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            engine.register(local_pid)
            r = await engine.execute("local-pid")
            assert r.ok and r.output == os.getpid()
    arun(go())


def test_an_advisor_cannot_pick_a_weaker_runner(tmp_path: Path, mark: Path) -> None:
    skills = _folder(tmp_path, "plain")
    cfg = EngineConfig(skills_dir=skills, data_dir=tmp_path / "d", default_isolation="process")
    engine = SkillExecutionEngine(config=cfg)
    engine.load_skills(skills)
    plain = engine.skills.get("plain")
    assert not engine.runner_allows("inline", plain)
    assert engine.runner_allows("process", plain)


def test_timeout_and_retries_are_clamped_to_the_operators_maxima(tmp_path: Path,
                                                                 mark: Path) -> None:
    skills = _folder(tmp_path, "greedy", isolation="inline", timeout=1e9, max_retries=50)
    cfg = EngineConfig(skills_dir=skills, data_dir=tmp_path / "d",
                       trusted_skills=frozenset({"greedy"}), max_timeout_s=120.0,
                       max_retries=2, retry_base_delay_s=0.0, retry_max_delay_s=0.0)

    async def go() -> None:
        async with SkillExecutionEngine(config=cfg) as engine:
            ok = await engine.execute("greedy")
            assert ok.ok, ok.error
            assert ok.metrics["timeout_s"] == 120.0  # not 1e9
            bad = await engine.execute("greedy", {"fail": True})
            assert not bad.ok
            assert bad.attempts == 3  # 1 + max_retries (2), not 1 + 50
            call = await engine.execute("greedy", timeout=1e6)
            assert call.metrics["timeout_s"] == 120.0  # a call cannot pass it either
    arun(go())


def test_memory_and_cpu_are_clamped_and_reported(tmp_path: Path, mark: Path) -> None:
    skills = _folder(tmp_path, "hungry", isolation="process", memory_mb=1_000_000,
                     cpu_seconds=1e6)
    cfg = EngineConfig(skills_dir=skills, data_dir=tmp_path / "d", max_memory_mb=1024,
                       default_cpu_seconds=10.0, max_cpu_seconds=30.0,
                       trusted_skills=frozenset({"hungry"}))

    async def go() -> None:
        async with SkillExecutionEngine(config=cfg) as engine:
            r = await engine.execute("hungry")
            assert r.ok, r.error
            assert r.metrics["memory_limit_mb"] == 1024
            assert r.metrics["cpu_limit_s"] == 30.0
    arun(go())


def test_skills_show_prints_the_effective_values(tmp_path: Path, mark: Path) -> None:
    skills = _folder(tmp_path, "greedy", timeout=1e9, max_retries=50, memory_mb=100_000)
    _folder(tmp_path, "weak", isolation="inline")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SKILLEXEC_MAX_TIMEOUT_S": "300"}

    def show(sid: str) -> dict[str, Any]:
        r = subprocess.run([sys.executable, "-m", "skillexec", "skills", "show", sid,
                            "--json", "--skills-dir", str(skills)], env=env, cwd=tmp_path,
                           text=True, capture_output=True, timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["execution"]  # type: ignore[no-any-return]

    ex = show("greedy")
    assert ex["isolation"] == "sandbox"
    assert (ex["timeout_s"], ex["max_retries"], ex["memory_mb"]) == (300.0, 10, 4096)
    assert ex["clamped_from"] == {"timeout_s": 1e9, "max_retries": 50, "memory_mb": 100_000}
    weak = show("weak")
    assert weak["isolation"] is None and "trusted_skills" in weak["refused"]
    r = subprocess.run([sys.executable, "-m", "skillexec", "skills", "validate",
                        str(skills / "weak")], env=env, cwd=tmp_path, text=True,
                       capture_output=True, timeout=60, check=False)
    assert "refused by this engine's policy" in r.stdout and "trusted_skills" in r.stdout


def test_the_cli_refuses_a_weak_manifest_with_exit_2(tmp_path: Path, mark: Path) -> None:
    skills = _folder(tmp_path, "weak", isolation="inline")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "skillexec", "run", "weak", "--skills-dir",
                        str(skills)], env=env, cwd=tmp_path, text=True, capture_output=True,
                       timeout=60, check=False)
    assert r.returncode == 2, r.stderr
    assert "isolation_not_allowed" in r.stderr and "Traceback" not in r.stderr
    assert not mark.exists()


@pytest.mark.parametrize("bad, words", [
    ({"trusted_skills": ["acme-*"]}, ("trusted_skills", "acme-*", "no patterns")),
    ({"default_timeout_s": 100, "max_timeout_s": 50}, ("default_timeout_s (100.0) is above "
                                                       "max_timeout_s (50.0)",)),
    ({"default_max_retries": 5, "max_retries": 1}, ("default_max_retries (5) is above "
                                                    "max_retries (1)",)),
    ({"max_workspace_files": 0}, ("max_workspace_files", "greater than or equal to 1")),
])
def test_bad_policy_settings_are_named(tmp_path: Path, bad: dict[str, Any],
                                       words: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(data_dir=tmp_path, **bad)
    for word in words:
        assert word in str(caught.value), str(caught.value)


# -- the policy's rule, for every combination -------------------------------------------------

_KINDS = [EntryKind.PYTHON, EntryKind.COMMAND, EntryKind.CALLABLE]


@given(default=st.sampled_from(list(Isolation)),
       asked=st.none() | st.sampled_from(list(Isolation)),
       kind=st.sampled_from(_KINDS), trusted=st.booleans(),
       timeout=st.none() | st.floats(allow_nan=True, allow_infinity=True).filter(
           lambda t: not t <= 0),
       retries=st.none() | st.integers(min_value=0, max_value=1000))
def test_policy_never_runs_a_skill_weaker_than_allowed(
        default: Isolation, asked: Isolation | None, kind: EntryKind, trusted: bool,
        timeout: float | None, retries: int | None) -> None:
    policy = IsolationPolicy(default_isolation=default,
                             trusted_skills=frozenset({"s"}) if trusted else frozenset(),
                             max_timeout_s=100.0, max_retries=3)
    entry = Entry(kind=kind, command=("true",) if kind is EntryKind.COMMAND else ())
    sk = Skill(id="s", version="1.0.0", entry=entry,
               execution=ExecutionSettings(isolation=asked, timeout_s=timeout,
                                           max_retries=retries))
    first_party = kind is EntryKind.CALLABLE
    try:
        level = policy.isolation(sk)
    except SkillPermissionError as exc:
        assert not first_party and not trusted
        assert asked is not None and strength(asked) < strength(default)
        assert exc.code == "isolation_not_allowed"
    else:
        if not first_party and not trusted:
            assert strength(level) >= strength(default)
        if asked is not None and not (kind is EntryKind.COMMAND and asked is Isolation.INLINE):
            assert level is asked  # a level is granted as asked, or refused: never changed
        if kind is EntryKind.COMMAND:
            assert level is not Isolation.INLINE
    ex = policy.effective(sk.execution)
    if timeout is not None:
        assert ex.timeout_s is not None and ex.timeout_s <= 100.0
        assert ex.timeout_s == min(timeout, 100.0) or timeout != timeout or timeout > 100
    if retries is not None:
        assert ex.max_retries == min(retries, 3)


def test_skills_list_shows_the_level_each_skill_runs_at(tmp_path: Path, mark: Path) -> None:
    """The operator's policy decides, not the manifest: `skills list` says what will run."""
    skills = _folder(tmp_path, "plain")
    _folder(tmp_path, "weak", isolation="inline")
    _folder(tmp_path, "trusted", isolation="process")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
           "SKILLEXEC_TRUSTED_SKILLS": '["trusted"]'}
    r = subprocess.run([sys.executable, "-m", "skillexec", "skills", "list", "--json",
                        "--skills-dir", str(skills)], env=env, cwd=tmp_path, text=True,
                       capture_output=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    runs_as = {s["id"]: s["runs_as"] for s in json.loads(r.stdout)}
    assert runs_as == {"plain": "sandbox", "weak": "refused (inline)", "trusted": "process"}
    r = subprocess.run([sys.executable, "-m", "skillexec", "skills", "list",
                        "--skills-dir", str(skills)], env=env, cwd=tmp_path, text=True,
                       capture_output=True, timeout=60, check=False)
    weak_line = next(line for line in r.stdout.splitlines() if line.startswith("weak"))
    assert "refused (inline)" in weak_line, r.stdout


def test_a_grown_timeout_stays_under_the_operators_maximum(tmp_path: Path) -> None:
    """The ceiling holds whoever raises the timeout: here the ErrorHandler growing it after
    a timed-out attempt (the SmartExecutor's adaptive timeout goes the same way)."""
    @skill(id="slowish", timeout=0.1)
    async def slowish() -> str:
        import asyncio
        await asyncio.sleep(0.25)
        return "finished"

    async def go() -> None:
        cfg = load_config(data_dir=tmp_path / "d", max_timeout_s=0.1, default_timeout_s=0.1,
                          reliability={"grow_timeout": 3.0})
        async with SkillExecutionEngine(config=cfg) as engine:
            engine.register(slowish)
            r = await engine.execute("slowish", {}, max_retries=2)
            # Grown to 0.3 s the second attempt would finish; clamped to 0.1 s it cannot.
            assert r.status.value == "timed_out", r
            assert r.attempts == 3

    arun(go())


def test_a_per_skill_grant_is_not_taken_over_by_another_folder_claiming_the_id(
        tmp_path: Path) -> None:
    """permissions.per_skill grants by id too: a second folder claiming a granted id with
    a higher version took its calls with the grant (the network, here). While more than
    one folder claims the id, neither gets the grant; the permissions every skill has
    still run."""
    skills = tmp_path / "skills"
    for folder, version in (("fetcher", "1.0.0"), ("zz-not-fetcher", "9.0.0")):
        d = skills / folder
        d.mkdir(parents=True)
        (d / "main.py").write_text(CODE)
        (d / "skill.json").write_text(json.dumps({
            "id": "fetcher", "version": version, "entry_point": "main:execute",
            "permissions": ["network_access"]}))
    plain = skills / "plain"
    plain.mkdir()
    (plain / "main.py").write_text(CODE)
    (plain / "skill.json").write_text(json.dumps({"id": "plain", "version": "1.0.0"}))
    cfg = load_config(skills_dir=skills, data_dir=tmp_path / "d",
                      permissions={"per_skill": {"fetcher": ["network_access"],
                                                 "plain": ["network_access"]}})

    async def go() -> None:
        async with SkillExecutionEngine(config=cfg) as engine:
            r = await engine.execute("fetcher")
            assert r.error is not None and r.error.code == "permission_not_granted", (
                r.output, r.error)
            assert "zz-not-fetcher" in r.error.message and "2 folders" in r.error.message
            ok = await engine.execute("plain")
            assert ok.ok, ok.error
    arun(go())


def test_a_skills_grant_covers_its_scripts(tmp_path: Path) -> None:
    """permissions.per_skill keyed by a skill's id did not cover its bundled scripts: the
    refusal named fetcher:scripts/get.py, and each script needed a grant of its own (its
    secrets came by the skill's id)."""
    folder = tmp_path / "skills" / "fetcher"
    (folder / "scripts").mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps({
        "id": "fetcher", "version": "1.0.0", "permissions": ["network_access"]}))
    (folder / "SKILL.md").write_text("---\nname: fetcher\ndescription: F.\n---\nGo.\n")
    (folder / "scripts" / "get.py").write_text("print('ran')\n")
    os.chmod(tmp_path, 0o755)

    async def go(grants: dict[str, list[str]]) -> Any:
        cfg = load_config(skills_dir=tmp_path / "skills", data_dir=tmp_path / "d",
                          permissions={"per_skill": grants})
        async with SkillExecutionEngine(config=cfg) as engine:
            return await engine.run_script("fetcher", "scripts/get.py")
    refused = arun(go({}))
    assert refused.error is not None and refused.error.code == "permission_not_granted"
    granted = arun(go({"fetcher": ["network_access"]}))
    assert granted.ok and granted.output["stdout"] == "ran\n", granted.error


def test_a_trusted_skills_scripts_are_trusted(tmp_path: Path) -> None:
    """trusted_skills under a skill's id: its scripts' calls may run at the level its
    manifest asks for too (each script's task id had to be named)."""
    folder = tmp_path / "skills" / "tool"
    (folder / "scripts").mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps({
        "id": "tool", "version": "1.0.0", "execution": {"isolation": "process"}}))
    (folder / "SKILL.md").write_text("---\nname: tool\ndescription: T.\n---\nGo.\n")
    (folder / "scripts" / "go.py").write_text("print('ran')\n")
    os.chmod(tmp_path, 0o755)

    async def go(trusted: list[str]) -> Any:
        cfg = load_config(skills_dir=tmp_path / "skills", data_dir=tmp_path / "d",
                          isolation={"trusted_skills": trusted})
        async with SkillExecutionEngine(config=cfg) as engine:
            return await engine.run_script("tool", "scripts/go.py")
    refused = arun(go([]))
    assert refused.error is not None and refused.error.code == "isolation_not_allowed"
    assert "add 'tool' to the trusted_skills" in refused.error.message
    trusted = arun(go(["tool"]))
    assert trusted.ok and trusted.output["stdout"] == "ran\n", trusted.error
