"""The server's own tools, beside one tool per skill: bundled scripts and their sessions
(so an Agent Skill is usable through MCP alone), start/status/result handles for calls that
outlast a client's 60 s timeout, a catalog search, and artifact reading for hosts that
let only the user read resources."""

from __future__ import annotations

from typing import Any

import mcp_types as types

from skillexec.workspace_files import FILE_SCHEMA

__all__ = ["BUILTINS", "SEARCH", "argument_names", "builtin_tools"]

RUN_SCRIPT, SESSION_CREATE, SESSION_CLOSE = "run_skill_script", "session_create", "session_close"
START, STATUS, RESULT, CANCEL = "skill_start", "skill_status", "skill_result", "skill_cancel"
SEARCH, ARTIFACT = "search_skills", "artifact_read"
BUILTINS = frozenset({RUN_SCRIPT, SESSION_CREATE, SESSION_CLOSE, START, STATUS, RESULT, CANCEL,
                      SEARCH, ARTIFACT})


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required,
            "additionalProperties": False}


_STR = {"type": "string"}
_CALL_ID = {"type": "string", "description": "The call_id skill_start returned."}


def _ann(title: str, *, read_only: bool, destructive: bool = False, idempotent: bool = False,
         ) -> types.ToolAnnotations:
    return types.ToolAnnotations(title=title, read_only_hint=read_only,
                                 destructive_hint=destructive, idempotent_hint=idempotent,
                                 open_world_hint=False)


_TOOLS = [
    types.Tool(
        name=RUN_SCRIPT, title="Run a skill's bundled script",
        description="Run one script bundled with a skill (as its SKILL.md instructions say) "
        "with arguments and input files; returns {exit_code, stdout, stderr}, and files the "
        "script wrote as artifacts. Use a session to keep files between steps.",
        input_schema=_obj({
            "skill": {"type": "string", "description": "The skill id."},
            "script": {"type": "string", "description": "Its path in the skill's folder, "
                       "e.g. scripts/extract.py."},
            "args": {"type": "array", "items": _STR, "description": "Arguments, as given "
                     "(never through a shell)."},
            "files": {"type": "object", "additionalProperties": FILE_SCHEMA, "description":
                      "Input files: relative path -> base64 content, written into the "
                      "workspace before the script starts (or an object: content, "
                      "executable, mtime, an empty folder, a link)."},
            "session": {"type": "string", "description": "A session_create id: the "
                        "workspace persists across calls."},
            "stdin": {"type": "string", "description": "Text the script reads on its "
                      "stdin, as given (not base64)."},
            "env": {"type": "object", "additionalProperties": _STR, "description":
                    "Environment variables the script reads its settings from (not PATH, "
                    "HOME, nor ones that change what a program loads)."},
            "timeout_s": {"type": "number", "exclusiveMinimum": 0}},
            ["skill", "script"]),
        annotations=_ann("Run a skill's bundled script", read_only=False, destructive=False)),
    types.Tool(
        name=SESSION_CREATE, title="Open a script session",
        description="Open a workspace that persists across run_skill_script calls; returns "
        "its id.",
        input_schema=_obj({"ttl_s": {"type": "number", "exclusiveMinimum": 0,
                                     "description": "Seconds after its last use it is "
                                     "removed."}}, []),
        output_schema=_obj({"session": _STR}, ["session"]),
        annotations=_ann("Open a script session", read_only=False)),
    types.Tool(
        name=SESSION_CLOSE, title="Close a script session",
        description="Remove a session and its files.",
        input_schema=_obj({"session": _STR}, ["session"]),
        output_schema=_obj({"closed": {"type": "boolean"}}, ["closed"]),
        annotations=_ann("Close a script session", read_only=False, destructive=True,
                         idempotent=True)),
    types.Tool(
        name=START, title="Start a skill call",
        description="Start a skill without waiting (for long skills): returns a call_id for "
        "skill_status, skill_result and skill_cancel.",
        input_schema=_obj({"skill": {"type": "string", "description": "The skill id (or its "
                                     "tool name)."},
                           "arguments": {"type": "object", "description": "The skill's "
                                         "parameters."}}, ["skill"]),
        output_schema=_obj({"call_id": _STR, "status": _STR}, ["call_id", "status"]),
        annotations=_ann("Start a skill call", read_only=False)),
    types.Tool(
        name=STATUS, title="A skill call's status",
        description="Where a call started with skill_start is: queued, running, or ended.",
        input_schema=_obj({"call_id": _CALL_ID}, ["call_id"]),
        output_schema=_obj({"call_id": _STR, "skill": _STR, "status": _STR,
                            "done": {"type": "boolean"}, "attempts": {"type": "integer"}},
                           ["call_id", "status", "done"]),
        annotations=_ann("A skill call's status", read_only=True, idempotent=True)),
    types.Tool(
        name=RESULT, title="A skill call's result",
        description="The result of a call started with skill_start, waiting up to wait_s "
        "seconds (default 20, at most 50) for it to end; if it has not, says so.",
        input_schema=_obj({"call_id": _CALL_ID,
                           "wait_s": {"type": "number", "minimum": 0, "maximum": 50}},
                          ["call_id"]),
        annotations=_ann("A skill call's result", read_only=True, idempotent=True)),
    types.Tool(
        name=CANCEL, title="Cancel a skill call",
        description="Cancel a call started with skill_start (its process is killed).",
        input_schema=_obj({"call_id": _CALL_ID}, ["call_id"]),
        output_schema=_obj({"cancelled": {"type": "boolean"}}, ["cancelled"]),
        annotations=_ann("Cancel a skill call", read_only=False, destructive=True,
                         idempotent=True)),
    types.Tool(
        name=ARTIFACT, title="Read an artifact",
        description="The content of an artifact a call produced (its id is in the call's "
        "result; the same as reading skillexec://artifacts/{id}). A long one comes in parts "
        "(characters of a text, bytes of a binary file), each saying the offset of the next.",
        input_schema=_obj({
            "artifact_id": _STR,
            "offset": {"type": "integer", "minimum": 0, "description": "Where to start: a "
                       "character of a text, a byte of a binary file (default 0)."},
            "length": {"type": "integer", "minimum": 1, "description": "How many at most "
                       "(default and cap: a text's mcp.max_text_chars, 1 MiB of a binary)."}},
            ["artifact_id"]),
        annotations=_ann("Read an artifact", read_only=True, idempotent=True)),
]

_SEARCH = types.Tool(
    name=SEARCH, title="Search the skills",
    description="Find skills by words of their id, name, description or tags; returns "
    "their tool names (callable even when not listed) and descriptions.",
    input_schema=_obj({"query": {"type": "string", "minLength": 1},
                       "limit": {"type": "integer", "minimum": 1, "maximum": 50}}, ["query"]),
    output_schema=_obj({"matches": {"type": "array", "items": {"type": "object"}}},
                       ["matches"]),
    annotations=_ann("Search the skills", read_only=True, idempotent=True))


def builtin_tools(*, search: bool) -> list[types.Tool]:
    """The server's own tools (``search_skills`` only for a large catalog)."""
    return [*_TOOLS, *([_SEARCH] if search else [])]


_ARGUMENTS = {t.name: tuple(t.input_schema["properties"]) for t in (*_TOOLS, _SEARCH)}


def argument_names(name: str) -> tuple[str, ...]:
    """The arguments the server's tool ``name`` takes, in its schema's order."""
    return _ARGUMENTS[name]
