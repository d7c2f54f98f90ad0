"""skillexec: a skill execution engine for AI assistants."""
