"""ExecutionEnvironment: the private folder and the context of one attempt."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from skillexec.artifacts import ArtifactManager
from skillexec.runtime.context import ProgressSink, SkillContext
from skillexec.runtime.runners.process import skill_slot
from skillexec.task import ArtifactRef, ExecutionTask

__all__ = ["ExecutionEnvironment"]


class ExecutionEnvironment:
    def __init__(self, *, work_root: Path, artifacts: ArtifactManager, keep_workdirs: bool,
                 logger: logging.Logger) -> None:
        self.work_root = work_root
        self._work_root_str = str(work_root)
        self.keep_workdirs = keep_workdirs
        self._artifacts = artifacts
        self._logger = logger

    def context(self, task: ExecutionTask, *, deadline: float, saved: list[ArtifactRef],
                progress: ProgressSink | None, trace: dict[str, str] | None = None,
                ) -> SkillContext:
        task_id = task.task_id

        def save(name: str, data: bytes, mime: str | None) -> ArtifactRef:
            ref = self._artifacts.save(name, data, mime, task_id=task_id)
            saved.append(ref)
            return ref

        return SkillContext(
            task_id=task_id,
            skill_id=task.skill_id,
            attempt=task.attempts,
            workdir=f"{self._work_root_str}/{skill_slot(task.skill_id)}/{task_id}-{task.attempts}",
            config=task.config,
            deadline=deadline,
            progress_sink=progress,
            artifact_sink=save,
            trace=trace,
        )

    def cleanup(self, ctx: SkillContext) -> None:
        if ctx.workdir_made and not self.keep_workdirs:
            shutil.rmtree(ctx.workdir, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        return {"work_root": str(self.work_root), "keep_workdirs": self.keep_workdirs}
