"""SmartExecutor: prediction, accuracy, and adaptive strategy through the public API."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec import SkillExecutionEngine, TaskStatus, TransientError, skill
from skillexec.resources.manager import ResourceManager
from skillexec.skills.decorator import skill_of
from skillexec.smart import Predictor, SmartSettings
from skillexec.smart.adaptive import ConcurrencyTuner
from skillexec.smart.prediction import Features, features_of
from skillexec.task import ExecutionResult, ExecutionTask, Request
from tests.conftest import arun


@skill(id="sized")
async def sized(text: str) -> int:
    await asyncio.sleep(0.001 + len(text) / 2_000_000)  # 1 ms + 0.5 ms per KB
    return len(text)


@skill(id="spread")
async def spread(text: str) -> int:
    # Its duration spans 1-51 ms by payload size, wide enough that a loaded machine's
    # scheduling jitter (a few ms) cannot hide what the size explains.
    await asyncio.sleep(0.001 + len(text) / 800_000)
    return len(text)


@skill(id="moded")
async def moded(mode: Literal["fast", "slow"] = "fast") -> str:
    await asyncio.sleep(0.002 if mode == "fast" else 0.03)
    return mode


@skill(id="hangs")
async def hangs(seconds: float = 0.005) -> float:
    await asyncio.sleep(seconds)
    return seconds


@skill(id="flaky", max_retries=3)
def flaky() -> None:
    raise TransientError("the upstream is down")


def make(tmp_path: Path, smart: dict[str, Any] | None = None,
         **kw: Any) -> SkillExecutionEngine:
    from skillexec.config import load_config

    cfg = load_config(data_dir=tmp_path / "data", smart=smart or {},
                      reliability={"breaker_enabled": False, "budget_enabled": False},
                      retry_base_delay_s=0.001, retry_max_delay_s=0.002, **kw)
    e = SkillExecutionEngine(config=cfg)
    for fn in (sized, moded, hangs, flaky):
        e.register(fn)
    return e


# -- the predictor alone (dense logic) ---------------------------------------------------------


def test_predictor_learns_a_linear_cost_of_payload() -> None:
    p = Predictor(half_life_calls=10_000)
    for i in range(400):
        size = (i * 37) % 200_000
        p.observe("s", Features(size, ""), 2.0 + size / 1024 * 0.5, failed=False)
    got = p.predict("s", Features(100 * 1024, ""))
    assert got is not None
    assert got.expected_ms == pytest.approx(52.0, rel=0.02)
    assert got.basis == "skill" and got.p99_ms >= got.expected_ms
    assert got.p_fail < 0.01  # 400 successes outweigh the prior


def test_predictor_keeps_parameter_classes_apart_and_bounded() -> None:
    p = Predictor(max_keys=4)
    for _ in range(20):
        p.observe("s", Features(10, "mode=fast"), 2.0, failed=False)
        p.observe("s", Features(10, "mode=slow"), 30.0, failed=True)
    fast = p.predict("s", Features(10, "mode=fast"))
    slow = p.predict("s", Features(10, "mode=slow"))
    assert fast is not None and slow is not None
    assert fast.expected_ms == pytest.approx(2.0) and slow.expected_ms == pytest.approx(30.0)
    assert slow.p_fail > 0.8 and fast.p_fail < 0.1
    assert fast.basis == "class" and fast.baseline_ms == pytest.approx(16.0, rel=0.01)
    for i in range(10):
        p.observe("s", Features(10, f"mode={i}"), 1.0, failed=False)
    assert len(p._skills["s"].classes) == 4  # least recently used classes went


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**7), st.floats(0, 1e6),
                          st.booleans()), min_size=1, max_size=60))
def test_predictions_are_sane_whatever_was_observed(obs: list[tuple[int, float, bool]]) -> None:
    p = Predictor(half_life_calls=7)
    for size, ms, failed in obs:
        p.observe("s", Features(size, ""), ms, failed)
    for size, _, _ in obs[:5]:
        got = p.predict("s", Features(size, ""))
        assert got is not None
        assert got.expected_ms >= 0 and got.p95_ms >= got.expected_ms
        assert got.p99_ms >= got.p95_ms and 0 < got.p_fail < 1


def test_enum_like_parameters_make_the_class() -> None:
    f = features_of(skill_of(moded), {"mode": "slow"})
    assert f.key == "mode=slow" and f.payload_bytes == len('{"mode":"slow"}')
    assert features_of(skill_of(sized), {"text": "abc"}).key == ""


# -- through the engine ----------------------------------------------------------------------


def test_every_task_carries_its_prediction_and_accuracy_is_reported(tmp_path: Path) -> None:
    async def main() -> None:
        async with make(tmp_path) as e:
            assert e.smart.predict("sized", {"text": "x"}) is None  # no history yet
            first = await e.execute("sized", {"text": "x"})
            assert "predicted_ms" not in first.metrics
            for i in range(120):
                await e.execute("sized", {"text": "y" * ((i * 977) % 20_000)})
            p = e.smart.predict("sized", {"text": "z" * 20_000})
            assert p is not None and p.samples > 100
            assert p.expected_ms > e.smart.predict("sized", {"text": ""}).expected_ms  # type: ignore[union-attr]
            r = await e.execute("sized", {"text": "q" * 100})
            assert r.metrics["predicted_ms"] is not None
            assert 0 < float(r.metrics["p_fail"] or 0) < 1
            acc = e.smart.accuracy()
            assert acc["calls"] == 121 and acc["mae_ms"] is not None
            assert acc["by_skill"]["sized"]["calls"] == 121 and acc["over_time"]
            stored = await e.status(r.task_id)
            assert stored.result is not None and "predicted_ms" in stored.result.metrics
            with pytest.raises(Exception, match="text"):
                e.smart.predict("sized", {"text": 5, "extra": 1})
    arun(main())


def test_predictions_off_cost_nothing_and_change_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        async with make(tmp_path, {"enabled": False}) as e:
            for _ in range(3):
                r = await e.execute("sized", {"text": "x"})
            assert "predicted_ms" not in r.metrics and e.smart.accuracy()["calls"] == 0
    arun(main())


def test_adaptive_timeout_cuts_a_hung_call_early(tmp_path: Path) -> None:
    async def main() -> None:
        smart = {"adaptive": True, "min_timeout_s": 0.2, "min_samples": 20}
        async with make(tmp_path, smart) as e:
            for _ in range(30):
                assert (await e.execute("hangs", {"seconds": 0.005})).ok
            t0 = time.monotonic()
            r = await e.execute("hangs", {"seconds": 30}, max_retries=0)
            took = time.monotonic() - t0
            assert r.status is TaskStatus.TIMED_OUT and took < 2.0  # default timeout: 60 s
            events = await e.journal.read_events("adaptive")
            assert any(ev["data"]["setting"] == "timeout_s" and ev["data"]["skill"] == "hangs"
                       and "p99" in ev["data"]["reason"] for ev in events)
            # The caller's own timeout always wins.
            r = await e.execute("hangs", {"seconds": 0.5}, timeout=5)
            assert r.ok
    arun(main())


def test_adaptive_off_leaves_timeouts_alone(tmp_path: Path) -> None:
    async def main() -> None:
        async with make(tmp_path, {"min_samples": 5}) as e:
            for _ in range(10):
                await e.execute("hangs", {"seconds": 0.002})
            r = await e.execute("hangs", {"seconds": 0.4})
            assert r.ok
    arun(main())


def test_a_mostly_failing_call_is_retried_once_at_most(tmp_path: Path) -> None:
    async def main() -> None:
        async with make(tmp_path, {"adaptive": True, "min_samples": 10}) as e:
            first = await e.execute("flaky")
            assert first.attempts == 4  # 3 retries, as the skill asks
            for _ in range(12):
                await e.execute("flaky")
            r = await e.execute("flaky")
            assert r.status is TaskStatus.FAILED and r.attempts == 2
            assert e.smart.stats()["retries_capped"] >= 1
            explicit = await e.execute("flaky", max_retries=3)
            assert explicit.attempts == 4  # the caller said so
    arun(main())


def test_shortest_expected_first_within_a_priority(tmp_path: Path) -> None:
    async def main() -> list[str]:
        async with make(tmp_path, {"adaptive": True, "min_samples": 5},
                        max_concurrency=1) as e:
            for _ in range(10):
                await e.execute("moded", {"mode": "fast"})
                await e.execute("moded", {"mode": "slow"})
            blocker = await e.submit("hangs", {"seconds": 0.1})
            ids = [await e.submit("moded", {"mode": m}) for m in
                   ("slow", "slow", "fast", "slow", "fast", "fast")]
            await e.wait(blocker)
            done = [await e.wait(i) for i in ids]
            order = sorted(done, key=lambda r: r.finished_at or 0)
            return [str(r.output) for r in order]
    assert arun(main()) == ["fast", "fast", "fast", "slow", "slow", "slow"]


def test_fifo_within_a_priority_when_adaptive_is_off(tmp_path: Path) -> None:
    async def main() -> list[str]:
        async with make(tmp_path, {"min_samples": 5}, max_concurrency=1) as e:
            for _ in range(10):
                await e.execute("moded", {"mode": "fast"})
                await e.execute("moded", {"mode": "slow"})
            blocker = await e.submit("hangs", {"seconds": 0.05})
            ids = [await e.submit("moded", {"mode": m}) for m in ("slow", "fast", "slow")]
            await e.wait(blocker)
            done = [await e.wait(i) for i in ids]
            return [str(r.output) for r in sorted(done, key=lambda r: r.finished_at or 0)]
    assert arun(main()) == ["slow", "fast", "slow"]


def test_the_advisor_picks_among_allowed_runners_only(tmp_path: Path) -> None:
    folder = tmp_path / "skills" / "whoami"
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(
        "import os\ndef execute(input_data, context):\n    return os.getpid()\n")
    (folder / "skill.json").write_text(json.dumps({
        "id": "whoami", "name": "Who", "version": "1.0.0", "description": "its pid",
        "entry_point": "main:execute"}))

    async def main() -> None:
        from skillexec.config import load_config

        cfg = load_config(data_dir=tmp_path / "data", skills_dir=tmp_path / "skills",
                          default_isolation="process", trusted_skills=["whoami"],
                          smart={"adaptive": True, "min_samples": 5,
                                 "runners": ["inline", "process"]})
        async with SkillExecutionEngine(config=cfg) as e:
            pids = [(await e.execute("whoami")).output for _ in range(6)]
            assert all(p != os.getpid() for p in pids)  # in a child until it is known
            r = await e.execute("whoami")
            assert r.output == os.getpid()  # a ~1 ms call: the cheapest allowed runner
            assert e.smart.stats()["runners_chosen"] >= 1

        cfg2 = load_config(data_dir=tmp_path / "data2", skills_dir=tmp_path / "skills",
                           default_isolation="process",
                           smart={"adaptive": True, "min_samples": 5})
        async with SkillExecutionEngine(config=cfg2) as e:
            outs = [(await e.execute("whoami")).output for _ in range(8)]
            assert os.getpid() not in outs  # nothing allowed: never chosen
    arun(main())


def test_settings_name_what_is_wrong(tmp_path: Path) -> None:
    from skillexec.config import load_config
    from skillexec.errors import ConfigError

    for bad, word in (({"runners": ["docker"]}, "docker"), ({"advisor": "llm"}, "llm_base_url"),
                      ({"min_timeout_s": 5, "max_timeout_s": 1}, "min_timeout_s"),
                      ({"speed": 1}, "speed")):
        with pytest.raises((ConfigError, ValueError), match=word):
            load_config(data_dir=tmp_path, smart=bad)


# -- AIMD (dense logic, real ResourceManager) -------------------------------------------------


def _result(task: ExecutionTask, status: TaskStatus, wall: float) -> ExecutionResult:
    return ExecutionResult(task_id=task.task_id, skill_id=task.skill_id, skill_version="1",
                           status=status, metrics={"wall_ms": wall})


def test_concurrency_is_halved_on_congestion_and_grows_back() -> None:
    from skillexec.smart.prediction import Prediction

    rm = ResourceManager()
    events: list[dict[str, Any]] = []
    clock = [0.0]
    tuner = ConcurrencyTuner(rm, SmartSettings(concurrency_max=16, min_samples=1),
                             journal=lambda k, d: events.append(d), clock=lambda: clock[0])
    sk = skill_of(hangs)
    task = ExecutionTask.of("t", Request("hangs", "1", {}, {}, 5, 1, 0, False, 0.0))
    p = Prediction(10, 12, 14, 0.01, 100, "skill", 10)
    tuner.observe(p, sk, _result(task, TaskStatus.TIMED_OUT, 1000))
    assert tuner.limit("hangs") == 8 and rm._skill_limits["hangs"] == 8
    tuner.observe(p, sk, _result(task, TaskStatus.SUCCEEDED, 100))  # slow: within cooldown
    assert tuner.limit("hangs") == 8
    clock[0] += 5
    tuner.observe(p, sk, _result(task, TaskStatus.SUCCEEDED, 100))  # 10x expected
    assert tuner.limit("hangs") == 4
    for _ in range(4):
        tuner.observe(p, sk, _result(task, TaskStatus.SUCCEEDED, 10))
    assert tuner.limit("hangs") == 5  # one more after a limit's worth of good calls
    assert [e["new"] for e in events] == [8, 4, 5] and all(e["reason"] for e in events)


# -- the LLM advisor against a local server that speaks the chat-completions API -------------


class _ChatServer:
    """A real HTTP server answering POST /v1/chat/completions as OpenAI's API does."""

    def __init__(self, answer: str, *, delay_s: float = 0.0, status: int = 200) -> None:
        import http.server
        import threading

        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body})
                outer.headers.append(dict(self.headers))
                time.sleep(delay_s)
                data = json.dumps({"id": "c1", "object": "chat.completion", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": answer},
                     "finish_reason": "stop"}]}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (the budget test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _llm_engine(tmp_path: Path, url: str, **extra: Any) -> SkillExecutionEngine:
    from skillexec.config import load_config

    cfg = load_config(data_dir=tmp_path / "data", smart={
        "adaptive": True, "min_samples": 5, "advisor": "llm", "llm_base_url": url,
        "llm_model": "tuner-1", "llm_api_key_env": "TEST_LLM_KEY", **extra})
    e = SkillExecutionEngine(config=cfg)
    e.register(hangs)
    e.register(sized)
    return e


def test_llm_advice_is_used_checked_and_private(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-123")
    server = _ChatServer('{"timeout_s": 9999, "max_retries": 0, "runner": "inline", '
                         '"reason": "calls are short"}')

    async def main() -> None:
        async with _llm_engine(tmp_path, server.url, llm_budget_s=2.0) as e:
            for _ in range(6):
                await e.execute("sized", {"text": "secret-value-42"})
            r = await e.execute("sized", {"text": "secret-value-42"})
            assert r.ok
            adv = e.smart.advisor
            assert adv.counters["answered"] == 1 and adv.counters["used"] >= 1  # type: ignore[attr-defined]
            for _ in range(3):  # reused within its ttl: not asked again
                await e.execute("sized", {"text": "secret-value-42"})
            assert len(server.requests) == 1
            events = await e.journal.read_events("adaptive")
            ev = [x["data"] for x in events if x["data"]["setting"] == "timeout_s"]
            assert ev and ev[-1]["source"] == "llm" and ev[-1]["new"] == 600.0  # clamped
            assert ev[-1]["reason"] == "calls are short"
    try:
        arun(main())
    finally:
        server.close()
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["body"]["model"] == "tuner-1"
    assert server.headers[0]["Authorization"] == "Bearer sk-test-123"
    sent = json.dumps(req["body"])
    assert "secret-value-42" not in sent  # only features of the parameters leave
    assert "payload_bytes" in sent and "prediction" in sent


@pytest.mark.parametrize(("answer", "delay_s", "status", "counter"), [
    ('{"timeout_s": 3}', 1.5, 200, "fallbacks"),  # over its budget
    ("I think you should raise it", 0.0, 200, "invalid"),  # not JSON
    ('{"timeout_s": 3}', 0.0, 500, "failed"),  # the server errs
])
def test_llm_advisor_falls_back_to_statistics(tmp_path: Path, answer: str, delay_s: float,
                                              status: int, counter: str) -> None:
    server = _ChatServer(answer, delay_s=delay_s, status=status)

    async def main() -> None:
        async with _llm_engine(tmp_path, server.url, llm_budget_s=0.2,
                               min_timeout_s=0.5) as e:
            for _ in range(6):
                await e.execute("hangs", {"seconds": 0.001})
            t0 = time.monotonic()
            r = await e.execute("hangs", {"seconds": 0.001})
            assert r.ok and time.monotonic() - t0 < 1.0  # the budget held
            adv = e.smart.advisor
            assert adv.counters[counter] >= 1  # type: ignore[attr-defined]
            events = await e.journal.read_events("adaptive")
            assert any(x["data"]["source"] == "statistical" for x in events)
    try:
        arun(main())
    finally:
        server.close()


def test_llm_advisor_with_nobody_listening(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> None:
        async with _llm_engine(tmp_path, f"http://127.0.0.1:{port}/v1") as e:
            for _ in range(8):
                assert (await e.execute("hangs", {"seconds": 0.001})).ok
            assert e.smart.advisor.counters["failed"] >= 1  # type: ignore[attr-defined]
    arun(main())


def test_report_predictions_reads_the_journal(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / ".skillexec") as e:
            e.register(spread)
            for i in range(80):
                await e.execute("spread", {"text": "y" * ((i * 7919) % 40_000)})
    arun(main())
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    r = subprocess.run([sys.executable, "-m", "skillexec", "report", "predictions", "-f",
                        "json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    row = body["skills"][0]
    assert row["skill"] == "spread" and row["calls"] == 79
    assert row["mae_ms"] < row["baseline_mae_ms"]  # payload size explains the duration
    assert body["over_time"] and sum(b["calls"] for b in body["over_time"]) == 79
    r = subprocess.run([sys.executable, "-m", "skillexec", "report", "predictions"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "spread" in r.stdout and "MAE" in r.stdout


def test_adaptive_concurrency_is_cut_by_timeouts_and_journaled(tmp_path: Path) -> None:
    async def main() -> None:
        smart = {"adaptive": True, "min_samples": 5, "adapt_timeouts": False,
                 "concurrency_max": 16}
        async with make(tmp_path, smart) as e:
            for _ in range(8):
                assert (await e.execute("hangs", {"seconds": 0.002})).ok
            r = await e.execute("hangs", {"seconds": 1.0}, timeout=0.05, max_retries=0)
            assert r.status is TaskStatus.TIMED_OUT
            assert e.smart.stats()["concurrency"]["hangs"] == 8
            await asyncio.sleep(0.05)  # the journal commits at the end of a loop turn
            events = [x["data"] for x in await e.journal.read_events("adaptive")]
            assert {"skill": "hangs", "setting": "concurrency", "old": 16, "new": 8,
                    "reason": "a call timed out"} in events
            # The limit holds: 20 concurrent calls run at most 8 at a time (9, 10 once as
            # many calls have ended well: the additive increase).
            peak = 0

            async def call() -> None:
                await e.execute("hangs", {"seconds": 0.02})

            async def watch() -> None:
                nonlocal peak
                for _ in range(40):
                    peak = max(peak, e.resources.running_by_skill.get("hangs", 0))
                    await asyncio.sleep(0.005)

            await asyncio.gather(watch(), *(call() for _ in range(20)))
            assert 1 <= peak <= e.smart.stats()["concurrency"]["hangs"] <= 10
    arun(main())
