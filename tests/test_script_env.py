"""Environment variables a caller gives a script call: only those the operator names for
the skill ([permissions] script_env), never over its secrets or the engine's own, and none
that makes a program load or run something else (a caller runs a skill's scripts, never
code of its own: a denylist alone let TAR_OPTIONS and MAKEFILES through)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.errors import ParameterError
from skillexec.script_env import MAX_VARS, checked_env
from skillexec.task import ExecutionResult
from tests._isolation import need_sandbox
from tests.conftest import ROOT, arun

pytestmark = pytest.mark.timeout(120)

_SHOW = ("import json, os\nprint(json.dumps({k: os.environ.get(k) for k in "
         "('VAULT_PATH', 'DEPLOY_TOKEN', 'HOME', 'LD_PRELOAD')}))\n")


def _skill(root: Path) -> Path:
    folder = root / "skills" / "vault"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: vault\ndescription: V.\n---\nRun it.\n")
    (folder / "scripts" / "show.py").write_text(_SHOW)
    os.chmod(root, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    return root / "skills"


@pytest.mark.parametrize("name", ["LD_PRELOAD", "ld_library_path", "PYTHONSTARTUP",
                                  "NODE_OPTIONS", "BASH_ENV", "ENV", "PATH", "HOME",
                                  "GIT_SSH_COMMAND", "PAGER", "XDG_CONFIG_HOME", "CLAUDE_X",
                                  "1ABC", "A-B", "", "A=B", "PERL5OPT", "OPENSSL_CONF"])
def test_a_variable_that_loads_or_runs_code_or_is_the_engines_is_refused(name: str) -> None:
    with pytest.raises(ParameterError) as info:
        checked_env({name: "x"})
    assert info.value.code == "invalid_script_env"


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.text(max_size=20), max_size=8))
def test_what_is_accepted_is_a_safe_name_with_text(env: dict[str, str]) -> None:
    """Whatever a caller sends, what passes is names of letters, digits and _ with text
    values (no NUL), none refused."""
    try:
        got = checked_env(env)
    except ParameterError:
        return
    for name, value in got.items():
        assert name.replace("_", "a").isalnum() and name.isascii() and not name[0].isdigit()
        assert "\0" not in value
        assert not name.upper().startswith(("LD_", "PYTHON", "NODE_", "XDG_"))


def test_limits_are_named() -> None:
    with pytest.raises(ParameterError, match=f"at most {MAX_VARS}"):
        checked_env({f"V{i}": "x" for i in range(MAX_VARS + 1)})
    with pytest.raises(ParameterError, match="NUL"):
        checked_env({"V": "a\0b"})
    with pytest.raises(ParameterError, match="must be text"):
        checked_env({"V": 3})  # type: ignore[dict-item]


def test_a_calls_variables_reach_its_script_never_over_the_secrets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """richfrem's vault_ops.py reads VAULT_PATH: there was no way to give it but
    skill_secrets, which masked the value in the note it read back."""
    need_sandbox()
    skills = _skill(tmp_path)
    monkeypatch.setenv("DEPLOY_TOKEN", "operator-value-123")
    cfg = EngineConfig(skills_dir=skills, data_dir=tmp_path / "d",
                       security={"skill_secrets": {"vault": ["DEPLOY_TOKEN"]}},
                       permissions={"script_env": {"vault": ["VAULT_PATH", "DEPLOY_TOKEN"]}})

    async def go() -> tuple[ExecutionResult, ...]:
        async with SkillExecutionEngine(config=cfg) as e:
            return (await e.run_script("vault", "scripts/show.py", env={
                        "VAULT_PATH": "vault", "DEPLOY_TOKEN": "caller-value"}),
                    await e.run_script("vault", "scripts/show.py",
                                       env={"LD_PRELOAD": "./evil.so"}),
                    # A script's id called as a skill: the same checks, in the runner.
                    await e.execute("vault:scripts/show.py",
                                    {"args": [], "env": {"LD_PRELOAD": "./evil.so"}}),
                    # Not named by the operator (TAR_OPTIONS runs a command of the caller's).
                    await e.run_script("vault", "scripts/show.py", env={
                        "TAR_OPTIONS": "--checkpoint-action=exec=sh evil.sh"}),
                    await e.execute("vault:scripts/show.py",
                                    {"args": [], "env": {"MAKEFILES": "evil.mk"}}))
    ok, refused, direct, unnamed, unnamed_direct = arun(go())
    assert ok.ok, ok.error
    seen = json.loads(ok.output["stdout"])
    assert seen["VAULT_PATH"] == "vault" and seen["LD_PRELOAD"] is None
    assert seen["HOME"] != "vault" and os.path.isabs(seen["HOME"])
    assert "caller-value" not in ok.output["stdout"]  # the operator's secret won
    assert refused.error is not None and refused.error.code == "invalid_script_env"
    assert refused.attempts == 0 and "LD_PRELOAD may not be set by a call" in (
        refused.error.message)
    assert direct.error is not None and direct.error.code == "invalid_script_env"
    assert unnamed.error is not None and unnamed.error.code == "script_env_not_allowed"
    assert unnamed.attempts == 0 and unnamed.error.message.startswith(
        "TAR_OPTIONS: not a variable a call may give the scripts of skill 'vault'")
    assert unnamed_direct.error is not None
    assert unnamed_direct.error.code == "script_env_not_allowed"


def test_the_operators_list_refuses_what_no_call_may_set() -> None:
    from skillexec.config import load_config
    from skillexec.errors import ConfigError
    with pytest.raises(ConfigError, match="LD_PRELOAD may not be set by a call"):
        load_config(permissions={"script_env": {"*": ["LD_PRELOAD"]}})


def test_the_command_line_takes_env(tmp_path: Path) -> None:
    skills = _skill(tmp_path)
    run = [sys.executable, "-m", "skillexec", "script", "vault", "scripts/show.py",
           "--skills-dir", str(skills), "--data-dir", str(tmp_path / "d")]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
           "SKILLEXEC_PERMISSIONS__SCRIPT_ENV": json.dumps({"*": ["VAULT_PATH", "EMPTY"]})}
    r = subprocess.run([*run, "-e", "VAULT_PATH=my vault", "--env", "EMPTY="], env=env,
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["VAULT_PATH"] == "my vault"
    r = subprocess.run([*run, "-e", "NOVALUE"], env=env, capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "skillexec: --env NOVALUE: give NAME=VALUE"
    r = subprocess.run([*run, "-e", "NODE_OPTIONS=--require=x"], env=env,
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2 and "NODE_OPTIONS may not be set by a call" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([*run, "-e", "OTHER=1"], env=env, capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert r.returncode == 2 and "OTHER: not a variable a call may give" in r.stderr
