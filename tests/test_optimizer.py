"""ExecutionOptimizer through the engine: the result cache and single-flight (real SQLite)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.optimization import CacheSettings, ExecutionOptimizer, cache_key
from skillexec.skills.decorator import skill_of
from skillexec.skills.model import Skill
from tests.conftest import arun

CALLS: dict[str, int] = {}


def _count(name: str) -> int:
    CALLS[name] = CALLS.get(name, 0) + 1
    return CALLS[name]


@skill(id="square", version="1.0.0", cacheable=True)
def square(x: int) -> dict[str, Any]:
    return {"y": x * x, "run": _count("square")}


@skill(id="square", version="2.0.0", cacheable=True)
def square2(x: int) -> dict[str, Any]:
    return {"y": x * x, "v": 2, "run": _count("square2")}


@skill(id="plain")
def plain(x: int) -> int:
    _count("plain")
    return x


@skill(id="slowcache", cacheable=True)
async def slowcache(x: int) -> dict[str, int]:
    n = _count("slowcache")
    await asyncio.sleep(0.05)
    return {"x": x, "run": n}


@skill(id="idem", idempotent=True)
async def idem(x: int) -> int:
    _count("idem")
    await asyncio.sleep(0.3)
    return x


def ttl(fn: Any, seconds: float) -> Skill:
    s = skill_of(fn)
    return dataclasses.replace(s, execution=dataclasses.replace(s.execution,
                                                                cache_ttl_s=seconds))


def make(data: Path, clock: Any = None, **kw: Any) -> SkillExecutionEngine:
    opt = (ExecutionOptimizer(settings=CacheSettings(**kw), clock=clock or time.time)
           if clock or kw else None)
    e = SkillExecutionEngine(data_dir=data, optimizer=opt)
    for fn in (square, plain, slowcache, idem):
        e.register(fn)
    return e


def test_cache_key_is_canonical() -> None:
    assert cache_key("s", "1", {"a": 1, "b": {"y": 1, "x": 2}}, {}) == \
        cache_key("s", "1", {"b": {"x": 2, "y": 1}, "a": 1}, {})
    assert cache_key("s", "1", {"a": 1}, {}) != cache_key("s", "2", {"a": 1}, {})
    assert cache_key("s", "1", {"a": 1}, {}) != cache_key("s", "1", {"a": 1}, {"c": 1})


def test_hit_miss_and_bypass(tmp_path: Path) -> None:
    CALLS.clear()

    async def main() -> None:
        async with make(tmp_path / "d") as e:
            a = await e.execute("square", {"x": 3})
            b = await e.execute("square", {"x": 3})
            c = await e.execute("square", {"x": 4})
            assert a.ok and not a.cached and a.output == {"y": 9, "run": 1}
            assert b.ok and b.cached and b.output == a.output and b.task_id != a.task_id
            assert c.ok and not c.cached and c.output["run"] == 2
            d = await e.execute("square", {"x": 3}, cache=False)  # bypass: it runs
            assert not d.cached and d.output["run"] == 3
            f = await e.execute("square", {"x": 3})  # and refreshed the cache
            assert f.cached and f.output["run"] == 3
            info = await e.status(b.task_id)  # a hit is journaled like any task
            assert info.status is TaskStatus.SUCCEEDED and info.result is not None
            assert info.result.cached
            assert e.optimizer.stats()["hits"] == 2
            assert e.resources.usage()["skills"]["square"]["cached"] == 2
    arun(main())


def test_only_cacheable_skills_are_cached(tmp_path: Path) -> None:
    CALLS.clear()

    async def main() -> None:
        async with make(tmp_path / "d") as e:
            for _ in range(3):
                r = await e.execute("plain", {"x": 1})
                assert r.ok and not r.cached
            await e.execute("idem", {"x": 1})
            r = await e.execute("idem", {"x": 1})  # idempotent: shared in flight, not cached
            assert not r.cached
            assert CALLS == {"plain": 3, "idem": 2}
    arun(main())


def test_ttl_expiry_with_a_controllable_clock(tmp_path: Path) -> None:
    CALLS.clear()
    now = [1_000_000.0]

    async def main() -> None:
        e = make(tmp_path / "d", clock=lambda: now[0])
        e.register(ttl(square, 10.0))
        async with e:
            assert not (await e.execute("square", {"x": 2})).cached
            now[0] += 9.0
            assert (await e.execute("square", {"x": 2})).cached
            now[0] += 2.0
            r = await e.execute("square", {"x": 2})
            assert not r.cached and r.output["run"] == 2
            assert e.optimizer.stats()["expired"] == 1
    arun(main())


def test_hits_survive_a_restart(tmp_path: Path) -> None:
    CALLS.clear()

    async def main() -> None:
        async with make(tmp_path / "d") as e:
            first = await e.execute("square", {"x": 5})
        async with make(tmp_path / "d") as e:
            again = await e.execute("square", {"x": 5})
            assert again.cached and again.output == first.output
        async with make(tmp_path / "d", max_entries=1) as e:  # read from disk when not in memory
            await e.execute("square", {"x": 6})
            again = await e.execute("square", {"x": 5})
            assert again.cached and again.output == first.output
            assert e.optimizer.stats()["disk_hits"] == 1
        assert CALLS["square"] == 2
    arun(main())


def test_new_version_invalidates_other_versions(tmp_path: Path) -> None:
    CALLS.clear()

    async def main() -> None:
        async with make(tmp_path / "d") as e:
            await e.execute("square", {"x": 7})
            assert (await e.execute("square", {"x": 7})).cached
            e.register(square2)  # 2.0.0 is now the newest
            r = await e.execute("square", {"x": 7})
            assert not r.cached and r.skill_version == "2.0.0"
            old = await e.execute("square", {"x": 7}, version="1.0.0")
            assert not old.cached  # 1.0.0's entries were dropped
        async with make(tmp_path / "d") as e:
            e.register(square2)
            assert (await e.execute("square", {"x": 7})).cached  # 2.0.0's survived
    arun(main())


def test_single_flight_runs_once_for_100_concurrent_calls(tmp_path: Path) -> None:
    CALLS.clear()

    async def main() -> None:
        async with make(tmp_path / "d") as e:
            results = await asyncio.gather(*(e.execute("slowcache", {"x": 1})
                                             for _ in range(100)))
            assert CALLS["slowcache"] == 1
            assert all(r.ok and r.output == {"x": 1, "run": 1} for r in results)
            ids = {r.task_id for r in results}
            assert len(ids) == 100
            # (under heavy load a late call may find the result cached instead of in flight)
            leader = [r for r in results if "shared" not in r.metrics and not r.cached]
            assert len(leader) == 1
            follower = next(r for r in results if r.metrics.get("shared"))
            hist = await e.history(follower.task_id)
            assert hist[0]["leader_task_id"] == leader[0].task_id
            assert (await e.status(follower.task_id)).status is TaskStatus.SUCCEEDED
            # idempotent, not cacheable: shared while in flight, run again afterwards
            await asyncio.gather(*(e.execute("idem", {"x": 2}) for _ in range(100)))
            assert CALLS["idem"] == 1
            await e.execute("idem", {"x": 2})
            assert CALLS["idem"] == 2
    arun(main())


def test_single_flight_shares_failures_and_bypass_does_not_join(tmp_path: Path) -> None:
    CALLS.clear()

    @skill(id="boom", idempotent=True, max_retries=0)
    async def boom() -> None:
        _count("boom")
        await asyncio.sleep(0.05)
        raise ValueError("no")

    async def main() -> None:
        async with make(tmp_path / "d") as e:
            e.register(boom)
            rs = await asyncio.gather(*(e.execute("boom") for _ in range(5)))
            assert CALLS["boom"] == 1 and all(r.status is TaskStatus.FAILED for r in rs)
            await asyncio.gather(e.execute("slowcache", {"x": 9}),
                                 e.execute("slowcache", {"x": 9}, cache=False))
            assert CALLS["slowcache"] == 2
    arun(main())


def test_cache_without_a_journal(tmp_path: Path) -> None:
    CALLS.clear()

    async def main() -> None:
        from skillexec import EngineConfig

        async with SkillExecutionEngine(config=EngineConfig(data_dir=tmp_path / "m",
                                                            journal=False)) as e:
            e.register(square)
            assert not (await e.execute("square", {"x": 2})).cached
            hit = await e.execute("square", {"x": 2})
            assert hit.cached and hit.output == {"y": 4, "run": 1}
            assert (await e.wait(hit.task_id)).cached
    arun(main())


DOWN = {"flag": False}


@skill(id="quote", cacheable=True, max_retries=1)
def quote(symbol: str) -> dict[str, Any]:
    if DOWN["flag"]:
        raise ConnectionError("quote service unreachable")
    return {"symbol": symbol, "price": 42, "run": _count("quote")}


def test_a_stale_cached_result_recovers_a_failed_call(tmp_path: Path) -> None:
    from skillexec.config import load_config

    async def main() -> None:
        DOWN["flag"] = False
        cfg = load_config(data_dir=tmp_path / "d", retry_base_delay_s=0.001,
                          cache={"stale_on_error_s": 30.0})
        async with SkillExecutionEngine(config=cfg) as e:
            e.register(ttl(quote, 0.2))
            first = await e.execute("quote", {"symbol": "ACME"})
            assert first.ok and not first.cached
            await asyncio.sleep(0.3)  # expired
            DOWN["flag"] = True
            r = await e.execute("quote", {"symbol": "ACME"})
            assert r.status is TaskStatus.SUCCEEDED and r.cached
            assert r.output == first.output and float(r.metrics["stale_s"] or 0) > 0
            decisions = [h["decision"] for h in await e.history(r.task_id)]
            assert "served a stale cached result" in decisions[-1]
            assert "network_error" in decisions[-1] and r.attempts == 2  # retried first
            other = await e.execute("quote", {"symbol": "OTHER"})  # never cached: fails
            assert other.status is TaskStatus.FAILED
            bad = await e.execute("quote", {"symbol": 7})  # invalid: never hidden
            assert bad.status is TaskStatus.REJECTED
        # After a restart the expired entry is still there to serve.
        async with SkillExecutionEngine(config=cfg) as e:
            e.register(ttl(quote, 0.2))
            r = await e.execute("quote", {"symbol": "ACME"})
            assert r.ok and r.cached and r.output == first.output
            DOWN["flag"] = False
            fresh = await e.execute("quote", {"symbol": "ACME"})
            assert fresh.ok and not fresh.cached  # the stale answer did not refresh the cache
        DOWN["flag"] = False
    arun(main())


def test_stale_results_are_off_by_default(tmp_path: Path) -> None:
    async def main() -> None:
        DOWN["flag"] = False
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as e:
            e.register(ttl(quote, 0.1))
            assert (await e.execute("quote", {"symbol": "ACME"})).ok
            await asyncio.sleep(0.2)
            DOWN["flag"] = True
            r = await e.execute("quote", {"symbol": "ACME"}, max_retries=0)
            assert r.status is TaskStatus.FAILED and not r.cached
        DOWN["flag"] = False
    arun(main())


def test_the_cache_and_single_flight_are_each_principals_own(tmp_path: Path) -> None:
    """Bob's identical call never gets Alice's cached result, nor joins her call in flight
    (and after a restart neither); Alice's own repeat is a hit."""
    CALLS.clear()

    async def go() -> None:
        async with make(tmp_path / "d") as e:
            first = await e.execute("square", {"x": 3}, principal="alice")
            bob = await e.execute("square", {"x": 3}, principal="bob")
            again = await e.execute("square", {"x": 3}, principal="alice")
            local = await e.execute("square", {"x": 3})
            assert not first.cached and not bob.cached and not local.cached
            assert again.cached and again.output == first.output
            assert bob.output["run"] != first.output["run"]
            assert CALLS["square"] == 3
            both = await asyncio.gather(e.execute("idem", {"x": 1}, principal="alice"),
                                        e.execute("idem", {"x": 1}, principal="bob"),
                                        e.execute("idem", {"x": 1}, principal="bob"))
            assert all(r.status is TaskStatus.SUCCEEDED for r in both)
            assert CALLS["idem"] == 2  # bob's two shared one run; alice's ran apart
            assert [bool(r.metrics.get("shared")) for r in both].count(True) == 1
        async with make(tmp_path / "d") as e:
            carol = await e.execute("square", {"x": 3}, principal="carol")
            hit = await e.execute("square", {"x": 3}, principal="bob")
            assert not carol.cached and hit.cached and hit.output == bob.output
    arun(go())


