"""A real ``skillexec mcp`` subprocess spoken to line by line (JSON-RPC over its stdin), for
the tests of how it stops: a signal, a closed stdin."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests._mcp import write_skills
from tests.conftest import ROOT


class StdioServer:
    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        skills = write_skills(tmp_path / "skills")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "skillexec", "mcp", "--skills-dir", str(skills),
             "--data-dir", str(self.data)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        self._ids = 0
        self.ask("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                "clientInfo": {"name": "test", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> None:
        """Send a request without reading its answer (a call left in flight)."""
        self._ids += 1
        self.send({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params})

    def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.request(method, params)
        assert self.proc.stdout is not None
        while True:
            line = json.loads(self.proc.stdout.readline())
            if line.get("id") == self._ids:
                return dict(line["result"])

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.ask("tools/call", {"name": tool, "arguments": arguments})

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode()

    def statuses(self) -> dict[str, str]:
        with sqlite3.connect(self.data / "journal.db") as db:
            return dict(db.execute("SELECT task_id, status FROM tasks").fetchall())

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
