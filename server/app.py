"""The composition root: `create_app(settings)` picks every concrete part once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp_jinja2
from aiohttp import web

from . import api, pages, signalling
from .auth.throttle import MemoryLoginThrottle
from .config import Settings
from .database import create_engine, session_factory, upgrade
from .http import auth_middleware, csrf_middleware, error_middleware, security_headers
from .i18n import Translator
from .keys import DEMO_LOADED, ENGINE, LIVE, SESSIONS, SETTINGS, THROTTLE, TRANSLATOR
from .live.lessons import LiveLessons
from .templating import setup_templates

log = logging.getLogger("kelian.app")


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(settings.effective_database_url)
    await upgrade(engine)
    app[ENGINE] = engine
    app[SESSIONS] = session_factory(engine)
    app[DEMO_LOADED] = False
    if settings.demo:
        from .demo import load_demo

        async with app[SESSIONS]() as db:
            app[DEMO_LOADED] = await load_demo(db, settings)
        if app[DEMO_LOADED]:
            log.info("demo data loaded")
    yield
    await engine.dispose()


async def _media(app: web.Application) -> AsyncIterator[None]:
    """The media plane of this node (the relay) and the running lessons' Rooms on it."""
    from media.relay.room import RelayService  # only the composition root names the relay

    app[LIVE] = LiveLessons(RelayService())
    yield
    await app[LIVE].close()  # after on_shutdown closed the sockets with GOING_AWAY


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_kb * 1024,
        middlewares=[error_middleware, auth_middleware, csrf_middleware],
    )
    app[SETTINGS] = settings
    app[THROTTLE] = MemoryLoginThrottle(settings.login_attempts, settings.login_window_s)
    app[TRANSLATOR] = Translator(settings.web_dir / "locale", settings.default_locale)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_media)
    app.on_response_prepare.append(security_headers)
    setup_templates(app, settings.web_dir / "templates")
    app.router.add_static("/static/", settings.web_dir / "static", name="static")
    api.setup(app)
    pages.setup(app)
    signalling.setup(app)
    assert aiohttp_jinja2.get_env(app) is not None
    return app
