"""Grouping duplicates tells how far it is and can be cancelled: on a real library (the shipped
calibration photos, synthetic edits of them and identical copies, indexed with the trained micro
CLIP), each stage's progress climbs to its total; a cancel in any stage raises JobCancelled,
keeps nothing half-done, and the next call finds the same groups as a run never cancelled."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_duplicates import build
from test_indexer import CountingEncoder

from app.core.api import DuplicateGroup, DuplicateProgress, JobCancelled, JobControl, Library, Paths
from app.core.duplicates import engine, pairstore
from app.core.duplicates import progress as progress_mod
from app.core.duplicates.calibration import edit_set, load_originals

Outcome = list[tuple[str, tuple[str, ...]]]


def outcome(groups: list[DuplicateGroup]) -> Outcome:
    """What a user sees of the groups: each keeper and its copies, in order."""
    return [
        (next(p.path for p in g.members if p.id == g.keeper_id), tuple(p.path for p in g.members))
        for g in groups
    ]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dup-progress") / "photos"
    build(root, edit_set(load_originals(max_side=192), seed=2))
    for k, path in enumerate(sorted(root.rglob("*.jpg"))[:24:8]):  # three sets of twins
        shutil.copy2(path, root / f"identical copy {k}.jpg")
    return root


@pytest.fixture
def often(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small batches reported each: a stage takes several, so a cancel can land inside one."""
    monkeypatch.setattr(progress_mod, "INTERVAL_S", 0.0)
    monkeypatch.setattr(engine, "QUERY_BATCH", 16)
    monkeypatch.setattr(engine, "PAIR_BATCH", 8)


@pytest.fixture
def open_lib(
    tmp_path: Path, tiny_model_dir: Path, photos: Path
) -> Iterator[Callable[[str], Library]]:
    """Libraries over the same photos, each with its own data folder (its own calibration and
    caches), indexed."""
    opened: list[Library] = []

    def make(name: str) -> Library:
        lib = Library(Paths.at(tmp_path / name), CountingEncoder(tiny_model_dir, device="cpu"))
        opened.append(lib)
        lib.add_folder(photos)
        lib.index()
        return lib

    yield make
    for lib in opened:
        lib.close()


def by_stage(events: list[DuplicateProgress]) -> dict[str, list[DuplicateProgress]]:
    out: dict[str, list[DuplicateProgress]] = {}
    for e in events:
        out.setdefault(e.stage, []).append(e)
    return out


def test_each_stage_climbs_to_its_total_in_order(
    open_lib: Callable[[str], Library], often: None
) -> None:
    lib = open_lib("home")
    events: list[DuplicateProgress] = []
    groups = lib.duplicates(progress=events.append)
    assert groups and any(g.kind == "near" for g in groups)
    stages = by_stage(events)
    # Every stage had work here, and they came one after another in the documented order.
    assert list(stages) == list(progress_mod.STAGES)
    assert [e.stage for e in events] == sorted(
        (e.stage for e in events), key=progress_mod.STAGES.index
    )
    for stage, seen in stages.items():
        totals = {e.total for e in seen}
        assert len(totals) == 1 and seen[0].total > 0, stage
        done = [e.done for e in seen]
        assert done == sorted(done) and done[0] == 0 and done[-1] == seen[0].total, (stage, done)
        assert len(seen) > 2, stage  # several batches, each reported
    assert stages[progress_mod.NEIGHBOURS][-1].total == lib.status().photos
    # Asked again with nothing changed: kept answers, nothing to calibrate, search or compare.
    again: list[DuplicateProgress] = []
    assert outcome(lib.duplicates(progress=again.append)) == outcome(groups)
    assert {e.stage for e in again} <= {progress_mod.IDENTICAL}


def test_reports_are_throttled_but_each_stage_says_its_start_and_end() -> None:
    now = [0.0]
    events: list[DuplicateProgress] = []
    reporter = progress_mod.Reporter(events.append, interval_s=0.125, clock=lambda: now[0])
    reporter.stage(progress_mod.COMPARING, 30)
    for done in range(1, 31):
        now[0] += 1 / 32  # four batches to an interval: every fourth is said, and the last
        reporter.advance(done)
    reporter.advance(20)  # never backwards
    assert [e.done for e in events] == [0, 4, 8, 12, 16, 20, 24, 28, 30]
    reporter.stage(progress_mod.IDENTICAL, 3)  # a new stage is said at once
    assert events[-1] == DuplicateProgress(progress_mod.IDENTICAL, 0, 3)


@pytest.mark.parametrize("stage", progress_mod.STAGES)
def test_a_cancel_in_any_stage_keeps_nothing_half_done(
    open_lib: Callable[[str], Library], often: None, stage: str
) -> None:
    expected = outcome(open_lib("reference").duplicates())
    lib = open_lib("home")
    control = JobControl()

    def cancel_midway(p: DuplicateProgress) -> None:
        if p.stage == stage and 0 < p.done < p.total:
            control.cancel()

    with pytest.raises(JobCancelled):
        lib.duplicates(progress=cancel_midway, control=control)
    folder = lib.paths.data / "duplicates"
    model_id = lib.encoder.model_id  # type: ignore[union-attr]
    # Nothing half-done was kept: no thresholds from part of the calibration set, no pairs
    # from part of the library.
    assert (folder / f"{model_id}.json").exists() == (stage != progress_mod.CALIBRATING)
    assert not list(folder.glob("*.pairs.npz"))

    events: list[DuplicateProgress] = []
    assert outcome(lib.duplicates(progress=events.append)) == expected
    comparing = [e for e in events if e.stage == progress_mod.COMPARING]
    if stage == progress_mod.COMPARING:  # taken up where it stopped, not started again
        assert comparing[0].done > 0
        assert not any(e.stage == progress_mod.NEIGHBOURS for e in events)
    else:
        assert comparing[0].done == 0
    # A new session (nothing carried in memory) reads the completed pairs from disk.
    assert list(folder.glob("*.pairs.npz"))
    fresh = Library(lib.paths, lib.encoder)
    try:
        assert outcome(fresh.duplicates()) == expected
        assert fresh.duplicate_finder.last_queried == 0
    finally:
        fresh.close()


def test_a_cancelled_comparison_is_started_again_by_a_new_session(
    open_lib: Callable[[str], Library], often: None
) -> None:
    expected = outcome(open_lib("reference").duplicates())
    lib = open_lib("home")
    control = JobControl()

    def cancel_midway(p: DuplicateProgress) -> None:
        if p.stage == progress_mod.COMPARING and p.done > 0:
            control.cancel()

    with pytest.raises(JobCancelled):
        lib.duplicates(progress=cancel_midway, control=control)
    assert lib.encoder is not None
    kept = pairstore.load(
        lib.paths.data / "duplicates", lib.duplicate_finder.thresholds(lib.encoder)
    )
    assert kept.pairs == {} and kept.generation == -1
    fresh = Library(lib.paths, lib.encoder)
    try:
        events: list[DuplicateProgress] = []
        assert outcome(fresh.duplicates(progress=events.append)) == expected
        assert next(e.done for e in events if e.stage == progress_mod.COMPARING) == 0
    finally:
        fresh.close()
