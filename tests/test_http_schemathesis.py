"""Schemathesis over the live service's OpenAPI document (its CLI, as CI would run it):
generated requests to every operation, every check on — no 5xx; statuses, content types,
headers and bodies as declared; bad data refused; auth not ignored."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests._http import running

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]
CONFIG = Path(__file__).parent / "fixtures" / "schemathesis"  # its schemathesis.toml


def test_every_operation_conforms_to_the_openapi_document(tmp_path: Path) -> None:
    exe = shutil.which("schemathesis")
    assert exe is not None, "schemathesis is in the test extra"
    with running(tmp_path, service={"rate_per_s": 100_000, "rate_burst": 100_000}) as srv:
        key = srv.key("admin")
        # The event stream of a running task lasts until the task ends: fuzzed ids never
        # name one, but it is left to test_http_streams.py rather than to a timeout here.
        proc = subprocess.run(
            [exe, "run", f"{srv.base_url}/openapi.json", "--checks", "all",
             "-H", f"X-API-Key: {key}", "--max-examples", "30", "--seed", "1",
             "--exclude-path-regex", "/events$", "--request-timeout", "20",
             "--max-failures", "20", "--phases", "examples,coverage,fuzzing",
             "--no-color"],
            capture_output=True, text=True, timeout=800, cwd=CONFIG)
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-3000:]