def test_an_operator_may_declare_a_skills_cache_shared(tmp_path: Path) -> None:
    CALLS.clear()

    async def go() -> None:
        async with make(tmp_path / "d", shared_skills=("squ*",)) as e:
            first = await e.execute("square", {"x": 4}, principal="alice")
            bob = await e.execute("square", {"x": 4}, principal="bob")
            assert not first.cached and bob.cached and bob.output == first.output
            await e.execute("plain", {"x": 1}, principal="alice")
    arun(go())
    assert CALLS["square"] == 1
    assert CacheSettings(shared_skills=["a"]).shared_skills == ("a",)  # type: ignore[arg-type]
    assert not CacheSettings().shared("square")


def test_shared_skills_is_a_setting(tmp_path: Path, monkeypatch: Any) -> None:
    from skillexec.config import EngineConfig

    assert EngineConfig(data_dir=tmp_path, cache={"shared_skills": ["geo.*"]}
                        ).cache.shared("geo.lookup")
    monkeypatch.setenv("SKILLEXEC_CACHE__SHARED_SKILLS", '["geo.*", "fx"]')
    assert EngineConfig(data_dir=tmp_path).cache.shared_skills == ("geo.*", "fx")


BAD_LIMITS: list[Any] = [
    {"wall_s": -1}, {"memory_mb": 0}, {"cpu_seconds": float("nan")},
    {"wall_s": float("inf")}, {"memory_mb": "lots"}, {"memory_mb": [512]},
    {"memory_mb": True}, {"memory_mb": 1.5}, {"gpu": 1}, "wall_s=1", 5]


def test_bad_limits_fail_alike_whether_or_not_the_result_is_cached(tmp_path: Path) -> None:
    """A cache hit answered before limits= was read: the same bad limits were refused on a
    miss and silently ignored on a hit (and a list or a negative number was taken)."""
    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as e:
            e.register(square)
            for bad in BAD_LIMITS:  # no result kept yet
                r = await e.execute("square", {"x": 7}, limits=bad)
                assert r.status is TaskStatus.REJECTED and r.error is not None, bad
                assert r.error.code == "invalid_limits", (bad, r.error)
            assert (await e.execute("square", {"x": 7})).ok  # now it is kept
            for bad in BAD_LIMITS:
                r = await e.execute("square", {"x": 7}, limits=bad)
                assert not r.cached and r.status is TaskStatus.REJECTED, bad
                assert r.error is not None and r.error.code == "invalid_limits"
                assert "limit" in r.error.message
            hit = await e.execute("square", {"x": 7}, limits={"wall_s": 5, "memory_mb": None})
            assert hit.ok and hit.cached
    arun(main())
