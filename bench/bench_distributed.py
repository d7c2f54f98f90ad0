"""Distributed mode against bare Celery: same machine, same broker, two worker processes.

Run:  .venv/bin/python bench/bench_distributed.py [--tasks 2000] [--rounds 3] [--kills 20]
      (needs Redis, PostgreSQL; the Celery arms need sqlalchemy for db+postgresql://)

Arms, interleaved round by round (each arm's workers started fresh, queues unique), their
order rotated by one each round and PostgreSQL checkpointed before each: no arm always
runs right after the same other one (the Celery + PostgreSQL arm leaves a thousand result
rows' WAL and dirty buffers behind; the fresh arm a hundred exited interpreters):
  celery      bare Celery no-op, no result backend (completion counted in Redis)
  celery_pg   bare Celery no-op with the PostgreSQL result backend (db+postgresql://)
  skillexec   distributed skillexec: validation, PostgreSQL journal, fenced claim; the
              client submits and waits through the journal
  fresh       Celery task that runs a fresh interpreter (``python -c pass``) per task
  fresh_async as fresh, the interpreter running the async no-op (``asyncio.run``)
  sandboxed   skillexec no-op skill at isolation ``sandbox`` through distributed mode: a
              plain function, as ``python -c pass`` is a plain program
  sandboxed_async  the same no-op as an ``async def`` (its child runs an event loop:
              what an async skill costs beyond a plain one; sessions 8-14 measured this one)
  baseline    as skillexec, its workers running the code in --baseline-src (A/B of a change)
  sandboxed_base  as sandboxed, its workers running the code in --baseline-src
  sandboxed_async_base  as sandboxed_async, its workers running the code in --baseline-src
Throughput = N / (first submit -> last end seen by the client). Round trip = one task
submitted and its end seen, one at a time (p50/p99). ``--rtt-only``: only round trips,
interleaved call by call between the arms (celery, skillexec, baseline: every arm's workers
up at once, each skillexec arm's client a process of its own running the arm's code), p50
per round and overall. Then ``--kills`` runs of: 10 tasks
(5 idempotent, 5 not) on two workers, kill -9 of one mid-run, a fresh worker started:
lost tasks, tasks whose terminal state changed after it was first read, non-idempotent
tasks run twice.
Cost per task: CPU of the workers (with their descendants: a sandboxed skill's zygote and
the children it forks), of the client and of the PostgreSQL backends serving the arm's
database, over the throughput phase; and how many tasks each worker held at once on average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import redis

HERE = Path(__file__).resolve().parent
PG_ADMIN = os.environ.get("SKILLEXEC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

NOOP = """
async def execute(input_data, context):
    return {"n": input_data["n"]}
"""
SYNC_NOOP = """
def execute(input_data, context):
    return {"n": input_data["n"]}
"""
LOGGED = """
import asyncio, os
async def execute(input_data, context):
    with open(os.environ["RUNS_FILE"], "a") as fh:
        fh.write(f"{context.task_id}\\n")
    await asyncio.sleep(input_data["seconds"])
    return {"n": input_data["n"]}
"""
MANIFEST = """{{"id": "{id}", "version": "1.0.0", "entry_point": "main:execute",
 "parameters_schema": {{"n": {{"type": "integer", "required": true}},
                        "seconds": {{"type": "number", "default": 0}}}},
 "execution": {{"idempotent": {idem}, "isolation": "{iso}", "timeout": 60}}}}"""


LOG_STATEMENTS = [False]  # --log-statements: every statement in the server's log


def new_db() -> str:
    name = f"skx_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
        if LOG_STATEMENTS[0]:  # to account for a task's statements (the server's log)
            c.execute(f"ALTER DATABASE {name} SET log_min_duration_statement = 0")
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def _settle() -> None:
    """What the arm before left to PostgreSQL written out now, not during this arm."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute("CHECKPOINT")
    time.sleep(0.5)


