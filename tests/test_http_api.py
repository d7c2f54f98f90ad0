"""The /api family against a real server on a local port: envelopes, status codes and
stable codes, execute (wait and not), executions (cursor pages, cancel), artifacts,
batches, request ids, size limits, rate limits, backpressure, and the OpenAPI document."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._http import running

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory):
    with running(tmp_path_factory.mktemp("http")) as server:
        server.keys["admin"] = server.key("admin")
        yield server


@pytest.fixture
def admin(srv) -> httpx.Client:
    with srv.client(srv.keys["admin"]) as c:
        yield c


def ok_envelope(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is True and body["error"] is None
    assert body["metadata"]["request_id"] == r.headers["x-request-id"]
    assert body["metadata"]["timestamp"].endswith("Z")
    return body["data"]


def error_envelope(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and body["data"] is None
    assert body["error"]["code"] == code
    assert body["detail"] == body["error"]["message"] == body["message"]
    assert body["error"]["context"]["request_id"] == r.headers["x-request-id"]
    return body["error"]


def test_execute_waits_and_answers_the_result(admin) -> None:
    data = ok_envelope(admin.post("/api/skills/echo/execute",
                                  json={"parameters": {"text": "ab", "times": 2}}))
    assert data["status"] == "succeeded" and data["output"] == {"text": "abab"}
    assert data["error"] is None and data["attempts"] == 1
    # Py Copilot's documented body: `data` for the parameters
    data = ok_envelope(admin.post("/api/skills/echo/execute", json={"data": {"text": "z"}}))
    assert data["output"] == {"text": "z"}


def test_a_run_that_failed_is_a_200_with_its_error(admin) -> None:
    data = ok_envelope(admin.post("/api/skills/boom/execute", json={}))
    assert data["status"] == "failed"
    assert data["error"]["type"] == "execution_error" and data["error"]["retryable"] is False
    assert "broke on purpose" in data["error"]["message"]


def test_refusals_are_http_errors_with_stable_codes(admin) -> None:
    err = error_envelope(admin.post("/api/skills/nope/execute", json={}), 404,
                         "SKILL_NOT_FOUND")
    assert "nope" in err["message"]
    err = error_envelope(admin.post("/api/skills/echo/execute",
                                    json={"parameters": {"times": "x", "extra": 1}}),
                         422, "INVALID_PARAMETERS")
    fields = {d["field"] for d in err["details"]}
    assert "times" in fields and all(d["message"] for d in err["details"])
    error_envelope(admin.post("/api/skills/echo/execute", json={"priority": 12}), 422,
                   "INVALID_REQUEST")
    error_envelope(admin.post("/api/skills/echo/execute", content=b"{not json",
                              headers={"content-type": "application/json"}), 400,
                   "INVALID_REQUEST")
    error_envelope(admin.post("/api/skills/echo/execute", json=[1]), 422, "INVALID_REQUEST")
    error_envelope(admin.get("/api/skills/nope"), 404, "SKILL_NOT_FOUND")
    error_envelope(admin.get("/api/executions/0123abcd"), 404, "TASK_NOT_FOUND")
    error_envelope(admin.get("/api/no/such/route"), 404, "NOT_FOUND")
    error_envelope(admin.put("/api/skills/echo/execute", json={}), 405,
                   "METHOD_NOT_ALLOWED")


def test_a_body_that_is_no_json_or_not_sent_as_json_is_said_so(admin) -> None:
    """Unreadable: 400 (README, DESIGN §4.3); Py Copilot's routes keep its FastAPI's 422."""
    for path, status in (("/api/skills/echo/execute", 400),
                         ("/api/v1/skills/echo/execute", 422)):
        err = error_envelope(admin.post(path, content=b'{"parameters":',
                                        headers={"content-type": "application/json"}),
                             status, "INVALID_REQUEST")
        assert err["field"] == "body", err  # was "14": the position, as a field name
        assert err["message"].startswith("the body is not valid JSON (") and "14" in \
            err["message"], err
    err = error_envelope(admin.post("/api/skills/echo/execute", content=b'{"parameters": {}}',
                                    headers={"content-type": "text/plain"}),
                         400, "INVALID_REQUEST")
    assert "Content-Type: application/json" in err["message"] and "text/plain" in \
        err["message"], err


def test_wait_false_answers_202_with_a_location_to_follow(admin) -> None:
    r = admin.post("/api/skills/slow/execute",
                   json={"parameters": {"seconds": 0.3}, "wait": False})
    data = ok_envelope(r, 202)
    task_id = data["task_id"]
    assert r.headers["location"] == f"/api/executions/{task_id}" == data["location"]
    assert data["status"] in ("queued", "running")
    info = ok_envelope(admin.get(r.headers["location"]))
    assert info["task_id"] == task_id and info["principal"] == "admin"
    deadline = time.monotonic() + 10
    while info["status"] != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.05)
        info = ok_envelope(admin.get(r.headers["location"]))
    assert info["status"] == "succeeded", info  # what it was instead, if it was not
    assert info["result"]["output"] == {"done": True, "steps": 5}


def test_a_call_longer_than_the_service_waits_gets_202(tmp_path: Path) -> None:
    with running(tmp_path, insecure=True, service={"max_wait_s": 0.2}) as srv, \
            srv.client() as c:
        r = c.post("/api/skills/slow/execute", json={"parameters": {"seconds": 1.0}})
        assert r.status_code == 202 and r.headers["location"].startswith("/api/executions/")


def test_cancel_with_delete(admin) -> None:
    r = admin.post("/api/skills/slow/execute",
                   json={"parameters": {"seconds": 5.0}, "wait": False})
    task_id = ok_envelope(r, 202)["task_id"]
    data = ok_envelope(admin.delete(f"/api/executions/{task_id}"))
    assert data["status"] == "cancelled"
    error_envelope(admin.delete(f"/api/executions/{task_id}"), 409, "ALREADY_FINISHED")


def test_executions_are_listed_newest_first_in_cursor_pages(admin) -> None:
    made = [ok_envelope(admin.post("/api/skills/echo/execute",
                                   json={"parameters": {"text": str(i)}}))["task_id"]
            for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        q = {"limit": 3, "skill_id": "echo"} | ({"cursor": cursor} if cursor else {})
        page = ok_envelope(admin.get("/api/executions", params=q))
        seen += [t["task_id"] for t in page["items"]]
        assert len(page["items"]) <= 3
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
    assert seen[:7] == made[::-1]
    error_envelope(admin.get("/api/executions", params={"cursor": "zz"}), 422,
                   "INVALID_REQUEST")


def test_artifacts_are_served_with_their_mime_type(admin) -> None:
    data = ok_envelope(admin.post("/api/skills/report/execute",
                                  json={"parameters": {"title": "Q3"}}))
    (art,) = data["artifacts"]
    r = admin.get(f"/api/artifacts/{art['id']}")
    assert r.status_code == 200 and r.content == b"# Q3\n"
    assert r.headers["content-type"].startswith("text/plain")
    error_envelope(admin.get("/api/artifacts/nope"), 404, "ARTIFACT_NOT_FOUND")


def test_batch_execute(admin) -> None:
    data = ok_envelope(admin.post("/api/skills/batch-execute", json={"tasks": [
        {"skill_id": "echo", "parameters": {"text": "a"}},
        {"skill_id": "echo", "input_data": {"text": "b"}},
        {"skill_id": "boom"}, {"skill_id": "nope"}]}))
    statuses = [r["status"] for r in data["results"]]
    assert statuses == ["succeeded", "succeeded", "failed", "rejected"]
    assert data["success_count"] == 2 and data["failed_count"] == 2
    assert data["results"][1]["output"] == {"text": "b"}


def test_skills_list_and_detail(admin) -> None:
    data = ok_envelope(admin.get("/api/skills", params={"tag": "demo"}))
    assert [s["id"] for s in data["skills"]] == ["echo"] and data["total"] == 1
    detail = ok_envelope(admin.get("/api/skills/echo"))
    assert detail["parameters_schema"]["properties"]["times"]["type"] == "integer"
    assert detail["versions"] == ["1.0.0"] and detail["isolation"] == "inline"


def test_request_ids_are_taken_or_made(admin) -> None:
    r = admin.get("/api/skills", headers={"X-Request-ID": "k3j4h5g6"})  # base-36, as axios
    assert r.headers["x-request-id"] == "k3j4h5g6"
    assert r.json()["metadata"]["request_id"] == "k3j4h5g6"
    r = admin.get("/api/skills", headers={"X-Request-ID": "x" * 129})
    made = {admin.get("/health").headers["x-request-id"] for _ in range(3)}
    assert r.headers["x-request-id"] != "x" * 129 and len(made) == 3
    assert all(len(m) == 32 and int(m, 16) >= 0 for m in made)


def test_bodies_over_the_limit_get_413(tmp_path: Path) -> None:
    with running(tmp_path, insecure=True, service={"max_body_bytes": 2048}) as srv, \
            srv.client() as c:
        big = {"parameters": {"text": "x" * 5000}}
        error_envelope(c.post("/api/skills/echo/execute", json=big), 413,
                       "PAYLOAD_TOO_LARGE")

        def chunks():  # no Content-Length: counted as it arrives
            yield b'{"parameters": {"text": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}}'

        r = c.post("/api/skills/echo/execute", content=chunks(),
                   headers={"content-type": "application/json"})
        error_envelope(r, 413, "PAYLOAD_TOO_LARGE")
        ok_envelope(c.post("/api/skills/echo/execute", json={"parameters": {"text": "y"}}))


def test_rate_limits_per_key_answer_429_with_retry_after(tmp_path: Path) -> None:
    with running(tmp_path, service={"rate_per_s": 1.0, "rate_burst": 3}) as srv:
        a, b = srv.key("viewer", name="a"), srv.key("viewer", name="b")
        with srv.client(a) as ca, srv.client(b) as cb:
            codes = [ca.get("/api/skills").status_code for _ in range(5)]
            assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
            r = ca.get("/api/skills")
            error_envelope(r, 429, "RATE_LIMITED")
            assert int(r.headers["retry-after"]) >= 1
            assert cb.get("/api/skills").status_code == 200  # another key, its own bucket


def test_a_full_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    with running(tmp_path, insecure=True, max_concurrency=1, max_queue_size=1) as srv, \
            srv.client() as c:
        slow = {"parameters": {"seconds": 2.0}, "wait": False}
        assert c.post("/api/skills/slow/execute", json=slow).status_code == 202  # runs
        assert c.post("/api/skills/slow/execute", json=slow).status_code == 202  # queued
        r = c.post("/api/skills/slow/execute", json=slow)
        error_envelope(r, 503, "OVERLOADED")
        assert r.headers["retry-after"] == "1"


def test_health_and_metrics(srv, admin) -> None:
    with srv.client() as anon:
        h = anon.get("/health").json()
        assert h["ready"] is True and h["auth"] == "api-key" and "engine" in h
        ok_envelope(admin.post("/api/skills/echo/execute", json={}))
        m = anon.get("/metrics")
        assert m.status_code == 200 and "skillexec_" in m.text
        assert 'skill="echo"' in m.text


def test_insecure_mode_says_so(tmp_path: Path) -> None:
    with running(tmp_path, insecure=True) as srv, srv.client() as c:
        h = c.get("/health").json()
        assert h["auth"].startswith("DISABLED") and "disabled" in h["warning"]
        assert c.get("/api/keys").status_code == 200  # admin without a key


def test_cors_for_py_copilots_frontend(tmp_path: Path) -> None:
    origin = "http://localhost:5173"
    with running(tmp_path, insecure=True, service={"cors_origins": [origin]}) as srv, \
            srv.client() as c:
        r = c.options("/api/v1/skills", headers={
            "Origin": origin, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
        r = c.get("/api/v1/skills", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers
        # The execute route's express lane answers with the same headers.
        r = c.post("/api/skills/echo/execute", json={}, headers={"Origin": origin,
                                                                 "X-Request-ID": "r-1"})
        ok_envelope(r)
        assert r.headers["access-control-allow-origin"] == origin
        assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
        assert r.headers["x-request-id"] == "r-1"
        r = c.post("/api/skills/echo/execute", json={}, headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers
        assert r.headers["vary"] == "Origin"


def test_openapi_declares_every_route_its_errors_and_the_key_schemes(admin) -> None:
    doc = admin.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                 "description": schemes["ApiKey"]["description"]}
    assert schemes["Bearer"]["scheme"] == "bearer"
    paths = doc["paths"]
    for path in ("/api/skills", "/api/skills/{skill_id}", "/api/skills/{skill_id}/execute",
                 "/api/skills/batch-execute", "/api/executions", "/api/executions/{task_id}",
                 "/api/executions/{task_id}/events", "/api/artifacts/{artifact_id}",
                 "/api/reports/{kind}", "/api/keys", "/api/keys/{key_id}", "/api/audit",
                 "/api/alerts", "/api/v1/skills", "/api/v1/skills/{skill_id}",
                 "/api/v1/skills/{skill_id}/execute", "/health", "/metrics"):
        assert path in paths, path
    op_ids = [op["operationId"] for p in paths.values() for op in p.values()]
    assert len(op_ids) == len(set(op_ids))
    for path, ops in paths.items():
        for method, op in ops.items():
            if path.startswith("/api/"):
                assert {"ApiKey": []} in op["security"], (method, path)
                assert "401" in op["responses"], (method, path)
                assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorEnvelope"}
    execute = paths["/api/skills/{skill_id}/execute"]["post"]["responses"]
    assert {"200", "202", "404", "422", "503"} <= set(execute)


def test_the_dashboard_is_served_whole_from_the_service(srv) -> None:
    with srv.client() as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        # Every script the page loads.
        scripts = [c.get(src) for src in re.findall(r'<script src="([^"]+)"', page.text)]
        css = c.get("/dashboard/style.css")
        assert len(scripts) >= 1 and css.status_code == 200
        assert all(js.status_code == 200 for js in scripts)
        assert c.get("/dashboard/secrets.txt").status_code == 404
    js_text = "\n".join(js.text for js in scripts)
    for text in (page.text, js_text, css.text):
        assert "http://" not in text and "https://" not in text  # no CDN
    for route in ("/api/executions", "/api/skills/ws", "/api/reports/performance",
                  "/api/reports/errors", "/api/alerts", "/execute"):
        assert route in js_text
    assert "innerHTML" not in js_text  # server text is set as text, never as markup


def test_a_key_revoked_elsewhere_stops_within_auth_cache_s(tmp_path: Path) -> None:
    with running(tmp_path, service={"auth_cache_s": 0.5}) as srv:
        key = srv.key("viewer", name="cached")
        with srv.client(key) as c:
            assert c.get("/api/skills").status_code == 200
            srv.call(srv.engine.keys.revoke(key.split("_")[1]))  # as the CLI would
            time.sleep(0.6)
            assert c.get("/api/skills").status_code == 401


def test_an_unknown_skill_is_answered_with_the_closest_ids(admin) -> None:
    """GET /api/skills/ecoh (and a script call on it) said only "no skill with id 'ecoh'",
    where the command line and the execute route suggest 'echo'."""
    for r in (admin.get("/api/skills/ecoh"),
              admin.post("/api/skills/ecoh/scripts", json={"script": "scripts/x.py"})):
        err = error_envelope(r, 404, "SKILL_NOT_FOUND")
        assert err["message"].startswith("no skill 'ecoh' (did you mean 'echo'"), err
        assert "echo" in err["details"]["suggestions"], err
