"""Principals, roles and grants (DESIGN §4.5): the role x action table, skill grants and
permission ceilings checked at admission, and another principal's task or artifact
answered as not found."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skillexec import SkillContext, SkillExecutionEngine, skill
from skillexec.config import load_config
from skillexec.errors import (
    ConfigError,
    ErrorType,
    ParameterError,
    SkillNotFoundError,
    TaskNotFoundError,
)
from skillexec.security.principals import ACTIONS, LOCAL, Principal, Role, principal_of
from skillexec.task import TaskStatus
from tests.conftest import arun

# The matrix of DESIGN §4.5, written out apart from the code's table.
EXPECTED = {
    "admin": {"run", "cancel_any", "read_any", "reports", "skills", "keys", "audit"},
    "operator": {"run", "cancel_any", "read_any", "reports", "skills"},
    "runner": {"run", "skills"},
    "viewer": {"reports", "skills"},
    "auditor": {"audit"},
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", [*sorted(ACTIONS), "delete_everything", ""])
def test_role_action_table(role: Role, action: str) -> None:
    assert Principal("p", role).can(action) is (action in EXPECTED[role.value])


def test_local_is_the_admin_and_names_are_runners() -> None:
    assert Principal.local() is LOCAL and LOCAL.id == "local" and LOCAL.role is Role.ADMIN
    assert principal_of(None) is LOCAL and principal_of("local") is LOCAL
    alice = principal_of("alice")
    assert alice == Principal("alice", Role.RUNNER) and alice.may_run("anything")
    assert not alice.can("read_any")
    for bad in ("", "   "):
        with pytest.raises(ParameterError, match="principal"):
            principal_of(bad)


def test_skill_grants_exact_and_patterns() -> None:
    p = Principal("k", Role.RUNNER, frozenset({"csv.*", "add"}))
    assert p.may_run("add") and p.may_run("csv.read") and p.may_run("csv.write")
    assert not p.may_run("adder") and not p.may_run("csv") and not p.may_run("json.read")
    for role in (Role.VIEWER, Role.AUDITOR):
        assert not Principal("v", role).may_run("add")  # no "run": no skill at all
    assert Principal("o", Role.OPERATOR, frozenset({"add"})).may_run("add")


@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12))
def test_a_runner_reads_only_its_own(owner: str, reader: str) -> None:
    runner = Principal(reader, Role.RUNNER)
    assert runner.may_read_task(owner) is (owner == reader)
    assert Principal("op", Role.OPERATOR).may_read_task(owner)
    assert runner.may_read_task(None) is (reader == "local")  # None: local's task


@skill(id="add")
def add(a: int, b: int = 2) -> int:
    return a + b


@skill(id="fetch", permissions=["network_access"])
def fetch(url: str = "x") -> str:
    return url


@skill(id="report")
def report(title: str, context: SkillContext) -> str:
    return context.save_artifact("r.md", f"# {title}\n").id


def _engine(tmp_path: Path, **settings: Any) -> SkillExecutionEngine:
    cfg = load_config(data_dir=tmp_path / "data", skills_dir=None,
                      permissions={"per_skill": {"fetch": ["network_access"]}}, **settings)
    e = SkillExecutionEngine(config=cfg)
    for fn in (add, fetch, report):
        e.register(fn)
    return e


async def _audit(e: SkillExecutionEngine, action: str) -> list[dict[str, Any]]:
    return [r for r in await e.audit.read() if r["action"] == action]


def test_grants_are_checked_at_admission_journaled_and_audited(tmp_path: Path) -> None:
    async def main() -> None:
        async with _engine(tmp_path) as e:
            only_add = Principal("k1", Role.RUNNER, frozenset({"add"}))
            assert (await e.execute("add", {"a": 1}, principal=only_add)).output == 3
            r = await e.execute("fetch", principal=only_add)
            assert r.status is TaskStatus.REJECTED and r.error is not None
            assert r.error.type is ErrorType.PERMISSION and r.error.code == "skill_not_granted"
            info = await e.status(r.task_id)
            assert info.status is TaskStatus.REJECTED and info.principal == "k1"
            viewer = Principal("v", Role.VIEWER)
            r2 = await e.execute("add", {"a": 1}, principal=viewer)
            assert r2.error is not None and r2.error.code == "skill_not_granted"
            denied = await _audit(e, "permission.denied")
            assert [(d["principal"], d["target"], d["details"]["code"]) for d in denied] == [
                ("k1", r.task_id, "skill_not_granted"), ("v", r2.task_id, "skill_not_granted")]
            # the local admin and a plain name run anything the engine allows
            assert (await e.execute("fetch")).ok and (await e.execute("fetch",
                                                                      principal="bob")).ok
    arun(main())


def test_a_permission_ceiling_from_the_key_and_from_the_role(tmp_path: Path) -> None:
    async def main() -> None:
        async with _engine(tmp_path) as e:
            no_net = Principal("k", Role.RUNNER, permissions=frozenset({"file_read"}))
            r = await e.execute("fetch", principal=no_net)
            assert r.error is not None and r.error.code == "permission_beyond_grant"
            assert r.error.details["refused"] == ["network_access"]
            assert (await e.execute("add", {"a": 1}, principal=no_net)).ok
        async with _engine(tmp_path, access={"role_permissions": {"runner": ["file_read"]}}) as e:
            r = await e.execute("fetch", principal="bob")  # a runner by name
            assert r.error is not None and r.error.code == "permission_beyond_grant"
            op = Principal("op", Role.OPERATOR)  # no ceiling for operators
            assert (await e.execute("fetch", principal=op)).ok
    arun(main())


def test_role_permissions_setting_names_an_unknown_role(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="boss"):
        load_config(data_dir=tmp_path, access={"role_permissions": {"boss": ["file_read"]}})


def test_another_principals_task_and_artifact_are_not_found(tmp_path: Path) -> None:
    async def main() -> None:
        async with _engine(tmp_path) as e:
            alice = Principal("alice", Role.RUNNER)
            task_id = await e.submit("report", {"title": "t"}, principal=alice)
            r = await e.wait(task_id, principal=alice)
            assert r.ok
            art = r.artifacts[0].id
            assert (await e.status(task_id, principal=alice)).principal == "alice"
            assert await e.history(task_id, principal=alice) is not None
            assert await e.artifacts.read(art, principal=alice) == b"# t\n"
            with pytest.raises(TaskNotFoundError) as unknown:
                await e.status("0" * 24, principal="bob")
            for call in (e.status(task_id, principal="bob"),
                         e.wait(task_id, principal="bob"),
                         e.history(task_id, principal="bob"),
                         e.cancel(task_id, principal="bob")):
                with pytest.raises(TaskNotFoundError) as info:
                    await call
                # the same answer as an id that does not exist: nothing is confirmed
                assert info.value.code == unknown.value.code == "task_not_found"
                assert str(info.value) == str(unknown.value).replace("0" * 24, task_id)
            with pytest.raises(SkillNotFoundError, match="no artifact"):
                await e.artifacts.read(art, principal="bob")
            with pytest.raises(TaskNotFoundError):
                async for _ in e.events(task_id, principal="bob"):
                    pass
            with pytest.raises(TaskNotFoundError):
                async for _ in e.events(None, principal="bob"):
                    pass
            # operators, admins and the local caller see every task
            for who in (Principal("op", Role.OPERATOR), Principal("ad", Role.ADMIN), None):
                assert (await e.status(task_id, principal=who)).task_id == task_id
                assert await e.artifacts.read(art, principal=who) == b"# t\n"
            # a viewer sees only its own (it has none)
            with pytest.raises(TaskNotFoundError):
                await e.status(task_id, principal=Principal("v", Role.VIEWER))
            reads = await _audit(e, "artifact.read")
            assert [(x["principal"], x["outcome"]) for x in reads] == [
                ("alice", "ok"), ("bob", "denied"), ("op", "ok"), ("ad", "ok"),
                ("local", "ok")]
    arun(main())


def test_cancel_own_task_and_any_task_for_operators(tmp_path: Path) -> None:
    @skill(id="slow")
    async def slow() -> None:
        await asyncio.sleep(5)

    async def main() -> None:
        async with _engine(tmp_path) as e:
            e.register(slow)
            mine = await e.submit("slow", principal="alice")
            other = await e.submit("slow", principal="alice")
            # (a task cancelled in the same loop turn as its submit may never be woken:
            # a separate, older issue; let both start first)
            await asyncio.sleep(0.1)
            assert await e.cancel(mine, principal="alice")
            with pytest.raises(TaskNotFoundError):
                await e.cancel(other, principal=Principal("v", Role.VIEWER))
            assert await e.cancel(other, principal=Principal("op", Role.OPERATOR))
            assert (await e.wait(other)).status is TaskStatus.CANCELLED
            cancels = await _audit(e, "task.cancel")
            assert [c["principal"] for c in cancels] == ["alice", "op"]
    arun(main())


def test_cli_refusal_exits_2_and_is_audited(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    skill_dir = tmp_path / "skills" / "fetcher"
    skill_dir.mkdir(parents=True)
    (skill_dir / "skill.json").write_text(json.dumps({
        "id": "fetcher", "version": "1.0.0", "entry_point": "main:execute",
        "permissions": ["network_access"], "execution": {"isolation": "inline"}}))
    (skill_dir / "main.py").write_text("def execute(input_data, context):\n    return 1\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
           "SKILLEXEC_ISOLATION__TRUSTED_SKILLS": "[\"fetcher\"]",
           "SKILLEXEC_PERMISSIONS__PER_SKILL": '{"fetcher": ["network_access"]}'}

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "skillexec", "run", "fetcher"],
                              cwd=tmp_path, env={**env, **extra}, capture_output=True,
                              text=True, timeout=60)
    assert run().returncode == 0
    # the local admin is under the admin role's ceiling when one is set
    refused = run(SKILLEXEC_ACCESS__ROLE_PERMISSIONS='{"admin": ["file_read"]}')
    assert refused.returncode == 2 and "network_access" in refused.stderr
    assert "Traceback" not in refused.stderr
    shown = subprocess.run([sys.executable, "-m", "skillexec", "audit", "show", "--json"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    denied = [r for r in map(json.loads, shown.stdout.splitlines())
              if r["action"] == "permission.denied"]
    assert len(denied) == 1 and denied[0]["details"]["code"] == "permission_beyond_grant"
    assert denied[0]["principal"] == "local"


def test_task_lists_show_a_runner_only_its_own(tmp_path: Path) -> None:
    async def main() -> None:
        async with _engine(tmp_path) as e:
            mine = (await e.execute("add", {"a": 1}, principal="alice")).task_id
            theirs = (await e.execute("add", {"a": 2}, principal="bob")).task_id
            local = (await e.execute("add", {"a": 3})).task_id
            assert [t.task_id for t in await e.tasks(principal="alice")] == [mine]
            assert [t.task_id for t in await e.tasks(principal="bob")] == [theirs]
            everyone = [local, theirs, mine]  # newest first
            for who in (None, Principal("op", Role.OPERATOR), LOCAL):
                assert [t.task_id for t in await e.tasks(principal=who)] == everyone
            assert await e.tasks(principal=Principal("v", Role.VIEWER)) == []
    arun(main())


@skill(id="lure", max_retries=0)
def lure(url: str = "x") -> str:
    raise RuntimeError("failing on purpose, so that its fallback runs")


def test_a_fallback_is_held_to_the_callers_grants(tmp_path: Path) -> None:
    """A manifest's ``execution.fallback`` is a request too: it named a skill the caller
    may not run (not among its key's skills, or over its permission ceiling), and a call
    of a skill that failed on purpose ran that one with the caller's parameters. The
    fallback is checked as the call was; refused, the call ends with its own error."""
    import dataclasses

    async def main() -> None:
        async with _engine(tmp_path) as e:
            s = lure.__skill__  # type: ignore[attr-defined]
            e.register(dataclasses.replace(
                s, execution=dataclasses.replace(s.execution, fallback="fetch")))
            for who in (Principal("k1", Role.RUNNER, frozenset({"lure"})),
                        Principal("k2", Role.RUNNER, permissions=frozenset({"file_read"}))):
                r = await e.execute("lure", {"url": "secret-endpoint"}, principal=who)
                assert r.status is TaskStatus.FAILED and r.output is None, (who, r.output)
                assert r.error is not None and "on purpose" in r.error.message
                decisions = [h["decision"] for h in await e.history(r.task_id)]
                assert not any(d.startswith("fallback") for d in decisions), decisions
            # whoever may run it still gets it
            r = await e.execute("lure", {"url": "y"}, principal=Principal("op", Role.OPERATOR))
            assert r.ok and r.output == "y"
    arun(main())
