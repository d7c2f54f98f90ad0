"""Skill folders the MCP tests serve (written per test into tmp_path)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2a1"
    "a3d10000000049454e44ae426082")


def _skill(root: Path, folder: str, manifest: dict[str, Any], code: str | None,
           files: dict[str, str] | None = None) -> None:
    d = root / folder
    d.mkdir(parents=True)
    (d / "skill.json").write_text(json.dumps(manifest))
    if code is not None:
        (d / "main.py").write_text(textwrap.dedent(code))
    for rel, text in (files or {}).items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(textwrap.dedent(text))


def write_skills(root: Path) -> Path:
    _skill(root, "echo", {
        "id": "text.echo", "version": "1.0.0", "name": "Echo",
        "description": "Repeat a text.", "entry_point": "main.py:execute",
        "read_only": True, "execution": {"idempotent": True},
        "parameters_schema": {
            "type": "object", "$defs": {"count": {"type": "integer", "minimum": 1}},
            "properties": {"text": {"type": "string"}, "repeat": {"$ref": "#/$defs/count"},
                           "tags": {"type": "array"}},
            "required": ["text"], "additionalProperties": False},
        "output_schema": {"type": "object", "properties": {"echo": {"type": "string"}},
                          "required": ["echo"]},
    }, """
        def execute(data):
            return {"echo": data["text"] * data.get("repeat", 1)}
    """)
    _skill(root, "square", {
        "id": "num.square", "version": "1.0.0", "entry_point": "main.py:execute",
        "description": "Square a number.",
        "parameters_schema": {"type": "object", "properties": {"x": {"type": "number"}},
                              "required": ["x"]},
        "output_schema": {"type": "number"},
    }, """
        def execute(data):
            return data["x"] * data["x"]
    """)
    _skill(root, "boom", {
        "id": "fail.boom", "version": "1.0.0", "entry_point": "main.py:execute",
        "description": "Always fails.", "execution": {"max_retries": 0},
    }, """
        def execute(data):
            raise ValueError("the input was bad")
    """)
    _skill(root, "slow", {
        "id": "slow", "version": "1.0.0", "entry_point": "main.py:execute",
        "description": "Reports progress while it sleeps.",
        "execution": {"max_retries": 0},
        "parameters_schema": {"type": "object", "properties": {
            "steps": {"type": "integer"}, "delay": {"type": "number"}}},
    }, """
        import os, time

        def execute(data, context):
            steps = data.get("steps", 4)
            for i in range(steps):
                context.progress(i / steps, f"pid {os.getpid()} step {i}")
                time.sleep(data.get("delay", 0.05))
            return {"steps": steps}
    """)
    _skill(root, "net", {
        "id": "net.fetch", "version": "1.0.0", "entry_point": "main.py:execute",
        "description": "Would fetch a page.", "permissions": ["network_access"],
    }, """
        def execute(data):
            return {}
    """)
    _skill(root, "art", {
        "id": "art", "version": "1.0.0", "entry_point": "main.py:execute",
        "description": "Makes artifacts.",
    }, """
        PNG = bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2a1"
            "a3d10000000049454e44ae426082")

        def execute(data, context):
            context.save_artifact("dot.png", PNG, "image/png")
            context.save_artifact("notes.txt", b"hello artifact", "text/plain")
            return {"made": 2}
    """)
    _skill(root, "guide", {
        "id": "guide", "version": "1.0.0", "description": "Instructions only.",
    }, None, {"SKILL.md": """\
        ---
        name: guide
        description: How to greet.
        ---
        # Greeting
        Say hello politely.
        """, "reference/tone.md": "Be kind.\n"})
    _skill(root, "wc", {
        "id": "wc", "version": "1.0.0", "description": "Counts words with a script.",
    }, None, {"SKILL.md": """\
        ---
        name: wc
        description: Count words.
        ---
        Run `python scripts/count.py <file>`; it writes counts.json.
        """, "scripts/count.py": """\
        import json, sys
        words = open(sys.argv[1]).read().split()
        print(len(words))
        with open("counts.json", "w") as fh:
            json.dump({"words": len(words)}, fh)
        """})
    return root
