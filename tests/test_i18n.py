"""The UI catalogs: every string the pages use has a Chinese translation, and the catalogs parse."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from server.i18n import LOCALES, Translator
from server.pages.messages import translate_message

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "web" / "locale"
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _extract(folder: str, method: str, pattern: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT / folder,
        method_map=[(pattern, method)],
        options_map={pattern: {"extensions": "jinja2.ext.i18n"}},
        keywords=KEYWORDS,
    ):
        assert isinstance(message, str), f"{folder}/{filename}:{lineno}: plural forms are not used"
        found.setdefault(message, f"{folder}/{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def msgids() -> dict[str, str]:
    """Every msgid in server/pages (`_`, `N_`, `gettext`) and in the templates, with a location."""
    found = _extract("server/pages", "python", "**.py")
    found.update(_extract("web/templates", "jinja2.ext:babel_extract", "**.html"))
    assert len(found) > 100
    return found


def _catalog(locale: str) -> Catalog:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale, abort_invalid=True)


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogs_parse(locale: str) -> None:
    catalog = _catalog(locale)
    assert len(catalog) > 100
    assert not any(message.fuzzy for message in catalog if message.id)


def test_every_msgid_has_a_chinese_translation(msgids: dict[str, str]) -> None:
    catalog = _catalog("zh_CN")
    missing = [f"{where}: {msgid!r}" for msgid, where in msgids.items()
               if not (catalog.get(msgid) and catalog.get(msgid).string)]
    assert not missing, "untranslated:\n" + "\n".join(missing)


def test_catalogs_hold_no_stale_messages(msgids: dict[str, str]) -> None:
    for locale in LOCALES:
        stale = [m.id for m in _catalog(locale) if m.id and m.id not in msgids]
        assert not stale, f"{locale} has messages no page uses: {stale}"


def test_english_is_the_source(msgids: dict[str, str]) -> None:
    catalog = _catalog("en")
    for msgid in msgids:
        entry = catalog.get(msgid)
        assert entry is not None, f"en catalog lacks {msgid!r}"
        assert entry.string in ("", msgid)


def test_chinese_keeps_the_placeholders() -> None:
    for message in _catalog("zh_CN"):
        if message.id and isinstance(message.id, str):
            assert sorted(PLACEHOLDER.findall(message.id)) == sorted(
                PLACEHOLDER.findall(message.string)), message.id


def test_chinese_reads_chinese() -> None:
    """Translations are Chinese text (not English copied over), apart from names and codes."""
    allowed_latin = {"RTSP URL", "Copy"}
    for message in _catalog("zh_CN"):
        if message.id and message.id not in allowed_latin:
            assert re.search(r"[\u4e00-\u9fff]", message.string), message.id


def _service_messages() -> list[str]:
    """Literal English messages the services raise: KelianError, FieldError, invalid(), ValueError."""
    messages: list[str] = []
    files = [*sorted((ROOT / "server" / "services").glob("*.py")), ROOT / "server" / "schemas.py"]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            position = {"KelianError": 1, "FieldError": 1, "invalid": 1, "ValueError": 0,
                        "SignInThrottled": 1}.get(name)
            if position is None or len(node.args) <= position:
                continue
            arg = node.args[position]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                messages.append(arg.value)
    return messages


def test_service_messages_are_translated() -> None:
    """Messages pages may show (form errors, error pages) read Chinese, not English."""
    zh = Translator(LOCALE_DIR).get("zh_CN").gettext
    # Filter and paging errors come from API query strings; pages never send those.
    api_only = {"unknown filter", "limit and offset must be integers", "must be 0 or more",
                "The body must be a JSON object", "expected true or false"}
    messages = [m for m in _service_messages() if m not in api_only]
    assert len(messages) > 15
    untranslated = [m for m in messages if translate_message(zh, m) == m]
    assert not untranslated, untranslated