def drop_db(url: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# -- bare Celery -----------------------------------------------------------------------------

def celery_workers(broker: str, backend: str | None, queue: str, key: str,
                   counter: str) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "BENCH_BROKER": broker, "BENCH_BACKEND": backend or "",
           "BENCH_KEY": key, "BENCH_COUNTER": counter, "PYTHONPATH": str(HERE)}
    return [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "_celery_noop", "worker", "-P", "solo",
         "-Q", queue, "--loglevel=WARNING", "--without-gossip", "--without-mingle",
         "--without-heartbeat", f"--hostname=b{i}.{uuid.uuid4().hex[:6]}@%h"],
        env=env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i in range(2)]


def celery_arm(broker: str, n: int, *, backend: str | None, task: str = "noop",
               rtt: int = 0, arm: str = "celery") -> tuple[float, list[float]]:
    sys.path.insert(0, str(HERE))
    queue, key = f"bq-{uuid.uuid4().hex[:8]}", f"bk-{uuid.uuid4().hex[:8]}"
    os.environ.update(BENCH_BROKER=broker, BENCH_BACKEND=backend or "", BENCH_KEY=key,
                      BENCH_COUNTER=broker)
    import importlib

    import _celery_noop
    mod = importlib.reload(_celery_noop)
    r = redis.Redis.from_url(broker)
    procs = celery_workers(broker, backend, queue, key, broker)
    try:
        warm = [mod.app.send_task(task, args=(-1,), queue=queue) for _ in range(4)]
        deadline = time.monotonic() + 60
        while int(r.get(key) or 0) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        del warm
        r.set(key, 0)
        cpu0 = sum(_cpu_s(p.pid) for p in procs), sum(os.times()[:2])
        t0 = time.perf_counter()
        results = [mod.app.send_task(task, args=(i,), queue=queue) for i in range(n)]
        # Every arm counts completions in Redis (the backend arm also writes its results
        # to PostgreSQL): AsyncResult.get() polling would measure the client, not workers.
        while int(r.get(key) or 0) < n:
            time.sleep(0.002)
        del results
        rate = n / (time.perf_counter() - t0)
        COSTS.setdefault(arm, []).append((
            0.0, (sum(_cpu_s(p.pid) for p in procs) - cpu0[0]) * 1000 / n,
            (sum(os.times()[:2]) - cpu0[1]) * 1000 / n, 0.0))
        lat: list[float] = []
        for _ in range(rtt):
            done = f"bp-{uuid.uuid4().hex[:8]}"
            t = time.perf_counter()
            mod.app.send_task("ping", args=(done,), queue=queue)
            r.blpop([done], timeout=30)
            lat.append((time.perf_counter() - t) * 1000)
        return rate, lat
    finally:
        stop(procs)
        mod.app.close()


# -- skillexec -------------------------------------------------------------------------------

_IDS_PER_MESSAGE = "SKILLEXEC_DISTRIBUTED__IDS_PER_MESSAGE"
EXTRA_ENV: dict[str, str] = {}  # --env KEY=VALUE: settings for the client and every worker
WORKER_C = [4]  # --worker-concurrency: each throughput arm's skillexec worker's -c
BASELINE_ENV: dict[str, str] = {}  # --baseline-env KEY=VALUE: the baseline arms' only
OLD_FORMAT = [False]  # --baseline-old-format: the baseline's workers read one id a message


