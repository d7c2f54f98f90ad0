"""How a user sets a setting, as an error that names one says it: a refusal that names
``limits.max_param_bytes`` alone left the user to find where that is set."""

from __future__ import annotations

__all__ = ["where_set"]


def where_set(section: str, key: str) -> str:
    """``section.key``'s line in skillexec.toml and its environment variable, as a phrase
    (``[limits] max_param_bytes in skillexec.toml, or SKILLEXEC_LIMITS__MAX_PARAM_BYTES``)."""
    return (f"[{section}] {key} in skillexec.toml, or "
            f"SKILLEXEC_{section.upper()}__{key.upper()}")
