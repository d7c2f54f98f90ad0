"""``GET /api/alerts``: the alerts firing now and the recent ones fired or resolved.

Active alerts are the engine's AlertManager's own (in memory: this process's rules, as
each was last sent). The history is the journal's ``alert`` events — every alert sent is
journaled — so it survives restarts and holds the alerts of every engine on the same
journal, as ``skillexec report alerts`` shows them.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from skillexec.monitoring.reports import parse_since
from skillexec.security.principals import Principal
from skillexec.service.api_admin import SINCE
from skillexec.service.auth import need
from skillexec.service.envelope import COMMON_ERRORS, ERROR, ApiError, Envelope, ok
from skillexec.service.state import ServiceState
from skillexec.storage.store import TaskStore

__all__ = ["AlertModel", "AlertsData", "router"]

router = APIRouter(prefix="/api", tags=["reports"])

_PAGE = 1000  # journal events read at once (the journal reads oldest first)


class AlertModel(BaseModel):
    rule: str = Field(description="The rule's name (monitor.alert_rules).")
    metric: str
    subject: str = Field(description="What it is about: a skill, \"engine\" or \"system\".")
    value: float | None = Field(description="The measured value when it was sent.")
    threshold: float | None
    condition: str
    severity: str = Field(description="info, warning or critical.")
    state: Literal["firing", "resolved"]
    at: float = Field(description="When it was sent (epoch seconds).")
    message: str


class RuleModel(BaseModel):
    name: str
    metric: str
    condition: str
    threshold: float
    window_s: float
    severity: str
    skill: str | None = Field(description="Only this skill (null: every skill).")


class AlertsData(BaseModel):
    evaluating: bool = Field(description="Whether this service evaluates the rules (the "
                             "monitor and its alerts are on, and the loop runs).")
    interval_s: float | None = Field(description="How often the rules are evaluated.")
    rules: list[RuleModel]
    active: list[AlertModel] = Field(description="Firing now, newest first: each as last "
                                     "sent (or, held back by its cooldown, as last breached).")
    recent: list[AlertModel] = Field(description="Sent since `since` (fired and resolved), "
                                     "newest first, at most `limit`.")
    truncated: bool = Field(description="More were sent since `since` than are listed.")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _alert(data: dict[str, Any], at: float) -> dict[str, Any] | None:
    """An alert as the API shows it; None for an event that is not one (another version's)."""
    state = data.get("state")
    if state not in ("firing", "resolved"):
        return None
    return {"rule": str(data.get("rule", "")), "metric": str(data.get("metric", "")),
            "subject": str(data.get("subject", "")), "value": _number(data.get("value")),
            "threshold": _number(data.get("threshold")),
            "condition": str(data.get("condition", "")),
            "severity": str(data.get("severity", "")), "state": state,
            "at": _number(data.get("at")) or at, "message": str(data.get("message", ""))}


async def _newest(store: TaskStore, since: float, limit: int) -> tuple[list[dict[str, Any]],
                                                                      int]:
    """The newest ``limit`` alerts journaled since ``since`` (oldest first) and how many
    there were: the journal reads forward, so it is read in pages, keeping only the tail."""
    tail: deque[dict[str, Any]] = deque(maxlen=limit)
    total, last_seq = 0, -1
    while True:
        page = await store.read_events("alert", since=since, limit=_PAGE)
        new = [e for e in page if int(e["seq"]) > last_seq]
        alerts = [a for e in new if isinstance(e.get("data"), dict)
                  and (a := _alert(e["data"], float(e["at"]))) is not None]
        tail.extend(alerts)
        total += len(alerts)
        if len(page) < _PAGE or not new:
            return list(tail), total
        last_seq, since = int(new[-1]["seq"]), float(new[-1]["at"])


@router.get("/alerts", operation_id="list_alerts", response_model=Envelope[AlertsData],
            responses={**COMMON_ERRORS, 422: ERROR})
async def list_alerts(
    request: Request, principal: Annotated[Principal, Depends(need("reports"))],
    since: Annotated[str, Query(pattern=SINCE, description="30m, 1h, 2d, a date, all")]
    = "24h",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """The alerts firing now and those sent since ``since`` (fired and resolved)."""
    state: ServiceState = request.app.state.service
    try:
        start = parse_since(since)
    except ValueError as exc:
        raise ApiError(422, "INVALID_REQUEST", str(exc), field="since") from None
    monitor = state.engine.monitor
    manager = monitor.alerts
    recent, total = await _newest(state.engine.journal, start or 0.0, limit)
    active = [] if manager is None else [_alert(a.to_dict(), a.at) for a in manager.firing()]
    rules = [] if manager is None else [
        {"name": r.name, "metric": r.metric, "condition": r.condition,
         "threshold": r.threshold, "window_s": r.window_s, "severity": r.severity,
         "skill": r.skill} for r in manager.rules]
    data = {"evaluating": monitor.alert_loop_running,
            "interval_s": monitor.settings.alert_interval_s if manager is not None else None,
            "rules": rules, "active": active, "recent": recent[::-1], "truncated": total > limit}
    return ok(data, request.state.request_id)