class Skx:
    def __init__(self, root: Path, broker: str, db: str, iso: str,
                 src: str | None = None, *, sync: bool = False) -> None:
        self.root = root
        for sid, body, idem in (("noop", SYNC_NOOP if sync else NOOP, "true"),
                                ("again", LOGGED, "true"),
                                ("once", LOGGED, "false")):
            d = root / "skills" / sid
            d.mkdir(parents=True, exist_ok=True)
            (d / "main.py").write_text(body)
            (d / "skill.json").write_text(MANIFEST.format(
                id=sid, idem=idem, iso=iso if sid == "noop" else "inline"))
        # Not PYTHONPATH: an earlier baseline arm's must not make this arm's workers import
        # the other checkout (it did: every round after the first ran the baseline twice).
        self.env = {**{k: v for k, v in os.environ.items()
                       if not k.startswith("SKILLEXEC_") and k != "PYTHONPATH"},
                    "SKILLEXEC_BROKER_URL": broker, "SKILLEXEC_JOURNAL__URL": db,
                    "SKILLEXEC_DISTRIBUTED__DATABASE_URL": db,
                    "SKILLEXEC_DISTRIBUTED__QUEUE": f"sq-{uuid.uuid4().hex[:8]}",
                    "SKILLEXEC_DISTRIBUTED__LEASE_S": "1.5",
                    "SKILLEXEC_DISTRIBUTED__HEARTBEAT_S": "0.4",
                    "SKILLEXEC_DISTRIBUTED__SWEEP_INTERVAL_S": "0.5",
                    "SKILLEXEC_ISOLATION__TRUSTED_SKILLS": '["noop", "again", "once"]',
                    "SKILLEXEC_MONITOR__ENABLED": "false",
                    "RUNS_FILE": str(root / "runs.txt"), **EXTRA_ENV}
        # The client's own settings: for workers of code older than messages of many ids
        # (--baseline-old-format), one task id per message.
        self.client_env = {_IDS_PER_MESSAGE: "1"} if src is not None and OLD_FORMAT[0] else {}
        if src is not None:  # the workers import skillexec from there (A/B of worker code)
            self.env["PYTHONPATH"] = src
            self.env.update(BASELINE_ENV)  # and these settings (A/B of a setting)
            self.client_env.update(BASELINE_ENV)
        (root / "runs.txt").touch()

    def worker(self, concurrency: int = 4) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "skillexec", "worker", "--skills-dir",
             str(self.root / "skills"), "--data-dir", str(self.root / "data"),
             "-c", str(concurrency)], env=self.env, cwd=self.root,
            stdout=subprocess.DEVNULL, stderr=open(self.root / "workers.log", "ab"))

    def engine(self) -> object:
        for k in (_IDS_PER_MESSAGE, *BASELINE_ENV):  # an earlier arm's
            os.environ.pop(k, None)
        os.environ.update({**{k: v for k, v in self.env.items() if k != "PYTHONPATH"},
                           **self.client_env})
        from skillexec import SkillExecutionEngine
        return SkillExecutionEngine(skills_dir=self.root / "skills", data_dir=self.root / "data")


async def _skx_run(skx: Skx, n: int, rtt: int, workers: list[subprocess.Popen[bytes]],
                   db: str) -> tuple[float, list[float], tuple[float, float, float]]:
    """(tasks/s, round trips, (worker CPU s, client CPU s, PostgreSQL backends' CPU s) of
    the throughput phase)."""
    engine = skx.engine()
    async with engine as e:  # type: ignore[attr-defined]
        # Every worker up (its heartbeat row written) before the clock starts: a worker
        # still importing would spend its start-up CPU inside the measured window.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with psycopg.connect(db, autocommit=True) as c:
                try:
                    row = c.execute("SELECT count(*) FROM skillexec_workers").fetchone()
                except psycopg.errors.UndefinedTable:
                    row = (0,)
            if row and row[0] >= len(workers):
                break
            await asyncio.sleep(0.1)
        for _ in range(4):
            await e.execute("noop", {"n": -1})
        cpu0 = (sum(_cpu_s(p.pid) for p in workers), sum(os.times()[:2]), _pg_cpu_s(db))
        faults0 = sum(_faults(p.pid) for p in workers)
        t0, WINDOW[0] = time.perf_counter(), time.time()
        # Many callers at once, as behind an API (Celery's client publishes one by one
        # without waiting for anything durable; skillexec's submit waits for the journal).
        ids: list[str] = []
        for lo in range(0, n, 200):
            ids += await asyncio.gather(*(e.submit("noop", {"n": i})
                                          for i in range(lo, min(n, lo + 200))))
        for t in ids:
            r = await e.wait(t, timeout=300)
            assert r.ok, r.error
        rate = n / (time.perf_counter() - t0)
        WINDOW[1] = time.time()
        FAULTS[0] = (sum(_faults(p.pid) for p in workers) - faults0) / n
        cpu = (sum(_cpu_s(p.pid) for p in workers) - cpu0[0],
               sum(os.times()[:2]) - cpu0[1], _pg_cpu_s(db) - cpu0[2])
        lat = []
        for _ in range(rtt):
            t = time.perf_counter()
            await e.execute("noop", {"n": 0})
            lat.append((time.perf_counter() - t) * 1000)
        return rate, lat, cpu


