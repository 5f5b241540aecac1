"""`kelian` command: serve, db upgrade, user add, demo, worker, holiday, timetable, failures,
nodes."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ssl
import sys
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

from aiohttp import web
from sqlalchemy import select, true

from .config import ConfigError, Settings, load_settings
from .logs import setup_logging

Command = Callable[[argparse.Namespace, Settings], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kelian", description="Kelian (课联) live lessons")
    parser.add_argument("--config", type=Path, help="TOML settings file (or KELIAN_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--demo", action="store_true", default=None,
                       help="load demo data when the database is empty")
    serve.add_argument("--self-signed", action="store_true",
                       help="serve HTTPS with a self-signed certificate made under DATA_DIR")

    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate the database to the newest schema")

    user = sub.add_parser("user", help="user accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["admin", "teacher", "observer", "inspector"])
    add.add_argument("--name", help="display name (defaults to the username)")
    add.add_argument("--school", help="school name the user belongs to")
    add.add_argument("--county", help="county (for inspectors)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input instead of prompting")

    sub.add_parser("demo", help="load the demo data into an empty database")

    worker = sub.add_parser("worker", help="run background jobs (transcoding) until SIGTERM")
    worker.add_argument("--concurrency", type=int, help="jobs at once (KELIAN_JOBS_CONCURRENCY)")

    holiday = sub.add_parser("holiday", help="days without the usual timetable")
    holiday_sub = holiday.add_subparsers(dest="holiday_command", required=True)
    hadd = holiday_sub.add_parser("add", help="add a holiday or a swapped working day")
    hadd.add_argument("day", type=date.fromisoformat, help="YYYY-MM-DD")
    hadd.add_argument("name")
    scope = hadd.add_mutually_exclusive_group()
    scope.add_argument("--school", help="only this school (by name)")
    scope.add_argument("--county", help="every school of this county")
    hadd.add_argument("--teaches", type=int, choices=range(1, 8), metavar="WEEKDAY",
                      help="a swapped working day (调休) teaching this ISO weekday's timetable")
    holiday_sub.add_parser("list", help="list the holidays from today on")

    timetable = sub.add_parser("timetable", help="the weekly timetable")
    timetable_sub = timetable.add_subparsers(dest="timetable_command", required=True)
    generate = timetable_sub.add_parser(
        "generate", help="make the timetable's lessons from now on (the scheduler does this too)")
    generate.add_argument("--days", type=int, help="how far ahead (KELIAN_TIMETABLE_DAYS)")

    failures = sub.add_parser(
        "failures", help="one day's classrooms that failed to join their lesson, by school")
    failures.add_argument("--day", type=date.fromisoformat,
                          help="YYYY-MM-DD (default: yesterday, in KELIAN_TIME_ZONE)")

    sub.add_parser("nodes", help="the live nodes in the Redis node registry, with their load")
    node = sub.add_parser("node", help="act on one node of the registry")
    node_sub = node.add_subparsers(dest="node_command", required=True)
    drain = node_sub.add_parser(
        "drain", help="the node takes no new rooms or participants (/readyz answers 503) until "
                      "--cancel or its restart")
    drain.add_argument("node_id", nargs="?", default=None,
                       help="hostname:port as `kelian nodes` lists it (default: this machine's "
                            "node on KELIAN_PORT)")
    drain.add_argument("--cancel", action="store_true", help="take work again")
    return parser


def _run(coro: Awaitable[int]) -> int:
    return asyncio.run(coro)  # type: ignore[arg-type]


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .app import create_app
    from .demo import print_demo_sign_ins
    from .keys import DEMO_LOADED

    ssl_context = None
    if args.self_signed and settings.tls_cert is None:
        from .tls import ensure_self_signed

        cert, key = ensure_self_signed(settings.data_dir, settings.host)
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(cert, key)
    elif settings.tls_cert is not None and settings.tls_key is not None:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(settings.tls_cert, settings.tls_key)
    scheme = "https" if ssl_context else "http"
    url = f"{scheme}://{settings.host}:{settings.port}"

    app = create_app(settings)

    def announce(_aiohttp_banner: str) -> None:
        # run_app calls this once the socket is listening.
        print(f"Kelian is serving on {url}", flush=True)
        if app[DEMO_LOADED]:
            print_demo_sign_ins()
        elif settings.demo:
            print("(demo data was loaded on an earlier start; its sign-ins are in the README)")

    # aiohttp's own access log would write query strings (kiosk tokens) and WHIP stream keys;
    # kelian.access logs each request instead, without either.
    web.run_app(app, host=settings.host, port=settings.port, ssl_context=ssl_context,
                print=announce, shutdown_timeout=5, access_log=None)
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from .database import create_engine, upgrade

    async def go() -> int:
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        print("database is at the newest schema")
        return 0

    return _run(go())


def cmd_user(args: argparse.Namespace, settings: Settings) -> int:
    from .auth.secrets import MIN_PASSWORD_LENGTH, hash_password
    from .database import create_engine, session_factory, upgrade
    from .models import Role, School, User

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    if len(password) < MIN_PASSWORD_LENGTH:
        print(f"error: the password needs at least {MIN_PASSWORD_LENGTH} characters",
              file=sys.stderr)
        return 2

    async def go() -> int:
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
            async with session_factory(engine)() as db:
                if await db.scalar(select(User).where(User.username == args.username)):
                    print(f"error: user {args.username!r} exists already", file=sys.stderr)
                    return 2
                school_id = None
                if args.school:
                    school = await db.scalar(select(School).where(School.name == args.school))
                    if school is None:
                        print(f"error: no school named {args.school!r}", file=sys.stderr)
                        return 2
                    school_id = school.id
                db.add(User(username=args.username, display_name=args.name or args.username,
                            role=Role(args.role), password_hash=hash_password(password),
                            school_id=school_id, county=args.county))
                await db.commit()
        finally:
            await engine.dispose()
        print(f"user {args.username} added ({args.role})")
        return 0

    return _run(go())


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from .database import create_engine, session_factory, upgrade
    from .demo import load_demo, print_demo_sign_ins

    async def go() -> int:
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
            async with session_factory(engine)() as db:
                loaded = await load_demo(db, settings)
        finally:
            await engine.dispose()
        if not loaded:
            print("the database has users already; demo data not loaded", file=sys.stderr)
            return 1
        print_demo_sign_ins()
        return 0

    return _run(go())


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from .jobs import job_handlers
    from .jobs.worker import run_worker

    return _run(run_worker(settings, lambda sessions: job_handlers(settings, sessions)))


def cmd_holiday(args: argparse.Namespace, settings: Settings) -> int:
    from .database import create_engine, session_factory, upgrade
    from .models import Holiday, School

    async def go() -> int:
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
            async with session_factory(engine)() as db:
                if args.holiday_command == "list":
                    rows = await db.execute(
                        select(Holiday, School.name).outerjoin(School, Holiday.school_id == School.id)
                        .where(Holiday.day >= date.today()).order_by(Holiday.day, Holiday.id))
                    for holiday, school in rows:
                        scope = school or holiday.county or "everywhere"
                        swap = f" (teaches weekday {holiday.teaches_weekday})" \
                            if holiday.teaches_weekday else ""
                        print(f"{holiday.day}  {holiday.name}  [{scope}]{swap}")
                    return 0
                school_id = None
                if args.school:
                    school_id = await db.scalar(select(School.id).where(School.name == args.school))
                    if school_id is None:
                        print(f"error: no school named {args.school!r}", file=sys.stderr)
                        return 2
                db.add(Holiday(day=args.day, name=args.name, school_id=school_id,
                               county=args.county, teaches_weekday=args.teaches))
                await db.commit()
        finally:
            await engine.dispose()
        print(f"{args.day} {args.name} added; the scheduler applies it within ten minutes")
        return 0

    return _run(go())


def cmd_timetable(args: argparse.Namespace, settings: Settings) -> int:
    from .database import create_engine, session_factory, upgrade
    from .lifecycle.timetable import generate_lessons
    from .models import utcnow

    days = args.days or settings.timetable_days
    if days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return 2

    async def go() -> int:
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
            async with session_factory(engine)() as db:
                now = utcnow()
                made = await generate_lessons(db, now, now + timedelta(days=days))
                await db.commit()
        finally:
            await engine.dispose()
        print(f"{made.created} lesson(s) created, {made.cancelled} cancelled "
              f"for the next {days} days")
        return 0

    return _run(go())


def cmd_failures(args: argparse.Namespace, settings: Settings) -> int:
    """The daily summary as plain text for a cron mail, in the default UI language; exit 0
    also when there were none (the text says so)."""
    from zoneinfo import ZoneInfo

    from .database import create_engine, session_factory, upgrade
    from .i18n import Translator
    from .models import utcnow
    from .pages.failures import day_summary, summary_text

    tz = ZoneInfo(settings.time_zone)
    day = args.day or utcnow().astimezone(tz).date() - timedelta(days=1)
    tr = Translator(settings.web_dir / "locale", settings.default_locale).get(None).gettext

    async def go() -> int:
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
            async with session_factory(engine)() as db:
                summary = await day_summary(db, true(), day, tz)
        finally:
            await engine.dispose()
        sys.stdout.write(summary_text(tr, summary, settings.time_zone))
        return 0

    return _run(go())


def cmd_nodes(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 1 without a Redis setting, 2 when Redis does not answer."""
    import time

    from redis.exceptions import RedisError

    from .cluster.registry import connect, read_nodes

    if not settings.redis_url:
        print("error: Redis is not configured (KELIAN_REDIS_URL); this node is alone",
              file=sys.stderr)
        return 1

    async def go() -> int:
        redis = connect(settings.redis_url)
        try:
            nodes = await read_nodes(redis, settings.redis_prefix)
        except (RedisError, OSError) as exc:
            print(f"error: Redis at {settings.redis_url} is unreachable: {exc}", file=sys.stderr)
            return 2
        finally:
            await redis.aclose()
        if not nodes:
            print("no live nodes")
            return 0
        rows = [("node", "url", "cpu", "rooms", "participants", "packets/s", "seen", "draining")]
        now = time.time()
        rows += [(n.node_id, n.url, f"{n.cpu * 100:.0f}%", str(n.rooms), str(n.participants),
                  f"{n.packets_per_s:.0f}", f"{max(now - n.seen_at, 0):.0f}s ago",
                  "yes" if n.draining else "no") for n in nodes]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        return 0

    return _run(go())


