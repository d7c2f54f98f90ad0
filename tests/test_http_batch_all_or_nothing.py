"""batch-execute with a task the key may not run: the tasks before it ran, but the answer
was a 403 with no task ids, so the client, told the batch failed, ran them again. Every
task's grant is now checked before any is submitted: a refused batch ran nothing."""

from __future__ import annotations

from pathlib import Path

from skillexec import skill
from tests._http import running


def test_a_batch_with_one_task_not_granted_runs_none_of_them(tmp_path: Path) -> None:
    with running(tmp_path) as srv, \
            srv.client(srv.key("runner", name="granted", skills=["echo"])) as c:
        r = c.post("/api/skills/batch-execute", json={"tasks": [
            {"skill_id": "echo", "parameters": {"text": "one"}},
            {"skill_id": "echo", "parameters": {"text": "two"}},
            {"skill_id": "boom"}]})
        assert r.status_code == 403, r.text
        error = r.json()["error"]
        assert error["code"] == "PERMISSION_DENIED"
        assert error["field"] == "tasks.2.skill_id"
        assert error["message"] == ("tasks.2: this key may not run skill 'boom'; no task of "
                                    "the batch was run")
        listed = c.get("/api/executions")
        assert listed.status_code == 200, listed.text
        assert listed.json()["data"]["items"] == []  # nothing ran: a retry duplicates nothing
        # The same batch without it runs both, each with its own result.
        r = c.post("/api/skills/batch-execute", json={"tasks": [
            {"skill_id": "echo", "parameters": {"text": "one"}},
            {"skill_id": "echo", "parameters": {"text": "two"}}]})
        assert r.status_code == 200, r.text
        assert [x["output"] for x in r.json()["data"]["results"]] == [{"text": "one"},
                                                                       {"text": "two"}]


def test_tasks_refused_once_others_were_accepted_are_answered_with_the_others_ids(
        tmp_path: Path) -> None:
    """What cannot be known before: the service starts draining (SIGTERM) part-way through
    the batch. The tasks already accepted keep their ids; those after are `rejected`."""
    with running(tmp_path) as srv, srv.client(srv.key("operator")) as c:
        @skill("drainer")
        def drainer() -> str:
            srv.loop.call_soon_threadsafe(srv.state.draining.set)
            return "draining"

        async def register() -> None:  # on the server's loop, as its skills are
            srv.engine.register(drainer)

        srv.call(register())
        tasks = [{"skill_id": "drainer"}] + [{"skill_id": "echo"}] * 60
        r = c.post("/api/skills/batch-execute", json={"tasks": tasks, "wait": False})
        assert r.status_code == 200, r.text
        results = r.json()["data"]["results"]
        assert len(results) == len(tasks)
        ran = [x for x in results if x["task_id"]]
        refused = [x for x in results if not x["task_id"]]
        assert ran and results[0] in ran and refused, results
        assert results == ran + refused  # in the batch's order: refused from then on
        for x in refused:
            assert x["status"] == "rejected" and x["skill_id"] == "echo"
            assert x["error"]["code"] == "SHUTTING_DOWN", x
        assert r.json()["data"]["failed_count"] == len(refused)
