"""A package index on a local port, in a thread, for the environment tests: it serves the
wheels of a folder (PEP 503 pages), never answers for the names in ``hang`` (an index that
stops answering), holds back the pages of the names in ``gated`` until ``gate`` is set (an
install as slow as a test wants), and answers 500 to everything with ``broken``."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Index:
    wheels: Path
    hang: frozenset[str] = frozenset()
    broken: bool = False
    port: int = 0
    asked: list[str] = field(default_factory=list)  # the paths requested
    release: threading.Event = field(default_factory=threading.Event)
    gated: frozenset[str] = frozenset()
    gate: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple"

    def was_asked(self, name: str) -> bool:
        return any(p.startswith(f"/simple/{name}") for p in self.asked)


def free_port() -> int:
    """A port nothing listens on (closed: a connection to it is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(wheels: Path, *, hang: frozenset[str] = frozenset(), broken: bool = False,
            port: int = 0, gated: frozenset[str] = frozenset()) -> Iterator[Index]:
    index = Index(wheels, hang, broken, gated=gated)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self.head = True
            self.do_GET()

        def do_GET(self) -> None:
            index.asked.append(self.path)
            if index.broken:
                self._send(500, b"")
                return
            parts = self.path.strip("/").split("/")
            if parts[0] == "simple" and len(parts) > 1:
                if parts[1] in index.hang:
                    index.release.wait(300)  # accepted, never answered (until the end)
                    return
                if parts[1] in index.gated:
                    index.gate.wait(120)
                files = sorted(f for f in index.wheels.glob("*.whl")
                               if f.name.split("-")[0].replace("_", "-") == parts[1])
                if not files:
                    self._send(404, b"")
                    return
                links = "".join(
                    f'<a href="/files/{f.name}#sha256='
                    f'{hashlib.sha256(f.read_bytes()).hexdigest()}">{f.name}</a>'
                    for f in files)
                self._send(200, f"<html><body>{links}</body></html>".encode(), "text/html")
            elif parts[0] == "files" and len(parts) == 2 and (index.wheels / parts[1]).is_file():
                self._send(200, (index.wheels / parts[1]).read_bytes())
            else:
                self._send(404, b"")

        def _send(self, status: int, body: bytes, kind: str = "application/octet-stream",
                  ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not getattr(self, "head", False):
                with contextlib.suppress(ConnectionError):  # an installer killed meanwhile
                    self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    index.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield index
    finally:
        index.release.set()
        index.gate.set()
        server.shutdown()
        server.server_close()


def installers_running(data: Path) -> list[int]:
    """The processes whose command line names ``data`` (an installer's --target)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if str(data).encode() in f.read() and int(pid) != os.getpid():
                    found.append(int(pid))
        except OSError:
            continue
    return found
