"""Page tests run the whole app on the demo data (sqlite and PostgreSQL, see tests/conftest.py)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.config import Settings
from server.demo import DEMO_SIGN_INS
from server.http import CSRF_COOKIE
from tests.conftest import chromium_path

PASSWORDS = {s.username: s.password for s in DEMO_SIGN_INS}
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings with the demo data loaded at start."""
    return dataclasses.replace(settings, demo=True)


async def csrf(client: TestClient) -> str:
    """The double-submit token: the cookie the first page sets, sent back as the form field."""
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/")).get(CSRF_COOKIE)
    if cookie is None:
        await client.get("/login")
        cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[CSRF_COOKIE]
    return cookie.value


async def post_form(client: TestClient, path: str, data: dict[str, object] | list[tuple[str, str]],
                    **kwargs: object):  # type: ignore[no-untyped-def]
    """POST a form with the CSRF field filled in; redirects are not followed."""
    token = await csrf(client)
    fields = list(data.items()) if isinstance(data, dict) else list(data)
    fields.append(("_csrf", token))
    return await client.post(path, data=fields, allow_redirects=False, **kwargs)


async def sign_in(client: TestClient, username: str, password: str | None = None) -> None:
    """Sign in as `username` (a demo account unless `password` is given), dropping any session."""
    client.session.cookie_jar.clear()
    response = await post_form(client, "/login", {
        "username": username, "password": password or PASSWORDS[username], "next": "/",
    })
    assert response.status == 303, await response.text()


def text_of(html: str) -> str:
    """The visible text of a page, roughly: tags dropped, entities decoded, spaces squeezed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def field_errors(html: str) -> dict[str, str]:
    """The error text shown under each input, by input name."""
    return {m.group(1): unescape(m.group(2)).strip() for m in re.finditer(
        r'<p class="field-error" id="f-([a-z_]+)-error">(.*?)</p>', html, flags=re.S)}


# Headless Chromium with fake camera, microphone and screen, for the live-lesson browser tests.
CHROMIUM_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Playwright's Chromium launcher, for Debian's chromium."""
    chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw.chromium


@pytest.fixture(scope="module")
def browser(chromium: Any) -> Iterator[Any]:
    launched = chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()
