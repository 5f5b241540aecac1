"""The JSON API under /api/v1/."""

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register the API routes (filled in by server/api/routes.py)."""
