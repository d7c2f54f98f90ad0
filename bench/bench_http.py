"""The HTTP service's cost (issue #16).

Run:  .venv/bin/python bench/bench_http.py [--requests 20000] [--callers 32] [--rounds 2]
          [--against ../other-worktree] [--throughput-only] [--instructions 1600]

Side by side in one run, on this machine, each server in its own process with the same
uvicorn settings (uvloop and httptools where installed, no uvicorn access log), driven by
the same client (a small keep-alive HTTP/1.1 client on asyncio streams, so the client is not
what is measured; no wrk on this machine):
  1. a bare FastAPI endpoint returning a constant (POST, JSON body)
  2. POST /api/skills/noop/execute (wait) of an inline no-op skill, with an API key
     (authentication, roles, the rate limiter), validation, the SQLite journal, the audit
     log, the request id and the structured access log all on
  requests/s and p50/p99 latency each; budget: 2 >= 50% of 1's requests/s, p99 <= 2x.
  Each server's CPU time per request too (user + system, all its threads): on a busy
  machine the wall-clock figures drift with the neighbours' load, the CPU cost much less.
  3. 1,000 concurrent SSE subscribers (10 per task) to 100 running tasks: all get their
     terminal event; the server's RSS per subscriber.
  4. 200 concurrent waiting executions of a 0.5 s skill: wall time (budget: <= 1.5 s).
``--instructions N``: instead, each server in turn under valgrind's callgrind, the
instructions it executes per request over N requests (uvicorn, the app, the engine, all its
threads) — the same on a busy machine as on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent

SERVICE = textwrap.dedent("""
    import asyncio, sys
    from skillexec import EngineConfig, SkillExecutionEngine, skill
    from skillexec.service.server import bind, serve

    @skill(id="noop")
    async def noop() -> None:
        return None

    @skill(id="sleepy")
    async def sleepy(seconds: float = 0.5, steps: int = 1, context=None) -> dict:
        for i in range(steps):
            await asyncio.sleep(seconds / steps)
            context.progress((i + 1) / steps, "step")
        return {"slept": seconds}

    def engine() -> SkillExecutionEngine:
        e = SkillExecutionEngine(config=EngineConfig(data_dir=sys.argv[1], service={
            "rate_per_s": 1e9, "rate_burst": 1_000_000_000, "max_body_bytes": 1 << 20}))
        for fn in (noop, sleepy):
            e.register(fn)
        return e

    async def make_key() -> str:
        async with engine() as e:
            _info, raw = await e.keys.create(name="bench", role="runner")
            return raw

    key = asyncio.run(make_key())
    sock = bind("127.0.0.1", 0)
    print(sock.getsockname()[1], key, flush=True)
    serve(engine(), sock)
""")

BARE = textwrap.dedent("""
    import uvicorn
    from fastapi import FastAPI
    from skillexec.service.server import bind

    app = FastAPI()

    @app.post("/api/skills/noop/execute")
    async def execute() -> dict:
        return {"success": True, "data": {"status": "succeeded", "output": None}}

    sock = bind("127.0.0.1", 0)
    print(sock.getsockname()[1], "-", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(
        sockets=[sock])
""")


def start(script: str, data: Path, *, root: Path = ROOT,
          ) -> tuple[subprocess.Popen[str], int, str]:
    """A server from ``root``'s sources (this checkout's, or another's to compare)."""
    proc = subprocess.Popen([sys.executable, "-c", script, str(data)], cwd=root,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root / "src")})
    assert proc.stdout is not None
    port, key = proc.stdout.readline().split()
    return proc, int(port), key


def instructions(script: str, tmp: Path, *, root: Path, requests: int, callers: int,
                 body: bytes) -> float:
    """The instructions a server executes per request, all its threads (callgrind,
    instrumenting only while the measured requests run, after a warm-up): a count that the
    neighbours' load does not change, where wall-clock and even CPU-time figures do."""
    tmp.mkdir(parents=True)
    err = tmp / "stderr"  # the access log: a pipe nobody reads would fill and stall it
    with err.open("w") as sink:
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={tmp / 'callgrind.out'}", sys.executable, "-c", script,
             str(tmp / "data")], cwd=root, stdout=subprocess.PIPE, stderr=sink, text=True,
            env={**os.environ, "PYTHONPATH": str(root / "src")})
    assert proc.stdout is not None
    port, key = proc.stdout.readline().split()

    def instrument(on: bool) -> None:
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(proc.pid)],
                       capture_output=True, check=True)

    async def run() -> None:
        await load(int(port), key, 640, callers, body)  # warm up
        instrument(True)
        await load(int(port), key, requests, callers, body)
        instrument(False)

    try:
        asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(300)
    found = re.search(r"Collected : (\d+)", err.read_text(errors="replace"))
    assert found is not None, err.read_text(errors="replace")[-2000:]
    return int(found.group(1)) / requests


