"""Videos through the indexing pipeline, on real components: videos written with PyAV
(tests/videos.py) from the micro model's shapes, real decoding, the trained micro CLIP, a real
catalog and vector index. The engine's guarantees hold for videos as for photos: moves keep
their vectors, deletes and changes leave the index, an unplugged folder keeps them, a kill -9
loses nothing, hostile files are skipped or partly indexed with their reason."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from microclip import caption
from test_indexer import REPO, CountingEncoder, make_folder

from app.core.catalog.records import MOMENT_BASE, is_moment
from app.core.library import Library
from app.core.model.info import read_model_info
from app.core.paths import Paths
from app.core.pipeline.decoding import ENDS_EARLY
from app.core.search.query import Query
from tests.videos import scene_frames, write_audio_only, write_video

# A red circle from second 3 to 5, between a blue square and a green triangle.
RED_AT = [(3, "blue", "square"), (2, "red", "circle"), (3, "green", "triangle")]
RED_MS = (3000, 5000)
OTHER = [(4, "yellow", "star"), (4, "blue", "triangle")]


@pytest.fixture
def lib(paths: Paths, encoder: CountingEncoder) -> Iterator[Library]:
    library = Library(paths, encoder)
    library.indexer.batch_size = 8
    yield library
    library.close()


def scene_video(path: Path, scenes: list[tuple[float, str, str]], seed: int = 0) -> Path:
    """A 160x96, 10 fps video of `scenes` (seconds, colour, shape), pictures drawn from `seed`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, scene_frames(scenes, seed=seed))


def media_folder(root: Path) -> tuple[dict[Path, tuple[str, str]], list[Path]]:
    """The 16 photos of make_folder and two videos beside them."""
    photos = make_folder(root)
    videos = [
        scene_video(root / "trip" / "red.mp4", RED_AT),
        scene_video(root / "home" / "other.mov", OTHER, seed=3),
    ]
    return photos, videos


def moments_of(lib: Library, video_id: int) -> dict[int, int]:
    """label -> t_ms of a video's moments (from the catalog)."""
    labels = lib.catalog.moment_labels([video_id])
    return {lb: t for lb, (_, t) in lib.catalog.moment_times(labels).items()}


def best_moment(lib: Library, text: str) -> tuple[int, int]:
    """(video id, t_ms) of the moment nearest `text` in the vector index."""
    assert lib.encoder is not None and lib.vindex is not None
    labels, _ = lib.vindex.query(lib.encoder.encode_text([text])[0], 50)
    moment = next(int(lb) for lb in labels if is_moment(int(lb)))
    return lib.catalog.moment_times([moment])[moment]


def test_a_folder_of_photos_and_videos_indexes_and_a_text_query_finds_the_moment(
    lib: Library, encoder: CountingEncoder, tmp_path: Path
) -> None:
    root = tmp_path / "media"
    photos, videos = media_folder(root)
    lib.add_folder(root)
    report = lib.index()
    assert (report.added, report.skipped, report.partial) == (len(photos) + 2, 0, 0)
    assert report.frames > 0 and report.encoded == len(photos) + report.frames
    assert encoder.images == report.encoded  # photos and frames went through one encoder
    assert lib.vindex is not None
    for path in videos:
        v = lib.photo_by_path(path)
        assert v is not None and v.kind == "video" and v.state == "indexed"
        assert v.duration_ms == 8000 and (v.width, v.height) == (160, 96)
        times = moments_of(lib, v.id)
        assert len(times) >= 4 and min(times) >= MOMENT_BASE
        assert lib.vindex.contains([v.id, *times]).all()  # the video and every moment
        thumb = lib.thumbnail(v.id)  # its poster frame, remade from the video when lost
        assert thumb is not None
        thumb.unlink()
        assert lib.thumbnail(v.id) == thumb and thumb.stat().st_size > 0
    assert lib.catalog.count_moments(encoder.model_id) == report.frames
    red = lib.photo_by_path(videos[0])
    assert red is not None
    video_id, t_ms = best_moment(lib, caption("red", "circle"))
    assert video_id == red.id and RED_MS[0] <= t_ms < RED_MS[1]
    # The same through search: the video once, at that moment.
    hits = lib.search(Query(text=caption("red", "circle"), kind="video")).hits
    assert [h.path for h in hits][:1] == [str(videos[0])]
    assert hits[0].kind == "video" and hits[0].moment_ms == t_ms and hits[0].duration_ms == 8000
    assert len({h.photo_id for h in hits}) == len(hits)
    # The window's frame at that moment shows the red circle: red dominates its centre.
    frame = np.asarray(lib.frame(red.id, t_ms, max_side=128), dtype=np.int16)
    assert frame.shape[:2] == (77, 128)
    centre = frame[20:57, 40:88].reshape(-1, 3)
    reddish = (centre[:, 0] > 150) & (centre[:, 1] < 100) & (centre[:, 2] < 100)
    assert reddish.mean() > 0.2
    # Nothing changed: a rescan reads no video again.
    calls = encoder.calls
    again = lib.index()
    assert (again.added, again.updated, again.unchanged) == (0, 0, len(photos) + 2)
    assert encoder.calls == calls


