"""The Duplicates view in words: a group's header, a copy's facts, the confirmation before a move
and the message after it, and what the desktop calls its trash. No widgets here, so every
sentence the user reads is testable on its own."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from app.core.api import DuplicateGroup, KeeperRule, Photo, TrashResult
from app.ui.captions import plural
from app.ui.viewer.info import human_size

# The keeper rule's orders the view offers, as (label, KeeperRule.order).
ORDERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Highest resolution first", ("resolution", "oldest", "folder")),
    ("Oldest first", ("oldest", "resolution", "folder")),
    ("Preferred folder first", ("folder", "resolution", "oldest")),
)


def trash_name(platform: str = sys.platform) -> str:
    """What the desktop calls the place a moved file goes: "Recycle Bin" on Windows."""
    return "Recycle Bin" if platform == "win32" else "Trash"


def copies_text(count: int) -> str:
    return f"{count:,} {'copy' if count == 1 else 'copies'}"


def group_header(group: DuplicateGroup) -> str:
    """ "3 copies · 12.4 MB to free · identical files"."""
    kind = "identical files" if group.kind == "exact" else "near-duplicates"
    return f"{copies_text(len(group.members))} · {human_size(group.reclaim_bytes)} to free · {kind}"


def group_tooltip(group: DuplicateGroup) -> str:
    if group.kind == "exact":
        return "The same file, byte for byte, in more than one place."
    return (
        f"The same picture ({group.similarity:.0%} alike): resized, re-saved, lightly cropped "
        "or edited, or shots taken moments apart."
    )


def pixels_text(photo: Photo) -> str:
    if photo.width and photo.height:
        return f"{photo.width} × {photo.height}"
    return "size unknown"


def facts_line(photo: Photo) -> str:
    """ "2.4 MB · 4000 × 3000"."""
    return f"{human_size(photo.size)} · {pixels_text(photo)}"


def date_line(photo: Photo) -> str:
    when = photo.capture_time
    return f"{when.day} {when:%b %Y, %H:%M}" if when else "No date"


def selection_text(count: int, size: int) -> str:
    """ "7 photos (23.1 MB)"."""
    return f"{plural(count, 'photo')} ({human_size(size)})"


def move_button_text(count: int) -> str:
    return f"Move {count:,} to {trash_name()}" if count else f"Move to {trash_name()}"


def confirm_text(count: int, size: int) -> str:
    """The confirmation's question: "Move 7 photos (23.1 MB) to the Trash?"."""
    return f"Move {selection_text(count, size)} to the {trash_name()}?"


def confirm_details(whole_groups: int) -> str:
    """Under the question: where they go, how to get them back, and any group left empty."""
    text = (
        f"They leave your photo folders for the {trash_name()}, where they stay until it is "
        f"emptied: to get one back, open the {trash_name()} and restore it."
    )
    if whole_groups:
        text += (
            f"\n\nEvery copy is selected in {plural(whole_groups, 'group')}: none of "
            f"{'that photo' if whole_groups == 1 else 'those photos'} will be left in your folders."
        )
    return text


def result_text(result: TrashResult) -> str:
    """After a move: how many went where, how to restore them, and each failure with its reason."""
    lines = []
    if result.moved:
        lines.append(
            f"Moved {selection_text(len(result.moved), result.bytes)} to the {trash_name()}. "
            f"To get one back, open the {trash_name()}, select it and choose Restore."
        )
    if result.failed:
        lines.append(f"{plural(len(result.failed), 'photo')} could not be moved:")
        lines += [f"{Path(path).name} ({Path(path).parent}): {why}" for path, why in result.failed]
    return "\n".join(lines)


def elide_middle(text: str, width: int) -> str:
    """`text` cut to `width` characters with "…" in the middle (a folder keeps both ends)."""
    if len(text) <= width:
        return text
    keep = max(1, width - 1)
    return f"{text[: keep - keep // 2]}…{text[len(text) - keep // 2 :]}"


def short_folder(folder: str) -> str:
    """A folder as the user would name it: "~/Pictures/2021" where it is under home."""
    path, home = Path(folder), Path.home()
    return str(Path("~") / path.relative_to(home)) if path.is_relative_to(home) else folder


def rule_text(rule: KeeperRule) -> str:
    """ "Keeping the highest resolution, then the oldest": the rule as the view applies it."""
    text = rule.describe()
    return "Keeping" + text[len("Keep") :] if text.startswith("Keep ") else text


def summary_text(groups: Sequence[DuplicateGroup]) -> str:
    """ "3 groups of duplicates · 23.1 MB to free"."""
    if not groups:
        return "Duplicates"
    total = sum(g.reclaim_bytes for g in groups)
    what = "group of duplicates" if len(groups) == 1 else "groups of duplicates"
    return f"{len(groups):,} {what} · {human_size(total)} to free"


def folder_label(folder: str, watched: Sequence[str]) -> str:
    """ "Pictures/Backup/Phone": a folder named from the watched folder it is in, else as
    `short_folder` names it."""
    path = Path(folder)
    for root in sorted(watched, key=len, reverse=True):
        top = Path(root)
        if path.is_relative_to(top):
            return str(Path(top.name) / path.relative_to(top))
    return short_folder(folder)
