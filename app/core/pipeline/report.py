"""What an indexing run reports: progress while it runs, and what it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class IndexProgress:
    """A progress report: `phase` is "scanning", "indexing" or "done"; `rate` in photos/s."""

    phase: str
    done: int
    total: int
    rate: float = 0.0
    eta_s: float | None = None
    current: Path | None = None
    skipped: int = 0


@dataclass
class IndexReport:
    """What a run did. `unavailable` lists folder roots that could not be read (photos kept)."""

    added: int = 0
    updated: int = 0
    moved: int = 0
    deleted: int = 0
    skipped: int = 0
    unchanged: int = 0
    still_skipped: int = 0  # files skipped before and unchanged since (not retried)
    encoded: int = 0  # images encoded: photos and videos' frames
    frames: int = 0  # of which videos' frames
    partial: int = 0  # videos indexed in part (cut short by the deadline or damage; see why)
    refreshed: int = 0  # unchanged files whose headers were read again (newer header facts)
    elapsed_s: float = 0.0
    cancelled: bool = False
    unavailable: list[Path] = field(default_factory=list)
    restored: list[Path] = field(default_factory=list)  # folders available again
    catalog_lost: int = 0  # photos a missing or emptied catalog once held (re-indexed now)
