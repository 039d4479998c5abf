"""What the watcher hands the indexer (`ChangeSet`) and what it tells the UI (`ChangeSummary`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ChangeSummary:
    """What one watcher flush changed, for the UI to refresh; `unavailable` lists folder roots
    that are currently unreachable (their photos are kept)."""

    added: int = 0
    updated: int = 0
    moved: int = 0
    deleted: int = 0
    unavailable: list[Path] = field(default_factory=list)
    skipped: int = 0
    restored: list[Path] = field(default_factory=list)  # roots that became available again

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.moved or self.deleted or self.skipped)


@dataclass
class ChangeSet:
    """Settled changes for the indexer: `moves` are rename hints (src, dst), `paths` files or
    folders to reconcile (missing ones are gone), `rescan` folder roots to scan in full."""

    moves: list[tuple[Path, Path]] = field(default_factory=list)
    paths: set[Path] = field(default_factory=set)
    rescan: set[Path] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.moves or self.paths or self.rescan)
