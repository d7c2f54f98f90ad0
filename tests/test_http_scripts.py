"""Agent Skills over HTTP: a skill's instructions, resources and scripts in GET
/api/skills/{id}, and POST /api/skills/{id}/scripts through the engine's run_script."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests._http import running
from tests._isolation import need_sandbox
from tests.conftest import FIXTURES

pytestmark = pytest.mark.timeout(180)


def test_skill_bundle_and_script_runs(tmp_path: Path) -> None:
    need_sandbox()
    with running(tmp_path, skills_dir=FIXTURES / "scripts") as srv, \
            srv.client(srv.key("runner")) as c:
        detail = c.get("/api/skills/pdf-forms").json()["data"]
        assert detail["instructions"] and "scripts/echo_args.py" in detail["scripts"]
        assert all(set(r) == {"path", "size", "mime"} for r in detail["resources"])
        assert "script" in detail["offers"]
        r = c.post("/api/skills/pdf-forms/scripts", json={
            "script": "scripts/echo_args.py", "args": ["a", "b c"], "stdin": "from stdin",
            "files": {"in.txt": base64.b64encode(b"hello").decode()}})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["status"] == "succeeded", data
        seen = json.dumps(data["output"])
        assert "b c" in seen and "from stdin" in seen
        r = c.post("/api/skills/pdf-forms/scripts", json={"script": "../outside.py"})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["engine_code"] == "script_outside_skill"
        r = c.post("/api/skills/pdf-forms/scripts",
                   json={"script": "scripts/noop.py", "files": {"x": "%%%"}})
        assert r.status_code == 422 and r.json()["error"]["field"] == "files.x"
        r = c.post("/api/skills/nope/scripts", json={"script": "scripts/noop.py"})
        assert r.status_code == 404
        r = c.post("/api/skills/pdf-forms/scripts", json={
            "script": "scripts/noop.py", "env": {"LD_PRELOAD": "/tmp/x.so"}})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["engine_code"] == "invalid_script_env"
    with running(tmp_path / "v", skills_dir=FIXTURES / "scripts") as srv, \
            srv.client(srv.key("viewer")) as c:
        r = c.post("/api/skills/pdf-forms/scripts", json={"script": "scripts/noop.py"})
        assert r.status_code == 403


def test_another_principals_session_is_not_found(tmp_path: Path) -> None:
    """A session belongs to whoever created it: another key's call naming it is refused as
    an unknown session id is, and it never ran in that workspace."""
    need_sandbox()
    with running(tmp_path, skills_dir=FIXTURES / "scripts") as srv, \
            srv.client(srv.key("runner", name="alice")) as alice, \
            srv.client(srv.key("runner", name="bob")) as bob:
        sid = srv.engine.sessions.create(principal="alice")
        body = {"script": "scripts/noop.py", "files": {
            "planted.txt": base64.b64encode(b"from bob").decode()}}
        theirs = bob.post("/api/skills/pdf-forms/scripts", json={**body, "session": sid})
        unknown = bob.post("/api/skills/pdf-forms/scripts",
                           json={**body, "session": "s_" + "0" * 24})
        assert theirs.status_code == unknown.status_code == 422, theirs.text
        assert theirs.json()["error"]["details"]["engine_code"] == "session_not_found"
        assert unknown.json()["error"]["details"]["engine_code"] == "session_not_found"
        assert srv.engine.sessions.files(sid) == []  # nothing of bob's landed there
        mine = alice.post("/api/skills/pdf-forms/scripts", json={**body, "session": sid})
        assert mine.status_code == 200 and mine.json()["data"]["status"] == "succeeded"
        assert [f["path"] for f in srv.engine.sessions.files(sid)] == ["planted.txt"]


def test_a_key_opens_uses_reads_and_closes_its_own_session_over_http(tmp_path: Path) -> None:
    """The scripts route takes a session, but nothing over HTTP made one: a session created
    by the command line is local's, which a key may not use. /api/sessions does it."""
    need_sandbox()
    with running(tmp_path, skills_dir=FIXTURES / "scripts") as srv, \
            srv.client(srv.key("runner", name="alice")) as alice, \
            srv.client(srv.key("runner", name="bob")) as bob, \
            srv.client(srv.key("viewer")) as viewer:
        r = alice.post("/api/sessions", json={"ttl_s": 600})
        assert r.status_code == 201, r.text
        made = r.json()["data"]
        sid = made["id"]
        assert made["principal"] == "alice" and made["ttl_s"] == 600
        body = {"script": "scripts/noop.py", "session": sid,
                "files": {"in/a.txt": base64.b64encode(b"kept").decode()}}
        r = alice.post("/api/skills/pdf-forms/scripts", json=body)
        assert r.status_code == 200 and r.json()["data"]["status"] == "succeeded", r.text
        r = alice.get(f"/api/sessions/{sid}")
        assert r.status_code == 200, r.text
        assert [f["path"] for f in r.json()["data"]["files"]] == ["in/a.txt"]
        assert [s["id"] for s in alice.get("/api/sessions").json()["data"]] == [sid]
        assert bob.get("/api/sessions").json()["data"] == []  # not his
        for call in (bob.get(f"/api/sessions/{sid}"), bob.delete(f"/api/sessions/{sid}")):
            assert call.status_code == 404, call.text  # as an unknown id
            assert call.json()["error"]["code"] == "SESSION_NOT_FOUND"
        assert viewer.post("/api/sessions", json={}).status_code == 403  # no runs: no use
        r = alice.post("/api/sessions", json={"ttl_s": 1e9})  # cut to sessions.max_ttl_s
        assert r.status_code == 201 and r.json()["data"]["ttl_s"] == 86400, r.text
        assert alice.delete(f"/api/sessions/{r.json()['data']['id']}").status_code == 200
        for bad in ({"ttl_s": 0}, {"ttl_s": 5e-324}, {"ttl_s": True}, {"ttl": 5}):
            assert alice.post("/api/sessions", json=bad).status_code == 422, bad
        r = alice.delete(f"/api/sessions/{sid}")
        assert r.status_code == 200, r.text
        assert alice.get(f"/api/sessions/{sid}").status_code == 404
        assert alice.post("/api/sessions").status_code == 201  # no body: the default TTL


