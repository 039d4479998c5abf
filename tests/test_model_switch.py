"""Switching models without losing search: each model keeps its own vectors; the library
re-encodes with the newly chosen model while the previous one keeps answering, switches over
when done, resumes after a restart, and goes back without re-encoding. Real micro models
(two trainings of tests/microclip.py), real catalog, index and onnxruntime."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_indexer import make_folder

from app.core.library import JobControl, Library, Query
from app.core.model.install import install_model
from app.core.model.installed import (
    SETTING_SERVING,
    read_settings,
    remove_model,
    set_active_model,
)
from app.core.paths import Paths

A, B = "micro-a", "micro-b"


@pytest.fixture
def two_models(paths: Paths, tiny_model_dir: Path, second_model_dir: Path) -> Paths:
    paths.ensure()
    install_model(paths, A, source=tiny_model_dir, calibrate=False)  # the first: active
    install_model(paths, B, source=second_model_dir, calibrate=False)
    return paths


def red_circles(lib: Library) -> list[int]:
    return [h.photo_id for h in lib.search(Query(text="a red circle", top_k=5, min_score=-1)).hits]


def test_switching_keeps_search_on_the_old_model_until_the_new_one_is_done(
    two_models: Paths, tmp_path: Path
) -> None:
    paths = two_models
    photos = make_folder(tmp_path / "photos")
    with Library.open(paths, device="cpu") as lib:
        lib.add_folder(tmp_path / "photos")
        lib.index()
        st = lib.model_state()
        assert (st.active, st.serving, st.switching) == (A, A, False)
        assert st.encoded == st.total == len(photos)
        before = red_circles(lib)
        assert before

        set_active_model(paths, B)
        st = lib.reload_model()
        assert (st.active, st.serving, st.switching, st.encoded) == (B, A, True, 0)
        assert red_circles(lib) == before  # still answered, by A

        seen: list[tuple[str | None, int]] = []

        def progress(p: object) -> None:
            # Search answers during the re-encoding, and by the old model.
            seen.append((lib.model_state().serving, len(red_circles(lib))))

        report = lib.index(progress=progress)
        assert report.encoded == len(photos)
        assert seen and all(s == (A, len(before)) for s in seen[:-1])
        st = lib.model_state()
        assert (st.active, st.serving, st.switching) == (B, B, False)
        assert lib.encoder is not None and lib.encoder.model_dir.name == B
        assert red_circles(lib)  # B answers now
        assert read_settings(paths)[SETTING_SERVING] == B

        # Going back: A's vectors are still stored, nothing is encoded again.
        set_active_model(paths, A)
        st = lib.reload_model()
        assert (st.active, st.serving, st.switching) == (A, A, False)
        assert lib.index().encoded == 0
        assert red_circles(lib) == before


def test_an_interrupted_switch_resumes_after_a_restart(two_models: Paths, tmp_path: Path) -> None:
    paths = two_models
    photos = make_folder(tmp_path / "photos")
    with Library.open(paths, device="cpu") as lib:
        lib.add_folder(tmp_path / "photos")
        lib.index()
    set_active_model(paths, B)
    control = JobControl()
    with Library.open(paths, device="cpu") as lib:
        assert lib.model_state().serving == A
        done = []

        def stop_early(p: object) -> None:
            done.append(p)
            if len(done) >= 2:
                control.cancel()

        report = lib.index(progress=stop_early, control=control)
        assert report.cancelled
        st = lib.model_state()
        assert (st.serving, st.switching) == (A, True) and st.encoded < len(photos)
    with Library.open(paths, device="cpu") as lib:  # restarted
        st = lib.model_state()
        assert (st.active, st.serving, st.switching) == (B, A, True)
        assert red_circles(lib)
        report = lib.index()
        assert 0 < report.encoded < len(photos) + 1
        assert lib.model_state().serving == B


def test_no_model_then_one_arrives_while_open(
    paths: Paths, tmp_path: Path, tiny_model_dir: Path
) -> None:
    photos = make_folder(tmp_path / "photos")
    with Library.open(paths) as lib:
        assert not lib.has_model and lib.model_state().problem
        lib.add_folder(tmp_path / "photos")
        assert lib.index().encoded == 0
        browse = lib.search(Query())  # newest first, no model needed
        assert len(browse.hits) == len(photos)
        # Installed by another process (the CLI) while the library is open.
        install_model(paths, A, source=tiny_model_dir, calibrate=False)
        st = lib.reload_model()
        assert (st.active, st.serving, st.problem) == (A, A, None)
        assert lib.has_model
        assert lib.index().encoded == len(photos)
        assert red_circles(lib)


def test_the_model_in_use_removed_by_another_process(two_models: Paths, tmp_path: Path) -> None:
    paths = two_models
    make_folder(tmp_path / "photos")
    with Library.open(paths, device="cpu") as lib:
        lib.add_folder(tmp_path / "photos")
        lib.index()
        remove_model(paths, A)
        st = lib.reload_model()
        # The remaining model is chosen by default; it is not encoded yet, so it serves at once
        # only because nothing else can.
        assert st.active == B and st.serving == B
        assert lib.index().encoded > 0


def test_the_image_tower_is_released_when_indexing_is_idle(
    paths: Paths, tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core import library as library_mod

    monkeypatch.setattr(library_mod, "IMAGE_TOWER_IDLE_S", 0.2)
    make_folder(tmp_path / "photos")
    install_model(paths.ensure(), A, source=tiny_model_dir, calibrate=False)
    with Library.open(paths, device="cpu") as lib:
        lib.add_folder(tmp_path / "photos")
        lib.index()
        assert lib.encoder is not None
        red_circles(lib)  # the text tower, for searching
        deadline = time.monotonic() + 10
        while "image" in lib.encoder.loaded_towers and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lib.encoder.loaded_towers == ("text",)
        assert red_circles(lib)  # search needs only the text tower
        assert lib.search(Query(like_photo_id=red_circles(lib)[0], top_k=3)).hits
