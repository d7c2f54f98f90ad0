"""csv-stats: per-column statistics of a CSV file or of inline CSV text.

Entry style: a plain synchronous ``execute(input_data, context)`` that returns its output
as a plain JSON object (no envelope). Standard library only.

Numeric columns (every non-empty cell parses as a number) get count, missing, sum, mean,
median, min, max and sample standard deviation; ISO 8601 date columns get their range;
other columns get count, missing, distinct count, the most frequent values and the
shortest/longest length. Empty cells and NA/N/A/null/none/- count as missing.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

MAX_BYTES = 50 * 1024 * 1024  # refuse files larger than this: this skill reads them whole
_MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "-"})
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)


def execute(input_data: dict[str, Any], context: Any = None) -> dict[str, Any]:
    config: dict[str, Any] = dict(input_data.get("config") or {})
    if context is not None and isinstance(getattr(context, "config", None), dict):
        config = {**config, **context.config}

    text, source = _read_input(input_data, config)
    delimiter = input_data.get("delimiter") or _sniff_delimiter(text)
    top = int(input_data.get("top", 5))
    wanted = input_data.get("columns") or None

    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ValueError("the CSV is empty: it has no header row") from None
    header = [h.strip() or f"column_{i + 1}" for i, h in enumerate(header)]
    if wanted:
        unknown = [c for c in wanted if c not in header]
        if unknown:
            raise ValueError(
                f"unknown column(s) {', '.join(map(repr, unknown))}; "
                f"the CSV has {', '.join(map(repr, header))}"
            )

    cells: list[list[str]] = [[] for _ in header]
    rows = 0
    ragged = 0
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        rows += 1
        if len(row) != len(header):
            ragged += 1
        for i in range(len(header)):
            cells[i].append(row[i].strip() if i < len(row) else "")

    columns: dict[str, Any] = {}
    for name, values in zip(header, cells, strict=True):
        if wanted and name not in wanted:
            continue
        columns[name] = _column_stats(values, top)

    if context is not None:
        context.log.info("csv-stats: %d rows, %d columns from %s", rows, len(header), source)
    return {
        "source": source,
        "rows": rows,
        "column_count": len(header),
        "columns": columns,
        "ragged_rows": ragged,
        "delimiter": delimiter,
    }


def _read_input(input_data: dict[str, Any], config: dict[str, Any]) -> tuple[str, str]:
    inline = input_data.get("csv_text")
    if isinstance(inline, str) and inline.strip():
        return inline, "csv_text"
    raw_path = input_data.get("path")
    if not raw_path:
        raise ValueError("give either 'path' (a CSV file) or 'csv_text' (the CSV itself)")
    path = _resolve(str(raw_path), config)
    if not path.is_file():
        raise FileNotFoundError(f"no CSV file at {path}")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{path} is {size} bytes; csv-stats reads at most {MAX_BYTES}")
    encoding = str(input_data.get("encoding") or "utf-8-sig")
    with path.open(encoding=encoding, newline="") as fh:
        return fh.read(), str(path)


def _resolve(raw: str, config: dict[str, Any]) -> Path:
    """Absolute paths as given; relative ones against ``config.data_root``, else the cwd.

    At run time the cwd is the task's private workdir, so a relative path without a
    ``data_root`` only finds files the skill itself wrote there.
    """
    path = Path(os.path.expanduser(raw))
    if path.is_absolute():
        return path
    root = config.get("data_root")
    return (Path(str(root)) / path) if root else Path.cwd() / path


def _sniff_delimiter(text: str) -> str:
    sample = text[:4096]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _to_number(cell: str) -> float | None:
    try:
        value = float(cell.replace("_", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _column_stats(values: list[str], top: int) -> dict[str, Any]:
    present = [v for v in values if v.lower() not in _MISSING]
    missing = len(values) - len(present)
    numbers = [_to_number(v) for v in present]
    if present and all(n is not None for n in numbers):
        nums = [n for n in numbers if n is not None]
        return {
            "type": "numeric",
            "count": len(nums),
            "missing": missing,
            "sum": _clean(math.fsum(nums)),
            "mean": _clean(statistics.fmean(nums)),
            "median": _clean(statistics.median(nums)),
            "min": _clean(min(nums)),
            "max": _clean(max(nums)),
            "stdev": _clean(statistics.stdev(nums)) if len(nums) > 1 else None,
        }
    counts = Counter(present)
    if present and all(_ISO_DATE.match(v) for v in present):
        return {
            "type": "date",
            "count": len(present),
            "missing": missing,
            "distinct": len(counts),
            "min": min(present),  # ISO 8601 text sorts chronologically (same offsets)
            "max": max(present),
        }
    lengths = [len(v) for v in present]
    return {
        "type": "text" if present else "empty",
        "count": len(present),
        "missing": missing,
        "distinct": len(counts),
        "top_values": [{"value": v, "count": c} for v, c in counts.most_common(top)],
        "min_length": min(lengths) if lengths else None,
        "max_length": max(lengths) if lengths else None,
    }


def _clean(value: float) -> float | int:
    """Round away float noise; show whole numbers as integers."""
    rounded = round(value, 6)
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
