"""``skills show ID`` for a person: what the skill offers and how it will run, from the
same document ``--json`` prints (one source for both, so they cannot disagree)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from skillexec.cli.safe_text import cell
from skillexec.cli.skills_env_text import declared_in, npm_said, only_npm
from skillexec.units import duration

__all__ = ["print_skill"]

_MAX_SCRIPTS = 20  # named one by one; past it, a count and where to see them all
_MAX_FILES = 8  # a schema folder holds dozens: the first few say what kind they are


def print_skill(console: Console, body: dict[str, Any]) -> None:
    """The summary of ``body`` (the ``skills show --json`` document)."""
    def line(label: str, text: str) -> None:
        console.print(f"[bold]{label:<15}[/bold]{text}", soft_wrap=True, highlight=False)

    title = f"[bold]{cell(body['id'])}[/bold] {cell(body['version'])}"
    if body.get("name") and body["name"] != body["id"]:
        title += f" — {cell(body['name'])}"
    console.print(title, soft_wrap=True, highlight=False)
    if body.get("description"):
        console.print(f"  {cell(body['description'])}", soft_wrap=True, highlight=False)
    line("loaded from", f"{cell(body['path'] or '(a Python function)')} "
         f"({cell(body['source'])})")
    others = [v for v in body.get("versions") or () if v != body["version"]]
    if others:
        line("other versions", cell(", ".join(others)))
    line("offers", cell(body["offers"]))
    entry = cell(body["entry"])
    line("entry", entry if body["runnable"] else f"[dim]{entry}[/dim]")
    scripts = list(body.get("scripts") or ())
    if scripts:
        line("scripts", _listed(scripts, _MAX_SCRIPTS, what="scripts", skill_id=body["id"]))
        console.print(f"  run one: skillexec script {cell(body['id'])} {cell(scripts[0])} "
                      "[ARG]...", soft_wrap=True, highlight=False)
    if body.get("instructions"):
        lines = len(str(body["instructions"]).splitlines())
        line("instructions", f"SKILL.md, {lines} line{'s' if lines != 1 else ''} "
             f"(skillexec skills show {cell(body['id'])} --instructions)")
    resources = [r["path"] for r in body.get("resources") or () if r["path"] not in scripts]
    if resources:
        line("files", _listed(resources, _MAX_FILES, what="files", skill_id=body["id"]))
    if body["runnable"]:
        _parameters(console, body.get("parameters_schema") or {})
    if body["runnable"] or scripts:  # instructions alone run nowhere here
        _execution(line, body["execution"], scripts_only=not body["runnable"])
    env = body["environment"]
    state = cell(env["state"])
    if env.get("reason"):
        state += f": {cell(env['reason'])}"
    # Where its packages were declared: a plugin's skill may take its plugin's.
    source = declared_in(env.get("sources") or (), manifest=body["source"])
    if env.get("requirements"):
        state += f" (requires {cell(', '.join(env['requirements']))}"
        state += f", {source})" if source else ")"
    if env["state"] == "none needed" and env.get("requirements"):
        # It declares packages, and the engine's own environment satisfies them: no
        # environment of its own, which is not "none declared".
        state = (f"none needed: skillexec's own environment provides what it requires "
                 f"({cell(', '.join(env['requirements']))}" + (f", {source})" if source
                                                               else ")"))
    elif only_npm(env):
        state = npm_said(env["npm"])  # a Node skill's packages are npm's, not none
    elif env["state"] == "none needed" and (scripts or body["runnable"]):
        # Only what it declares: its imports are not read here (skills check reads them).
        state = (f"none declared (skillexec skills check {cell(body['id'])} lists what its "
                 "code imports that nothing provides)")
    # Its npm packages, which nothing here installs: its first call fails without them.
    unmet = env.get("npm") is not None and not env["npm"]["installed"]
    line("environment", f"[red]{state}[/red]" if env["state"] == "failed" else
         f"[yellow]{state}[/yellow]" if unmet and only_npm(env) else state)
    if env.get("npm") is not None and not only_npm(env):
        npm = npm_said(env["npm"])
        line("npm packages", f"[yellow]{npm}[/yellow]" if unmet else npm)
    deps = body.get("dependencies_ok")
    line("dependencies", "ok" if deps is True else f"[yellow]{cell(deps)}[/yellow]")
    if body.get("permissions"):
        line("permissions", cell(", ".join(body["permissions"])))
    for warning in body.get("warnings") or ():
        console.print(f"[yellow]warning[/yellow] {cell(warning)}", soft_wrap=True,
                      highlight=False)


def _listed(items: list[str], most: int, *, what: str, skill_id: str) -> str:
    shown = ", ".join(items[:most])
    if len(items) > most:
        shown += (f", and {len(items) - most} more {what} (skillexec skills show "
                  f"{skill_id} --json)")
    return cell(shown)


def _parameters(console: Console, schema: dict[str, Any]) -> None:
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict) or not props:
        console.print(f"[bold]{'parameters':<15}[/bold]none", highlight=False)
        return
    required = set(schema.get("required") or ()) if isinstance(schema, dict) else set()
    console.print("[bold]parameters[/bold]", highlight=False)
    for name, spec in props.items():
        spec = spec if isinstance(spec, dict) else {}
        text = f"  {cell(name)}: {cell(_type(spec))}"
        if name in required:
            text += ", required"
        elif "default" in spec:
            text += f", default {cell(_value(spec['default']))}"
        if spec.get("description"):
            text += f" — {cell(spec['description'])}"
        console.print(text, soft_wrap=True, highlight=False)
    extra = schema.get("additionalProperties", True)
    if extra is False:
        console.print("  (no other parameters)", highlight=False)


def _type(spec: dict[str, Any]) -> str:
    if "enum" in spec and isinstance(spec["enum"], list):
        return "one of " + ", ".join(_value(v) for v in spec["enum"])
    kind = spec.get("type", "any")
    text = " or ".join(map(str, kind)) if isinstance(kind, list) else str(kind)
    items = spec.get("items")
    if text == "array" and isinstance(items, dict) and "type" in items:
        text = f"array of {_type(items)}"
    return text


def _value(value: object) -> str:
    import orjson
    return orjson.dumps(value, default=str).decode()


def _execution(line: Any, ex: dict[str, Any], *, scripts_only: bool) -> None:
    if ex.get("refused"):
        line("runs as", f"[red]refused[/red]: {cell(ex['refused'])}")
        return
    parts = [cell(ex["isolation"]), f"timeout {duration(ex['timeout_s'])}"]
    if not scripts_only:  # a script call is retried only if its manifest says idempotent
        parts.append(f"{ex['max_retries']} retr{'y' if ex['max_retries'] == 1 else 'ies'}")
    if ex.get("memory_mb") is not None:
        parts.append(f"memory {ex['memory_mb']} MB")
    if ex.get("cpu_seconds") is not None:
        parts.append(f"CPU {duration(ex['cpu_seconds'])}")
    text = ", ".join(parts)
    if ex.get("clamped_from"):
        text += cell(f" (the manifest asked {_value(ex['clamped_from'])}; clamped by [limits])")
    line("runs as", text)
