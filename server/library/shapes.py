"""Typed shapes of library Resources as the API and the library pages accept and return them."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from ..models import JobState, LessonKind, ResourceState, Visibility
from ..schemas import Id, In, Name

MAX_TAGS = 20
# What people type between tags: commas (also the Chinese ones), the enumeration comma, spaces.
TAG_SEPARATORS = re.compile(r"[,，、;；\s]+")


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _one_tag(value: str) -> str:
    if TAG_SEPARATORS.search(value):
        raise ValueError("a tag is one word or phrase without commas or spaces")
    return value


def split_tags(text: str) -> list[str]:
    """Tags as typed into one input: "音乐, 三年级 示范课" -> ["音乐", "三年级", "示范课"]."""
    return [t for t in TAG_SEPARATORS.split(text) if t]


Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30),
                AfterValidator(_one_tag)]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_unique)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
GradeText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]


class ResourceIn(In):
    """The metadata of an uploaded video (the file itself comes beside it)."""

    title: Name
    subject: Subject = ""
    grade: GradeText = ""
    description: Description = ""
    tags: Tags = []
    lesson_kind: LessonKind | None = None
    taught_on: date | None = None
    visibility: Visibility = Visibility.school
    teacher_id: Id | None = Field(default=None,
                                  description="Admins: whose teaching it is (default: nobody)")


class ResourcePatch(In):
    """A change to a Resource's metadata; only the fields given change."""

    title: Name | None = None
    subject: Subject | None = None
    grade: GradeText | None = None
    description: Description | None = None
    tags: Tags | None = None
    lesson_kind: LessonKind | None = None
    taught_on: date | None = None
    visibility: Visibility | None = None


class RenditionOut(BaseModel):
    """One rung of the HLS ladder, with where to play and download it."""

    name: str
    width: int
    height: int
    bandwidth: int = Field(description="Peak bits per second, as in the master playlist")
    bytes: int
    playlist_url: str | None
    download_url: str


class ResourceOut(BaseModel):
    """A library item. Media URLs are null until it is ready."""

    id: int
    title: str
    subject: str
    grade: str
    description: str
    tags: list[str]
    lesson_kind: LessonKind | None
    taught_on: date | None
    visibility: Visibility
    state: ResourceState
    error: str | None = Field(description="Why processing failed (state failed)")
    owner_id: int | None
    teacher_id: int | None
    teacher_name: str | None
    school_id: int | None
    school_name: str | None
    county: str | None
    lesson_id: int | None
    duration_s: float | None
    bytes: int
    views: int
    created_at: datetime
    published_at: datetime | None
    page_url: str
    master_url: str | None = Field(description="The HLS master playlist (adaptive)")
    poster_url: str | None
    thumbnails_url: str | None = Field(description="WebVTT seek-bar thumbnails (#xywh sprite)")
    renditions: list[RenditionOut]


class ProgressOut(BaseModel):
    """How far a Resource's processing is, for a page that polls it."""

    state: ResourceState
    progress: float | None = Field(description="0..1 while a transcode job runs")
    speed: float | None = Field(description="× real time")
    job_state: JobState | None
    attempts: int | None
    error: str | None
