"""markdown-report: build a Markdown report from a title and sections, keep it as an artifact.

Entry style: ``execute(input_data, context)`` returning the Py Copilot envelope
``{"success": True, "result": ..., "message": ..., "metadata": ...}``; it reports progress
with ``context.progress`` and stores the report with ``context.save_artifact``.

A section may hold any of: ``text`` (paragraphs), ``bullets``, ``numbered``, ``quote``,
``table`` (``columns`` + ``rows`` as lists or objects, optional ``align`` and ``caption``)
and ``code`` (``language`` + ``text``), rendered in that order. Output is deterministic:
the same parameters give the same bytes, so the artifact's sha256 is stable.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

_ALIGN = {"left": ":---", "right": "---:", "center": ":---:"}


def execute(input_data: dict[str, Any], context: Any) -> dict[str, Any]:
    title = str(input_data["title"]).strip()
    sections: list[dict[str, Any]] = list(input_data.get("sections") or [])
    filename = str(input_data.get("filename") or "report.md")
    total_steps = len(sections) + 2
    _progress(context, 0.0, "starting")

    lines: list[str] = [f"# {_inline(title)}", ""]
    if input_data.get("subtitle"):
        lines += [f"_{_inline(str(input_data['subtitle']))}_", ""]
    byline = [str(input_data[k]) for k in ("author", "date") if input_data.get(k)]
    if byline:
        lines += [" · ".join(_inline(b) for b in byline), ""]
    if input_data.get("summary"):
        lines += [_paragraphs(str(input_data["summary"])), ""]

    slugs: dict[str, int] = {}
    anchors = [_slug(str(s.get("heading", "")), slugs) for s in sections]
    if input_data.get("toc") and sections:
        lines += ["## Contents", ""]
        for section, anchor in zip(sections, anchors, strict=True):
            indent = "  " * max(0, min(6, int(section.get("level", 2))) - 2)
            lines.append(f"{indent}- [{_inline(str(section['heading']))}](#{anchor})")
        lines.append("")
    _progress(context, 1 / total_steps, "header written")

    tables = 0
    for i, section in enumerate(sections, start=1):
        lines += _render_section(section)
        tables += 1 if section.get("table") else 0
        _progress(context, (i + 1) / total_steps, f"section {i}/{len(sections)}: "
                  f"{section.get('heading', '')}")

    if input_data.get("footer"):
        lines += ["---", "", _paragraphs(str(input_data["footer"])), ""]
    text = "\n".join(lines).rstrip() + "\n"
    data = text.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()

    artifact: dict[str, Any] | None = None
    message = f"report {title!r}: {len(sections)} section(s), {tables} table(s)"
    try:
        ref = context.save_artifact(filename, text, "text/markdown")
        artifact = _ref_dict(ref)
    except (AttributeError, RuntimeError) as exc:
        # No artifact store here (a bare call outside the engine): the text is still returned.
        message += f"; not stored as an artifact ({exc})"
    _progress(context, 1.0, "saved")

    result: dict[str, Any] = {
        "artifact": artifact,
        "artifact_id": artifact["id"] if artifact else None,
        "filename": filename,
        "sha256": digest,
        "size": len(data),
        "sections": len(sections),
        "tables": tables,
        "lines": text.count("\n"),
        "words": len(re.findall(r"\w+", text)),
    }
    if input_data.get("include_markdown", True):
        result["markdown"] = text
    return {
        "success": True,
        "result": result,
        "message": message,
        "metadata": {"mime": "text/markdown", "generator": "markdown-report/1.1.0"},
    }


def _render_section(section: dict[str, Any]) -> list[str]:
    level = min(6, max(2, int(section.get("level", 2))))
    out = [f"{'#' * level} {_inline(str(section['heading']))}", ""]
    if section.get("text"):
        out += [_paragraphs(str(section["text"])), ""]
    if section.get("bullets"):
        out += [f"- {_inline(str(b))}" for b in section["bullets"]] + [""]
    if section.get("numbered"):
        out += [f"{n}. {_inline(str(b))}" for n, b in enumerate(section["numbered"], 1)]
        out.append("")
    if section.get("quote"):
        out += [f"> {line}" if line else ">" for line in str(section["quote"]).splitlines()]
        out.append("")
    if section.get("table"):
        out += [*_render_table(section["table"]), ""]
    if section.get("code"):
        code = section["code"]
        body = str(code.get("text", "")) if isinstance(code, dict) else str(code)
        lang = str(code.get("language", "")) if isinstance(code, dict) else ""
        fence = "````" if "```" in body else "```"
        out += [f"{fence}{lang}", body.rstrip("\n"), fence, ""]
    return out


def _render_table(table: dict[str, Any]) -> list[str]:
    rows_in: list[Any] = list(table.get("rows") or [])
    columns = [str(c) for c in table.get("columns") or []]
    if not columns:
        # Rows given as objects: the columns are their keys, in first-seen order.
        for row in rows_in:
            if isinstance(row, dict):
                columns += [str(k) for k in row if str(k) not in columns]
    if not columns:
        raise ValueError("a table needs 'columns', or 'rows' given as objects")
    rows = [
        [row.get(c) for c in columns] if isinstance(row, dict) else list(row)
        for row in rows_in
    ]
    align = list(table.get("align") or [])
    for i, _ in enumerate(columns):
        if i >= len(align):
            numeric = bool(rows) and all(
                isinstance(r[i], int | float) and not isinstance(r[i], bool)
                for r in rows if i < len(r) and r[i] is not None
            )
            align.append("right" if numeric else "left")
    decimals = [_decimals([r[i] for r in rows if i < len(r)]) for i in range(len(columns))]
    out = []
    if table.get("caption"):
        out += [f"**{_inline(str(table['caption']))}**", ""]
    out.append("| " + " | ".join(_cell(c) for c in columns) + " |")
    out.append("| " + " | ".join(_ALIGN.get(a, "---") for a in align[: len(columns)]) + " |")
    for row in rows:
        cells = [_cell(row[i], decimals[i]) if i < len(row) else "" for i in range(len(columns))]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _decimals(values: list[Any]) -> int | None:
    """Decimal places for a column's floats, so 294.0 and 487.38 print as 294.00 and 487.38."""
    places = [
        len(repr(v).partition(".")[2]) for v in values
        if isinstance(v, float) and math.isfinite(v) and "e" not in repr(v)
    ]
    return min(6, max(places)) if places else None


