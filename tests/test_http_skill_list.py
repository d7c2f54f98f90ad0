"""The skill list's state columns (what the dashboard's skills table shows): what each
skill offers, where its environment stands and its circuit breaker's state, as the engine
knows them, against a real server on a local port."""

from __future__ import annotations

import json
from pathlib import Path

from skillexec import skill
from tests._http import running


@skill("flaky", max_retries=0, description="Its upstream is down")
def flaky() -> None:
    raise ConnectionError("upstream reset")


def test_the_skill_list_says_each_environment_and_circuit(tmp_path: Path) -> None:
    folder = tmp_path / "needs-pkg"
    folder.mkdir()
    (folder / "skill.json").write_text(json.dumps({
        "id": "needs-pkg", "version": "1.0.0", "command": ["true"],
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
