"""A journal connection cut after COMMIT reached the server, before its reply came back
(a TCP reset, a failover at the wrong moment): the store sent the batch again on a new
connection, so a submission's insert failed on its own row (duplicate key, told to the
caller as a failed submit, retryable) while the journal held the task, and the batch's
events were written twice (reviewDiff). Now a batch holding a task's insert asks whether
that row is there: it committed, and the submission stands, once."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path

import psycopg

from skillexec import SkillExecutionEngine, skill
from skillexec.config import EngineConfig
from tests._postgres import SERVER, create_database, drop_database

_COMMIT_DONE = b"C\x00\x00\x00\x0bCOMMIT\x00"  # CommandComplete of a COMMIT


class _Proxy:
    """TCP between the engine and PostgreSQL; once armed, the connection carrying the next
    COMMIT's reply is cut instead of passing it on (the COMMIT itself went through)."""

    def __init__(self) -> None:
        self.armed, self.cut = threading.Event(), threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                cli, _ = self.sock.accept()
            except OSError:
                return
            srv = socket.create_connection(("127.0.0.1", 5432))
            threading.Thread(target=self._pump, args=(cli, srv, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(srv, cli, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        try:
            while data := src.recv(65536):
                if replies and self.armed.is_set() and _COMMIT_DONE in data:
                    self.armed.clear()
                    self.cut.set()
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@skill(id="twice", version="1.0.0")
def twice(n: int) -> int:
    return 2 * n


def test_a_submission_whose_commit_reply_was_lost_stands_once(tmp_path: Path) -> None:
    name = f"skillexec_lost_reply_{os.getpid()}"
    create_database(name)
    proxy = _Proxy()
    try:
        async def go() -> tuple[str, int]:
            config = EngineConfig(data_dir=tmp_path / "d", journal={
                "url": f"postgresql://postgres@127.0.0.1:{proxy.port}/{name}"})
            async with SkillExecutionEngine(config=config) as engine:
                engine.register(twice)
                assert (await engine.execute("twice", {"n": 1})).ok  # warm: connected
                proxy.armed.set()
                tid = await engine.submit("twice", {"n": 21})
                assert proxy.cut.is_set(), "the proxy never saw a COMMIT reply to cut"
                result = await asyncio.wait_for(engine.wait(tid), 30)
                assert result.ok and result.output == 42, result.error
                return tid, 0

        tid, _ = asyncio.run(go())
        with psycopg.connect(f"{SERVER}/{name}") as conn:
            rows = conn.execute("SELECT status FROM tasks WHERE task_id=%s", (tid,)).fetchall()
            assert rows == [("succeeded",)]
            dup = conn.execute("SELECT kind, data::text, count(*) FROM events "
                               "GROUP BY kind, data::text HAVING count(*) > 1").fetchall()
            assert dup == []
    finally:
        proxy.sock.close()
        drop_database(name)
