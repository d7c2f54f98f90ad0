"""Package edges outside the engine: the runners never reach up into reliability.

Reliability decides on what the runners report (retry, breaker, dead letter), so it may
import the runtime; the runtime must not import reliability back, directly or through
another package. What both need (classifying a failure) lives below them, in
``skillexec.classification``.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import defaultdict
from pathlib import Path

import skillexec

SRC = Path(skillexec.__file__).parent


def _unit(module: str) -> str:
    """``skillexec.runtime.runners.base`` -> ``runtime``; a top-level module is its own."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        if "templates" in path.parts:  # files copied into new skills, not the package's code
            continue
        rel = path.relative_to(SRC.parent).with_suffix("")
        here = _unit(".".join(rel.parts))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):  # also lazy imports
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.startswith("skillexec.") and _unit(name) != here:
                    edges[here].add(_unit(name))
    return edges


def _reaches(edges: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    seen, stack = {start}, [[start]]
    while stack:
        path = stack.pop()
        for nxt in edges.get(path[-1], ()):
            if nxt == goal:
                return [*path, nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append([*path, nxt])
    return None


# The engine/task/smart area has its own cycles (task -> smart), cut on another branch; the
# walk goes around it so that this test is about the packages below it.
_ELSEWHERE = frozenset({"engine", "task", "smart"})


def test_runtime_never_reaches_reliability() -> None:
    edges = {k: v - _ELSEWHERE for k, v in _graph().items() if k not in _ELSEWHERE}
    path = _reaches(edges, "runtime", "reliability")
    assert path is None, "runtime reaches reliability: " + " -> ".join(path or [])


def test_classification_is_below_both() -> None:
    edges = _graph()
    assert edges["classification"] <= {"errors"}
    assert "classification" in edges["runtime"]


def test_the_settings_tree_is_above_the_components() -> None:
    # The tree imports each subsystem's settings class; a component never imports the tree
    # back (it is given its section, or a protocol of what it reads).
    edges = _graph()
    readers = {k for k, v in edges.items() if {"config", "config_sections"} & v}
    # pipeline: the engine's own stages (assembly wires the components from the tree);
    # service, mcp: front ends, as the CLI (each reads its own section); _config_storage:
    # the tree's own (a mixin of EngineConfig's).
    assert readers <= {"config", "config_sections", "_config_storage", "engine", "pipeline",
                       "cli", "service", "mcp", "_run", "__init__"}, \
        sorted(readers)


def test_optimization_does_not_import_smart() -> None:
    # The concurrency tuner reads four numbers of the [smart] section through a protocol;
    # smart's executor uses the tuner.
    assert "smart" not in _graph()["optimization"]


def test_dead_members_are_gone() -> None:
    # Nothing in the engine called them: a runner is never told to evict a skill (idle warm
    # parents are stopped by the runner itself), the queue's parked census and a flight's
    # leader id were never read.
    from skillexec.optimization.singleflight import Flight
    from skillexec.runtime.runners.base import Runner
    from skillexec.runtime.runners.inline import InlineRunner
    from skillexec.runtime.runners.process import ProcessRunner
    from skillexec.scheduling.queue import TaskQueue

    for cls in (Runner, InlineRunner, ProcessRunner):
        assert not hasattr(cls, "evict"), cls
    assert not hasattr(TaskQueue, "parked")
    assert "leader_id" not in {f.name for f in dataclasses.fields(Flight)}
