"""The MCP server (DESIGN §4.4): skills as tools, Agent Skills as resources and prompts,
served over stdio (``skillexec mcp``) and Streamable HTTP (``/mcp``), both protocol eras.

Absolute imports of ``mcp`` in this package name the SDK, never this package."""

from skillexec.mcp.settings import McpConfig

__all__ = ["McpConfig"]
