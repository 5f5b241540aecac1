"""Server-rendered pages."""

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register the page routes."""
