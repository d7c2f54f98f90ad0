"""Tiny wheels made in a test (no index, no build backend): a package of one module."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def make_wheel(folder: Path, name: str, version: str, code: str, *,
               module: str | None = None, requires: tuple[str, ...] = (),
               submodules: dict[str, str] | None = None,
               console_scripts: dict[str, str] | None = None) -> Path:
    """``<folder>/<name>-<version>-py3-none-any.whl`` holding ``<module>/__init__.py``
    (and ``<module>/<sub>.py`` for each of ``submodules``; commands named in
    ``console_scripts``, name -> ``module:function``)."""
    folder.mkdir(parents=True, exist_ok=True)
    norm = name.replace("-", "_")
    dist = f"{norm}-{version}"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{module or norm}/__init__.py": code,
        **{f"{module or norm}/{sub}.py": text for sub, text in (submodules or {}).items()},
        f"{dist}.dist-info/METADATA": meta,
        **({f"{dist}.dist-info/entry_points.txt": "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in console_scripts.items())} if console_scripts else {}),
        f"{dist}.dist-info/WHEEL": ("Wheel-Version: 1.0\nGenerator: skillexec-tests\n"
                                    "Root-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    record = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel
