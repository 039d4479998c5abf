"""What the Duplicates view works out, without widgets: the grouping's outcome (on a worker), the
copies selected at first, the groups left after a move, the folders a user may prefer, and what
the view says when there is nothing to show."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from app.core.api import DuplicateGroup, DuplicateProgress, JobControl, KeeperRule, Library
from app.ui.empty_state import EmptyState

MAX_FOLDERS = 40  # subfolders offered as the preferred folder, those with the most copies first


@dataclass(frozen=True)
class Found:
    """One grouping's outcome, and what the view says around it."""

    groups: list[DuplicateGroup]
    photos: int  # photos in the library (the empty state's "in N photos")
    pending: int  # not yet indexed by the model: not compared as near copies yet
    exact_only: bool
    has_model: bool
    folders: list[str]  # watched folders, for the preferred-folder choice


def find(
    library: Library,
    exact_only: bool,
    rule: KeeperRule,
    progress: Callable[[DuplicateProgress], None] | None = None,
    control: JobControl | None = None,
) -> Found:
    """Worker: the groups and the library's counts (JobCancelled once `control` cancels)."""
    status = library.status()
    exact_only = exact_only or not status.has_model
    groups = library.duplicates(
        exact_only=exact_only, rule=rule, progress=progress, control=control
    )
    folders = [str(f.path) for f in status.folders]
    return Found(groups, status.photos, status.pending, exact_only, status.has_model, folders)


def suggested_selection(groups: Iterable[DuplicateGroup]) -> set[int]:
    """Every copy but each group's suggested keeper: the keeper is never selected at first."""
    return {p.id for g in groups for p in g.members if p.id != g.keeper_id}


def after_move(
    groups: Sequence[DuplicateGroup], moved: set[str]
) -> tuple[list[DuplicateGroup], list[DuplicateGroup | None]]:
    """The groups once the files at `moved` have gone, and for each old group its new self (the
    same object when untouched, None when fewer than two copies are left). A group whose keeper
    went keeps its first copy left; what differed from the old keeper is no longer said."""
    changed: list[DuplicateGroup | None] = []
    for group in groups:
        left = [p for p in group.members if p.path not in moved]
        if len(left) == len(group.members):
            changed.append(group)
            continue
        if len(left) < 2:
            changed.append(None)
            continue
        keeper = next((p for p in left if p.id == group.keeper_id), left[0])
        members = (keeper, *(p for p in left if p is not keeper))
        same_keeper = keeper.id == group.keeper_id
        changed.append(
            replace(
                group,
                members=members,
                keeper_id=keeper.id,
                reclaim_bytes=sum(p.size for p in members[1:]),
                differences={
                    pid: text
                    for pid, text in group.differences.items()
                    if same_keeper and any(p.id == pid for p in members)
                },
            )
        )
    return [g for g in changed if g is not None], changed


def folder_choices(
    watched: Sequence[str], groups: Iterable[DuplicateGroup], current: str = ""
) -> list[str]:
    """The watched folders, then the folders copies were found in (most copies first, at most
    MAX_FOLDERS), and the folder chosen now wherever it is; each once."""
    seen = Counter(str(Path(p.path).parent) for g in groups for p in g.members)
    found = [f for f, _ in seen.most_common(MAX_FOLDERS)]
    choices = [*watched, *sorted(f for f in found if f not in watched)]
    if current and current not in choices:
        choices.append(current)
    return list(dict.fromkeys(choices))


def stopped_state() -> EmptyState:
    """After Cancel: nothing changed, and the way to look again."""
    return EmptyState(
        "stopped",
        "similar",
        "Stopped looking for duplicates",
        "Nothing was changed. Look Again to carry on.",
        (("Look Again", "look-again"),),
    )


def empty_state(found: Found) -> EmptyState:
    """ "No duplicates found in 1,234 photos", and what else the user could try."""
    if not found.photos:
        return EmptyState("no-photos", "photo", "No photos to compare yet", "", ())
    title = f"No duplicates found in {found.photos:,} photos"
    if found.exact_only:
        body = "No two photos are the same file."
    else:
        body = "No two photos are the same file, or the same picture resized, re-saved or edited."
    actions: tuple[tuple[str, str], ...] = ()
    if not found.has_model:
        body += " Resized, re-saved and edited copies need a search model to be found."
        actions = (("Get a Model", "get-model"),)
    elif found.exact_only:
        body += " Turn off “Only exact copies” to look for resized and edited copies too."
        actions = (("Look for Near Copies", "exact-off"),)
    if found.pending and found.has_model:
        body += f" {found.pending:,} photos are still being indexed: look again when it is done."
    return EmptyState("no-duplicates", "similar", title, body, actions)