def test_a_script_whose_caller_hung_up_is_cancelled(tmp_path: Path) -> None:
    """A model's tool call that gives up (its HTTP client's timeout) leaves no script
    behind: the route answers no task id, so nobody could follow or cancel it, and in a
    session it would hold the session's one-at-a-time turn from the call that retries."""
    need_sandbox()
    import time

    import httpx

    with running(tmp_path, skills_dir=FIXTURES / "scripts") as srv, \
            srv.client(srv.key("runner")) as c:
        sid = c.post("/api/sessions", json={}).json()["data"]["id"]
        step = {"script": "scripts/slow.py", "session": sid}
        with pytest.raises(httpx.TimeoutException):
            c.post("/api/skills/pdf-forms/scripts", json={**step, "args": ["a", "60"]},
                   timeout=1.5)
        deadline = time.monotonic() + 15
        while True:
            tasks = srv.call(srv.engine.tasks(skill_id="pdf-forms:scripts/slow.py"))
            if (tasks and tasks[0].status.terminal) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert [t.status.value for t in tasks] == ["cancelled"]
        started = time.monotonic()
        r = c.post("/api/skills/pdf-forms/scripts", json={**step, "args": ["b", "0"]},
                   timeout=30)
        assert r.status_code == 200 and r.json()["data"]["status"] == "succeeded", r.text
        assert time.monotonic() - started < 15


