"""The skill list's state columns (what the dashboard's skills table shows): what each
skill offers, where its environment stands and its circuit breaker's state, as the engine
knows them, against a real server on a local port."""

from __future__ import annotations

import json
from pathlib import Path

from skillexec import skill
from tests._http import running
from tests.test_environments import PKG, cli, wheels


@skill("flaky", max_retries=0, description="Its upstream is down")
def flaky() -> None:
    raise ConnectionError("upstream reset")


def test_the_skill_list_says_each_environment_and_circuit(tmp_path: Path) -> None:
    folder = tmp_path / "needs-pkg"
    folder.mkdir()
    (folder / "skill.json").write_text(json.dumps({
        "id": "needs-pkg", "version": "1.0.0", "command": ["python3", "-m", "needs_pkg"],
        "dependencies": ["skillexec-no-such-package==1.0"]}), encoding="utf-8")
    with running(tmp_path, reliability={"breaker_consecutive_failures": 2,
                                        "breaker_open_s": 60}) as srv:
        async def add() -> None:
            srv.engine.register(flaky)
            srv.engine.register(folder)

        srv.call(add())
        with srv.client(srv.key("viewer")) as c:
            listed = {s["id"]: s for s in c.get("/api/skills").json()["data"]["skills"]}
        assert listed["flaky"]["circuit"] == "closed"
        assert listed["needs-pkg"]["environment"] == "not installed"
        assert (listed["echo"]["environment"], listed["echo"]["offers"]) == ("none needed",
                                                                              "entry")
        with srv.client(srv.key("runner")) as c:
            for _ in range(2):
                assert c.post("/api/skills/flaky/execute", json={}).json()["data"][
                    "status"] == "failed"
            listed = {s["id"]: s for s in c.get("/api/skills").json()["data"]["skills"]}
            detail = c.get("/api/skills/flaky").json()["data"]
        assert listed["flaky"]["circuit"] == detail["circuit"] == "open"
        assert listed["echo"]["circuit"] == "closed"


def test_the_environment_column_sees_another_process_install(tmp_path: Path) -> None:
    """``skillexec skills install`` in another process: the list said "not installed" (or
    "none needed") until that skill's next call."""
    links = wheels(tmp_path)
    skills = tmp_path / "skills"
    for sid, deps in (("declares", [PKG]), ("undeclared", []),
                      ("broken", ["skillexec-no-such==9"])):
        folder = skills / sid
        folder.mkdir(parents=True)
        (folder / "skill.json").write_text(json.dumps({
            "id": sid, "version": "1.0.0", "entry_point": "main:execute",
            "dependencies": deps}), encoding="utf-8")
        (folder / "main.py").write_text("def execute(data):\n    return 1\n")
    env = {"SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
           "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true"}
    where = ("--skills-dir", str(skills), "--data-dir", str(tmp_path / "data"))
    with running(tmp_path, skills_dir=skills,
                 environments={"find_links": [str(links)], "no_index": True}) as srv, \
            srv.client(srv.key("viewer")) as c:
        def states() -> dict[str, str]:
            listed = c.get("/api/skills").json()["data"]["skills"]
            return {s["id"]: s["environment"] for s in listed if s["id"] in (
                "declares", "undeclared", "broken")}

        assert states() == {"declares": "not installed", "undeclared": "none needed",
                            "broken": "not installed"}
        for args in (("declares",), ("undeclared", PKG), ("broken",)):
            cli("skills", "install", *args, *where, cwd=tmp_path, env=env)
        assert states() == {"declares": "ready", "undeclared": "ready", "broken": "failed"}
        assert c.get("/api/skills/undeclared").json()["data"]["environment"] == "ready"
        assert srv.engine.environments.installs == 0  # the other process made them
