"""Every route x every role, as one table: 401 without or with a bad key, 403 where the
role may not, 404 for another principal's task or artifact, else the route's success."""

from __future__ import annotations

import json
import time

import pytest

from tests._http import running

pytestmark = pytest.mark.timeout(180)

ROLES = ("admin", "operator", "runner", "viewer", "auditor")
RUN = {"admin", "operator", "runner"}
SKILLS = {"admin", "operator", "runner", "viewer"}
REPORTS = {"admin", "operator", "viewer"}
ANY_TASK = {"admin", "operator"}


def allowed(roles: set[str], ok: int, refused: int = 403) -> dict[str, int]:
    return {r: ok if r in roles else refused for r in ROLES}


# (method, path, json body, expected status per role). {task} and {artifact} belong to the
# admin (another principal for every other role); {own} is each caller's own task.
TABLE: list[tuple[str, str, dict | None, dict[str, int]]] = [
    ("GET", "/api/skills", None, allowed(SKILLS, 200)),
    ("GET", "/api/skills/echo", None, allowed(SKILLS, 200)),
    ("POST", "/api/skills/echo/execute", {"parameters": {"text": "t"}}, allowed(RUN, 200)),
    ("POST", "/api/skills/batch-execute", {"tasks": [{"skill_id": "echo"}]},
     allowed(RUN, 200)),
    ("GET", "/api/executions", None, allowed(set(ROLES), 200)),
    ("GET", "/api/executions/{task}", None, allowed(ANY_TASK, 200, 404)),
    ("GET", "/api/executions/{task}/events", None, allowed(ANY_TASK, 200, 404)),
    ("DELETE", "/api/executions/{task}", None, allowed(ANY_TASK, 409, 404)),
    ("GET", "/api/artifacts/{artifact}", None, allowed(ANY_TASK, 200, 404)),
    ("GET", "/api/reports/summary", None, allowed(REPORTS, 200)),
    ("GET", "/api/reports/performance", None, allowed(REPORTS, 200)),
    ("GET", "/api/reports/errors", None, allowed(REPORTS, 200)),
    ("GET", "/api/alerts", None, allowed(REPORTS, 200)),
    ("GET", "/api/whoami", None, allowed(set(ROLES), 200)),
    ("GET", "/api/keys", None, allowed({"admin"}, 200)),
    ("POST", "/api/keys", {"name": "made", "role": "viewer"}, allowed({"admin"}, 201)),
    ("DELETE", "/api/keys/0000", None, allowed({"admin"}, 404)),
    ("GET", "/api/audit", None, allowed({"admin", "auditor"}, 200)),
    ("GET", "/api/v1/skills", None, allowed(SKILLS, 200)),
    ("GET", "/api/v1/skills/echo", None, allowed(SKILLS, 200)),
    ("POST", "/api/v1/skills/match", {"task_description": "echo text"}, allowed(SKILLS, 200)),
    ("POST", "/api/v1/skills/answer/execute", {"task": "hi"}, allowed(RUN, 200)),
    ("GET", "/api/v1/skills/report/artifacts/{task}", None, allowed(ANY_TASK, 200, 404)),
    ("GET", "/health", None, allowed(set(ROLES), 200)),
    ("GET", "/metrics", None, allowed(set(ROLES), 200)),
]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory):
    with running(tmp_path_factory.mktemp("roles"),
                 service={"rate_per_s": 1000, "rate_burst": 1000}) as server:
        for role in ROLES:
            server.keys[role] = server.key(role)
        with server.client(server.keys["admin"]) as c:
            r = c.post("/api/skills/report/execute", json={"parameters": {"title": "x"}})
            data = r.json()["data"]
        server.keys["task"], server.keys["artifact"] = data["task_id"], data["artifacts"][0]["id"]
        yield server


@pytest.mark.parametrize(("method", "path", "body", "expected"), TABLE,
                         ids=[f"{m} {p}" for m, p, _, _ in TABLE])
def test_route_by_role(srv, method: str, path: str, body: dict | None,
                       expected: dict[str, int]) -> None:
    url = path.format(task=srv.keys["task"], artifact=srv.keys["artifact"])
    public = not path.startswith("/api/")
    for role in ROLES:
        with srv.client(srv.keys[role]) as c:
            r = c.request(method, url, json=body)
        assert r.status_code == expected[role], (role, r.text[:300])
        if r.status_code >= 400:
            assert r.json()["error"]["code"] in ("PERMISSION_DENIED", "TASK_NOT_FOUND",
                                                 "ARTIFACT_NOT_FOUND", "KEY_NOT_FOUND",
                                                 "ALREADY_FINISHED")
    with srv.client() as anon:
        r = anon.request(method, url, json=body)
        assert r.status_code == (200 if public else 401), r.text[:300]
        if not public:
            assert r.json()["error"]["code"] == "UNAUTHENTICATED"
            assert "APIKey" in r.headers["www-authenticate"]
    with srv.client("sk_000000000000_not-a-real-key") as bad:
        r = bad.request(method, url, json=body)
        assert r.status_code == (200 if public else 401)