def test_a_script_submitted_without_waiting_is_followed_to_its_end(tmp_path: Path) -> None:
    """``wait: false`` (as execute takes it): 202, the task id and a Location, followed
    with GET /api/executions/{id}, its SSE events, and DELETE to cancel it."""
    need_sandbox()
    import time

    from tests._http import sse_events

    with running(tmp_path, skills_dir=FIXTURES / "scripts") as srv, \
            srv.client(srv.key("runner")) as c:
        r = c.post("/api/skills/pdf-forms/scripts",
                   json={"script": "scripts/make_files.py", "args": ["2", "3"], "wait": False})
        assert r.status_code == 202, r.text
        task_id = r.json()["data"]["task_id"]
        assert r.headers["Location"] == f"/api/executions/{task_id}"
        events = sse_events(c.get(f"/api/executions/{task_id}/events").text)
        assert json.loads(events[-1]["data"])["status"] == "succeeded"
        done = c.get(r.headers["Location"]).json()["data"]
        assert done["status"] == "succeeded", done
        made = done["result"]["artifacts"]
        assert sorted(a["name"] for a in made) == ["made/f0.bin", "made/f1.bin"]
        assert c.get(f"/api/artifacts/{made[0]['id']}").content == b"xxx"
        # refused before it runs: the same errors as waiting
        r = c.post("/api/skills/pdf-forms/scripts",
                   json={"script": "../outside.py", "wait": False})
        assert r.status_code == 422 and \
            r.json()["error"]["details"]["engine_code"] == "script_outside_skill"
        r = c.post("/api/skills/pdf-forms/scripts", json={
            "script": "scripts/noop.py", "session": "s_" + "0" * 24, "wait": False})
        assert r.status_code == 422, r.text  # as the waiting call's refusal
        assert r.json()["error"]["details"]["engine_code"] == "session_not_found"
        assert c.post("/api/skills/pdf-forms/scripts",
                      json={"script": "scripts/noop.py", "wait": "no"}).status_code == 422
        # a long one in a session, cancelled; the session's next call then runs
        sid = c.post("/api/sessions", json={}).json()["data"]["id"]
        r = c.post("/api/skills/pdf-forms/scripts", json={
            "script": "scripts/slow.py", "args": ["a", "60"], "session": sid, "wait": False})
        assert r.status_code == 202, r.text
        long_id = r.json()["data"]["task_id"]
        assert c.delete(f"/api/executions/{long_id}").status_code == 200
        deadline = time.monotonic() + 30
        while c.get(f"/api/executions/{long_id}").json()["data"]["status"] != "cancelled":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        r = c.post("/api/skills/pdf-forms/scripts",
                   json={"script": "scripts/slow.py", "args": ["b", "0"], "session": sid})
        assert r.status_code == 200 and r.json()["data"]["status"] == "succeeded", r.text


def test_the_errors_report_shows_a_failed_script_by_its_exception(tmp_path: Path) -> None:
    """GET /api/reports/errors and /summary showed a failed script by the stderr tail in its
    message; they now show the exception that ended it, as the CLI's reports do."""
    need_sandbox()
    with running(tmp_path, skills_dir=FIXTURES / "scripts") as srv, \
            srv.client(srv.key("operator")) as c:
        r = c.post("/api/skills/pdf-forms/scripts", json={"script": "scripts/crash.py"})
        assert r.json()["data"]["status"] == "failed", r.text
        [group] = c.get("/api/reports/errors").json()["data"]["groups"]
        assert group["example_message"] == ("the script exited with status 1: ValueError: a "
                                            "bug in the script")
        assert "Traceback" in group["example_traceback"]
        [top] = c.get("/api/reports/summary").json()["data"]["top_errors"]
        assert top["example"] == group["example_message"]


