"""``GET /api/executions/{id}/attempts``: each attempt of a task (its metrics, error and the
decision taken after it), for whoever may read the task (the dashboard's task view)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._http import running

pytestmark = pytest.mark.timeout(120)


def test_a_task_s_attempts_are_listed_for_who_may_read_it(tmp_path: Path) -> None:
    with running(tmp_path) as srv:
        runner, other = srv.key("runner"), srv.key("runner", name="other")
        with srv.client(runner) as c:
            boom = c.post("/api/skills/boom/execute", json={}).json()["data"]
            got = c.get(f"/api/executions/{boom['task_id']}/attempts")
        assert got.status_code == 200, got.text
        attempts = got.json()["data"]
        assert [a["attempt"] for a in attempts] == [1]
        assert "it broke on purpose" in attempts[0]["error"]["message"]
        assert attempts[0]["decision"]
        with srv.client(other) as c:
            refused = c.get(f"/api/executions/{boom['task_id']}/attempts")
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "TASK_NOT_FOUND"
