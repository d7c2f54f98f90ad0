"""The ``mcp`` section of the settings tree (defined with the other core sections)."""

from skillexec.config_sections import McpConfig

__all__ = ["McpConfig"]
