"""The ``mcp`` section of the settings tree."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["McpConfig"]


class McpConfig(BaseModel):
    """What the MCP server publishes and how it answers."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    include: tuple[str, ...] = Field(default=(), description="Skill id globs published as "
                                     "tools (empty: every skill).")
    exclude: tuple[str, ...] = Field(default=(), description="Skill id globs never published.")
    tool_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,16}$",
                             description="Put before every skill's tool name.")
    search_threshold: int = Field(default=64, ge=1, description="More skills than this: a "
                                  "search_skills tool is listed too.")
    max_text_chars: int = Field(default=20_000, ge=200, description="A result's text "
                                "rendering is cut past this (with a note).")
    inline_image_max_bytes: int = Field(default=256 << 10, ge=0, description="Image "
                                        "artifacts up to this size also go inline.")
    heartbeat_s: float = Field(default=10.0, gt=0, description="A progress notification at "
                               "least this often while a call with a progress token runs.")
