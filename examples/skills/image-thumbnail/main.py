"""image-thumbnail: scale an image down to fit a box and keep the PNG as an artifact.

Entry style: ``execute(input_data, context)`` returning a plain JSON object; it reports
progress and stores its output with ``context.save_artifact``. Needs Pillow (declared in
``skill.json`` as ``{"pillow": ">=9"}``, so the engine refuses the skill with a clear
dependency error where Pillow is missing instead of failing mid-run).

Input is ``image_b64`` (base64, optionally a ``data:`` URL) or ``path`` (absolute, or
relative to ``config.data_root``). The aspect ratio is kept; images are never scaled up.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_INPUT_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000  # decompression-bomb guard: Pillow raises beyond 2x this

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class InputError(ValueError):
    """The caller's input cannot be used; retrying will not help."""


def execute(input_data: dict[str, Any], context: Any) -> dict[str, Any]:
    config: dict[str, Any] = dict(input_data.get("config") or {})
    if isinstance(getattr(context, "config", None), dict):
        config = {**config, **context.config}
    max_w = int(input_data.get("max_width", 128))
    max_h = int(input_data.get("max_height", max_w))
    name = str(input_data.get("name") or "thumbnail.png")
    if not name.lower().endswith(".png"):
        name += ".png"

    raw, source = _read_input(input_data, config)
    _progress(context, 0.2, f"read {len(raw)} bytes from {source}")

    try:
        with Image.open(io.BytesIO(raw)) as opened:
            original_format = opened.format
            original_size = opened.size
            frames = getattr(opened, "n_frames", 1)
            img = ImageOps.exif_transpose(opened)  # honour camera rotation
            img.load()
    except UnidentifiedImageError:
        raise InputError(f"{source} is not an image Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"{source} is too large to thumbnail safely: {exc}") from None
    _progress(context, 0.5, f"decoded {original_format} {original_size[0]}x{original_size[1]}")

    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        # Palette, 1-bit, CMYK, 16-bit...: resample in full colour (Pillow would fall back
        # to nearest-neighbour for palettes), keeping transparency where there is any.
        has_alpha = "A" in img.getbands() or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
    img.thumbnail((max_w, max_h), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    png = out.getvalue()
    _progress(context, 0.8, f"encoded {img.width}x{img.height} PNG")

    artifact: dict[str, Any] | None = None
    if context is not None:
        ref = context.save_artifact(name, png, "image/png")
        artifact = _ref_dict(ref)
    _progress(context, 1.0, "saved")

    result: dict[str, Any] = {
        "width": img.width,
        "height": img.height,
        "mode": img.mode,
        "original": {
            "width": original_size[0],
            "height": original_size[1],
            "format": original_format,
            "frames": frames,
            "bytes": len(raw),
        },
        "scale": round(img.width / original_size[0], 4) if original_size[0] else 1.0,
        "artifact": artifact,
        "artifact_id": artifact["id"] if artifact else None,
        "sha256": hashlib.sha256(png).hexdigest(),
        "size": len(png),
    }
    if input_data.get("include_b64"):
        result["thumbnail_b64"] = base64.b64encode(png).decode("ascii")
    return result


def _read_input(input_data: dict[str, Any], config: dict[str, Any]) -> tuple[bytes, str]:
    encoded = input_data.get("image_b64")
    if encoded:
        text = str(encoded).strip()
        if text.startswith("data:"):
            text = text.partition(",")[2]
        if len(text) > MAX_INPUT_BYTES * 4 // 3 + 4:
            raise InputError(f"image_b64 is larger than {MAX_INPUT_BYTES} bytes")
        try:
            return base64.b64decode("".join(text.split()), validate=True), "image_b64"
        except (binascii.Error, ValueError):
            raise InputError("image_b64 is not valid base64") from None
    raw_path = input_data.get("path")
    if not raw_path:
        raise InputError("give either 'image_b64' (the image, base64) or 'path' (a file)")
    path = Path(os.path.expanduser(str(raw_path)))
    if not path.is_absolute():
        root = config.get("data_root")
        path = (Path(str(root)) if root else Path.cwd()) / path
    if not path.is_file():
        raise InputError(f"no image file at {path}")
    if path.stat().st_size > MAX_INPUT_BYTES:
        raise InputError(f"{path} is larger than {MAX_INPUT_BYTES} bytes")
    return path.read_bytes(), str(path)


def _progress(context: Any, fraction: float, message: str) -> None:
    if context is not None:
        context.progress(fraction, message)


def _ref_dict(ref: Any) -> dict[str, Any]:
    if isinstance(ref, dict):
        return {k: ref.get(k) for k in ("id", "name", "mime", "size", "sha256")}
    if hasattr(ref, "to_dict"):
        return dict(ref.to_dict())
    return {k: getattr(ref, k, None) for k in ("id", "name", "mime", "size", "sha256")}
