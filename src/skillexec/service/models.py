"""The shapes the service reads and writes, as the OpenAPI document declares them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from skillexec.task import TaskStatus

__all__ = [
    "ArtifactModel",
    "BatchItem",
    "BatchRequest",
    "ErrorInfoModel",
    "ExecuteRequest",
    "ExecutionList",
    "ExecutionModel",
    "ResultModel",
    "SkillDetail",
    "SkillList",
    "SkillSummary",
    "Submitted",
    "not_bool",
]


def not_bool(value: Any) -> Any:
    """JSON Schema's numbers are not booleans (pydantic's lax mode reads true as 1). A
    field validator, not an annotation, so the schema keeps its bounds."""
    if isinstance(value, bool):
        raise ValueError("a number is expected, not a boolean")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExecuteRequest(_Strict):
    """One call. ``parameters`` (or ``data``, Py Copilot's documented name) are the skill's
    parameters; ``config`` its configuration."""

    parameters: dict[str, Any] | None = Field(None, description="The skill's parameters.")
    data: dict[str, Any] | None = Field(None, description="Same as parameters (Py Copilot's "
                                        "documented name); merged under parameters.")
    config: dict[str, Any] | None = Field(None, description="The skill's configuration.")
    priority: int | None = Field(None, ge=0, le=9, description="0-9, higher first.")
    timeout: float | None = Field(None, gt=0, le=86400, description="Seconds per attempt.")
    deadline: float | None = Field(None, gt=0, le=86400,
                                   description="Seconds for the whole call.")
    max_retries: int | None = Field(None, ge=0, le=100)
    version: str | None = Field(None, max_length=100, description="Semver requirement.")
    cache: StrictBool = Field(True, description="False: bypass the result cache.")
    wait: StrictBool = Field(True, description="True: answer with the result (200); false: "
                       "answer at once with the task id (202 and Location).")

    _numbers = field_validator("priority", "timeout", "deadline", "max_retries",
                               mode="before")(not_bool)


class BatchItem(_Strict):
    skill_id: str = Field(min_length=1, max_length=200)
    parameters: dict[str, Any] | None = None
    input_data: dict[str, Any] | None = Field(None, description="Py Copilot's name for "
                                              "parameters.")
    config: dict[str, Any] | None = None
    priority: int | None = Field(None, ge=0, le=9)
    timeout: float | None = Field(None, gt=0, le=86400)

    _numbers = field_validator("priority", "timeout", mode="before")(not_bool)


class BatchRequest(_Strict):
    tasks: list[BatchItem] = Field(min_length=1)
    wait: StrictBool = True
    parallel: StrictBool = Field(True, description="Accepted for Py Copilot; tasks always run "
                           "concurrently, by priority.")
    timeout: float | None = Field(None, gt=0, le=86400, description="Seconds per attempt, "
                                  "for tasks that give none.")

    _numbers = field_validator("timeout", mode="before")(not_bool)


class ErrorInfoModel(BaseModel):
    type: str
    code: str
    message: str
    retryable: bool
    severity: str
    details: dict[str, Any] | None = None


class ArtifactModel(BaseModel):
    id: str
    name: str
    mime: str
    size: int
    sha256: str


class ResultModel(BaseModel):
    """An ExecutionResult."""

    task_id: str
    skill_id: str
    skill_version: str
    status: TaskStatus
    output: Any = None
    error: ErrorInfoModel | None = None
    attempts: int
    cached: bool
    artifacts: list[ArtifactModel]
    metrics: dict[str, float | int | None]
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None


class _TaskFields(BaseModel):
    """What every shape of a task says of it (TaskInfo's own fields)."""

    task_id: str
    skill_id: str
    skill_version: str
    status: TaskStatus
    priority: int
    attempts: int
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None


class ExecutionModel(_TaskFields):
    """A task, live or finished (TaskInfo)."""

    result: ResultModel | None = None
    principal: str = Field(description="Who asked (\"local\": the CLI or Python).")


class Submitted(BaseModel):
    task_id: str
    status: TaskStatus
    location: str = Field(description="Where to read the task (also the Location header).")
    events: str = Field(description="Its event stream (server-sent events).")


class ErrorGist(BaseModel):
    code: str
    message: str = Field(description="Cut to 300 characters.")


class ExecutionSummary(_TaskFields):
    """A task without its result (``GET /api/executions?fields=summary``)."""

    principal: str
    wall_ms: float | None = Field(description="Its result's metrics.wall_ms (null: no "
                                  "result yet, or one this key may not read).")
    error: ErrorGist | None = None
    artifacts: int = Field(description="How many artifacts its result names.")


class AttemptModel(BaseModel):
    """One attempt of a task (``GET /api/executions/{id}/attempts``)."""

    attempt: int
    metrics: dict[str, Any]
    error: ErrorInfoModel | None = None
    decision: str | None = Field(description="What was done after it (retry, done, ...).")


class ExecutionList(BaseModel):
    items: list[ExecutionModel | ExecutionSummary] = Field(
        description="ExecutionModel; with fields=summary, ExecutionSummary.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at "
                                    "the end.")


class SkillSummary(BaseModel):
    id: str
    name: str
    version: str
    description: str
    category: str
    tags: list[str]
    author: str
    isolation: str
    runnable: bool
    offers: str = Field(description="What a caller can use: entry, N scripts, instructions "
                        "only.")
    environment: Literal["none needed", "ready", "not installed", "failed"] = Field(
        description="Its environment's state (not installed: the first call installs it).")
    circuit: Literal["closed", "open", "half_open"] = Field(
        description="Its circuit breaker's state.")


class SkillList(BaseModel):
    skills: list[SkillSummary]
    total: int
    offset: int
    limit: int


class SkillDetail(SkillSummary):
    versions: list[str]
    parameters_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    config_schema: dict[str, Any] | None = None
    default_config: dict[str, Any]
    permissions: list[str]
    execution: dict[str, Any]
    dependencies: list[dict[str, Any]]
    skill_dependencies: list[dict[str, Any]]
    source: str
    warnings: list[str]
    instructions: str | None = Field(description="The SKILL.md body (None: none).")
    resources: list[dict[str, Any]] = Field(description="Bundled files: {path, size, mime}.")
    scripts: list[str] = Field(description="Runnable bundled scripts (POST .../scripts).")


class BatchData(BaseModel):
    results: list[ResultModel | Submitted]
    total_time_ms: float
    success_count: int
    failed_count: int


class Health(BaseModel):
    status: Literal["ok", "draining", "starting", "journal_unwritable"]
    live: bool
    ready: bool
    auth: Literal["api-key", "DISABLED (--insecure-no-auth)"]
    version: str
    uptime_s: float
    engine: dict[str, Any]
    journal: dict[str, Any] | None = Field(
        None, description="Only while the journal cannot be written: {writable, error}.")
