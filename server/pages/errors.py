"""Error pages: what a person sees when a page fails (the API answers JSON instead)."""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web

from ..errors import ErrorCode, KelianError
from ..http import CSRF, CSRF_COOKIE, PAGE_ERROR_RENDERER
from ..services.signin import SignInThrottled
from .common import N_, login_url, redirect, translator
from .layout import page
from .messages import translate_message

log = logging.getLogger("kelian.pages")

TITLES: dict[int, str] = {
    400: N_("The request was not understood"),
    403: N_("Not allowed"),
    404: N_("Page not found"),
    405: N_("Not possible here"),
    409: N_("This cannot be done now"),
    413: N_("Too much data"),
    415: N_("Unsupported data"),
    422: N_("Please check the input"),
    429: N_("Please wait a moment"),
    500: N_("Something went wrong"),
}

# Shown when the error carries only a bare HTTP reason ("Not Found"), or for internal errors.
EXPLANATIONS: dict[int, str] = {
    400: N_("The page received a request it could not read."),
    403: N_("Your account may not do this. Ask an administrator if you need it."),
    404: N_("The page or record does not exist, or you may not see it."),
    405: N_("This address does not accept that kind of request."),
    413: N_("What was sent is larger than the service accepts."),
    415: N_("What was sent is in a form the service does not accept."),
    429: N_("Too many attempts in a short time. Try again in a few minutes."),
    500: N_("The service ran into an unexpected problem. Try again; if it keeps happening, "
            "tell the administrator."),
}


def _explanation(request: web.Request, err: KelianError) -> str:
    tr = translator(request)
    status = err.status
    bare_reason = err.message in {s.phrase for s in HTTPStatus}
    if err.code is ErrorCode.internal or (bare_reason and status in EXPLANATIONS):
        return tr(EXPLANATIONS.get(status, EXPLANATIONS[500]))
    return translate_message(tr, err.message)


def _reload_url(request: web.Request) -> str:
    """Where "reload the page" goes: the form the failed POST came from, when it has one."""
    if request.method == "GET":
        return request.path_qs
    path = request.path
    for suffix in ("/token", "/revoke"):
        if path.startswith("/admin/") and path.endswith(suffix):
            return path[: -len(suffix)]
    return "/" if path in ("/logout", "/lessons") else path


async def render_error_page(request: web.Request, err: KelianError) -> web.StreamResponse:
    if err.code is ErrorCode.unauthenticated:
        return redirect(login_url(request.path_qs if request.method == "GET" else "/"))
    if CSRF not in request:  # failed before the CSRF middleware ran
        request[CSRF] = request.cookies.get(CSRF_COOKIE, "")
    try:
        tr = translator(request)
        response = page(request, "error.html", {
            "status": err.status,
            "message": _explanation(request, err),
            "is_csrf": err.code is ErrorCode.csrf_failed,
            "reload_url": _reload_url(request),
        }, status=err.status, title=tr(TITLES.get(err.status, TITLES[500])))
    except Exception:  # the error page must not fail in turn
        log.exception("rendering the error page failed")
        response = web.Response(status=err.status, text=f"{err.status} {err.message}")
    if isinstance(err, SignInThrottled):
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def setup(app: web.Application) -> None:
    app[PAGE_ERROR_RENDERER] = render_error_page
