"""The batch summary uses the monitor's definitions: success rate over tasks that reached a
verdict, latency over those tasks only, times in units a person reads."""

from __future__ import annotations

import io

from rich.console import Console

from skillexec.cli.render import metrics_table
from skillexec.task import ExecutionResult, TaskStatus


def _result(status: TaskStatus, wall_ms: float) -> ExecutionResult:
    return ExecutionResult(task_id="t", skill_id="s", skill_version="1", status=status,
                           attempts=1, metrics={"wall_ms": wall_ms, "queue_ms": 2.0})


def _text(results: list[ExecutionResult], elapsed_s: float) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(metrics_table(results, elapsed_s))
    return out.getvalue()


def test_cancelled_and_rejected_calls_count_in_no_rate_or_percentile() -> None:
    results = [_result(TaskStatus.SUCCEEDED, 10.0), _result(TaskStatus.SUCCEEDED, 20.0),
               _result(TaskStatus.FAILED, 30.0),
               _result(TaskStatus.CANCELLED, 3_600_000.0),  # an hour, then withdrawn
               _result(TaskStatus.REJECTED, 0.0)]
    text = _text(results, 3600.0)
    assert "66.7%" in text  # 2 of the 3 that reached a verdict
    assert "20 ms / 30 ms / 30 ms" in text  # the cancelled hour is in no percentile
    assert "elapsed" in text and "1 h" in text  # not 3600.00 s
    assert "e+0" not in text