def test_bearer_is_the_same_key(srv) -> None:
    with srv.client() as c:
        r = c.get("/api/skills", headers={"Authorization": f"Bearer {srv.keys['viewer']}"})
        assert r.status_code == 200
        r = c.get("/api/skills", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401


def test_a_runner_reads_its_own_tasks_and_only_its_granted_skills(srv) -> None:
    key = srv.key("runner", name="granted", skills=["echo", "sl*"])
    with srv.client(key) as c:
        r = c.post("/api/skills/echo/execute", json={})
        own = r.json()["data"]["task_id"]
        assert c.get(f"/api/executions/{own}").status_code == 200
        listed = [t["task_id"] for t in c.get("/api/executions").json()["data"]["items"]]
        assert own in listed and srv.keys["task"] not in listed
        r = c.post("/api/skills/boom/execute", json={})
        assert r.status_code == 403 and r.json()["error"]["code"] == "PERMISSION_DENIED"
        r = c.post("/api/skills/slow/execute", json={"parameters": {"seconds": 0.01}})
        assert r.status_code == 200  # a pattern grant
    with srv.client(srv.keys["operator"]) as op:
        assert op.get(f"/api/executions/{own}").status_code == 200


def test_a_viewer_sees_task_states_but_not_their_results(srv) -> None:
    with srv.client(srv.keys["viewer"]) as c:
        items = c.get("/api/executions").json()["data"]["items"]
    mine = next(t for t in items if t["task_id"] == srv.keys["task"])
    assert mine["status"] == "succeeded" and mine["result"] is None


def test_a_revoked_key_stops_working_at_once(srv) -> None:
    key = srv.key("viewer", name="shortlived")
    with srv.client(key) as c:
        assert c.get("/api/skills").status_code == 200
    with srv.client(srv.keys["admin"]) as admin:
        key_id = key.split("_")[1]
        assert admin.delete(f"/api/keys/{key_id}").status_code == 200
    with srv.client(key) as c:
        assert c.get("/api/skills").status_code == 401


def test_keys_are_made_over_http_and_shown_once(srv) -> None:
    with srv.client(srv.keys["admin"]) as admin:
        r = admin.post("/api/keys", json={"name": "made-here", "role": "runner",
                                          "skills": ["echo"]})
        made = r.json()["data"]
        assert made["key"].startswith("sk_") and made["role"] == "runner"
        listed = admin.get("/api/keys").json()["data"]
        assert all("key" not in k for k in listed)
        assert made["key_id"] in {k["key_id"] for k in listed}
    with srv.client(made["key"]) as c:
        assert c.post("/api/skills/echo/execute", json={}).status_code == 200


def test_the_audit_log_holds_what_was_done_over_http(srv) -> None:
    # What this test looks for is done here too, not only by the tests before it: on several
    # workers (scripts/test.sh) this one may be the first to use its worker's server.
    with srv.client(srv.keys["admin"]) as c:
        assert c.get(f"/api/artifacts/{srv.keys['artifact']}").status_code == 200
    with srv.client("sk_000000000000_not-a-real-key") as bad:
        assert bad.get("/api/skills").status_code == 401
    with srv.client(srv.keys["auditor"]) as c:
        r = c.get("/api/audit", params={"since": "all", "verify": True})
    data = r.json()["data"]
    actions = {rec["action"] for rec in data["records"]}
    assert {"key.created", "task.finished", "artifact.read", "auth.failed"} <= actions
    assert data["verify"]["ok"] is True


def test_audit_records_and_the_access_log_carry_the_request_id(srv, caplog) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="skillexec.http")
    with srv.client(srv.keys["runner"]) as c:
        r = c.post("/api/skills/echo/execute", json={}, headers={"X-Request-ID": "req-4242"})
        task_id = r.json()["data"]["task_id"]
    time.sleep(0.5)  # access-log lines are written in batches, at most 0.25 s late
    with srv.client(srv.keys["auditor"]) as c:
        records = c.get("/api/audit", params={"since": "all"}).json()["data"]["records"]
    mine = [rec for rec in records if rec.get("target") == task_id]
    assert "task.finished" in {rec["action"] for rec in mine}
    assert all(rec["details"]["request_id"] == "req-4242" for rec in mine)
    lines = [line for rec in caplog.records if rec.name == "skillexec.http"
             for line in rec.getMessage().splitlines() if "req-4242" in line]
    (line,) = (json.loads(x) for x in lines)
    assert line["event"] == "http_request" and line["status"] == 200
    assert line["principal"] == "runner" and line["path"] == "/api/skills/echo/execute"
