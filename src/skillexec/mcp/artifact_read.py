"""``artifact_read``'s result: an artifact's content for hosts that let only the user read
resources, in parts a tool result can carry. A text comes at most ``mcp.max_text_chars``
characters at a time, a binary at most ``MAX_BYTES`` bytes (a 30 MB file was one 40 MB
base64 result), each part with a note naming the ``offset`` of the next: the model reads
the rest by asking again."""

from __future__ import annotations

import base64

import mcp_types as types

from skillexec.mcp.results import artifact_uri, error_result

__all__ = ["MAX_BYTES", "artifact_result"]

MAX_BYTES = 1 << 20  # of a binary per call (1.4 MB of base64)


def _text(data: bytes, mime: str) -> str | None:
    if mime.startswith("image/"):
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


def artifact_result(artifact_id: str, data: bytes, mime: str, *, offset: int,
                    length: int | None, max_chars: int) -> types.CallToolResult:
    """Characters ``offset`` to ``offset + length`` of a text artifact, or those bytes of
    a binary one (the whole artifact when it fits: an image then as image content)."""
    text = _text(data, mime)
    unit, size, limit = ("characters", len(text), max_chars) if text is not None \
        else ("bytes", len(data), MAX_BYTES)
    if offset and offset >= size:
        return error_result(f"artifact_read: offset {offset} is past the end of artifact "
                            f"{artifact_id} ({size} {unit}).")
    end = min(size, offset + min(length or limit, limit))
    whole = offset == 0 and end == size
    block: types.TextContent | types.ImageContent | types.EmbeddedResource
    if text is not None:
        block = types.TextContent(text=text[offset:end])
    elif whole and mime.startswith("image/"):
        block = types.ImageContent(data=base64.b64encode(data).decode(), mime_type=mime)
    else:
        # The tool exists for hosts that let only the user read resources: pointing the
        # model at the resource would leave a binary artifact out of its reach. A part is
        # no file of the artifact's type: labelled as bytes.
        block = types.EmbeddedResource(type="resource", resource=types.BlobResourceContents(
            uri=artifact_uri(artifact_id), blob=base64.b64encode(data[offset:end]).decode(),
            mime_type=mime if whole else "application/octet-stream"))
    if whole:
        return types.CallToolResult(content=[block])
    what = f"{unit} {offset} to {end} of {size}" + ("" if text is not None else f" ({mime})")
    note = (f"[{what}; the next part: artifact_read with offset={end} (at most {limit} "
            f"{unit} a call)]" if end < size else f"[{what}: the end]")
    return types.CallToolResult(content=[block, types.TextContent(text=note)])
