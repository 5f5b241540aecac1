"""The README's configuration table must name every setting, so it cannot fall behind."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from server.config import ENV_PREFIX, Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def table_rows() -> dict[str, str]:
    """Configuration table rows keyed by their environment variable."""
    rows: dict[str, str] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*`(\w+)`\s*\|\s*`(KELIAN_\w+)`\s*\|", line)
        if match:
            rows[match.group(2)] = match.group(1)
    return rows


def test_every_setting_is_in_the_readme() -> None:
    rows = table_rows()
    for f in dataclasses.fields(Settings):
        env = f"{ENV_PREFIX}{f.name.upper()}"
        assert env in rows, f"README's configuration table lacks {env}"
        assert rows[env] == f.name, f"README names {env} as {rows[env]!r}, not {f.name!r}"


def test_readme_lists_no_unknown_settings() -> None:
    names = {f.name for f in dataclasses.fields(Settings)}
    assert set(table_rows().values()) <= names


def test_quick_start_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
