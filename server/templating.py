"""Jinja2 environment and `render()`: every page gets the principal, locale, CSRF token and `_`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from .http import csrf_token, locale, principal
from .i18n import LOCALE_NAMES
from .keys import TRANSLATOR


def setup_templates(app: web.Application, templates_dir: Path) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.globals["LOCALE_NAMES"] = LOCALE_NAMES


def render(request: web.Request, template: str, context: dict[str, Any] | None = None,
           status: int = 200) -> web.Response:
    lang = locale(request)
    translations = request.app[TRANSLATOR].get(lang)
    ctx: dict[str, Any] = {
        "principal": principal(request),
        "locale": lang,
        "csrf_token": csrf_token(request),
        "request": request,
        "_": translations.gettext,
        "gettext": translations.gettext,
        "ngettext": translations.ngettext,
    }
    ctx.update(context or {})
    return aiohttp_jinja2.render_template(template, request, ctx, status=status)


def translate(request: web.Request, message: str) -> str:
    return request.app[TRANSLATOR].gettext(locale(request), message)
