"""The HTML report: one self-contained file (inline CSS and SVG charts, no script, no CDN)."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from typing import Any

from skillexec.units import duration_ms, number

__all__ = ["bar_chart", "line_chart", "page", "timeline_chart"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2433;
background:#f7f8fa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.sub{color:#667085;margin-bottom:16px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #e4e7ec;border-radius:8px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;background:#fff;border:1px solid #e4e7ec;margin:6px 0}
th,td{padding:5px 10px;border-bottom:1px solid #eef0f3;text-align:left;font-size:13px}
th{background:#f2f4f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
svg.chart{background:#fff;border:1px solid #e4e7ec;border-radius:8px;margin:6px 0;display:block}
svg text{font:11px system-ui,sans-serif;fill:#475467}
.bad{color:#b42318}.ok{color:#067647}
"""
_COLORS = ("#2e90fa", "#f79009", "#12b76a", "#f04438", "#7a5af8", "#06aed4")


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return esc(number(value))
    return f"{value:,}" if isinstance(value, int) else esc(value)


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Sequence[float | None]],
              names: Sequence[str] = (), *,
              fmt: Callable[[float], str] = number) -> str:
    """Horizontal bars, one group per label, one bar per series; ``fmt`` writes a value
    (e.g. ``units.duration_ms``)."""
    n = len(labels)
    if n == 0:
        return ""
    k = max(1, len(series))
    bar_h, gap, left, width = 14, 10, 170, 720
    height = 40 + n * (k * bar_h + gap) + (18 if names else 0)
    top = max((v or 0.0) for s in series for v in s) or 1.0
    scale = (width - left - 90) / top
    parts = [f'<svg class="chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="10" y="20" style="font-weight:600;font-size:13px">{esc(title)}</text>']
    y = 34
    for i, label in enumerate(labels):
        parts.append(f'<text x="10" y="{y + k * bar_h / 2 + 4:.0f}">{esc(label[:26])}</text>')
        for j, s in enumerate(series):
            v = s[i] or 0.0
            w = max(1.0, v * scale)
            parts.append(f'<rect x="{left}" y="{y + j * bar_h}" width="{w:.1f}" '
                         f'height="{bar_h - 2}" fill="{_COLORS[j % len(_COLORS)]}">'
                         f'<title>{esc(label)}: {esc(fmt(v))}</title></rect>')
            parts.append(f'<text x="{left + w + 4:.1f}" y="{y + j * bar_h + 11}">'
                         f'{esc(fmt(v))}</text>')
        y += k * bar_h + gap
    for j, name in enumerate(names):
        parts.append(f'<rect x="{left + j * 110}" y="{height - 14}" width="10" height="10" '
                     f'fill="{_COLORS[j % len(_COLORS)]}"/><text x="{left + j * 110 + 14}" '
                     f'y="{height - 5}">{esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, values: Sequence[Sequence[float]], names: Sequence[str],
               x_labels: tuple[str, str]) -> str:
    """One polyline (with dots) per series over equal-width bins."""
    if not values or not values[0]:
        return ""
    width, height, pad = 720, 220, 40
    n = len(values[0])
    top = max(max(s) for s in values) or 1.0
    step = (width - 2 * pad) / max(1, n - 1)
    parts = [f'<svg class="chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="10" y="20" style="font-weight:600;font-size:13px">{esc(title)}</text>',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
             'stroke="#d0d5dd"/>',
             f'<text x="{pad}" y="{height - pad + 16}">{esc(x_labels[0])}</text>',
             f'<text x="{width - pad}" y="{height - pad + 16}" text-anchor="end">'
             f'{esc(x_labels[1])}</text>',
             f'<text x="4" y="{pad}">{esc(number(top))}</text>']
    for j, s in enumerate(values):
        color = _COLORS[j % len(_COLORS)]
        pts = [(pad + i * step, height - pad - (v / top) * (height - 2 * pad - 10))
               for i, v in enumerate(s)]
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>'
                     for x, y in pts)
        parts.append(f'<rect x="{pad + j * 110}" y="28" width="10" height="10" fill="{color}"/>'
                     f'<text x="{pad + j * 110 + 14}" y="37">{esc(names[j])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def timeline_chart(title: str, phases: Sequence[dict[str, Any]]) -> str:
    """A Gantt-like strip: one bar per phase at its offset."""
    bars = [p for p in phases if p.get("ms")]
    if not bars:
        return ""
    end = max(p["at_ms"] + p["ms"] for p in bars) or 1.0
    width, left, row = 720, 120, 22
    height = 40 + row * len(bars) + 20
    scale = (width - left - 70) / end
    parts = [f'<svg class="chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="10" y="20" style="font-weight:600;font-size:13px">{esc(title)}</text>']
    for i, p in enumerate(bars):
        y = 34 + i * row
        color = "#f04438" if p.get("error") else ("#98a2b3" if p["phase"] == "queued"
                                                  else "#2e90fa")
        x, w = left + p["at_ms"] * scale, max(1.5, p["ms"] * scale)
        parts.append(f'<text x="10" y="{y + 12}">{esc(p["phase"])}</text>'
                     f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}" '
                     f'fill="{color}"><title>{esc(duration_ms(p["ms"]))}</title></rect>'
                     f'<text x="{x + w + 4:.1f}" y="{y + 12}">{esc(duration_ms(p["ms"]))}'
                     '</text>')
    parts.append("</svg>")
    return "".join(parts)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return '<p class="sub">none</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{_num(c)}</td>' if isinstance(c, int | float) and
            not isinstance(c, bool) else f"<td>{'—' if c is None else esc(c)}</td>"
            for c in r) + "</tr>"
        for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cards(items: Sequence[tuple[str, Any]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card">{esc(k)}<b>{_num(v)}</b></div>' for k, v in items) + "</div>"


def page(title: str, subtitle: str, body: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1><div class=\"sub\">{esc(subtitle)} · generated {stamp}"
            f"</div>{body}</body></html>")
