"""Reports as a terminal table (rich), JSON, or a self-contained HTML page.

Tables and charts show times as a person reads them (``250 ms``, ``3.6 s``, ``1 h``: see
:mod:`skillexec.units`); JSON keeps the numbers, in the units their names say.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson
from rich.console import Group, RenderableType
from rich.table import Table

from skillexec.monitoring import _html as h
from skillexec.units import duration, duration_ms, number

__all__ = ["to_html", "to_json", "to_table"]


def _when(ts: float | None) -> str:
    return "—" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _range(report: dict[str, Any]) -> str:
    r = report.get("range") or {}
    start = _when(r.get("since")) if r.get("since") else "the beginning"
    return f"{start} → {_when(r.get('until'))}"


def _f(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return number(v)
    return str(v)


def _ms(v: float | None) -> str:
    return "—" if v is None else duration_ms(v)


def _mb(v: float | None) -> str:
    return "—" if v is None else f"{number(v)} MB"


def _metric(key: str, v: Any) -> str:
    """One of a task's metrics, by the unit its name ends with."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        if key.endswith("_ms"):
            return _ms(float(v))
        if key.endswith("_s"):
            return duration(float(v))
        if key.endswith("_mb"):
            return _mb(float(v))
    return _f(v)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


_BUSY_HEADERS = ["skill", "calls", "succeeded", "failed", "cancelled", "rejected",
                 "success rate", "mean"]


def _busy_row(s: dict[str, Any]) -> list[Any]:
    return [s["skill"], s["calls"], s["succeeded"], s["failed"], s["cancelled"],
            s["rejected"], _pct(s["success_rate"]), _ms(s["mean_ms"])]


def to_json(report: dict[str, Any]) -> str:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2, default=str).decode()


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, title_justify="left")
    for i, name in enumerate(headers):
        t.add_column(name, justify="left" if i == 0 else "right", overflow="fold")
    for r in rows:
        t.add_row(*[_f(c) for c in r])
    return t


def to_table(report: dict[str, Any]) -> RenderableType:
    kind = report["kind"]
    if kind == "summary":
        head = _table(f"summary: {_range(report)}", ["tasks", "finished", "success rate"],
                      [[report["total"], report["finished"], _pct(report["success_rate"])]])
        status = _table("by status", ["status", "count"], sorted(report["by_status"].items()))
        skills = _table("busiest skills", _BUSY_HEADERS,
                        [_busy_row(s) for s in report["busiest_skills"]])
        errs = _table("top errors", ["type", "code", "count", "skills", "example"],
                      [[e["type"], e["code"], e["count"], ", ".join(e["skills"]),
                        e["example"][:80]] for e in report["top_errors"]])
        return Group(head, status, skills, errs)
    if kind == "performance":
        skills = _table(f"performance: {_range(report)}",
                        ["skill", "calls", "p50", "p95", "p99", "max", "queue p95",
                         "cpu (mean)", "max RSS"],
                        [[s["skill"], s["calls"], _ms(s["p50_ms"]), _ms(s["p95_ms"]),
                          _ms(s["p99_ms"]), _ms(s["max_ms"]), _ms(s["queue_p95_ms"]),
                          _ms(s["cpu_ms_mean"]), _mb(s["max_rss_mb"])]
                         for s in report["skills"]])
        tp = report["throughput"]
        thr = _table(f"throughput ({duration(tp['bin_s'])} bins)", ["bin start", "calls",
                                                                    "failed"],
                     [[_when(tp["start"] + i * tp["bin_s"]), c, e]
                      for i, (c, e) in enumerate(zip(tp["calls"], tp["errors"], strict=False))
                      if c])
        slow = _table("slowest calls", ["task", "skill", "took", "status", "created"],
                      [[s["task_id"], s["skill"], _ms(s["wall_ms"]), s["status"],
                        _when(s["created_at"])] for s in report["slowest"]])
        return Group(skills, thr, slow)
    if kind == "detailed":
        head = _table(f"task {report['task_id']}", ["skill", "status", "attempts",
                                                    "created", "finished"],
                      [[f"{report['skill_id']}@{report['skill_version']}", report["status"],
                        report["attempts_count"], _when(report["created_at"]),
                        _when(report["finished_at"])]])
        tl = _table("timeline", ["phase", "at", "took"],
                    [[p["phase"], _ms(p["at_ms"]), _ms(p["ms"])] for p in report["timeline"]])
        at = _table("attempts", ["#", "wall", "cpu", "RSS", "error", "decision"],
                    [[a["attempt"], _ms(a["wall_ms"]), _ms(a["cpu_ms"]), _mb(a["max_rss_mb"]),
                      (a["error"] or {}).get("code", ""), a["decision"]]
                     for a in report["attempts"]])
        m = report["metrics"] or {}
        mt = _table("metrics", ["metric", "value"], [[k, _metric(k, v)] for k, v in m.items()])
        art = _table("artifacts", ["id", "name", "mime", "bytes"],
                     [[a["id"], a["name"], a["mime"], a["size"]] for a in report["artifacts"]])
        err = _table("errors", ["type", "code", "message"],
                     [[e.get("type"), e.get("code"), str(e.get("message"))[:120]]
                      for e in report["errors"]])
        return Group(head, tl, at, mt, art, err)
    if kind == "alerts":
        return _table(f"alerts: {_range(report)}", ["at", "rule", "subject", "state",
                                                     "severity", "value", "message"],
                      [[_when(a["at"]), a["rule"], a["subject"], a["state"], a["severity"],
                        a["value"], a["message"]] for a in report["alerts"]])
    raise ValueError(f"unknown report kind {kind!r}")


