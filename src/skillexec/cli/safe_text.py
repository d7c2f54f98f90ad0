"""Text a skill controls, made safe to print on the operator's terminal (DESIGN §4.2).

A skill's output, error messages, artifact names, descriptions and tracebacks reach the
terminal. Raw, they could move the cursor, clear the screen, retitle the window, hide text
behind bidi overrides or start a line that looks like the CLI's own ("✓ succeeded"). Every
such character is written as a visible ``\\uXXXX`` escape — the JSON spelling, so escaped JSON
text is still the same JSON: C0 controls (``\\n`` and ``\\t`` kept only where a layout needs
lines), DEL, C1 controls (``\\x9b`` is a CSI on some terminals), and the bidi embeddings,
overrides and isolates (U+202A to U+202E, U+2066 to U+2069). Colour and style codes (SGR,
``ESC [ … m``) are dropped instead: they only style text, and escaped they made the output of
a script that colours its messages unreadable (``\u001b[0;31mError``).

``--json`` output stays exact JSON: orjson escapes C0 itself, and :func:`json_text` escapes the
rest the JSON way, which parses to the same value.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console

__all__ = ["cell", "cells", "escape_markup", "for_terminal", "json_text", "print_json",
           "safe_block", "safe_line"]

_BIDI = "\u202a-\u202e\u2066-\u2069"
_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")  # one line: every control, \n too
_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")  # lines kept: \n and \t pass
_JSON = re.compile(f"[\x7f-\x9f{_BIDI}]")  # what orjson leaves raw
_SGR = re.compile("\x1b\\[[0-9;:]*m")  # a colour or style: dropped before the escaping


# A '[' with the backslashes before it; and the rest of a tag, if it would open one.
_MARKUP = re.compile(r"(\\*)(\[(?:[a-z#/@][^[]*?])?)")


def escape_markup(text: str) -> str:
    """``text`` as Rich markup that renders as ``text``. Rich's own ``escape`` leaves a
    '[' that opens no tag as it is, but its renderer still reads a backslash before any
    '[' as escaping it: a skill's ``\\[`` was printed ``[``. A would-be tag gets each
    backslash before it doubled and one more (as Rich does); any other '[' one more
    backslash, which the renderer drops. A trailing backslash is doubled as Rich does (so
    that a closing tag after it stays a tag)."""
    def sub(m: re.Match[str]) -> str:
        slashes, bracket = m.groups()
        return f"{slashes}{slashes}\\{bracket}" if len(bracket) > 1 else f"{slashes}\\["
    out = _MARKUP.sub(sub, text) if "[" in text else text
    if out.endswith("\\") and not out.endswith("\\\\"):
        out += "\\"
    return out


def _u(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def safe_line(text: object) -> str:
    """``text`` on one line, every control character (newline included) escaped."""
    return _escaped(_LINE, text)


def safe_block(text: object) -> str:
    """``text`` with its lines and tabs kept, every other control character escaped."""
    return _escaped(_BLOCK, text)


def _escaped(controls: re.Pattern[str], text: object) -> str:
    s = text if isinstance(text, str) else str(text)
    if not controls.search(s):
        return s
    return controls.sub(_u, _SGR.sub("", s) if "\x1b" in s else s)


def cell(text: object) -> str:
    """For a Rich table cell or a ``console.print``: one safe line, markup escaped (so a
    skill's ``[green]`` is printed, not obeyed)."""
    return escape_markup(safe_line(text))


def json_text(text: str) -> str:
    """JSON text with DEL, C1 and bidi controls escaped the JSON way: the same value."""
    return _JSON.sub(_u, text) if _JSON.search(text) else text


def print_json(console: Console, text: str) -> None:
    """Rich's highlighted JSON, never with a raw control character in it.

    Rich re-encodes the JSON it prints and leaves non-ASCII raw: where a dangerous character
    is present, everything non-ASCII is escaped instead (the value is the same).
    """
    risky = _JSON.search(text) is not None or "\\u" in text  # raw, or escaped in the text
    console.print_json(text, ensure_ascii=risky)


def cells(data: Any) -> Any:
    """``data`` (a report: dicts, lists, scalars) with every string in it made a :func:`cell`,
    for a renderer that puts values (and keys: a skill id may be one) into Rich tables. The
    renderer's own keys are plain words, which this leaves as they are."""
    if isinstance(data, str):
        return cell(data)
    if isinstance(data, dict):
        return {cells(k): cells(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [cells(v) for v in data]
    return data


def for_terminal(data: bytes) -> bytes:
    """An artifact's bytes for a terminal (stdout is a TTY): decoded as UTF-8 (invalid bytes
    replaced) and :func:`safe_block`-escaped. Written to a pipe or a file, bytes stay bytes."""
    return safe_block(data.decode("utf-8", "replace")).encode()
