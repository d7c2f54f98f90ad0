"""The output filter: what a task hands back has its secrets masked before anyone sees it.

Applied to each attempt's outcome (its output, after the output_schema check; its error's
message, details and traceback) and to its progress messages, then once more to an error
that ends a task without an attempt (a refusal may quote the parameters). Masked: the exact
values of the call's secret parameters and config keys (names that say secret, password,
token, ... or configured as sensitive) and of the secrets the engine hands the skill
(``[security] skill_secrets``), and every credential shape that
:mod:`skillexec.security.redaction` knows. The operator, never a manifest, may exempt a
skill (``[security] redact_exempt_skills``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from skillexec.errors import ErrorInfo
from skillexec.monitoring.logs import secret_values
from skillexec.runtime.runners.base import Outcome
from skillexec.scripts import base_id
from skillexec.security.redaction import mask, mask_value
from skillexec.task import ExecutionTask

__all__ = ["UNMASKED", "OutputFilter"]

Progress = Callable[[float, str], None]
UNMASKED = (type(None), bool, int, float)  # outputs with no text to mask


class OutputFilter:
    def __init__(self, *, enabled: bool, exempt: Iterable[str] = (),
                 sensitive: Iterable[str] = (),
                 handed: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.enabled = enabled
        # skill id -> the secrets the engine hands it ([security] skill_secrets)
        self.handed = {k: tuple(v for v in values.values() if v)
                       for k, values in (handed or {}).items()}
        self.exempt = frozenset(exempt)
        self.sensitive = frozenset(s.lower() for s in sensitive)
        self._names: dict[str, bool] = {}  # parameter name -> names a secret

    def applies(self, task: ExecutionTask) -> bool:
        return self.enabled and task.request.skill_id not in self.exempt

    def secrets(self, task: ExecutionTask) -> tuple[str, ...]:
        """The call's own secret values, longest first (a value inside another one is
        masked as part of it)."""
        found = self._values(task.params)
        config = task.request.config
        if config:
            found += self._values(config)
        if self.handed:
            handed = self.handed.get(task.request.skill_id)
            if handed is None and task.skill is not None:  # a script: its skill's
                handed = self.handed.get(base_id(task.skill))
            found += handed or ()
        if len(found) < 2:
            return tuple(found)
        return tuple(sorted(set(found), key=len, reverse=True))

    def _values(self, mapping: Mapping[str, Any]) -> list[str]:
        """The values (4+ characters) under keys that name a secret or are sensitive."""
        out: list[str] = []
        names = self._names
        for key, value in mapping.items():
            if not isinstance(value, str | int) or isinstance(value, bool):
                continue
            hit = names.get(key)
            if hit is None:  # keys come from skills' schemas: few; bounded anyway
                hit = bool(secret_values({key: "xxxx"}, self.sensitive))
                if len(names) < 4096:
                    names[key] = hit
            if hit and len(text := str(value)) >= 4:
                out.append(text)
        return out

    def outcome(self, task: ExecutionTask, outcome: Outcome) -> Outcome:
        if not self.applies(task):
            return outcome
        if outcome.error is None and isinstance(outcome.output, UNMASKED):
            return outcome  # nothing to mask, and no secret to look up (the hot path)
        exact = self.secrets(task)
        if outcome.error is not None:
            error = self.error(outcome.error, exact)
            tb = outcome.traceback
            if error is not outcome.error or (tb and mask(tb, exact) != tb):
                return dataclasses.replace(outcome, error=error, metrics=_masked(outcome),
                                           traceback=mask(tb, exact) if tb else tb)
            return outcome
        output, changed = mask_value(outcome.output, exact)
        if not changed:
            return outcome
        return dataclasses.replace(outcome, output=output, metrics=_masked(outcome),
                                   output_json=orjson.dumps(output, default=str))

    def error(self, error: ErrorInfo, exact: tuple[str, ...]) -> ErrorInfo:
        message = mask(error.message, exact)
        details, changed = mask_value(error.details, exact) if error.details else ({}, False)
        if message == error.message and not changed:
            return error
        return dataclasses.replace(error, message=message,
                                   details=dict(details) if changed else error.details)

    def final_error(self, task: ExecutionTask, outcome: Outcome) -> Outcome:
        """An ending error's text masked (one that no attempt made passes here first)."""
        if outcome.error is None or not self.applies(task):
            return outcome
        error = self.error(outcome.error, self.secrets(task))
        return outcome if error is outcome.error else dataclasses.replace(outcome, error=error)

    def progress(self, task: ExecutionTask, sink: Progress | None) -> Progress | None:
        if sink is None or not self.applies(task):
            return sink
        exact: list[tuple[str, ...]] = []  # looked up at the first message: most send none

        def filtered(fraction: float, message: str) -> None:
            if message:
                if not exact:
                    exact.append(self.secrets(task))
                message = mask(message, exact[0])
            sink(fraction, message)
        return filtered


def _masked(outcome: Outcome) -> dict[str, float | int | None]:
    """Its metrics, saying the filter masked something (a secret scanner's findings came
    back as ``[REDACTED:github_token]``, and nothing told its user why)."""
    return {**outcome.metrics, "output_masked": 1}
