"""How a result is put in words: dates ("4 May 2021", shorter forms for narrow cells), times in
a video ("0:12"), counts by kind ("30 photos and 2 videos"), and the notes a tooltip adds."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from app.core.api import GUESSED_SOURCES

if TYPE_CHECKING:
    from app.core.api import Hit


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' if n != 1 else ''}"


def counted(photos: int, videos: int) -> str:
    """ "30 photos", "30 photos and 2 videos", "1 video": what a list holds, by kind."""
    parts = [plural(photos, "photo")] if photos or not videos else []
    return " and ".join([*parts, plural(videos, "video")] if videos else parts)


def format_time(ms: int | None) -> str:
    """A time in a video as players show it: "0:07", "12:05", "1:02:09"."""
    seconds = max(0, int(ms or 0) // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_date(when: datetime | None) -> str:
    """ "4 May 2021" (no leading zero, month spelled out), or "No date"."""
    return f"{when.day} {when:%B %Y}" if when else "No date"


SOURCE_TEXT = "Searched from"


def date_captions(when: datetime | None) -> list[str]:
    """The date from longest to shortest ("14 September 2021", "14 Sep 2021", "Sep 2021",
    "2021"): a narrow cell shows the longest that fits, so the year is never cut off."""
    if when is None:
        return ["No date"]
    return [format_date(when), f"{when.day} {when:%b %Y}", f"{when:%b %Y}", f"{when:%Y}"]


def video_note(hit: Hit) -> str:
    """ ", video 0:42, best at 0:12" for a video; nothing for a photo."""
    if hit.kind != "video":
        return ""
    note = f", video {format_time(hit.duration_ms)}" if hit.duration_ms else ", video"
    return note + (f", best at {format_time(hit.moment_ms)}" if hit.moment_ms is not None else "")


def date_note(hit: Hit) -> str:
    """Said after the date when it is the file's time, not a capture date the photo records."""
    if getattr(hit, "capture_source", None) in GUESSED_SOURCES:
        return " (file date: no capture date in the photo)"
    return ""