def test_moved_video_keeps_its_vectors_and_a_changed_one_is_resampled(
    lib: Library, encoder: CountingEncoder, tmp_path: Path
) -> None:
    root = tmp_path / "media"
    _, videos = media_folder(root)
    lib.add_folder(root)
    lib.index()
    red = lib.photo_by_path(videos[0])
    assert red is not None and lib.vindex is not None
    before = moments_of(lib, red.id)
    images = encoder.images
    moved = root / "elsewhere" / "renamed.mp4"
    moved.parent.mkdir()
    os.rename(videos[0], moved)
    report = lib.index()
    assert (report.moved, report.added, report.deleted) == (1, 0, 0)
    assert encoder.images == images  # no re-encode
    after = lib.photo_by_path(moved)
    assert after is not None and after.id == red.id and moments_of(lib, red.id) == before
    assert best_moment(lib, caption("red", "circle"))[0] == red.id

    scene_video(moved, OTHER, seed=9)  # the same name, another video: re-sampled
    report = lib.index()
    assert report.updated == 1 and encoder.images > images
    now = moments_of(lib, red.id)
    assert now and not set(now) & set(before)
    assert not lib.vindex.contains(list(before)).any()  # the old moments left the index
    assert lib.vindex.contains(list(now)).all()


def test_deleted_video_leaves_the_index_and_unplugged_folder_keeps_it(
    lib: Library, encoder: CountingEncoder, tmp_path: Path
) -> None:
    root = tmp_path / "media"
    photos, videos = media_folder(root)
    lib.add_folder(root)
    lib.index()
    assert lib.vindex is not None
    ids = {p: lib.photo_by_path(p) for p in videos}
    labels = {p: list(moments_of(lib, v.id)) for p, v in ids.items() if v is not None}
    images = encoder.images

    away = tmp_path / "unplugged"
    os.rename(root, away)  # the drive is gone: nothing is forgotten
    report = lib.index()
    assert report.unavailable == [root] and report.deleted == 0
    assert all(lib.vindex.contains(labels[p]).all() for p in videos)
    os.rename(away, root)  # back: nothing to encode
    report = lib.index()
    assert (report.added, report.deleted) == (0, 0) and encoder.images == images

    videos[1].unlink()
    report = lib.index()
    gone = ids[videos[1]]
    assert report.deleted == 1 and gone is not None
    assert lib.photo(gone.id) is None and len(lib.catalog.moment_labels([gone.id])) == 0
    assert not lib.vindex.contains([gone.id, *labels[videos[1]]]).any()
    assert lib.vindex.contains(labels[videos[0]]).all()
    assert len(lib.vindex) == len(photos) + 1 + len(labels[videos[0]])
    lib.remove_folder(root)  # the folder's photos, videos and moments all leave
    assert len(lib.vindex) == 0 and lib.catalog.count_moments(encoder.model_id) == 0