class Conn:
    """One keep-alive HTTP/1.1 connection: requests in turn, Content-Length bodies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    async def request(self, method: str, path: str, headers: dict[str, str],
                      body: bytes = b"") -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        return int(status_line.split()[1]), data

    def close(self) -> None:
        self.writer.close()


async def load(port: int, key: str, total: int, callers: int,
               body: bytes) -> tuple[float, list[float]]:
    headers = {"Content-Type": "application/json"}
    if key != "-":
        headers["X-API-Key"] = key
    conns = [await Conn.open(port) for _ in range(callers)]
    lat: list[float] = []
    remaining = total

    async def caller(conn: Conn) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            status, _ = await conn.request("POST", "/api/skills/noop/execute", headers, body)
            lat.append(time.perf_counter() - t0)
            assert status == 200, status

    t0 = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in conns))
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    return wall, lat


def cpu_s(proc: psutil.Process) -> float:
    """The process's CPU time so far, all its threads, user + system."""
    times = proc.cpu_times()
    return float(times.user + times.system)


def pct(lat: list[float], q: float) -> float:
    s = sorted(lat)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


async def sse(port: int, key: str, tasks: int, per_task: int, proc: psutil.Process,
              ) -> None:
    headers = {"Content-Type": "application/json", "X-API-Key": key}
    conn = await Conn.open(port)
    ids = []
    body = json.dumps({"parameters": {"seconds": 6.0, "steps": 12}, "wait": False}).encode()
    for _ in range(tasks):
        status, data = await conn.request("POST", "/api/skills/sleepy/execute", headers, body)
        assert status == 202, data
        ids.append(json.loads(data)["data"]["task_id"])
    conn.close()
    rss0 = proc.memory_info().rss
    opened = asyncio.Event()
    connected = 0
    ended = 0
    n = tasks * per_task

    async def subscriber(task_id: str) -> None:
        nonlocal connected, ended
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /api/executions/{task_id}/events HTTP/1.1\r\nHost: b\r\n"
                     f"X-API-Key: {key}\r\n\r\n".encode())
        first = True
        while line := await reader.readline():
            if first and line.startswith(b"id:"):
                first = False
                connected += 1
                if connected == n:
                    opened.set()
            if line.startswith(b"id: end"):
                ended += 1
                break
        writer.close()

    t0 = time.perf_counter()
    subs = [asyncio.ensure_future(subscriber(ids[i % tasks])) for i in range(n)]
    await asyncio.wait_for(opened.wait(), 60)
    rss1 = proc.memory_info().rss
    await asyncio.gather(*subs)
    wall = time.perf_counter() - t0
    print(f"3. {n} SSE subscribers on {tasks} running tasks: {ended}/{n} got the terminal "
          f"event in {wall:.1f} s; server RSS +{(rss1 - rss0) / 2**20:.1f} MiB with all "
          f"connected = {(rss1 - rss0) / n / 1024:.1f} KiB per subscriber")


async def waiting(port: int, key: str, n: int) -> None:
    headers = {"Content-Type": "application/json", "X-API-Key": key}
    conns = [await Conn.open(port) for _ in range(n)]
    body = json.dumps({"parameters": {"seconds": 0.5}}).encode()
    t0 = time.perf_counter()
    results = await asyncio.gather(*(c.request("POST", "/api/skills/sleepy/execute", headers,
                                               body) for c in conns))
    wall = time.perf_counter() - t0
    ok = sum(1 for status, data in results
             if status == 200 and json.loads(data)["data"]["status"] == "succeeded")
    for c in conns:
        c.close()
    print(f"4. {n} concurrent waiting executions of a 0.5 s skill: {ok}/{n} succeeded, "
          f"all answered in {wall:.2f} s (budget 1.5 s)")


Server = tuple[int, str, psutil.Process]  # port, key ("-": none), process
Figures = tuple[float, float, float, float]  # requests/s, p50 ms, p99 ms, CPU us/request


