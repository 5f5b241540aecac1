"""Pure helpers of the pages: safe redirects and translating the services' messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.i18n import Translator
from server.pages.common import safe_next
from server.pages.messages import translate_message

LOCALE_DIR = Path(__file__).resolve().parents[2] / "web" / "locale"


@pytest.fixture(scope="module")
def zh() -> Translator:
    return Translator(LOCALE_DIR)


def test_safe_next() -> None:
    assert safe_next("/admin/schools?q=1") == "/admin/schools?q=1"
    for bad in (None, "", "//x", "http://x/", "/\\x", "x", "/a\nb", "/a\x7fb", "javascript:x"):
        assert safe_next(bad) == "/"


@pytest.mark.parametrize(("message", "chinese", "english"), [
    ("No classroom with id 7", "不存在编号为 7 的教室", "There is no classroom with id 7"),
    ("no timetable_entry with id 3", "不存在编号为 3 的课表条目",
     "There is no timetable entry with id 3"),
    ("A school with the same name or key exists already", "已存在同名的学校",
     "A school with the same name exists already"),
    ("This lesson is still used by other records; remove those first",
     "该课堂仍被其他记录使用，请先删除或修改这些记录",
     "This lesson is still used by other records; remove or change those first"),
    ("You may not delete this timetable entry", "您无权删除此课表条目",
     "You may not delete this timetable entry"),
    ("cannot change from ended to scheduled here", "此处不能把课堂从“已结束”改为“未开始”",
     "A lesson cannot go from “Ended” to “Scheduled” here"),
    ("Too many failed sign-ins; try again in 42 seconds", "登录失败次数过多，请 42 秒后再试",
     "Too many failed sign-ins; try again in 42 seconds"),
    ("user 5 is not a teacher", "用户 5 不是教师", "User 5 is not a teacher"),
    ("Field required", "此项为必填项", "This field is required"),
    ("String should have at most 200 characters", "最多 200 个字符", "Use at most 200 characters"),
    ("Input should be a valid integer, unable to parse string as an integer", "请输入整数",
     "Enter a whole number"),
    ("Input should be 'hub', 'teaching_point' or 'school'", "请选择一个选项",
     "Choose one of the options"),
    ("Input should be in a valid time format, invalid character in hour", "请输入有效的时间",
     "Enter a valid time"),
    ("Value error, an RTSP source needs its rtsp:// URL", "RTSP 信号源需要填写 rtsp:// 地址",
     "an RTSP source needs its rtsp:// URL"),
    ("Something nobody foresaw", "Something nobody foresaw", "Something nobody foresaw"),
])
def test_translate_message(zh: Translator, message: str, chinese: str, english: str) -> None:
    assert translate_message(zh.get("zh_CN").gettext, message) == chinese
    assert translate_message(zh.get("en").gettext, message) == english