# arm -> (commits, worker ms, client ms, PostgreSQL ms) per task
COSTS: dict[str, list[tuple[float, float, float, float]]] = {}
INFLIGHT: dict[str, list[float]] = {}  # arm -> mean tasks in flight per worker, per round
FAULTS = [0.0]  # minor page faults per task of the last skillexec arm's workers
FAULTS_BY_ARM: dict[str, list[float]] = {}
WINDOW = [0.0, 0.0]  # the throughput phase, epoch seconds (clock of this host)


def _in_flight(db: str, workers: int) -> float:
    """Mean number of tasks a worker held (claimed, not yet ended) over the throughput
    phase: ``-c`` when deliveries keep every slot busy, less when the workers starve."""
    t0, t1 = WINDOW
    with psycopg.connect(db, autocommit=True) as c:
        row = c.execute(
            "SELECT sum(greatest(0, least(t.finished_at, %(t1)s)"
            " - greatest(extract(epoch FROM c.claimed_at)::float8, %(t0)s)))"
            " FROM tasks t JOIN skillexec_claims c USING (task_id)"
            " WHERE t.finished_at IS NOT NULL AND c.claimed_at IS NOT NULL",
            {"t0": t0, "t1": t1}).fetchone()
    return float(row[0] or 0.0) / (t1 - t0) / workers if row else 0.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process, its waited-for children, and its live
    descendants (a sandboxed skill's zygote and the children it forks and reaps are the
    worker's grandchildren: their CPU reaches the worker's own counters only when the
    zygote exits, after the measured window)."""
    return sum(_own_cpu_s(p) for p in _tree(pid))


def _own_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # ended meanwhile
        return 0.0
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _faults(pid: int) -> int:
    """Minor page faults of a worker's process tree (with reaped children's): steadier
    than CPU time on a loaded machine, and most of a forked child's cost."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[7]) + int(fields[8])
    return total