async def throughput(servers: dict[str, Server], *, requests: int, callers: int,
                     rounds: int, body: bytes) -> dict[str, Figures]:
    """Each server in turn, ``rounds`` times (interleaved: the machine's noise hits each
    alike), after a warm-up; wall-clock figures and the server's CPU time per request."""
    for port, key, _proc in servers.values():
        await load(port, key, 2000, callers, body)  # warm up
    runs: dict[str, list[tuple[float, list[float]]]] = {name: [] for name in servers}
    cpu = dict.fromkeys(servers, 0.0)
    for _ in range(rounds):
        for name, (port, key, proc) in servers.items():
            before = cpu_s(proc)
            runs[name].append(await load(port, key, requests // rounds, callers, body))
            cpu[name] += cpu_s(proc) - before
    figures = {}
    for name, done in runs.items():
        wall = sum(w for w, _ in done)
        lat = [x for _, lats in done for x in lats]
        figures[name] = (len(lat) / wall, pct(lat, 0.5), pct(lat, 0.99),
                         cpu[name] / len(lat) * 1e6)
    return figures


def show(label: str, f: Figures) -> None:
    print(f"{label:34s}{f[0]:8.0f} req/s  p50 {f[1]:.2f} ms  p99 {f[2]:.2f} ms  "
          f"server CPU {f[3]:.0f} us/request")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--callers", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of each server")
    ap.add_argument("--against", type=Path, action="append", default=[],
                    help="another checkout (e.g. a git worktree of an older commit): its "
                    "service is measured too, interleaved with this one")
    ap.add_argument("--throughput-only", action="store_true", help="skip 3 and 4")
    ap.add_argument("--instructions", type=int, default=0, metavar="REQUESTS",
                    help="instead: each server's instructions per request over REQUESTS "
                    "requests (e.g. 1600), under valgrind's callgrind")
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    body = json.dumps({"parameters": {}}).encode()
    if args.instructions:
        count_instructions(args.instructions, args.callers, args.against, body)
        return
    with tempfile.TemporaryDirectory() as tmp:
        bare, bport, _ = start(BARE, Path(tmp) / "bare")
        svc, sport, key = start(SERVICE, Path(tmp) / "svc")
        procs = [bare, svc]
        servers = {"bare": (bport, "-", psutil.Process(bare.pid)),
                   "svc": (sport, key, psutil.Process(svc.pid))}
        for i, other in enumerate(args.against):
            proc, port, k = start(SERVICE, Path(tmp) / f"against{i}", root=other)
            procs.append(proc)
            servers[str(other)] = (port, k, psutil.Process(proc.pid))
        try:
            async def run() -> None:
                figures = await throughput(servers, requests=args.requests,
                                           callers=args.callers, rounds=args.rounds,
                                           body=body)
                b, s = figures["bare"], figures["svc"]
                show("1. bare FastAPI constant:", b)
                show("2. skillexec execute (all on):", s)
                for other in args.against:
                    show(f"   the same, {other}:", figures[str(other)])
                print(f"   ratio: {s[0] / b[0]:.0%} of bare requests/s (budget >= 50%), p99 "
                      f"{s[2] / b[2]:.2f}x (budget <= 2x); {args.callers} keep-alive callers")
                print(f"   server CPU per request: {s[3] / b[3]:.2f}x the bare endpoint's (the "
                      "load-independent form of the requests/s budget: <= 2x)")
                if not args.throughput_only:
                    await waiting(sport, key, 200)
                    await sse(sport, key, 100, 10, psutil.Process(svc.pid))

            asyncio.run(run())
        finally:
            for p in procs:
                p.terminate()
                p.wait(30)


def count_instructions(requests: int, callers: int, against: list[Path],
                       body: bytes) -> None:
    arms = [("1. bare FastAPI constant:", BARE, ROOT),
            ("2. skillexec execute (all on):", SERVICE, ROOT),
            *((f"   the same, {other}:", SERVICE, other) for other in against)]
    with tempfile.TemporaryDirectory() as tmp:
        counts = [instructions(script, Path(tmp) / str(i), root=root, requests=requests,
                               callers=callers, body=body)
                  for i, (_label, script, root) in enumerate(arms)]
    for (label, _script, _root), count in zip(arms, counts, strict=True):
        print(f"{label:34s}{count / 1000:8.0f} k instructions/request "
              f"({count / counts[0]:.2f}x the bare endpoint's)")


if __name__ == "__main__":
    main()
