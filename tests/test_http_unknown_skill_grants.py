"""A key granted some skills sees those alone, its unknown-skill errors too: an id its
pattern covers that names no skill was answered with the registry's sentence, which lists
every loaded skill (or suggests one the key may not see), on GET, execute (both lanes),
Py Copilot's execute and batch-execute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests._http import running

# Loaded: answer, boom, echo, report, slow (what tests/_http.py registers).
NOT_GRANTED = ("answer", "boom", "report", "slow")


def _said(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 404, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == "SKILL_NOT_FOUND"
    return error


def _routes(c: httpx.Client, skill_id: str) -> list[httpx.Response]:
    return [c.get(f"/api/skills/{skill_id}"),
            c.post(f"/api/skills/{skill_id}/execute", json={}),  # the express lane
            c.post(f"/api/skills/{skill_id}/execute", content=b'{"wait": true}',
                   headers={"Content-Type": "application/json; charset=UTF-8"}),  # FastAPI
            c.post(f"/api/v1/skills/{skill_id}/execute", json={"task": "t"})]


def test_an_unknown_id_a_pattern_covers_lists_no_ungranted_skill(tmp_path: Path) -> None:
    with running(tmp_path) as srv:
        with srv.client(srv.key("runner", name="ech", skills=["ech*"])) as c:
            for r in _routes(c, "ech-zzzzzz"):  # no close id: the registry lists all five
                error = _said(r)
                assert error["message"] == "no skill 'ech-zzzzzz'", (r.url, error)
                assert error["details"]["suggestions"] == []
            batch = c.post("/api/skills/batch-execute", json={"tasks": [
                {"skill_id": "echo"}, {"skill_id": "ech-zzzzzz"}]})
            assert batch.status_code == 200, batch.text
            refused = batch.json()["data"]["results"][1]
            assert refused["status"] == "rejected", refused
            assert refused["error"]["message"] == "no skill 'ech-zzzzzz'", refused
            for task in c.get("/api/executions").json()["data"]["items"]:
                assert not any(s in str(task) for s in NOT_GRANTED), task  # nor journaled
        with srv.client(srv.key("runner", name="e", skills=["e*"])) as c:
            for r in _routes(c, "eport"):  # the closest id, 'report', is not granted
                error = _said(r)
                assert error["message"] == "no skill 'eport'", (r.url, error)
                assert error["details"]["suggestions"] == []
            for r in _routes(c, "ecko"):  # the closest id is: it is suggested
                error = _said(r)
                assert error["message"] == "no skill 'ecko' (did you mean 'echo'?)", error
                assert error["details"]["suggestions"] == ["echo"]
        with srv.client(srv.key("runner", name="all")) as c:  # it sees every skill
            error = _said(c.post("/api/skills/ech-zzzzzz/execute", json={}))
            assert error["message"] == ("no skill 'ech-zzzzzz'; loaded skills: answer, boom, "
                                        "echo, report, slow")