def test_a_bundled_file_is_read_over_http(tmp_path: Path) -> None:
    """An instructions-only skill's SKILL.md sends the model to its reference files
    (``see forms.md``): GET /api/skills/{id} listed them, and nothing over HTTP served
    them (MCP did, as resources). Only the files the skill bundles are served."""
    skills = tmp_path / "skills"
    folder = skills / "guide"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        "---\nname: guide\ndescription: Fill forms.\n---\nRead forms.md first.\n")
    (folder / "forms.md").write_text("# Forms\nStep one.\n")
    (folder / "templates").mkdir()
    (folder / "templates" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (folder / "scripts" / "go.py").write_text("print('go')\n")
    (tmp_path / "secret.txt").write_text("not the skill's\n")
    (folder / "link.md").symlink_to(tmp_path / "secret.txt")
    with running(tmp_path / "srv", skills_dir=skills) as srv, \
            srv.client(srv.key("viewer")) as c:
        r = c.get("/api/skills/guide/files/forms.md")
        assert r.status_code == 200, r.text
        assert r.text == "# Forms\nStep one.\n"
        assert r.headers["content-type"].startswith("text/markdown")
        r = c.get("/api/skills/guide/files/templates/logo.png")
        assert (r.status_code, r.content) == (200, b"\x89PNG\r\n\x1a\nfake")
        assert r.headers["content-type"] == "image/png"
        assert c.get("/api/skills/guide/files/scripts/go.py").text == "print('go')\n"
        # (escaped, so that the client does not fold the ``..`` away before sending)
        for bad in ("link.md", "..%2F..%2Fsecret.txt", "templates%2F..%2F..%2Fsecret.txt",
                    "nope.md", "%2Fetc%2Fpasswd"):
            r = c.get(f"/api/skills/guide/files/{bad}")
            assert r.status_code == 404, (bad, r.text)
            assert "not the skill's" not in r.text and "root:" not in r.text
        assert c.get("/api/skills/nope/files/forms.md").status_code == 404
    with running(tmp_path / "srv2", skills_dir=skills) as srv, srv.client(None) as c:
        assert c.get("/api/skills/guide/files/forms.md").status_code == 401


def test_execute_of_a_skill_with_scripts_only_names_them(tmp_path: Path) -> None:
    """POST .../execute of a skill that offers only scripts said it had no entry, and
    nothing of the scripts route its scripts run by."""
    with running(tmp_path, skills_dir=FIXTURES / "scripts") as srv, \
            srv.client(srv.key("runner")) as c:
        r = c.post("/api/skills/pdf-forms/execute", json={"parameters": {}})
        assert r.status_code == 409, r.text
        err = r.json()["error"]
        assert "it offers 16 bundled scripts" in err["message"], err
        assert "POST /api/skills/{id}/scripts" in err["message"]
        assert "scripts/echo_args.py" in err["details"]["scripts"]


@pytest.mark.parametrize("wait", [True, False])
def test_a_keys_permissions_bound_its_script_calls(tmp_path: Path, wait: bool) -> None:
    """A key limited to file_read may not run a skill that asks for network_access: not its
    entry (/execute), nor, as it could before, one of its scripts (the route named the key's
    principal by its id alone, which the engine took for a principal with no limit)."""
    need_sandbox()
    skill = tmp_path / "skills" / "netty"
    (skill / "scripts").mkdir(parents=True)
    (skill / "skill.json").write_text(json.dumps({
        "id": "netty", "name": "netty", "version": "1.0.0", "description": "Reaches out.",
        "permissions": ["network_access"]}))
    (skill / "scripts" / "go.py").write_text("print('ran')\n")
    with running(tmp_path, skills_dir=tmp_path / "skills",
                 permissions={"per_skill": {"netty": ["network_access"]}}) as srv, \
            srv.client(srv.key("runner", permissions=["file_read"])) as limited, \
            srv.client(srv.key("runner", name="full")) as full:
        body = {"script": "scripts/go.py", "wait": wait}
        r = limited.post("/api/skills/netty/scripts", json=body)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["details"]["engine_code"] == "permission_beyond_grant", r.text
        r = full.post("/api/skills/netty/scripts", json=body)
        assert r.status_code in (200, 202), r.text
