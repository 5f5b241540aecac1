"""Request plumbing shared by pages and API: middlewares, the principal, CSRF, locale, errors."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from .auth.principal import ANONYMOUS, Principal
from .auth.resolve import SESSION_COOKIE, from_bearer, from_session_cookie
from .errors import ErrorCode, KelianError
from .i18n import negotiate
from .keys import SESSIONS, SETTINGS

log = logging.getLogger("kelian.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSRF_COOKIE = "kelian_csrf"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
LANG_COOKIE = "kelian_lang"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# WHIP and WHEP (server/ingest) and the nodes' own requests (server/cluster) read their own
# bearer secrets (a stream key is no API token) and take no cookies, so neither the principal
# nor CSRF applies there.
SELF_AUTHENTICATED = ("/whip/", "/whep/", "/cluster/")

# Typed per-request state (plain string keys warn on aiohttp >= 3.12).
PRINCIPAL = web.RequestKey("kelian.principal", Principal)
LOCALE = web.RequestKey("kelian.locale", str)
CSRF = web.RequestKey("kelian.csrf", str)


def principal(request: web.Request) -> Principal:
    return request.get(PRINCIPAL, ANONYMOUS)


def locale(request: web.Request) -> str:
    return request.get(LOCALE, request.app[SETTINGS].default_locale)


def csrf_token(request: web.Request) -> str:
    return request[CSRF]


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def json_response(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers,
                             dumps=lambda d: json.dumps(d, ensure_ascii=False, default=str))


def error_response(err: KelianError) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="kelian"'} if err.code is ErrorCode.unauthenticated else None
    return json_response(err.to_json(), status=err.status, headers=headers)


_HTTP_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.bad_request,
    401: ErrorCode.unauthenticated,
    403: ErrorCode.forbidden,
    404: ErrorCode.not_found,
    405: ErrorCode.method_not_allowed,
    413: ErrorCode.too_large,
    415: ErrorCode.unsupported_media_type,
}

PageErrorRenderer = Callable[[web.Request, KelianError], Awaitable[web.StreamResponse]]
PAGE_ERROR_RENDERER: web.AppKey[PageErrorRenderer] = web.AppKey("page_error_renderer")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One error shape: JSON `{"error": {...}}` under /api/, a rendered page elsewhere."""
    allow: str | None = None
    try:
        return await handler(request)
    except KelianError as err:
        failure = err
    except web.HTTPException as exc:
        if exc.status < 400 or exc.status not in _HTTP_CODES:
            raise
        message = exc.text if exc.status == 413 and exc.text else exc.reason  # names the limit
        failure = KelianError(_HTTP_CODES[exc.status], message)
        allow = exc.headers.get("Allow")  # a 405 must say which methods the path has
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        failure = KelianError(ErrorCode.internal, "Internal server error")
    if is_api(request) or PAGE_ERROR_RENDERER not in request.app:
        response: web.StreamResponse = error_response(failure)
    else:
        response = await request.app[PAGE_ERROR_RENDERER](request, failure)
    if allow is not None:
        response.headers["Allow"] = allow
    return response


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the principal once: a Bearer token (API, terminals) or the session cookie."""
    if request.path.startswith(SELF_AUTHENTICATED):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    who: Principal = ANONYMOUS
    async with request.app[SESSIONS]() as db:
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise KelianError(ErrorCode.unauthenticated, "Authorization must be 'Bearer <token>'")
            found = await from_bearer(db, token.strip())
            if found is None:
                raise KelianError(ErrorCode.unauthenticated, "Token is unknown, expired or revoked")
            who = found
            await db.commit()  # keeps the terminal's last_seen_at
        elif cookie := request.cookies.get(SESSION_COOKIE):
            who = await from_session_cookie(db, cookie)
    request[PRINCIPAL] = who
    request[LOCALE] = negotiate(request.cookies.get(LANG_COOKIE) or who.locale,
                                request.app[SETTINGS].default_locale)
    return await handler(request)


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Double-submit check for cookie-authenticated writes (and the sign-in form).

    Bearer-token requests carry no ambient credentials and skip it.
    """
    if request.path.startswith(SELF_AUTHENTICATED):
        return await handler(request)
    cookie = request.cookies.get(CSRF_COOKIE)
    request[CSRF] = cookie or secrets.token_urlsafe(24)
    needs_check = request.method in UNSAFE_METHODS and (
        principal(request).via_cookie or not is_api(request)
    ) and "Authorization" not in request.headers
    if needs_check:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.content_type in (
            "application/x-www-form-urlencoded", "multipart/form-data"
        ):
            sent = (await request.post()).get(CSRF_FIELD)  # type: ignore[assignment]
        if not cookie or not isinstance(sent, str) or not secrets.compare_digest(sent, cookie):
            raise KelianError(ErrorCode.csrf_failed,
                              "The form expired or came from another site; reload and try again")
    response = await handler(request)
    if cookie is None and not response.prepared:
        response.set_cookie(CSRF_COOKIE, request[CSRF], httponly=False, samesite="Lax",
                            secure=request.secure, path="/")
    return response


def require_user(request: web.Request) -> Principal:
    who = principal(request)
    if not who.is_authenticated:
        raise KelianError(ErrorCode.unauthenticated, "Sign in first")
    return who


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if not is_api(request):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "connect-src 'self' ws: wss:; frame-ancestors 'none'",
        )
