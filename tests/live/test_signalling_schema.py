"""The signalling schema: the committed JSON Schema is the generated one, the docs name every
message type and code, and the dispatch table handles every client message."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest

from server.signalling.codes import CloseCode, LeaveReason, NoticeCode, SignalErrorCode
from server.signalling.handlers import HANDLERS
from server.signalling.schema import CLIENT_TYPES, SERVER_TYPES, json_schema

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_committed_json_schema_is_generated_from_the_models() -> None:
    committed = json.loads((DOCS / "signalling.schema.json").read_text(encoding="utf-8"))
    assert committed == json_schema(), \
        "run: python -m server.signalling.schema > docs/signalling.schema.json"


def test_the_json_schema_is_valid_and_accepts_the_messages_the_docs_show() -> None:
    schema = json_schema()
    assert jsonschema_rs.meta.is_valid(schema)
    validator = jsonschema_rs.Draft202012Validator(schema)
    good = [
        {"v": 1, "type": "auth", "token": "kt_x"},
        {"v": 1, "type": "join", "id": 2, "lesson_id": 42},
        {"v": 1, "type": "publish", "id": "a", "sdp": "v=0", "sources": {"0": "camera"}},
        {"v": 1, "type": "ok", "id": 3, "sdp": "v=0"},
        {"v": 1, "type": "error", "id": None, "code": "forbidden", "message": "no"},
        {"v": 1, "type": "event.floor.changed", "participant_id": None},
    ]
    bad = [
        {"v": 2, "type": "ping"},
        {"v": 1, "type": "nope"},
        {"v": 1, "type": "join"},
        {"v": 1, "type": "publish", "sdp": "v=0", "sources": {"0": "hologram"}},
        {"v": 1, "type": "chat.send", "text": "x" * 501},
        {"v": 1, "type": "ping", "extra": True},
    ]
    assert [validator.is_valid(m) for m in good] == [True] * len(good)
    assert [validator.is_valid(m) for m in bad] == [False] * len(bad)


def test_one_handler_per_client_message_type() -> None:
    assert list(HANDLERS) == CLIENT_TYPES
    assert len(set(CLIENT_TYPES) | set(SERVER_TYPES)) == len(CLIENT_TYPES) + len(SERVER_TYPES)
    assert all(t.startswith("event.") for t in SERVER_TYPES if t not in ("ok", "error"))


@pytest.mark.parametrize("name", [*CLIENT_TYPES, *SERVER_TYPES])
def test_the_docs_name_every_message_type(name: str) -> None:
    assert f"`{name}`" in (DOCS / "signalling.md").read_text(encoding="utf-8")


def test_the_docs_name_every_code_and_reason() -> None:
    text = (DOCS / "signalling.md").read_text(encoding="utf-8")
    names = [*SignalErrorCode, *LeaveReason, *NoticeCode]
    assert [n.value for n in names if f"`{n.value}`" not in text] == []
    assert [c for c in CloseCode if f"`{int(c)}`" not in text or f"`{c.name}`" not in text] == []