def test_hostile_videos_are_skipped_or_partly_indexed_with_their_reason_and_the_run_goes_on(
    lib: Library, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "media"
    root.mkdir()
    good = scene_video(root / "good.mp4", RED_AT)
    whole = scene_video(tmp_path / "whole.mkv", [(3, "red", "circle"), (7, "blue", "star")])
    data = whole.read_bytes()
    (root / "cut.mkv").write_bytes(data[: len(data) // 2])  # a copy that broke off
    (root / "truncated.mp4").write_bytes(good.read_bytes()[:3000])
    (root / "empty.mov").write_bytes(b"")
    (root / "notes.mp4").write_bytes(b"not a video at all, just text\n" * 20)
    write_audio_only(root / "song.m4v")
    lib.add_folder(root)
    report = lib.index()
    assert (report.added, report.skipped, report.partial) == (2, 4, 1)
    reasons = {s.path.name: s.reason for s in lib.skipped()}
    assert set(reasons) == {"truncated.mp4", "empty.mov", "notes.mp4", "song.m4v"}
    assert reasons["empty.mov"] == "empty file (0 bytes)"
    assert "no video track" in reasons["song.m4v"]
    assert all(r and "Traceback" not in r for r in reasons.values())
    partly = lib.partly_indexed()
    assert [(p.path.name, p.reason) for p in partly] == [
        ("cut.mkv", f"indexed up to 0:02 of 0:10: {ENDS_EARLY}")
    ]
    cut = lib.photo_by_path(root / "cut.mkv")
    assert cut is not None and cut.state == "indexed" and cut.skip_reason == partly[0].reason
    kept = moments_of(lib, cut.id)  # searchable up to there
    assert kept and max(kept.values()) <= 2000 and lib.vindex is not None
    assert lib.vindex.contains([cut.id, *kept]).all()
    # Skipped files are not read again until they change; the partial one neither.
    again = lib.index()
    assert (again.added, again.updated, again.still_skipped) == (0, 0, 4)
    # `photoseek status` lists the partly indexed video with its reason, as the skipped ones.
    from app.cli import main

    assert main(["--data-dir", str(lib.paths.data.parent), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [(Path(s["path"]).name, s["reason"]) for s in status["partly_indexed"]] == [
        ("cut.mkv", partly[0].reason)
    ]
    assert main(["--data-dir", str(lib.paths.data.parent), "status"]) == 0
    assert f"{root / 'cut.mkv'}: {partly[0].reason}" in capsys.readouterr().out


def test_a_per_video_deadline_keeps_what_was_sampled(
    lib: Library, encoder: CountingEncoder, tmp_path: Path
) -> None:
    """An hour-long video must not hold a run up: past its deadline the frames so far are
    indexed and the reason recorded (a deadline of 0 still takes the first frame). Touched
    later, it is sampled again, in full this time."""
    root = tmp_path / "media"
    root.mkdir()
    clip = scene_video(root / "clip.mp4", RED_AT)
    lib.indexer.sampling.deadline_s = 0.0
    lib.add_folder(root)
    report = lib.index()
    assert (report.added, report.skipped, report.partial, report.frames) == (1, 0, 1, 1)
    cut = "indexed up to 0:00 of 0:08: stopped after 0 s (the per-video time limit)"
    assert [(p.path, p.reason) for p in lib.partly_indexed()] == [(clip, cut)]
    assert lib.skipped() == []
    lib.indexer.sampling.deadline_s = 60.0
    os.utime(clip, ns=(1, 1))  # touched: same content, sampled again
    report = lib.index()
    assert (report.updated, report.partial) == (1, 0) and report.frames > 1
    assert lib.partly_indexed() == []
    video = lib.photo_by_path(clip)
    assert video is not None and len(moments_of(lib, video.id)) == report.frames


def test_videos_catalogued_without_a_model_are_encoded_once_one_arrives(
    paths: Paths, encoder: CountingEncoder, tmp_path: Path
) -> None:
    """No model: a video is catalogued (kind, duration, poster thumbnail) and waits; the first
    run with a model samples and encodes it, and a note left by a cut-short sample goes."""
    root = tmp_path / "media"
    clip = scene_video(root / "clip.mp4", RED_AT)
    with Library(paths, None) as bare:
        bare.add_folder(root)
        bare.indexer.sampling.deadline_s = 0.0
        report = bare.index()
        video = bare.photo_by_path(clip)
        assert report.added == 1 and video is not None and video.state == "pending"
        assert video.kind == "video" and video.duration_ms == 8000
        assert video.skip_reason is not None and "time limit" in video.skip_reason
        assert bare.thumbnail(video.id) is not None
    with Library(paths, encoder) as lib:
        report = lib.index()
        assert report.added == 1 and report.frames >= 4 and report.partial == 0
        video = lib.photo_by_path(clip)
        assert video is not None and video.state == "indexed" and video.skip_reason is None
        assert best_moment(lib, caption("red", "circle"))[1] in range(*RED_MS)


def test_kill_mid_index_of_videos_then_resume(
    paths: Paths, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """kill -9 while videos and photos are being indexed: the next run finishes the job,
    encodes nothing twice, and every video has its moments in the catalog and the index."""
    root = tmp_path / "media"
    made = make_folder(root)
    videos = [
        scene_video(root / "v" / f"clip{i}.mp4", RED_AT if i % 2 else OTHER, seed=i)
        for i in range(8)
    ]
    setup = Library(paths, None)
    setup.add_folder(root)
    setup.close()
    model_id = read_model_info(tiny_model_dir).model_id
    from app.core.catalog.catalog import Catalog

    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "killed_index_child.py"), str(tmp_path / "home"),
         str(tiny_model_dir), "0.15"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    total = len(made) + len(videos)
    catalog = Catalog(paths.catalog)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            n = catalog.count_indexed(model_id)
            if 0 < n < total - 4 and catalog.count_moments(model_id) > 0:
                break
            assert child.poll() is None, child.stdout.read().decode() if child.stdout else ""
            time.sleep(0.02)
        else:
            pytest.fail("the child never got part-way")
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        committed = catalog.count_indexed(model_id)
        assert 0 < committed < total
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout:
            child.stdout.close()
        catalog.close()

    enc = CountingEncoder(tiny_model_dir, device="cpu", threads=1)
    lib = Library(paths, enc)
    try:
        report = lib.index()
        assert report.added == total - committed  # nothing twice
        assert lib.vindex is not None and lib.catalog.count_indexed(model_id) == total
        moments = lib.catalog.moment_labels([v.id for p in videos if (v := lib.photo_by_path(p))])
        assert len(moments) == lib.catalog.count_moments(model_id) >= 4 * len(videos)
        items = lib.catalog.filter_ids()  # photos, videos and the videos' moments
        assert set(lib.vindex.ids().tolist()) == set(items.tolist())
        assert set(moments.tolist()) <= set(items.tolist())
        assert best_moment(lib, caption("red", "circle"))[1] in range(*RED_MS)
    finally:
        lib.close()
        enc.close()
    shutil.rmtree(root)