def _cell(value: Any, decimals: int | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and math.isfinite(value):
        grouping = "," if abs(value) >= 10000 else ""
        if decimals is not None:
            text = f"{value:{grouping}.{decimals}f}"
        elif isinstance(value, float):
            text = f"{value:g}"
        else:
            text = f"{value:{grouping}d}"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")


def _inline(text: str) -> str:
    """One line of text: newlines folded, so a value cannot break the document's structure."""
    return " ".join(text.split())


def _paragraphs(text: str) -> str:
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip())]
    return "\n\n".join(p for p in paras if p)


def _slug(heading: str, seen: dict[str, int]) -> str:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens, deduped."""
    base = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
    n = seen.get(base, 0)
    seen[base] = n + 1
    return base if n == 0 else f"{base}-{n}"


def _progress(context: Any, fraction: float, message: str) -> None:
    if context is not None and hasattr(context, "progress"):
        context.progress(fraction, message)


def _ref_dict(ref: Any) -> dict[str, Any]:
    if isinstance(ref, dict):
        return {k: ref.get(k) for k in ("id", "name", "mime", "size", "sha256")}
    if hasattr(ref, "to_dict"):
        return dict(ref.to_dict())
    return {k: getattr(ref, k, None) for k in ("id", "name", "mime", "size", "sha256")}
