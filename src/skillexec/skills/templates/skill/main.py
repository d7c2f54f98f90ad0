"""{{name}} ({{id}}): a skillexec skill.

Replace the body of ``execute`` with what the skill does; keep its signature. Check it
with ``skillexec skills validate .`` and try it with
``skillexec run . -p text="hello world"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for type checkers: a skill never needs skillexec at run time
    from skillexec.runtime.context import SkillContext


def execute(input_data: dict[str, Any], context: SkillContext) -> dict[str, Any]:
    """Run the skill once.

    ``input_data`` holds each validated parameter at the top level (here ``text``; defaults
    from ``parameters_schema`` are already filled in), plus ``parameters`` (the same
    parameters as one object) and ``config`` (``default_config`` merged with the caller's).

    ``context`` offers ``task_id``, ``attempt`` (1 on the first try), ``workdir`` (a fresh
    private folder, also the current directory), ``config``, ``deadline``, ``log`` (a
    logger), ``progress(fraction, message)``, ``save_artifact(name, data, mime)`` and
    ``cancelled`` (check it in long loops and stop early when it is true).

    Return the Py Copilot envelope: ``{"success": True, "result": ...}`` on success (the
    ``result`` is checked against ``output_schema``), or ``{"success": False, "error": ...}``
    on failure, with ``"retryable": True`` only when trying again could succeed. Any other
    JSON value is taken as the result itself; an exception is a failure the engine
    classifies.
    """
    text = str(input_data["text"])
    if not text.strip():
        return {
            "success": False,
            "error": "'text' must contain something other than spaces",
            "error_type": "parameter_error",
            "retryable": False,
        }

    context.log.info("{{id}}: %d characters (attempt %d)", len(text), context.attempt)
    context.progress(0.5, "counting")
    result = {
        "length": len(text),
        "words": len(text.split()),
        "upper": text.upper(),
    }
    context.progress(1.0, "done")
    return {
        "success": True,
        "result": result,
        "message": f"{result['words']} word(s)",
        "metadata": {"skill": "{{id}}"},
    }
