"""The JSON API under /api/v1/ (see docs/api.md and GET /api/v1/openapi.json)."""

from aiohttp import web

from . import routes


def setup(app: web.Application) -> None:
    """Register the API routes and build the OpenAPI document from the same table."""
    routes.setup(app)
