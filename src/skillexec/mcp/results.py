"""An engine result as an MCP tool result: ``structuredContent`` (an object) plus a text
rendering capped in size, artifacts as ``resource_link``s (small images inline too), and
failures as ``isError`` results with one readable sentence and the violations."""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
import orjson

from skillexec.mcp.schemas import WRAP_KEY
from skillexec.mcp.settings import McpConfig
from skillexec.task import ArtifactRef, ExecutionResult

__all__ = ["ARTIFACT_URI", "artifact_uri", "cap", "error_result", "structured", "tool_result"]

ARTIFACT_URI = "skillexec://artifacts/"
_log = logging.getLogger("skillexec.mcp")
ReadBytes = Callable[[str], Awaitable[bytes]]


def artifact_uri(artifact_id: str) -> str:
    return ARTIFACT_URI + artifact_id


def cap(text: str, limit: int, *,
        whole: str | None = "the whole value is in structuredContent") -> str:
    """``text`` cut at ``limit`` characters, saying so (the model must know it is partial)
    and where ``whole`` it is (None: nowhere the client can read)."""
    if len(text) <= limit:
        return text
    return (text[:limit] + f"\n[cut: {limit} of {len(text)} characters shown"
            + (f"; {whole}]" if whole else "]"))


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
                        default=str).decode()


def structured(output: Any, *, wrapped: bool) -> dict[str, Any]:
    """The object published as ``structuredContent``: the output itself when it is an
    object and the schema is not wrapped, else ``{"result": output}``."""
    if isinstance(output, dict) and not wrapped:
        return output
    return {WRAP_KEY: output}


def _violations(details: dict[str, Any]) -> list[str]:
    found = details.get("violations") or details.get("errors") or []
    lines = []
    for v in found if isinstance(found, list) else []:
        if isinstance(v, dict):
            where = v.get("path") or v.get("field") or v.get("location") or ""
            lines.append(f"- {where}: {v.get('message', v)}" if where else
                         f"- {v.get('message', v)}")
        else:
            lines.append(f"- {v}")
    return lines


def error_result(message: str, *, violations: list[str] | None = None,
                 meta: dict[str, Any] | None = None) -> types.CallToolResult:
    text = message + ("\n" + "\n".join(violations) if violations else "")
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True,
                                _meta=meta)


async def _artifact_blocks(refs: tuple[ArtifactRef, ...], *, settings: McpConfig,
                           read: ReadBytes) -> list[Any]:
    blocks: list[Any] = []
    for a in refs:
        uri = artifact_uri(a.id)
        blocks.append(types.ResourceLink(
            uri=uri, name=a.name, mime_type=a.mime, size=a.size,
            description=f"artifact {a.name} ({a.mime}, {a.size} bytes, sha256 {a.sha256})",
            _meta={"skillexec/sha256": a.sha256}))
        if a.mime.startswith("image/") and a.size <= settings.inline_image_max_bytes:
            try:
                data = await read(a.id)
            except Exception as exc:  # pruned or unreadable: the link still says what it was
                _log.debug("artifact %s not inlined: %s", a.id, exc)
                continue
            blocks.append(types.ImageContent(data=base64.b64encode(data).decode(),
                                             mime_type=a.mime))
    return blocks


async def tool_result(result: ExecutionResult, *, wrapped: bool, settings: McpConfig,
                      read: ReadBytes, label: str) -> types.CallToolResult:
    """The tool result of one finished call of ``label`` (a skill id or a script)."""
    meta = {"skillexec/task_id": result.task_id, "skillexec/status": result.status.value}
    if not result.ok:
        err = result.error
        msg = err.message if err else f"the call ended {result.status.value}"
        code = f" ({err.type.value}/{err.code})" if err else ""
        text = f"{label} {result.status.value}{code}: {msg.rstrip('.')}."
        lines = _violations(err.details) if err else []
        # A script's streams say why it failed: many print their error on stdout
        # (Py Copilot's thumbnail.py: "Error: ... 'soffice'") and leave stderr empty.
        details = err.details if err else {}
        for stream in ("stdout", "stderr"):
            said = details.get(stream)
            if isinstance(said, str) and said:
                lines.append(f"{stream}:\n" + cap(
                    said, settings.max_text_chars // 2,
                    whole=f"the whole {stream} is in structuredContent"))
        out = error_result(cap(text, settings.max_text_chars, whole=None), violations=lines,
                           meta=meta)
        streams = {k: details[k] for k in ("exit_code", "stdout", "stderr") if k in details}
        if "stdout" in streams or "stderr" in streams:
            # A scanner's exit 1 means "findings": its report is on stdout, whole, for the
            # assistant to read as it reads a success's (the text above is capped); so is
            # what a script that timed out, was cancelled or printed too much had said.
            out.structured_content = streams
        out.content.extend(await _artifact_blocks(result.artifacts, settings=settings,
                                                  read=read))
        return out
    body = structured(result.output, wrapped=wrapped)
    text = cap(_json(result.output), settings.max_text_chars)
    content: list[Any] = [types.TextContent(text=text)]
    if result.artifacts:
        content.append(types.TextContent(text="\n".join(
            f"artifact {a.name}: {a.mime}, {a.size} bytes, sha256 {a.sha256}, "
            f"{artifact_uri(a.id)}" for a in result.artifacts)))
        content.extend(await _artifact_blocks(result.artifacts, settings=settings, read=read))
    return types.CallToolResult(content=content, structured_content=body, _meta=meta)