def _tree(pid: int) -> list[int]:
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                parent[int(d)] = int(Path(f"/proc/{d}/stat").read_text()
                                     .rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return out


def _pg_cpu_s(db: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to ``db`` (this host only)."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        pids = [r[0] for r in c.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                        (db.rsplit("/", 1)[1],)).fetchall()]
    return sum(_own_cpu_s(p) for p in pids)


def _commits(db: str) -> int:
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        row = c.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                        "WHERE datname = %s", (db.rsplit("/", 1)[1],)).fetchone()
    return int(row[0]) if row else 0


def skx_arm(broker: str, n: int, *, iso: str = "inline", rtt: int = 0,
            src: str | None = None, arm: str = "skillexec",
            sync: bool = False) -> tuple[float, list[float]]:
    """Also records, per task, the arm's cost: PostgreSQL transactions (every statement
    made in autocommit is one), worker CPU and client CPU of the throughput phase: steadier
    than tasks/s on a box that others load."""
    db = new_db()
    with tempfile.TemporaryDirectory() as tmp:
        skx = Skx(Path(tmp), broker, db, iso, src, sync=sync)
        procs = [skx.worker(WORKER_C[0]), skx.worker(WORKER_C[0])]
        try:
            rate, lat, (worker_s, client_s, pg_s) = asyncio.run(
                _skx_run(skx, n, rtt, procs, db))
            INFLIGHT.setdefault(arm, []).append(_in_flight(db, len(procs)))
            FAULTS_BY_ARM.setdefault(arm, []).append(FAULTS[0])
            stop(procs)  # their connections close: their statistics are flushed
            time.sleep(0.5)
            # Transactions include the start-up's and the round trips' (a few dozen).
            COSTS.setdefault(arm, []).append((_commits(db) / (n + rtt + 4),
                                              worker_s * 1000 / n, client_s * 1000 / n,
                                              pg_s * 1000 / n))
            return rate, lat
        finally:
            stop(procs)
            drop_db(db)


async def _kill_once(skx: Skx) -> tuple[int, int, int]:
    victim = skx.worker(3)
    others = [skx.worker(3)]
    runs = skx.root / "runs.txt"
    engine = skx.engine()
    try:
        async with engine as e:  # type: ignore[attr-defined]
            skill_of = {}
            for i in range(5):
                skill_of[await e.submit("again", {"n": i, "seconds": 1})] = "again"
                skill_of[await e.submit("once", {"n": i, "seconds": 1})] = "once"
            deadline = time.monotonic() + 30
            while len(runs.read_text().splitlines()) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            others.append(skx.worker(3))
            first: dict[str, str] = {}
            lost = 0
            for t in skill_of:
                try:
                    r = await e.wait(t, timeout=60)
                    first[t] = r.status.value
                except Exception:
                    lost += 1
            await asyncio.sleep(2.0)  # let any late (zombie) write land, then read again
            changed = 0
            for t, s in first.items():
                changed += (await e.status(t)).status.value != s
            counts = Counter(runs.read_text().split())
            twice = sum(1 for t, sk in skill_of.items() if sk == "once" and counts[t] > 1)
            return lost, changed, twice
    finally:
        stop(others)


def kill_arm(broker: str, kills: int) -> tuple[int, int, int]:
    totals = [0, 0, 0]
    for _ in range(kills):
        db = new_db()
        with tempfile.TemporaryDirectory() as tmp:
            try:
                got = asyncio.run(_kill_once(Skx(Path(tmp), broker, db, "inline")))
            finally:
                drop_db(db)
        totals = [a + b for a, b in zip(totals, got, strict=True)]
    return totals[0], totals[1], totals[2]


def rtt_only(broker: str, arms: list[str], rounds: int, calls: int,
             baseline_src: str | None) -> None:
    """Round trips alone, one call of each arm in turn (the machine's load shifts alike for
    every arm), ``rounds`` x ``calls`` each."""
    sys.path.insert(0, str(HERE))
    queue, key = f"bq-{uuid.uuid4().hex[:8]}", f"bk-{uuid.uuid4().hex[:8]}"
    os.environ.update(BENCH_BROKER=broker, BENCH_BACKEND="", BENCH_KEY=key,
                      BENCH_COUNTER=broker)
    import _celery_noop
    r = redis.Redis.from_url(broker)
    procs: list[subprocess.Popen[bytes]] = []
    clients: dict[str, subprocess.Popen[str]] = {}
    dbs: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if "celery" in arms:
                procs += celery_workers(broker, None, queue, key, broker)
            for arm in arms:
                if arm not in ("skillexec", "baseline"):
                    continue
                src = baseline_src if arm == "baseline" else str(HERE.parent / "src")
                db = new_db()
                dbs.append(db)
                skx = Skx(Path(tmp) / arm, broker, db, "inline",
                          src if arm == "baseline" else None)
                skx.env["PYTHONPATH"] = src
                procs += [skx.worker(4), skx.worker(4)]
                clients[arm] = subprocess.Popen(
                    [sys.executable, str(HERE / "_rtt_client.py"), str(skx.root), "2"],
                    env={**skx.env, **skx.client_env}, cwd=skx.root, text=True,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            for arm, c in clients.items():
                assert c.stdout is not None
                if c.stdout.readline().strip() != "ready":
                    raise RuntimeError(f"the {arm} client did not start")
            lat: dict[str, list[list[float]]] = {a: [] for a in arms}
            for _ in range(rounds):
                for a in arms:
                    lat[a].append([])
                for _ in range(calls):
                    for a in arms:
                        if a == "celery":
                            done = f"bp-{uuid.uuid4().hex[:8]}"
                            t = time.perf_counter()
                            _celery_noop.app.send_task("ping", args=(done,), queue=queue)
                            r.blpop([done], timeout=30)
                            lat[a][-1].append((time.perf_counter() - t) * 1000)
                            continue
                        c = clients[a]
                        assert c.stdin is not None and c.stdout is not None
                        c.stdin.write("go\n")
                        c.stdin.flush()
                        lat[a][-1].append(float(c.stdout.readline()))
            print(f"round trip p50 per round (ms), {calls} calls each, interleaved:")
            for a in arms:
                per = " ".join(f"{_pct(x, 0.5):.2f}" for x in lat[a])
                every = [v for x in lat[a] for v in x]
                print(f"  {a:10s} {per}   all: p50 {_pct(every, 0.5):.2f} "
                      f"p99 {_pct(every, 0.99):.2f}")
            if "celery" in arms:
                for a in arms:
                    if a != "celery":
                        ratios = [_pct(x, 0.5) / _pct(y, 0.5)
                                  for x, y in zip(lat[a], lat["celery"], strict=True)]
                        print(f"  {a}/celery p50 per round: "
                              + " ".join(f"{q:.2f}x" for q in ratios)
                              + f"  median {statistics.median(ratios):.2f}x (target <= 2x)")
        finally:
            for c in clients.values():
                if c.stdin is not None:
                    c.stdin.close()
                try:
                    c.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    c.kill()
            stop(procs)
            _celery_noop.app.close()
            for db in dbs:
                drop_db(db)


def _summary(xs: list[float]) -> str:
    return f"{statistics.median(xs):.0f} ({min(xs):.0f}-{max(xs):.0f})"


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--fresh-tasks", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rtt", type=int, default=200)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--arms",
                    default="celery,celery_pg,skillexec,fresh,sandboxed,fresh_async,"
                            "sandboxed_async")
    ap.add_argument("--baseline-src", default=None, metavar="DIR",
                    help="arm 'baseline': skillexec workers importing from DIR (another "
                         "checkout's src), the client as --arms skillexec")
    ap.add_argument("--baseline-env", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting for the baseline arms' client and workers only (A/B of "
                         "a setting: --baseline-src pointing at this checkout's src)")
    ap.add_argument("--baseline-old-format", action="store_true",
                    help="the baseline's workers predate messages of many ids: publish one "
                         "id per message to them")
    ap.add_argument("--worker-concurrency", type=int, default=4,
                    help="-c of each of the two skillexec workers of a throughput arm")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting for the skillexec client and workers (repeatable)")
    ap.add_argument("--log-statements", action="store_true",
                    help="log every statement of the arms' databases (server log), to "
                         "account for a task's statements")
    ap.add_argument("--rtt-only", action="store_true",
                    help="only round trips: --rounds x --rtt calls per arm of --arms "
                         "(celery, skillexec, baseline), interleaved call by call")
    a = ap.parse_args()
    LOG_STATEMENTS[0] = a.log_statements
    EXTRA_ENV.update(kv.split("=", 1) for kv in a.env)
    BASELINE_ENV.update(kv.split("=", 1) for kv in a.baseline_env)
    WORKER_C[0] = a.worker_concurrency
    OLD_FORMAT[0] = a.baseline_old_format
    arms = a.arms.split(",")
    if a.rtt_only:
        rtt_only(a.broker, arms, a.rounds, a.rtt, a.baseline_src)
        return
    pg_backend = "db+" + new_db()
    rates: dict[str, list[float]] = {k: [] for k in arms}
    lats: dict[str, list[float]] = {k: [] for k in arms}
    try:
        for rnd in range(a.rounds):
            for arm in arms[rnd % len(arms):] + arms[:rnd % len(arms)]:
                _settle()
                rtt = a.rtt if rnd == 0 and arm in ("celery", "skillexec", "baseline") else 0
                if arm == "celery":
                    rate, lat = celery_arm(a.broker, a.tasks, backend=None, rtt=rtt)
                elif arm == "celery_pg":
                    rate, lat = celery_arm(a.broker, a.tasks, backend=pg_backend, arm=arm)
                elif arm in ("fresh", "fresh_async"):
                    rate, lat = celery_arm(a.broker, a.fresh_tasks, backend=None, task=arm,
                                           arm=arm)
                elif arm == "baseline":
                    rate, lat = skx_arm(a.broker, a.tasks, rtt=rtt, src=a.baseline_src,
                                        arm=arm)
                elif arm in ("sandboxed_base", "sandboxed_async_base"):
                    rate, lat = skx_arm(a.broker, a.fresh_tasks, iso="sandbox",
                                        src=a.baseline_src, arm=arm,
                                        sync=arm == "sandboxed_base")
                elif arm in ("sandboxed", "sandboxed_async"):
                    rate, lat = skx_arm(a.broker, a.fresh_tasks, iso="sandbox", arm=arm,
                                        sync=arm == "sandboxed")
                else:
                    rate, lat = skx_arm(a.broker, a.tasks, rtt=rtt)
                rates[arm].append(rate)
                lats[arm] += lat
                print(f"round {rnd + 1} {arm:10s} {rate:8.0f} tasks/s", flush=True)
    finally:
        drop_db(pg_backend.removeprefix("db+"))
    print(f"\nthroughput, median (min-max) of {a.rounds} interleaved rounds, system-wide:")
    for arm in arms:
        if rates[arm]:  # --rounds 0: only the kill runs
            print(f"  {arm:10s} {_summary(rates[arm])} tasks/s")
    for arm in ("celery", "skillexec", "baseline"):
        if lats.get(arm):
            print(f"  round trip {arm:10s} p50 {_pct(lats[arm], 0.5):.2f} ms "
                  f"p99 {_pct(lats[arm], 0.99):.2f} ms ({len(lats[arm])} calls)")
    for arm, costs in COSTS.items():
        print(f"  cost per task {arm:10s} PostgreSQL transactions "
              f"{statistics.median(c[0] for c in costs):.1f}, worker CPU "
              f"{statistics.median(c[1] for c in costs):.2f} ms, client CPU "
              f"{statistics.median(c[2] for c in costs):.2f} ms, PostgreSQL CPU "
              f"{statistics.median(c[3] for c in costs):.2f} ms (median of rounds)")
    for arm, xs in INFLIGHT.items():
        print(f"  in flight per worker {arm:10s} mean {statistics.median(xs):.2f} of "
              f"-c {WORKER_C[0]}, page faults per task "
              f"{statistics.median(FAULTS_BY_ARM[arm]):.0f} (median of rounds)")
    med = {k: statistics.median(v) for k, v in rates.items() if v}
    for x, y, need in (("skillexec", "celery", 1.0), ("skillexec", "celery_pg", 1.5),
                       ("sandboxed", "fresh", 2.0), ("sandboxed_async", "fresh_async", 2.0),
                       ("sandboxed_async", "fresh", 2.0),
                       ("sandboxed_base", "fresh", 2.0),
                       ("sandboxed_async_base", "fresh_async", 2.0)):
        if x in med and y in med:
            print(f"  {x}/{y}: {med[x] / med[y]:.2f}x (target >= {need}x)")
    if a.kills:
        lost, changed, twice = kill_arm(a.broker, a.kills)
        print(f"\nkill -9 of a worker mid-run, {a.kills} runs x 10 tasks: lost {lost}, "
              f"terminal state changed {changed}, non-idempotent run twice {twice}")


if __name__ == "__main__":
    main()
