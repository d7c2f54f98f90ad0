"""A real ``skillexec serve`` process, for the tests of what the command itself does (the
address it listens on, its logs): its base URL, its stderr as it comes, keys made with
``skillexec keys create``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Served:
    proc: subprocess.Popen[str]
    base_url: str  # as the banner says it
    port: int
    data_dir: Path
    lines: list[str] = field(default_factory=list)  # stderr so far

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SKILLEXEC_")}


def make_key(data_dir: Path, role: str, name: str | None = None) -> dict[str, str]:
    """``skillexec keys create --json``: the key's record, ``key`` included."""
    out = subprocess.run(
        [sys.executable, "-m", "skillexec", "keys", "create", "--name", name or role,
         "--role", role, "--data-dir", str(data_dir), "--json"],
        capture_output=True, text=True, timeout=120, check=True, env=_env()).stdout
    made: dict[str, str] = json.loads(out)
    return made


@contextlib.contextmanager
def serving(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
            ) -> Iterator[Served]:
    """``skillexec serve --port 0 ARGS`` with its data under ``tmp_path/data``; stopped
    with SIGTERM at the end."""
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "skillexec", "serve", "--port", "0", "--data-dir", str(data),
         "--skills-dir", str(tmp_path / "skills"), *args],
        cwd=tmp_path, stderr=subprocess.PIPE, text=True, env={**_env(), **(env or {})})
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        for _ in range(40):
            line = proc.stderr.readline()
            lines.append(line)
            if "serving http://" in line:
                break
            assert line, "the service did not start: " + "".join(lines)
        else:
            raise AssertionError("no 'serving' line: " + "".join(lines))
        base = line.split("serving ")[1].split(" ")[0]
        served = Served(proc, base, int(base.rsplit(":", 1)[1]), data, lines)

        def read() -> None:
            assert proc.stderr is not None
            for more in proc.stderr:
                lines.append(more)

        threading.Thread(target=read, daemon=True).start()
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
