"""What a bad setting is said as: one ConfigError naming each setting that is wrong, where
it was given, and its former flat name if it has one, never echoing a secret (a URL's
password, a section that may hold a token, an environment variable that is not JSON)."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from skillexec.errors import ConfigError

__all__ = ["config_error"]


def config_error(exc: ValueError | OSError, *,
                 formerly: Mapping[tuple[str, ...], str]) -> ConfigError:
    """The ConfigError for what building the settings raised. ``formerly``: (section, key)
    -> the flat name it had in earlier releases."""
    if isinstance(exc, ValidationError):
        problems = []
        for err in exc.errors():
            if err["loc"]:
                where = ".".join(str(p) for p in err["loc"])
                former = formerly.get(tuple(map(str, err["loc"][:2])))
                if former is not None:
                    where += f" (formerly {former})"
                msg = str(err["msg"]).removeprefix("Value error, ")
                given = err.get("input")
                # A whole section is not echoed: it may hold a secret (a webhook URL's token)
                # beside the key that is wrong, and the message names that key already.
                shown = "" if isinstance(given, Mapping) else f" (got {_without_secret(given)!r})"
                problems.append(f"{where}: {msg}{shown}")
            else:  # a check across settings: its message names the setting
                problems.append(str(err["msg"]).removeprefix("Value error, "))
        return ConfigError("invalid setting " + "; ".join(problems),
                           details={"errors": problems})
    if isinstance(exc, tomllib.TOMLDecodeError | UnicodeDecodeError | OSError):
        # Which file: the working directory's, or SKILLEXEC_CONFIG's.
        where = os.environ.get("SKILLEXEC_CONFIG") or "skillexec.toml"
        return ConfigError(f"cannot read the configuration file {where}: {exc}")
    return ConfigError(_not_json(str(exc)) or f"cannot read the configuration: {exc}")


def _without_secret(given: Any) -> Any:
    """An input echoed in an error: a URL's password is not (journal_url, ...)."""
    from skillexec.storage.url import redacted
    return redacted(given) if isinstance(given, str) else given



def _not_json(message: str) -> str | None:
    """pydantic-settings' 'error parsing value for field "service" from source
    "EnvSettingsSource"' said as the variable that holds no JSON (its value is not echoed:
    it may hold a secret)."""
    found = re.search(r'field "(\w+)" from source "EnvSettingsSource"', message)
    if found is None:
        return None
    name = f"SKILLEXEC_{found.group(1)}".upper()
    bad = []
    for key, value in sorted(os.environ.items()):
        if key.upper() == name or key.upper().startswith(name + "__"):
            try:
                json.loads(value)
            except ValueError:
                bad.append(key)
    if not bad:
        return None
    # A plain string beside it (SKILLEXEC_ISOLATION__DEFAULT_LEVEL=sandbox) is no JSON
    # either but was not the problem: one that opens a list or table was.
    bad = [key for key in bad if os.environ[key].lstrip()[:1] in ("[", "{")] or bad
    return (f"{' or '.join(bad)} is not valid JSON: a list or table setting is written as JSON "
            """(e.g. '["a", "b"]' or '{"key": 1}')""")
