"""What the duplicates engine hands out: the keeper rule, a group of duplicates, a trash result."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.catalog.records import Photo

KEEPER_CRITERIA = ("resolution", "oldest", "folder")
_WORDS = {
    "resolution": "the highest resolution",
    "oldest": "the oldest",
    "folder": "one in a preferred folder",
}


@dataclass(frozen=True)
class KeeperRule:
    """Which copy of a group to keep: criteria in order (the first that tells two copies apart
    decides), and the folders preferred by "folder" (first listed, most preferred)."""

    order: tuple[str, ...] = KEEPER_CRITERIA
    preferred_folders: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [c for c in self.order if c not in KEEPER_CRITERIA]
        if unknown:
            raise ValueError(f"unknown keeper criteria {unknown}; use {KEEPER_CRITERIA}")

    def describe(self) -> str:
        """ "Keep the highest resolution, then the oldest, then one in Pictures/Best"."""
        words = []
        for c in self.order:
            if c == "folder":
                if not self.preferred_folders:
                    continue
                words.append("one in " + " or ".join(_short(f) for f in self.preferred_folders))
            else:
                words.append(_WORDS[c])
        if not words:
            return "Keep the first copy found"
        return "Keep " + ", then ".join(words)


def _short(folder: str) -> str:
    """The last two parts of a folder's path: "Pictures/Best"."""
    parts = [p for p in folder.replace("\\", "/").split("/") if p]
    return "/".join(parts[-2:]) if parts else folder


@dataclass(frozen=True)
class DuplicateGroup:
    """Copies of one picture. `members` start with the suggested keeper; `differences` says
    how each other copy differs from it ("smaller: 1024 x 768", "identical file");
    `reclaim_bytes` is what moving every copy but the keeper to the trash frees; `similarity`
    the lowest cosine between the keeper and a copy (1.0 for identical files)."""

    kind: str  # "exact" (identical files only) or "near"
    members: tuple[Photo, ...]
    keeper_id: int
    reclaim_bytes: int
    differences: dict[int, str] = field(default_factory=dict)
    similarity: float = 1.0


@dataclass(frozen=True)
class TrashResult:
    """What `Library.move_to_trash` did: the paths moved, those that could not be (path,
    why), and the bytes moved."""

    moved: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    bytes: int
