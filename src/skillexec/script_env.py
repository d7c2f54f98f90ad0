"""Environment variables a caller gives a script call (``run_script(env=...)``,
``skillexec script --env KEY=VALUE``): configuration scripts read from their environment
(richfrem's vault_ops.py reads ``VAULT_PATH``), checked before anything runs.

A caller may run a skill's scripts, never code of its own: so no variable that makes a
program load or run something else (``LD_PRELOAD`` with an uploaded library, ``NODE_OPTIONS
--require``, ``BASH_ENV``, ``PYTHONSTARTUP``, ``GIT_SSH_COMMAND``, a pager or an editor) nor
one the engine sets itself (``HOME``, ``PATH``, ``TMPDIR``, the XDG folders, ``CLAUDE_*``).
The skill's secrets (``[security] skill_secrets``) win over a caller's variable of the same
name. Values are journaled with the call, as its arguments are: secrets belong in
``skill_secrets``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from skillexec.errors import ParameterError

__all__ = ["MAX_VARS", "checked_env"]

MAX_VARS = 64
_MAX_VALUE = 32 * 1024
_MAX_TOTAL = 64 * 1024
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_REFUSED = frozenset({
    "PATH", "HOME", "TMPDIR", "TMP", "TEMP", "PWD", "OLDPWD", "SHELL", "USER", "LOGNAME",
    "IFS", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "CDPATH",
    "GLOBIGNORE", "HISTFILE", "NODE_OPTIONS", "NODE_PATH", "CLASSPATH", "GCONV_PATH",
    "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS", "NLSPATH", "LOCPATH",
    "TZDIR", "EDITOR", "VISUAL", "PAGER", "MANPAGER", "BROWSER", "LESSOPEN", "LESSCLOSE",
    "TERMINFO", "TERMINFO_DIRS", "OPENSSL_CONF", "OPENSSL_ENGINES", "TCLLIBPATH",
    "R_PROFILE", "R_PROFILE_USER", "R_ENVIRON", "R_ENVIRON_USER", "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "MAVEN_OPTS", "GRADLE_OPTS", "SSH_ASKPASS",
    "SUDO_ASKPASS", "GEM_PATH", "GEM_HOME", "BUNDLE_GEMFILE", "COMP_WORDBREAKS",
})
_REFUSED_PREFIXES = ("LD_", "DYLD_", "PYTHON", "PERL", "RUBY", "LUA_", "NODE_", "NPM_",
                     "GIT_", "BASH_FUNC_", "MALLOC_", "XDG_", "CLAUDE_", "SKILLEXEC_", "UV_",
                     "PIP_", "DENO_", "BUN_")


def checked_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """``env`` as a call's variables; ParameterError (``invalid_script_env``) names the
    first one refused and why."""
    if not env:
        return {}
    if not isinstance(env, Mapping):
        raise _bad("env must be a mapping of variable names to text")
    if len(env) > MAX_VARS:
        raise _bad(f"at most {MAX_VARS} environment variables a call (got {len(env)})")
    total = 0
    for name, value in env.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise _bad(f"{name!r} is not an environment variable's name (letters, digits "
                       "and _, not starting with a digit)")
        upper = name.upper()
        if upper in _REFUSED or upper.startswith(_REFUSED_PREFIXES):
            raise _bad(f"{name} may not be set by a call: it changes what a program loads "
                       "or runs, or the engine sets it (a value the skill needs from the "
                       "operator goes in [security] skill_secrets)")
        if not isinstance(value, str):
            raise _bad(f"{name}: its value must be text, not {type(value).__name__}")
        if "\0" in value:
            raise _bad(f"{name}: its value holds a NUL character, which no environment "
                       "can carry")
        if len(value) > _MAX_VALUE:
            raise _bad(f"{name}: its value is longer than {_MAX_VALUE} characters")
        total += len(name) + len(value)
    if total > _MAX_TOTAL:
        raise _bad(f"the call's environment variables hold more than {_MAX_TOTAL} characters")
    return dict(env)


def _bad(message: str) -> ParameterError:
    return ParameterError(message, code="invalid_script_env")
