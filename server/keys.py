"""Typed application state (aiohttp AppKeys): the composition root fills these once."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .auth.throttle import LoginThrottle
from .cluster.registry import NodeRegistry
from .cluster.routing import Placement
from .cluster.whereabouts import SharedWhereabouts
from .config import Settings
from .i18n import Translator
from .jobs.queue import JobQueue
from .library.storage import LibraryStorage
from .lifecycle.attendance import AttendanceLog
from .lifecycle.clock import Clock
from .lifecycle.scheduler import LessonScheduler
from .live.lessons import LiveLessons

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
THROTTLE = web.AppKey("throttle", LoginThrottle)
TRANSLATOR = web.AppKey("translator", Translator)
DEMO_LOADED = web.AppKey("demo_loaded", bool)  # demo data was loaded at this start
LIVE = web.AppKey("live", LiveLessons)  # the running lessons' Rooms over the media plane
JOBS = web.AppKey("jobs", JobQueue)  # enqueue background jobs (transcoding) from here
LIBRARY = web.AppKey("library", LibraryStorage)  # the lesson library's files
CLOCK = web.AppKey("clock", Clock)  # the lifecycle's clock; tests set one before start-up
ATTENDANCE = web.AppKey("attendance", AttendanceLog)  # who was in each Room, and their links
SCHEDULER = web.AppKey("scheduler", LessonScheduler)  # absent when the setting turns it off
NODE = web.AppKey("node", str)  # this node's name, hostname:port
REGISTRY = web.AppKey("registry", NodeRegistry)  # the Redis node registry; absent without Redis
PLACEMENT = web.AppKey("placement", Placement)  # where lessons' Rooms are; absent without Redis
# Where each lesson's classrooms are, over all nodes; absent without Redis
WHEREABOUTS = web.AppKey("whereabouts", SharedWhereabouts)
