"""Holidays through the API: who reads and writes which, the one-scope rule, and the
timetable's next generation pass honouring a holiday added here."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from server.lifecycle.timetable import generate_lessons
from server.models import LessonStatus
from tests.lifecycle.test_timetable import _lessons, _timetable, _window

from .conftest import Api
from .world import COUNTY_A, COUNTY_B, World


async def _seed(admin: Api, world: World) -> dict[str, int]:
    """One holiday of each scope; returns their ids by name."""
    bodies = {
        "everywhere": {"day": "2026-10-01", "name": "国庆节"},
        "county_a": {"day": "2026-10-09", "name": "A 区运动会", "county": COUNTY_A},
        "county_b": {"day": "2026-10-09", "name": "B 区运动会", "county": COUNTY_B},
        "a_hub": {"day": "2026-10-12", "name": "A 中心校校庆", "school_id": world["a_hub"]},
        "a_point": {"day": "2026-10-13", "name": "A 教学点停电", "school_id": world["a_point"]},
        "b_hub": {"day": "2026-10-14", "name": "B 中心校调休", "school_id": world["b_hub"],
                  "teaches_weekday": 1},
    }
    ids = {}
    for name, body in bodies.items():
        made = await admin.post("holidays", body)
        assert made.status == 201, made.body
        ids[name] = made.body["id"]
    return ids


VISIBLE = {
    "admin": {"everywhere", "county_a", "county_b", "a_hub", "a_point", "b_hub"},
    "teacher": {"everywhere", "county_a", "a_hub"},  # of school A Hub in county A
    "teacher_b": {"everywhere", "county_b", "b_hub"},
    "inspector": {"everywhere", "county_a", "a_hub", "a_point"},  # county A and its schools
    "observer": set(),
    "terminal": set(),
}


async def test_who_reads_which_holidays(api: Api, admin: Api, world: World) -> None:
    ids = await _seed(admin, world)
    for who, names in VISIBLE.items():
        client = api.as_(world.tokens[who])
        listed = await client.get("holidays", limit="200")
        assert listed.status == 200, who
        assert {item["id"] for item in listed.body["items"]} == {ids[n] for n in names}, who
        for name, hid in ids.items():
            reply = await client.get(f"holidays/{hid}")
            assert reply.status == (200 if name in names else 404), (who, name)


async def test_listed_by_day(admin: Api, world: World) -> None:
    await _seed(admin, world)
    days = [item["day"] for item in (await admin.get("holidays")).body["items"]]
    assert days == sorted(days) and len(days) == 6
    only_a = await admin.get("holidays", county=COUNTY_A)
    assert [item["name"] for item in only_a.body["items"]] == ["A 区运动会"]


async def test_only_admins_write(api: Api, admin: Api, world: World) -> None:
    ids = await _seed(admin, world)
    for who in ("teacher", "inspector"):  # each sees county A's holiday but may not touch it
        client = api.as_(world.tokens[who])
        made = await client.post("holidays", {"day": "2026-11-02", "name": "x",
                                              "school_id": world["a_hub"]})
        assert made.status == 403, who
        assert (await client.patch(f"holidays/{ids['county_a']}", {"name": "y"})).status == 403
        assert (await client.delete(f"holidays/{ids['county_a']}")).status == 403
        # Another county's: not even visible.
        assert (await client.patch(f"holidays/{ids['county_b']}", {"name": "y"})).status == 404
    for who in ("observer", "terminal"):
        client = api.as_(world.tokens[who])
        assert (await client.post("holidays", {"day": "2026-11-02", "name": "x"})).status == 403
    assert (await admin.get(f"holidays/{ids['county_a']}")).body["name"] == "A 区运动会"


async def test_one_scope_and_valid_values(admin: Api, world: World) -> None:
    both = await admin.post("holidays", {"day": "2026-11-02", "name": "x", "county": COUNTY_A,
                                         "school_id": world["a_hub"]})
    assert both.status == 422 and both.fields == ["county"]
    made = await admin.post("holidays", {"day": "2026-11-02", "name": "x", "county": COUNTY_A})
    assert made.status == 201
    now_both = await admin.patch(f"holidays/{made.body['id']}", {"school_id": world["a_hub"]})
    assert now_both.status == 422 and now_both.fields == ["county"]
    moved = await admin.patch(f"holidays/{made.body['id']}",
                              {"school_id": world["a_hub"], "county": None})
    assert moved.status == 200 and moved.body["county"] is None
    for body, field in (({"day": "2026-11-02", "name": "x", "teaches_weekday": 8},
                         "teaches_weekday"),
                        ({"day": "not a day", "name": "x"}, "day"),
                        ({"day": "2026-11-02", "name": "x", "school_id": 999999}, "school_id")):
        bad = await admin.post("holidays", body)
        assert bad.status == 422 and bad.fields == [field], body


async def test_generation_cancels_the_untouched_lesson_of_a_new_holiday(
        admin: Api, db: AsyncSession) -> None:
    entry = await _timetable(db)  # Mondays 08:30 in March 2030, hub school in 清城区
    since, until = _window(date(2030, 3, 1), date(2030, 3, 31))
    await generate_lessons(db, since, until)
    await db.commit()

    async def generated() -> dict[str, LessonStatus]:  # the world has lessons of its own
        return {lesson.planned_start.date().isoformat(): lesson.status
                for lesson in await _lessons(db) if lesson.timetable_entry_id == entry["entry"]}

    assert list((await generated()).values()) == [LessonStatus.scheduled] * 4

    for body in ({"day": "2030-03-11", "name": "运动会", "school_id": entry["school"]},
                 {"day": "2030-03-18", "name": "elsewhere", "county": "清新区"}):
        assert (await admin.post("holidays", body)).status == 201
    made = await generate_lessons(db, since, until)
    await db.commit()
    assert (made.created, made.cancelled) == (0, 1)
    assert await generated() == {"2030-03-04": LessonStatus.scheduled, "2030-03-11": LessonStatus.cancelled,
                      "2030-03-18": LessonStatus.scheduled, "2030-03-25": LessonStatus.scheduled}
