"""Decorated functions as skills, next to the folder skills of examples/skills.

Run from the repository root:

    .venv/bin/python examples/decorated.py

``@skill`` turns a function into a skill: the parameters schema comes from the type hints
(so ``add("1", 2)`` is refused before it runs if the hint says ``int``), the function is
called with the validated parameters, converted to their annotated types, as keyword
arguments, plus ``context`` when it declares a parameter of that name. Decorated skills run
``inline`` (in the engine's process): async ones on the event loop, sync ones in a thread
pool; a skill to run isolated is a skill folder.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path
from typing import Any

from skillexec import SkillContext, SkillExecutionEngine, skill

EXAMPLES = Path(__file__).resolve().parent


@skill(id="add", version="1.0.0", timeout=5)
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@skill(id="describe-numbers", version="1.1.0", timeout=5, cacheable=True, idempotent=True)
def describe_numbers(values: list[float], digits: int = 3) -> dict[str, float]:
    """Mean, median and spread of a list of numbers."""
    if len(values) < 2:
        raise ValueError("describe-numbers needs at least two values")
    return {
        "mean": round(statistics.fmean(values), digits),
        "median": round(statistics.median(values), digits),
        "stdev": round(statistics.stdev(values), digits),
    }


@skill(id="countdown", version="1.0.0", timeout=10)
async def countdown(start: int = 3, delay_s: float = 0.05, *,
                    context: SkillContext) -> dict[str, Any]:
    """An async skill that reports progress and stops early when cancelled."""
    ticks: list[int] = []
    for n in range(start, 0, -1):
        if context.cancelled:
            break
        ticks.append(n)
        context.progress((start - n + 1) / start, f"{n}...")
        await asyncio.sleep(delay_s)
    context.log.info("countdown finished after %d ticks", len(ticks))
    return {"ticks": ticks, "task_id": context.task_id, "attempt": context.attempt}


def show(label: str, result: Any) -> None:
    if result.ok:
        print(f"{label:<28} {result.status.value:<9} {result.output!r}")
    else:
        err = result.error
        print(f"{label:<28} {result.status.value:<9} {err.type.value}: {err.message}")


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="skillexec-demo-") as data_dir:
        async with SkillExecutionEngine(skills_dir=EXAMPLES / "skills",
                                        data_dir=data_dir) as engine:
            for fn in (add, describe_numbers, countdown):
                engine.register(fn)

            # submit + wait in one call
            show("add(1, 2)", await engine.execute("add", {"a": 1, "b": 2}))
            show("describe-numbers", await engine.execute(
                "describe-numbers", {"values": [2, 4, 4, 4, 5, 5, 7, 9]}))

            # refused before running: 'b' is missing, 'a' is not an integer
            show("add(a='one')", await engine.execute("add", {"a": "one"}))
            # raises inside the skill: a failure with the exception's message
            show("describe-numbers([1])", await engine.execute(
                "describe-numbers", {"values": [1]}))

            # submit now, wait later; higher priority runs first
            task_id = await engine.submit("countdown", {"start": 4}, priority=8)
            info = await engine.status(task_id)
            print(f"{'countdown submitted':<28} {info.status.value}")
            show("countdown", await engine.wait(task_id, timeout=30))

            # decorated and folder skills side by side
            show("unit-convert (folder)", await engine.execute(
                "unit-convert", {"value": 10, "from": "km", "to": "mi", "precision": 2}))


if __name__ == "__main__":
    asyncio.run(main())
