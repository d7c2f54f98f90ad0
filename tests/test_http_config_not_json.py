"""A ``config`` JSON cannot hold (a lone surrogate from an escape such as ``\\ud800``, an
integer past 64 bits, in a value or a key) crashed the request: 500 INTERNAL_ERROR and
about 21 KB of chained tracebacks on stderr per request, on both execute lanes and
batch-execute. It is now a 422 naming the field, as invalid parameters are, and logs
nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests._http import running

CASES = [
    (b'{"config": {"k": "\\ud800"}}', "config.k",
     "config.k holds a lone surrogate (an escape such as \\ud800 without its pair), which "
     "is not Unicode text: send the character whole"),
    (b'{"config": {"a": [1, {"\\udfff": 1}]}}', "config.a.1",
     "config.a.1 has a key that holds a lone surrogate (an escape such as \\ud800 without "
     "its pair), which is not Unicode text: send the character whole"),
    (b'{"config": {"n": 18446744073709551616}}', "config.n",
     "config.n is an integer beyond the 64-bit range: send it as a string"),
]


@pytest.mark.parametrize(("body", "field", "message"), CASES)
def test_a_config_json_cannot_hold_is_a_422_naming_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, body: bytes, field: str,
        message: str) -> None:
    with running(tmp_path) as srv, srv.client(srv.key("runner")) as c, \
            caplog.at_level(logging.WARNING):
        caplog.clear()
        for ctype in ("application/json",  # the express lane
                      "application/json; charset=UTF-8"):  # FastAPI's route
            r = c.post("/api/skills/echo/execute", content=body,
                       headers={"Content-Type": ctype})
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert (error["code"], error["field"], error["message"]) == (
                "INVALID_PARAMETERS", field, message)
        batch = body.replace(b'{"config"', b'{"tasks": [{"skill_id": "echo"}, '
                                           b'{"skill_id": "echo", "config"', 1) + b"]}"
        r = c.post("/api/skills/batch-execute", content=batch,
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "tasks.1." + field
        assert r.json()["error"]["message"] == "tasks.1." + message
        assert srv.call(srv.engine.tasks()) == []  # nothing ran, the batch's first task neither
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
