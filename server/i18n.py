"""UI languages: gettext catalogs (web/locale/<lang>/LC_MESSAGES/messages.po), read at start.

Source strings are English; zh_CN is the default UI language. Catalogs are compiled in memory
with Babel, so no binary .mo files live in the repository.
"""

from __future__ import annotations

import io
from gettext import GNUTranslations, NullTranslations
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("zh_CN", "en")
LOCALE_NAMES = {"zh_CN": "简体中文", "en": "English"}


def _compile(po_path: Path, locale: str) -> GNUTranslations:
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return GNUTranslations(buf)


class Translator:
    """Holds one gettext translation per locale."""

    def __init__(self, locale_dir: Path, default: str = "zh_CN"):
        self.default = default
        self._by_locale: dict[str, NullTranslations] = {}
        for locale in LOCALES:
            po = locale_dir / locale / "LC_MESSAGES" / "messages.po"
            self._by_locale[locale] = _compile(po, locale) if po.is_file() else NullTranslations()

    def get(self, locale: str | None) -> NullTranslations:
        return self._by_locale.get(locale or self.default, self._by_locale[self.default])

    def gettext(self, locale: str | None, message: str) -> str:
        return self.get(locale).gettext(message)


def negotiate(choice: str | None, default: str) -> str:
    """The chosen locale (cookie or account) wins, else the configured default (zh_CN).

    Accept-Language is ignored on purpose: classroom machines often run English browsers,
    and the programme's users read Chinese.
    """
    return choice if choice in LOCALES else default
