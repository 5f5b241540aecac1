"""The frame around every page: navigation by role, the user box, the language switch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from ..http import principal
from ..i18n import LOCALE_NAMES, LOCALES
from ..models import Role
from ..templating import render
from .common import N_, notice, translator
from .kinds import nav_for
from .labels import ROLES


@dataclass(frozen=True)
class NavItem:
    url: str
    label: str
    current: bool


def _nav(request: web.Request) -> list[NavItem]:
    who = principal(request)
    if who.role is None:
        return []
    tr = translator(request)
    path = request.path
    items = [NavItem("/", tr(N_("Today")), path == "/"),
             NavItem("/library", tr(N_("Library")), path == "/library" or path.startswith("/library/"))]
    if who.has_role(Role.admin, Role.inspector):
        items.append(NavItem("/oversight", tr(N_("Usage overview")), path == "/oversight"))
    for kind in nav_for(who):
        url = f"/admin/{kind.slug}"
        items.append(NavItem(url, tr(kind.title), path == url or path.startswith(url + "/")))
    return items


def page(request: web.Request, template: str, context: dict[str, Any] | None = None,
         status: int = 200, title: str = "") -> web.Response:
    """Render `template` inside the layout; `title` is the already-translated page title."""
    who = principal(request)
    back = quote(request.path_qs if request.method == "GET" else request.path, safe="")
    ctx: dict[str, Any] = {
        "title": title,
        "nav": _nav(request),
        "role_label": translator(request)(ROLES[who.role]) if who.role else "",
        "languages": [(code, LOCALE_NAMES[code], f"/lang/{code}?next={back}") for code in LOCALES],
        "notice": notice(request),
    }
    ctx.update(context or {})
    response = render(request, template, ctx, status=status)
    response.headers.setdefault("Cache-Control", "no-store")
    return response
