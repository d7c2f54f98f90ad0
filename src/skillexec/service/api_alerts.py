"""``GET /api/alerts``: the alerts firing now and the recent ones fired or resolved.

Active alerts are the engine's AlertManager's own (in memory: this process's rules, as
each was last sent). The history is the journal's ``alert`` events — every alert sent is
journaled — so it survives restarts and holds the alerts of every engine on the same
journal, as ``skillexec report alerts`` shows them.
"""

from __future__ import annotations

import math
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

__all__ = ["AlertModel", "AlertsData", "router"]

router = APIRouter(prefix="/api", tags=["reports"])

_READ_AT_MOST = 10_000  # journal events read per request; alerts are deduplicated (cooldown)


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
    events = await state.engine.journal.read_events("alert", since=start or 0.0,
                                                    limit=_READ_AT_MOST)
    recent = [a for e in reversed(events) if isinstance(e.get("data"), dict)
              and (a := _alert(e["data"], float(e["at"]))) is not None]
    active = [] if manager is None else [_alert(a.to_dict(), a.at) for a in manager.firing()]
    rules = [] if manager is None else [
        {"name": r.name, "metric": r.metric, "condition": r.condition,
         "threshold": r.threshold, "window_s": r.window_s, "severity": r.severity,
         "skill": r.skill} for r in manager.rules]
    data = {"evaluating": monitor.alert_loop_running,
            "interval_s": monitor.settings.alert_interval_s if manager is not None else None,
            "rules": rules, "active": active, "recent": recent[:limit],
            "truncated": len(recent) > limit or len(events) >= _READ_AT_MOST}
    return ok(data, request.state.request_id)
