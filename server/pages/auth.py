"""Signing in and out, and choosing the language."""

from __future__ import annotations

from aiohttp import web

from ..audit import AuditTag, record
from ..auth.resolve import SESSION_COOKIE, end_session, start_session
from ..errors import ErrorCode, KelianError
from ..http import LANG_COOKIE, principal
from ..i18n import LOCALES
from ..keys import SESSIONS, SETTINGS, THROTTLE
from ..services.signin import SignInThrottled, authenticate
from .common import N_, redirect, safe_next, see_other, translator
from .layout import page
from .messages import translate_message

LANG_COOKIE_DAYS = 365


def _secure(request: web.Request) -> bool:
    """Cookies are Secure when this request, or the public URL behind a proxy, is HTTPS."""
    return request.secure or request.app[SETTINGS].public_url.startswith("https://")


def _login_page(request: web.Request, next_path: str, username: str = "",
                error: str | None = None, status: int = 200) -> web.Response:
    return page(request, "login.html", {
        "next": next_path, "username": username, "error": error,
    }, status=status, title=translator(request)(N_("Sign in")))


async def login_form(request: web.Request) -> web.StreamResponse:
    next_path = safe_next(request.query.get("next"))
    if principal(request).is_authenticated:
        return redirect(next_path)
    return _login_page(request, next_path)


async def login(request: web.Request) -> web.StreamResponse:
    post = await request.post()
    username = post.get("username", "")
    password = post.get("password", "")
    raw_next = post.get("next", "")
    username = username if isinstance(username, str) else ""
    password = password if isinstance(password, str) else ""
    next_path = safe_next(raw_next if isinstance(raw_next, str) else None)
    address = request.remote or "unknown"
    tr = translator(request)
    async with request.app[SESSIONS]() as db:
        try:
            user = await authenticate(db, request.app[THROTTLE], username, password, address)
        except SignInThrottled as err:
            response = _login_page(request, next_path, username,
                                   translate_message(tr, err.message), status=err.status)
            response.headers["Retry-After"] = str(err.retry_after)
            return response
        except KelianError as err:
            if err.code is not ErrorCode.unauthenticated:
                raise
            return _login_page(request, next_path, username, translate_message(tr, err.message),
                               status=err.status)
        token = await start_session(db, user, request.app[SETTINGS].session_hours)
        await db.commit()
    response = see_other(next_path)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Lax",
                        secure=_secure(request), path="/",
                        max_age=request.app[SETTINGS].session_hours * 3600)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE)
    who = principal(request)
    if token:
        async with request.app[SESSIONS]() as db:
            await end_session(db, token)
            if who.is_authenticated:
                record(db, AuditTag.sign_out, who, who.audit_name)
            await db.commit()
    response = see_other("/login?notice=signed_out")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def choose_language(request: web.Request) -> web.StreamResponse:
    """Remembers the language in a cookie (for everyone, signed in or not) and goes back."""
    code = request.match_info["code"]
    if code not in LOCALES:
        raise KelianError(ErrorCode.not_found, "Not Found")
    response = redirect(safe_next(request.query.get("next")))
    response.set_cookie(LANG_COOKIE, code, max_age=LANG_COOKIE_DAYS * 86400, samesite="Lax",
                        secure=_secure(request), path="/")
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/lang/{code}", choose_language)
