"""The HTTP service (``skillexec serve``): FastAPI over one engine."""

from skillexec.service.app import create_app

__all__ = ["create_app"]
