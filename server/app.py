"""The composition root: `create_app(settings)` picks every concrete part once."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable, Mapping

import aiohttp_jinja2
from aiohttp import web

from . import api, health, ingest, metrics, pages, signalling
from .auth.throttle import MemoryLoginThrottle
from .cluster import cascade
from .config import Settings
from .database import create_engine, session_factory, upgrade
from .http import auth_middleware, csrf_middleware, error_middleware, security_headers
from .i18n import Translator
from .jobs import Handler, JobQueue, JobRunner, job_handlers, open_notifier
from .keys import (
    ATTENDANCE,
    CLOCK,
    DEMO_LOADED,
    ENGINE,
    JOBS,
    LIBRARY,
    LIVE,
    NODE,
    PLACEMENT,
    REGISTRY,
    SCHEDULER,
    SESSIONS,
    SETTINGS,
    THROTTLE,
    TRANSLATOR,
    WHEREABOUTS,
)
from .library.recordings import DatabaseRecordings, recover_interrupted
from .library.storage import LibraryStorage
from .lifecycle.attendance import AttendanceLog
from .lifecycle.scheduler import LessonScheduler, SchedulePolicy
from .live.lessons import LiveLessons
from .logs import access_middleware
from .models import utcnow
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

    settings = app[SETTINGS]
    # This node's name: a restarted service finds the Recordings its predecessor left open.
    node = f"{socket.gethostname()}:{settings.port}"
    app[NODE] = node  # also this node's id in the registry (_cluster)
    recordings = DatabaseRecordings(app[SESSIONS], app[LIBRARY], node)
    recovered = await recover_interrupted(app[SESSIONS], app[LIBRARY], node)
    if recovered:
        log.warning("%d recording(s) cut off by the last stop were recovered", recovered)
    attendance = AttendanceLog(app[SESSIONS], app.get(CLOCK, utcnow),
                               sample_s=settings.link_sample_s)
    app[ATTENDANCE] = attendance
    app[LIVE] = LiveLessons(RelayService(), recordings, attendance)
    attendance.watch(app[LIVE].rooms)
    await attendance.start()
    yield
    await app[LIVE].close()  # after on_shutdown closed the sockets with GOING_AWAY
    await attendance.close()  # the leaves of the closing Rooms included
    await recordings.close()


async def _cluster(app: web.Application) -> AsyncIterator[None]:
    """With a Redis configured: this node's heartbeat in the node registry, the placement of
    lessons' Rooms across the nodes, the commands the nodes send each other, and draining."""
    from aiohttp import ClientSession

    from .cluster import NodeRegistry, node_url, usage_of
    from .cluster.commands import NodeCommands
    from .cluster.drain import drain_node, keep_placement, obey
    from .cluster.routing import Placement
    from .cluster.whereabouts import SharedWhereabouts

    settings = app[SETTINGS]
    if not settings.redis_url:
        yield
        return
    tasks: set[asyncio.Task[None]] = set()

    def drained(draining: bool) -> None:
        app[health.DRAINING].draining = draining  # /readyz answers 503 meanwhile
        if draining:  # the Rooms and sockets go to other nodes
            task = asyncio.create_task(drain_node(app))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    registry = NodeRegistry(settings.redis_url, app[NODE], node_url(settings),
                            lambda: usage_of(app[LIVE].rooms()), on_drain=drained,
                            interval_s=settings.node_heartbeat_s, ttl_s=settings.node_ttl_s,
                            prefix=settings.redis_prefix)
    commands = NodeCommands(settings.redis_url, app[NODE], lambda command: obey(app, command),
                            prefix=settings.redis_prefix)
    whereabouts = SharedWhereabouts(settings.redis_url, app[NODE], ttl_s=settings.node_ttl_s,
                                    prefix=settings.redis_prefix)
    async with ClientSession() as http:
        placement = Placement(registry, commands, http, settings.room_max_receivers)
        app[REGISTRY] = registry
        app[PLACEMENT] = placement
        app[cascade.EDGES] = edges = cascade.Edges(app, placement)
        await registry.start()
        await commands.start()
        app[LIVE].elsewhere = placement
        app[WHEREABOUTS] = whereabouts
        tasks.add(asyncio.create_task(keep_placement(app, settings.node_heartbeat_s)))
        tasks.add(asyncio.create_task(whereabouts.run(app[LIVE].rooms,
                                                      settings.node_heartbeat_s)))
        yield
        app[LIVE].elsewhere = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await edges.close()
        await whereabouts.close()
        await commands.close()
        await registry.stop()


async def _hand_over(app: web.Application) -> None:
    from .cluster.drain import hand_over

    await hand_over(app)


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    """The lesson scheduler (server/lifecycle/scheduler.py), unless turned off."""
    settings = app[SETTINGS]
    if not settings.scheduler:
        yield
        return
    scheduler = LessonScheduler(app[SESSIONS], app[LIVE], SchedulePolicy.from_settings(settings),
                                app.get(CLOCK, utcnow), settings.scheduler_interval_s)
    app[SCHEDULER] = scheduler
    await scheduler.start()
    yield
    await scheduler.stop()  # before the Rooms close


def _jobs(kinds: Mapping[str, Handler] | None
          ) -> Callable[[web.Application], AsyncIterator[None]]:
    """The job queue (app[JOBS]) and, unless turned off, a runner for it in this process."""

    async def jobs(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        handlers = job_handlers(settings, app[SESSIONS]) if kinds is None else kinds
        notifier = open_notifier(settings.redis_url)
        app[JOBS] = JobQueue(app[SESSIONS], notifier)
        runner = None
        if settings.jobs_in_process and handlers:
            runner = JobRunner(app[SESSIONS], handlers, concurrency=settings.jobs_concurrency,
                               notifier=notifier)
            await runner.start()
        yield
        if runner is not None:
            await runner.stop()  # before the database goes: running jobs are handed back
        await notifier.close()

    return jobs


def create_app(settings: Settings,
               job_kinds: Mapping[str, Handler] | None = None) -> web.Application:
    """`job_kinds` replaces the registered job handlers (tests run their own)."""
    app = web.Application(
        client_max_size=settings.max_body_kb * 1024,
        # Outermost, so the access line has the status the client got.
        middlewares=[access_middleware]
        + [error_middleware, auth_middleware, csrf_middleware],
    )
    app[SETTINGS] = settings
    app[THROTTLE] = MemoryLoginThrottle(settings.login_attempts, settings.login_window_s)
    app[TRANSLATOR] = Translator(settings.web_dir / "locale", settings.default_locale)
    app[LIBRARY] = LibraryStorage(settings.effective_library_dir)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_media)
    app.cleanup_ctx.append(_cluster)
    app.cleanup_ctx.append(_scheduler)
    app.cleanup_ctx.append(_jobs(job_kinds))
    # Before the sockets close (signalling's own on_shutdown): with another node alive, a
    # stopping node hands its lessons over to it, as a drain does.
    app.on_shutdown.append(_hand_over)
    app.on_response_prepare.append(security_headers)
    setup_templates(app, settings.web_dir / "templates")
    app.router.add_static("/static/", settings.web_dir / "static", name="static")
    api.setup(app)
    pages.setup(app)
    signalling.setup(app)
    ingest.setup(app)  # WHIP and WHEP
    metrics.setup(app)
    health.setup(app)  # /healthz, /readyz
    cascade.setup(app)  # nodes pulling broadcasts from each other (with Redis)
    assert aiohttp_jinja2.get_env(app) is not None
    return app
