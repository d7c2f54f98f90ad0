"""How good the predictions were, read from the journal: every finished task keeps the
``predicted_ms`` it was given at admission next to its measured ``wall_ms``.

The baseline is the naive predictor the issue compares against: each skill's mean duration
over the same range. Reported per skill and per time bucket, so a drift shows.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from skillexec.storage.store import TaskStore

__all__ = ["prediction_report"]


async def prediction_report(store: TaskStore, *, since: float | None = None,
                            until: float | None = None, bins: int = 12,
                            max_tasks: int = 200_000) -> dict[str, Any]:
    tasks = await store.list_tasks(since=since, until=until, limit=max_tasks)
    rows: list[tuple[str, float, float, float]] = []  # skill, created, predicted, actual
    for t in tasks:
        r = t.result
        if r is None or r.cached:
            continue
        pred = r.metrics.get("predicted_ms")  # per attempt, like the last attempt's time
        wall = r.metrics.get("last_attempt_wall_ms", r.metrics.get("wall_ms"))
        if pred is None or wall is None:
            continue
        rows.append((t.skill_id, t.created_at, float(pred), float(wall)))
    by_skill: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for sid, created, pred, wall in rows:
        by_skill[sid].append((created, pred, wall))
    means = {sid: sum(w for _, _, w in v) / len(v) for sid, v in by_skill.items()}
    skills = []
    for sid, v in sorted(by_skill.items(), key=lambda kv: -len(kv[1])):
        mae = sum(abs(p - w) for _, p, w in v) / len(v)
        base = sum(abs(means[sid] - w) for _, _, w in v) / len(v)
        skills.append({"skill": sid, "calls": len(v), "mae_ms": mae, "baseline_mae_ms": base,
                       "mean_ms": means[sid], "ratio": mae / base if base else None})
    over_time = []
    if rows:
        t0 = min(c for _, c, _, _ in rows)
        t1 = max(c for _, c, _, _ in rows)
        width = max((t1 - t0) / bins, 1e-9)
        buckets: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for sid, created, pred, wall in rows:
            b = buckets[min(bins - 1, int((created - t0) / width))]
            b[0] += 1
            b[1] += abs(pred - wall)
            b[2] += abs(means[sid] - wall)
        over_time = [{"from": t0 + i * width, "calls": int(b[0]), "mae_ms": b[1] / b[0],
                      "baseline_mae_ms": b[2] / b[0]} for i, b in sorted(buckets.items())]
    n = len(rows)
    return {
        "kind": "predictions", "generated_at": time.time(), "calls": n,
        "mae_ms": sum(abs(p - w) for _, _, p, w in rows) / n if n else None,
        "baseline_mae_ms": sum(abs(means[s] - w) for s, _, _, w in rows) / n if n else None,
        "skills": skills, "over_time": over_time,
    }