def to_html(report: dict[str, Any]) -> str:
    kind = report["kind"]
    if kind == "summary":
        busy = report["busiest_skills"]
        body = (h.cards([("tasks", report["total"]), ("finished", report["finished"]),
                         ("success rate", _pct(report["success_rate"])),
                         ("alerts", report["alerts"]["count"])])
                + "<h2>Tasks by status</h2>"
                + h.bar_chart("tasks by status", list(report["by_status"]),
                              [list(map(float, report["by_status"].values()))])
                + "<h2>Busiest skills</h2>"
                + h.bar_chart("calls per skill", [s["skill"] for s in busy],
                              [[float(s["succeeded"]) for s in busy],
                               [float(s["failed"]) for s in busy],
                               [float(s["cancelled"] + s["rejected"]) for s in busy]],
                              ["succeeded", "failed", "cancelled or rejected"])
                + h.table(_BUSY_HEADERS, [_busy_row(s) for s in busy])
                + "<h2>Top errors</h2>"
                + h.table(["type", "code", "count", "skills", "example"],
                          [[e["type"], e["code"], e["count"], ", ".join(e["skills"]),
                            e["example"]] for e in report["top_errors"]]))
        return h.page("skillexec summary", _range(report), body)
    if kind == "performance":
        sk = report["skills"]
        tp = report["throughput"]
        end = tp["start"] + tp["bin_s"] * len(tp["calls"]) if tp["calls"] else None
        ran = [s for s in sk if s["p50_ms"] is not None]  # refused calls have no run time
        body = (h.cards([("finished tasks", report["total"]), ("skills", len(sk))])
                + "<h2>Latency per skill</h2>"
                + h.bar_chart("execution time percentiles", [s["skill"] for s in ran],
                              [[s["p50_ms"] for s in ran], [s["p95_ms"] for s in ran],
                               [s["p99_ms"] for s in ran]], ["p50", "p95", "p99"],
                              fmt=duration_ms)
                + "<h2>Throughput</h2>"
                + h.line_chart(f"finished tasks per {duration(tp['bin_s'])}",
                               [list(map(float, tp["calls"])),
                                list(map(float, tp["errors"]))], ["calls", "failed"],
                               (_when(tp["start"]), _when(end)))
                + "<h2>Resources</h2>"
                + h.table(["skill", "calls", "p50", "p95", "p99", "max", "queue p95",
                           "cpu (mean)", "max RSS", "disk bytes"],
                          [[s["skill"], s["calls"], _ms(s["p50_ms"]), _ms(s["p95_ms"]),
                            _ms(s["p99_ms"]), _ms(s["max_ms"]), _ms(s["queue_p95_ms"]),
                            _ms(s["cpu_ms_mean"]), _mb(s["max_rss_mb"]), s["disk_bytes"]]
                           for s in sk])
                + "<h2>Slowest calls</h2>"
                + h.table(["task", "skill", "took", "status", "created"],
                          [[s["task_id"], s["skill"], _ms(s["wall_ms"]), s["status"],
                            _when(s["created_at"])] for s in report["slowest"]]))
        return h.page("skillexec performance", _range(report), body)
    if kind == "detailed":
        m = report["metrics"] or {}
        body = (h.cards([("status", report["status"]), ("attempts", report["attempts_count"]),
                         ("took", _ms(m.get("wall_ms"))), ("queued", _ms(m.get("queue_ms")))])
                + "<h2>Timeline</h2>" + h.timeline_chart("phases", report["timeline"])
                + "<h2>Attempts</h2>"
                + h.table(["#", "wall", "cpu", "RSS", "error", "decision"],
                          [[a["attempt"], _ms(a["wall_ms"]), _ms(a["cpu_ms"]),
                            _mb(a["max_rss_mb"]), (a["error"] or {}).get("message", ""),
                            a["decision"]] for a in report["attempts"]])
                + "<h2>Metrics</h2>" + h.table(["metric", "value"],
                                               [[k, _metric(k, v)] for k, v in m.items()])
                + "<h2>Artifacts</h2>"
                + h.table(["id", "name", "mime", "bytes", "sha256"],
                          [[a["id"], a["name"], a["mime"], a["size"], a["sha256"]]
                           for a in report["artifacts"]])
                + "<h2>Errors</h2>"
                + h.table(["type", "code", "message"],
                          [[e.get("type"), e.get("code"), e.get("message")]
                           for e in report["errors"]]))
        return h.page(f"task {report['task_id']}",
                      f"{report['skill_id']}@{report['skill_version']}", body)
    if kind == "alerts":
        by_rule = report["by_rule"]
        body = (h.bar_chart("alerts by rule", list(by_rule),
                            [list(map(float, by_rule.values()))])
                + h.table(["at", "rule", "subject", "state", "severity", "value", "message"],
                          [[_when(a["at"]), a["rule"], a["subject"], a["state"],
                            a["severity"], a["value"], a["message"]]
                           for a in report["alerts"]]))
        return h.page("skillexec alerts", _range(report), body)
    raise ValueError(f"unknown report kind {kind!r}")