def cmd_node(args: argparse.Namespace, settings: Settings) -> int:
    """`kelian node drain`: exit 1 without a Redis setting, 2 when Redis does not answer."""
    import socket

    from redis.exceptions import RedisError

    from .cluster.registry import connect, request_drain

    if not settings.redis_url:
        print("error: Redis is not configured (KELIAN_REDIS_URL); a lone node is drained by "
              "stopping it", file=sys.stderr)
        return 1
    node_id = args.node_id or f"{socket.gethostname()}:{settings.port}"

    async def go() -> int:
        redis = connect(settings.redis_url)
        try:
            await request_drain(redis, node_id, drain=not args.cancel,
                                prefix=settings.redis_prefix)
        except (RedisError, OSError) as exc:
            print(f"error: Redis at {settings.redis_url} is unreachable: {exc}", file=sys.stderr)
            return 2
        finally:
            await redis.aclose()
        print(f"node {node_id}: " + ("takes work again" if args.cancel else
                                      "drains at its next heartbeat (within 5 s)"))
        return 0

    return _run(go())


COMMANDS: dict[str, Command] = {"serve": cmd_serve, "db": cmd_db, "user": cmd_user,
                                "demo": cmd_demo, "worker": cmd_worker, "holiday": cmd_holiday,
                                "timetable": cmd_timetable, "failures": cmd_failures,
                                "nodes": cmd_nodes, "node": cmd_node}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {}
    if args.command == "serve":
        overrides = {"host": args.host, "port": args.port, "demo": args.demo}
    elif args.command == "worker":
        overrides = {"jobs_concurrency": args.concurrency}
    try:
        settings = load_settings(config_file=args.config, overrides=overrides)
    except ConfigError as exc:
        print(f"kelian: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings)
    return COMMANDS[args.command](args, settings)


if __name__ == "__main__":
    sys.exit(main())
