"""The ``skillexec`` command line."""

from skillexec.cli.app import app, main

__all__ = ["app", "main"]
