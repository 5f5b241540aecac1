"""/me, personal API tokens and terminal tokens: shown once, stored hashed, revocable, audited."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.secrets import token_hash
from server.models import ApiToken, AuditEvent, utcnow

from .conftest import Api, fresh
from .world import COUNTY_A, World


async def test_me_describes_each_principal(api: Api, world: World) -> None:
    teacher = (await api.as_(world.tokens["teacher"]).get("me")).body
    assert teacher == {"kind": "user", "name": "Teacher", "user_id": world["teacher"],
                       "role": "teacher", "school_id": world["a_hub"], "county": COUNTY_A,
                       "terminal_id": None, "classroom_id": None, "locale": None}
    inspector = (await api.as_(world.tokens["inspector"]).get("me")).body
    assert inspector["role"] == "inspector" and inspector["county"] == COUNTY_A
    assert inspector["school_id"] is None
    terminal = (await api.as_(world.tokens["terminal"]).get("me")).body
    assert terminal == {"kind": "terminal", "name": "point TV", "user_id": None, "role": None,
                        "school_id": world["a_point"], "county": COUNTY_A,
                        "terminal_id": world["terminal"], "classroom_id": world["point_room"],
                        "locale": None}


async def _audit(db: AsyncSession, tag: str) -> list[AuditEvent]:
    await fresh(db)
    return list((await db.scalars(select(AuditEvent).where(AuditEvent.tag == tag)
                                  .order_by(AuditEvent.id))).all())


async def test_api_token_life(api: Api, world: World, db: AsyncSession) -> None:
    observer = api.as_(world.tokens["observer"])
    refused = await observer.post("tokens", {"name": "from a token"})
    assert refused.status == 403 and "signed in" in refused.body["error"]["message"]

    browser = await api.signed_in(db, world["observer"])
    made = await browser.post("tokens", {"name": "grading script", "expires_in_days": 30})
    assert made.status == 201, made.body
    secret = made.body["token"]
    assert secret.startswith("ka_") and len(secret) > 40
    assert made.headers["Location"] == f"/api/v1/tokens/{made.body['id']}"
    expires = datetime.fromisoformat(made.body["expires_at"])
    assert abs(expires - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    assert made.body["revoked_at"] is None

    await fresh(db)
    row = await db.get(ApiToken, made.body["id"])
    assert row is not None and row.token_hash == token_hash(secret) and row.user_id == world["observer"]
    assert secret not in str(vars(row))

    new = api.as_(secret)
    assert (await new.get("me")).body["user_id"] == world["observer"]
    listed = await new.get("tokens")
    assert [t["name"] for t in listed.body["items"]] == ["tests", "grading script"]
    assert all("token" not in t for t in listed.body["items"])
    one = await new.get(made.headers["Location"])
    assert one.status == 200 and "token" not in one.body and one.body["name"] == "grading script"

    # Another user neither sees nor revokes it.
    teacher = api.as_(world.tokens["teacher"])
    assert (await teacher.get(f"tokens/{made.body['id']}")).status == 404
    assert (await teacher.delete(f"tokens/{made.body['id']}")).status == 404
    assert [t["name"] for t in (await teacher.get("tokens")).body["items"]] == ["tests"]

    assert (await observer.delete(f"tokens/{made.body['id']}")).status == 204
    assert (await new.get("me")).status == 401
    assert (await observer.delete(f"tokens/{made.body['id']}")).status == 204  # idempotent
    revoked = (await observer.get(f"tokens/{made.body['id']}")).body
    assert revoked["revoked_at"] is not None

    issued = await _audit(db, "api_token.issued")
    assert [(e.actor, e.target) for e in issued] == [
        (f"user:{world['observer']}", f"api_token:{made.body['id']}")]
    assert secret not in str(issued[0].detail)
    assert len(await _audit(db, "api_token.revoked")) == 1


async def test_api_token_without_expiry_and_own_revocation(api: Api, world: World,
                                                           db: AsyncSession) -> None:
    admin = await api.signed_in(db, world["admin"])
    made = await admin.post("tokens", {"name": "  forever  ", "expires_in_days": None})
    assert made.status == 201 and made.body["expires_at"] is None and made.body["name"] == "forever"
    itself = api.as_(made.body["token"])
    assert (await itself.delete(f"tokens/{made.body['id']}")).status == 204  # may revoke itself
    assert (await itself.get("me")).status == 401


async def test_api_token_input_is_checked(api: Api, world: World, db: AsyncSession) -> None:
    admin = await api.signed_in(db, world["admin"])
    for body, field in [({}, "name"), ({"name": ""}, "name"), ({"name": "x", "expires_in_days": 0},
                        "expires_in_days"), ({"name": "x", "expires_in_days": 10_000},
                        "expires_in_days"), ({"name": "x", "scope": "all"}, "scope")]:
        reply = await admin.post("tokens", body)
        assert reply.status == 422 and reply.fields == [field], body
    assert (await admin.get("tokens", user_id="1")).status == 422
    assert (await admin.get("tokens", limit="0")).status == 422


async def test_terminal_token_is_shown_once_and_replaces_the_last(api: Api, world: World,
                                                                  db: AsyncSession) -> None:
    admin = api.as_(world.tokens["admin"])
    tid = world["terminal_b"]
    issued = await admin.post(f"terminals/{tid}/token")
    assert issued.status == 201 and issued.body["terminal_id"] == tid
    token = issued.body["token"]
    assert token.startswith("kt_")
    assert (await api.as_(world.tokens["terminal_b"]).get("me")).status == 401  # old one stops
    assert (await api.as_(token).get("me")).body["terminal_id"] == tid

    shown = (await admin.get(f"terminals/{tid}")).body
    assert shown["has_token"] is True and shown["token_revoked_at"] is None
    assert token not in str(shown) and shown["last_seen_at"] is not None  # it was just used

    assert (await admin.delete(f"terminals/{tid}/token")).status == 204
    assert (await admin.delete(f"terminals/{tid}/token")).status == 204  # nothing left to revoke
    after = (await admin.get(f"terminals/{tid}")).body
    assert after["has_token"] is False and after["token_revoked_at"] is not None
    assert (await api.as_(token).get("me")).status == 401

    tags = [e.target for e in await _audit(db, "terminal.token_issued")]
    assert tags == [f"terminal:{tid}"]
    assert len(await _audit(db, "terminal.token_revoked")) == 1
