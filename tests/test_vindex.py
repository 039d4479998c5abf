"""The vector index against a real SQLite catalog: round trips, every reason to rebuild, sync of a
stale index, removals and compaction, kill-safety of save, recall on clustered vectors, threads.

`clustered`, `text_like` and `fill_catalog` are reused by test_search.py."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from app.core import durable
from app.core.catalog.catalog import Catalog
from app.core.index import vfiles, vindex, vstore
from app.core.index.vfiles import INDEX_AUX, INDEX_BIN, INDEX_JSON
from app.core.index.vindex import VectorIndex
from app.core.photos.metadata import PhotoMeta

MODEL = "synthetic-model"
REPO = Path(__file__).resolve().parents[1]


# -- synthetic CLIP-like data ------------------------------------------------------------------


def _unit(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=-1, keepdims=True)).astype(np.float32)


def clustered(
    n: int, dim: int, rng: np.random.Generator, topics: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """CLIP-like image vectors: a shared component (any two photos ~0.45 cosine), a topic
    (+0.3), a burst within the topic (+0.15), noise. Returns (vectors, topic of each)."""
    common = _unit(rng.standard_normal(dim))
    centres = _unit(rng.standard_normal((topics, dim)))
    bursts = _unit(rng.standard_normal((topics * 8, dim)))
    topic = rng.integers(0, topics, n)
    burst = topic * 8 + rng.integers(0, 8, n)
    x = (
        np.sqrt(0.45) * common
        + np.sqrt(0.30) * centres[topic]
        + np.sqrt(0.15) * bursts[burst]
        + np.sqrt(0.10) * _unit(rng.standard_normal((n, dim)))
    )
    return _unit(x), topic


def text_like(
    vectors: np.ndarray, topic: np.ndarray, rng: np.random.Generator, n: int
) -> np.ndarray:
    """Queries shaped like CLIP text embeddings: off the photos' manifold (cosine 0.15-0.35 with
    photos), nearest to one topic. hnswlib is weaker on these than on photo-like queries."""
    dim = vectors.shape[1]
    common = _unit(vectors.mean(axis=0))
    off = _unit(rng.standard_normal(dim))
    picks = rng.integers(0, topic.max() + 1, n)
    centres = np.stack([_unit(vectors[topic == t].mean(axis=0)) for t in picks])
    return _unit(
        0.3 * centres + 0.1 * common + 0.9 * off + 0.3 * _unit(rng.standard_normal((n, dim)))
    )


def fill_catalog(
    catalog: Catalog,
    root: Path,
    vectors: np.ndarray,
    *,
    model_id: str = MODEL,
    dates: Sequence[datetime | None] | None = None,
    folders: Sequence[int] | None = None,
) -> np.ndarray:
    """Catalogue one photo per vector (files need not exist) with its date and folder number
    (folders root/f0, root/f1, ...), store the vectors; returns the photo ids."""
    n = len(vectors)
    folders = folders if folders is not None else [0] * n
    dirs: dict[int, Path] = {}
    for f in sorted(set(folders)):
        d = root / f"f{f}"
        d.mkdir(parents=True, exist_ok=True)
        if catalog.folder(d) is None:
            catalog.add_folder(d)
        dirs[f] = d
    batch = uuid.uuid4().hex[:8]
    metas = [
        PhotoMeta(
            path=str(dirs[folders[i]] / f"{batch}-{i}.jpg"),
            size=1000 + i,
            mtime_ns=1,
            fingerprint=f"{batch}-{i}",
            width=640,
            height=480,
            capture_time=dates[i] if dates is not None else None,
            capture_offset=None,
            capture_source="exif_original" if dates is not None else "file_mtime",
            camera_make=None,
            camera_model=None,
        )
        for i in range(n)
    ]
    ids = np.asarray(catalog.upsert_photos(metas), dtype=np.int64)
    catalog.put_embeddings(model_id, ids, vectors)
    return ids


def fill_videos(
    catalog: Catalog,
    root: Path,
    moments: Sequence[Sequence[tuple[int, np.ndarray]]],
    *,
    model_id: str = MODEL,
    dates: Sequence[datetime | None] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Catalogue one video per list of (t_ms, vector) moments (files need not exist) and store
    its moments; returns (video ids, the moment labels of each in time order)."""
    root.mkdir(parents=True, exist_ok=True)
    if catalog.folder(root) is None:
        catalog.add_folder(root)
    batch = uuid.uuid4().hex[:8]
    metas = [
        PhotoMeta(
            path=str(root / f"{batch}-{i}.mp4"),
            size=5000 + i,
            mtime_ns=1,
            fingerprint=f"v{batch}-{i}",
            width=1280,
            height=720,
            capture_time=dates[i] if dates is not None else None,
            capture_offset=None,
            capture_source="video_container" if dates is not None else "file_mtime",
            camera_make=None,
            camera_model=None,
            kind="video",
            duration_ms=max(t for t, _ in ms) + 1000,
        )
        for i, ms in enumerate(moments)
    ]
    ids = np.asarray(catalog.upsert_photos(metas), dtype=np.int64)
    labels = []
    for vid, ms in zip(ids.tolist(), moments, strict=True):
        catalog.put_moments(vid, model_id, ms)
        got = catalog.moment_labels([vid])
        times = catalog.moment_times(got)
        labels.append(np.array(sorted(got.tolist(), key=lambda lb: times[lb][1]), np.int64))
    return ids, labels


def index_contents(vi: VectorIndex) -> tuple[np.ndarray, np.ndarray]:
    ids = vi.ids()
    return ids, vi.vectors(ids)


def assert_matches_catalog(vi: VectorIndex, catalog: Catalog) -> None:
    """The index holds exactly the catalog's vectors for the model (items and moments)."""
    want_ids, want = catalog.embeddings(vi.model_id)
    m_ids, m_vecs = catalog.moment_vectors(vi.model_id)
    want_ids, want = np.concatenate([want_ids, m_ids]), np.concatenate([want, m_vecs])
    ids, got = index_contents(vi)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(got, want, atol=5e-4)  # the index keeps float16 rows


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    (tmp_path / "data").mkdir()
    cat = Catalog(tmp_path / "data" / "catalog.sqlite3")
    yield cat
    cat.close()


@pytest.fixture
def library(catalog: Catalog, tmp_path: Path) -> tuple[Catalog, np.ndarray, np.ndarray]:
    vectors, _ = clustered(600, 32, np.random.default_rng(1))
    ids = fill_catalog(catalog, tmp_path / "photos", vectors)
    return catalog, ids, vectors


def reasons(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "app.core.index.vindex")


# -- open, save, rebuild -----------------------------------------------------------------------


def test_round_trip_loads_without_rebuilding(library, tmp_path, caplog):
    catalog, ids, vectors = library
    caplog.set_level(logging.INFO, logger="app.core.index.vindex")
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert "index.json is missing" in reasons(caplog)
    assert_matches_catalog(vi, catalog)
    before = vi.query(vectors[7], 10)
    vi.close()

    caplog.clear()
    again = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert reasons(caplog) == ""  # loaded as saved: no rebuild, no sync
    assert again.generation == catalog.generation(MODEL)
    after = again.query(vectors[7], 10)
    np.testing.assert_array_equal(before[0], after[0])
    assert after[0][0] == ids[7] and after[1][0] == pytest.approx(1.0, abs=1e-3)


def test_stale_generation_is_brought_up_to_date(library, tmp_path, caplog):
    catalog, ids, vectors = library
    VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog).close()
    rng = np.random.default_rng(2)
    extra, _ = clustered(20, 32, rng)
    new_ids = fill_catalog(catalog, tmp_path / "photos", extra)  # added
    catalog.delete_photos(ids[:15])  # removed
    changed = _unit(rng.standard_normal((5, 32)))
    catalog.put_embeddings(MODEL, ids[100:105], changed)  # re-encoded: same ids, new vectors

    caplog.set_level(logging.INFO, logger="app.core.index.vindex")
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert "stale" in reasons(caplog)
    assert_matches_catalog(vi, catalog)
    assert vi.query(changed[0], 1)[0][0] == ids[100]
    assert vi.query(extra[3], 1)[0][0] == new_ids[3]
    assert not set(vi.query(vectors[0], 50)[0]) & set(ids[:15].tolist())
    # The sync was saved: the next open is clean.
    vi.close()
    caplog.clear()
    VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog).close()
    assert reasons(caplog) == ""


def test_mostly_changed_catalog_rebuilds(library, tmp_path, caplog):
    catalog, ids, _ = library
    VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog).close()
    catalog.delete_photos(ids[: len(ids) // 2])
    caplog.set_level(logging.INFO, logger="app.core.index.vindex")
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert "over 20 % of it changed" in reasons(caplog)
    assert vi.deleted_count == 0
    assert_matches_catalog(vi, catalog)


def _damage(idx: Path, damage: str) -> None:
    """One kind of damage a saved index can suffer: a torn write, a flipped byte, a lost file."""
    bin_path, json_path, aux = idx / INDEX_BIN, idx / INDEX_JSON, idx / INDEX_AUX
    segments = sorted(idx.glob("vectors-*.f16"))
    assert len(segments) == 1
    if damage == "truncate":
        with open(bin_path, "r+b") as f:
            f.truncate(bin_path.stat().st_size // 2)
    elif damage == "flip":
        data = bytearray(bin_path.read_bytes())
        data[len(data) // 3] ^= 0xFF
        bin_path.write_bytes(bytes(data))
    elif damage == "delete_bin":
        bin_path.unlink()
    elif damage == "garbage_json":
        json_path.write_text("{not json")
    elif damage == "old_format":
        text = json_path.read_text()
        assert f'"format": {vfiles.FORMAT_VERSION}' in text
        json_path.write_text(text.replace(f'"format": {vfiles.FORMAT_VERSION}', '"format": 0'))
    elif damage == "delete_segment":
        segments[0].unlink()
    elif damage == "flip_segment":
        data = bytearray(segments[0].read_bytes())
        data[len(data) // 2] ^= 0x40
        segments[0].write_bytes(bytes(data))
    elif damage == "truncate_aux":
        aux.write_bytes(aux.read_bytes()[:-10])
    else:
        raise AssertionError(damage)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("truncate", "torn write"),
        ("flip", "checksum"),
        ("delete_bin", "index.bin is missing"),
        ("garbage_json", "index.json is unreadable"),
        ("old_format", "format 0"),
        ("delete_segment", "is missing"),
        ("flip_segment", "does not match its checksum"),
        ("truncate_aux", "torn write"),
    ],
)
def test_damaged_index_is_rebuilt_with_a_reason(library, tmp_path, caplog, damage, reason):
    catalog, _, vectors = library
    VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog).close()
    _damage(tmp_path / "idx", damage)

    caplog.set_level(logging.INFO, logger="app.core.index.vindex")
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    log_text = reasons(caplog)
    assert "Rebuilding" in log_text and reason in log_text
    assert_matches_catalog(vi, catalog)
    assert vi.query(vectors[3], 1)[1][0] == pytest.approx(1.0, abs=1e-3)


def test_hnswlib_load_failure_is_rebuilt(library, tmp_path, caplog):
    """A file that passes our checks but that hnswlib rejects (e.g. a future format)."""
    catalog, _, _ = library
    VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog).close()
    bin_path, json_path = tmp_path / "idx" / INDEX_BIN, tmp_path / "idx" / INDEX_JSON
    bin_path.write_bytes(b"\0" * 64)
    meta = json_path.read_text()
    import json

    d = json.loads(meta)
    d["bin_size"], d["bin_crc32"] = 64, durable.crc32_file(bin_path)
    json_path.write_text(json.dumps(d))
    caplog.set_level(logging.INFO, logger="app.core.index.vindex")
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert "hnswlib could not load" in reasons(caplog) or "disagree" in reasons(caplog)
    assert_matches_catalog(vi, catalog)


def test_other_model_or_dimension_rebuilds(library, tmp_path, caplog):
    catalog, ids, _ = library
    VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog).close()
    other = _unit(np.random.default_rng(5).standard_normal((len(ids), 16)))
    catalog.put_embeddings("other-model", ids, other)
    caplog.set_level(logging.INFO, logger="app.core.index.vindex")
    vi = VectorIndex.open(tmp_path / "idx", "other-model", 16, catalog)
    assert f"belongs to model {MODEL} (32-d), not other-model" in reasons(caplog)
    assert_matches_catalog(vi, catalog)
    vi.close()
    caplog.clear()
    # Back to the first model: its index was overwritten, so it is rebuilt again.
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert "belongs to model other-model" in reasons(caplog)
    assert_matches_catalog(vi, catalog)


# -- adds, removals, compaction ----------------------------------------------------------------


def test_add_grows_capacity_and_replaces_vectors(tmp_path):
    rng = np.random.default_rng(3)
    vi = VectorIndex.empty(tmp_path / "idx", MODEL, 16)
    start_capacity = vi._require().max_elements
    vectors = _unit(rng.standard_normal((3 * start_capacity, 16)))
    for i in range(0, len(vectors), 500):
        vi.add(np.arange(i, min(i + 500, len(vectors))) + 1, vectors[i : i + 500])
    assert len(vi) == len(vectors)
    assert vi._require().max_elements >= len(vectors)
    np.testing.assert_array_equal(vi.ids(), np.arange(1, len(vectors) + 1))
    replacement = _unit(rng.standard_normal(16))
    vi.add([10], replacement[None, :] * 3.0)  # stored normalised
    assert len(vi) == len(vectors)
    np.testing.assert_allclose(vi.vectors([10])[0], replacement, atol=5e-4)
    assert vi.query(replacement, 1)[0][0] == 10


def test_remove_hides_photos_and_readd_revives(library, tmp_path):
    catalog, ids, vectors = library
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    gone = ids[:50]
    assert vi.remove(np.concatenate([gone, [10**9]])) == 50  # unknown ids are ignored
    assert vi.remove(gone) == 0
    assert len(vi) == len(ids) - 50 and vi.deleted_count == 50
    for i in range(50):
        assert not set(vi.query(vectors[i], 20)[0].tolist()) & set(gone.tolist())
    vi.add(gone[:5], vectors[:5])
    assert vi.deleted_count == 45 and len(vi) == len(ids) - 45
    assert vi.query(vectors[2], 1)[0][0] == ids[2]
    # Deleted ids survive a save and reopen (they are still in the graph).
    catalog.delete_photos(gone[5:])
    vi.save(catalog.generation(MODEL))
    vi.close()
    again = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert again.deleted_count == 45
    assert_matches_catalog(again, catalog)


def test_compaction_past_a_fifth_deleted(library, tmp_path, caplog):
    catalog, ids, vectors = library
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    caplog.set_level(logging.INFO, logger="app.core.index.vindex")
    vi.remove(ids[:100])  # 100 / 600 = 17 %: kept as deleted marks
    assert vi.deleted_count == 100 and "Compacting" not in reasons(caplog)
    vi.remove(ids[100:130])  # 130 / 600 = 22 %: compacted
    assert "Compacting" in reasons(caplog) and "130 of 600" in reasons(caplog)
    assert vi.deleted_count == 0 and len(vi) == 470
    np.testing.assert_array_equal(vi.ids(), ids[130:])
    np.testing.assert_allclose(vi.vectors(ids[130:]), vectors[130:], atol=5e-4)
    assert vi.query(vectors[200], 1)[0][0] == ids[200]


# -- kill-safety -------------------------------------------------------------------------------


@pytest.mark.parametrize("dies_at", [INDEX_AUX, INDEX_JSON])
def test_crash_between_the_renames_reads_as_torn(library, tmp_path, monkeypatch, caplog, dies_at):
    """index.bin (and index.aux) replaced, killed before index.json: the old json no longer
    describes them."""
    catalog, _ids, _vectors = library
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    extra, _ = clustered(30, 32, np.random.default_rng(9))
    new_ids = fill_catalog(catalog, tmp_path / "photos", extra)
    vi.add(new_ids, extra)

    real_replace = os.replace
    calls: list[str] = []

    def dying_replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        calls.append(Path(dst).name)
        if Path(dst).name == dies_at:
            raise KeyboardInterrupt("killed")  # the process dies here
        real_replace(src, dst)

    monkeypatch.setattr(vfiles.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        vi.save(catalog.generation(MODEL))
    monkeypatch.setattr(vfiles.os, "replace", real_replace)
    order = [INDEX_BIN, INDEX_AUX, INDEX_JSON]
    assert calls == order[: order.index(dies_at) + 1]
    left = tmp_path / "idx" / f"{dies_at}.{os.getpid()}.tmp"
    assert left.exists()

    caplog.set_level(logging.INFO, logger="app.core.index.vindex")
    again = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert "does not match its checksum" in reasons(caplog) or "torn write" in reasons(caplog)
    assert not left.exists()
    assert_matches_catalog(again, catalog)


def test_crash_before_any_rename_keeps_the_old_index(library, tmp_path, monkeypatch, caplog):
    catalog, ids, _ = library
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    vi.remove(ids[:3])

    def dying_replace(src: object, dst: object) -> None:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(vfiles.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        vi.save(catalog.generation(MODEL))
    monkeypatch.undo()
    caplog.set_level(logging.INFO, logger="app.core.index.vindex")
    again = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert "Rebuilding" not in reasons(caplog)  # the old pair is intact and current
    assert len(again) == len(ids)


def test_open_removes_temp_files_of_dead_saves_only(library, tmp_path):
    catalog, _, _ = library
    VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog).close()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    idx = tmp_path / "idx"
    left = [idx / f"{INDEX_BIN}.{int(dead.stdout)}.tmp", idx / f"{INDEX_JSON}.{os.getpid()}.tmp"]
    busy = idx / f"{INDEX_BIN}.{os.getppid()}.tmp"  # a live process mid-save
    for p in [*left, busy]:
        p.write_bytes(b"partial")
    VectorIndex.open(idx, MODEL, 32, catalog).close()
    assert not any(p.exists() for p in left) and busy.exists()


def test_a_second_index_opened_mid_save_leaves_the_save_alone(library, tmp_path, monkeypatch):
    """A model switch reopens an index folder while the indexer's thread saves to it: the second
    object's sweep of this process's temp files waits for the save instead of deleting them."""
    catalog, ids, vectors = library
    idx = tmp_path / "idx"
    vi = VectorIndex.open(idx, MODEL, 32, catalog)
    vi.add(ids, vectors)
    sweeper: list[threading.Thread] = []
    real_fsync = vfiles.fsync_file

    def fsync_then_reopen(path: Path) -> None:
        if not sweeper:  # mid-save, the temp files written: another object opens the folder
            sweeper.append(threading.Thread(target=vfiles.remove_dead_temp_files, args=(idx,)))
            sweeper[0].start()
            sweeper[0].join(0.3)
        real_fsync(path)

    monkeypatch.setattr(vfiles, "fsync_file", fsync_then_reopen)
    vi.save(catalog.generation(MODEL))  # FileNotFoundError here before the folder lock
    sweeper[0].join(10)
    assert not sweeper[0].is_alive()
    vi.close()
    again = VectorIndex.open(idx, MODEL, 32, catalog)
    assert len(again.ids()) == len(ids)
    again.close()


CHILD = textwrap.dedent(
    """
    import sys, numpy as np
    from pathlib import Path
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    from app.core.catalog.catalog import Catalog
    from app.core.index.vindex import VectorIndex
    from test_vindex import MODEL, clustered, fill_catalog
    root = Path(sys.argv[3])
    catalog = Catalog(root / "data" / "catalog.sqlite3")
    vi = VectorIndex.open(root / "idx", MODEL, 32, catalog)
    rng = np.random.default_rng(int(sys.argv[4]))
    print("ready", flush=True)
    while True:
        vectors, _ = clustered(40, 32, rng)
        ids = fill_catalog(catalog, root / "photos", vectors)
        vi.add(ids, vectors)
        old = vi.ids()[:10]
        catalog.delete_photos(old)
        vi.remove(old)
        vi.save(catalog.generation(MODEL))
    """
)


def test_kill_9_at_random_moments_never_loses_consistency(library, tmp_path):
    """A child adds, removes and saves in a loop; SIGKILL at random times; each reopen must
    agree with the catalog exactly."""
    catalog, _, _ = library
    VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog).close()
    rng = np.random.default_rng(11)
    for round_ in range(4):
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                str(REPO),
                str(REPO / "tests"),
                str(tmp_path),
                str(round_),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.05, 0.6)))
        child.send_signal(signal.SIGKILL)
        child.wait()
        vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
        assert_matches_catalog(vi, catalog)
        vi.close()


# -- queries -----------------------------------------------------------------------------------


def _recall(got: np.ndarray, truth: np.ndarray) -> float:
    return len(set(got.tolist()) & set(truth.tolist())) / max(len(truth), 1)


def test_recall_on_clustered_vectors_with_text_like_queries(catalog, tmp_path):
    rng = np.random.default_rng(4)
    vectors, topic = clustered(8000, 64, rng)
    ids = fill_catalog(catalog, tmp_path / "photos", vectors)
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 64, catalog)
    queries = text_like(vectors, topic, rng, 40)
    photo_queries = vectors[rng.integers(0, len(vectors), 20)]
    for k in (10, 100):
        recalls = []
        for q in np.concatenate([queries, photo_queries]):
            truth = ids[np.argsort(-(vectors @ q))[:k]]
            got, scores = vi.query(q, k)
            assert len(got) == k and np.all(np.diff(scores) <= 1e-6)
            recalls.append(_recall(got, truth))
        assert np.mean(recalls) >= 0.95, (k, np.mean(recalls))


@pytest.mark.parametrize("share", [0.002, 0.05, 0.3, 0.9])
def test_filtered_query_finds_the_top_k_among_passing(catalog, tmp_path, share):
    rng = np.random.default_rng(6)
    vectors, topic = clustered(6000, 64, rng)
    ids = fill_catalog(catalog, tmp_path / "photos", vectors)
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 64, catalog)
    passing = np.sort(rng.choice(ids, max(12, int(share * len(ids))), replace=False))
    mask = np.isin(ids, passing)
    recalls = []
    for q in text_like(vectors, topic, rng, 20):
        truth = ids[mask][np.argsort(-(vectors[mask] @ q))[:10]]
        got, _ = vi.query(q, 10, filter_ids=passing)
        assert len(got) == 10 and np.isin(got, passing).all()
        recalls.append(_recall(got, truth))
    assert np.mean(recalls) >= 0.95


def test_filter_that_disagrees_with_the_query_reports_incomplete(catalog, tmp_path):
    """Passing photos all far from the query: a capped over-fetch says so instead of guessing."""
    rng = np.random.default_rng(8)
    vectors, topic = clustered(4000, 32, rng, topics=10)
    ids = fill_catalog(catalog, tmp_path / "photos", vectors)
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    q = _unit(vectors[topic == 0].mean(axis=0))
    passing = ids[topic != 0]  # ~90 %: every near neighbour of q fails
    far = ids[topic == 1][:40]  # a small set far from q
    got, _, complete = vi.query_filtered(q, 10, far, max_fetch=200)
    assert not complete and len(got) < 10
    got, _, complete = vi.query_filtered(q, 10, far)  # uncapped: grows until found
    truth = far[np.argsort(-(vectors[np.isin(ids, far)] @ q))[:10]]
    assert complete and _recall(got, truth) >= 0.9
    # The ~400 photos of q's own topic fail the filter: 200 fetched are not enough, 2000 are.
    assert not vi.query_filtered(q, 10, passing, max_fetch=200)[2]
    got, _, complete = vi.query_filtered(q, 10, passing, max_fetch=2000)
    truth = passing[np.argsort(-(vectors[np.isin(ids, passing)] @ q))[:10]]
    assert complete and _recall(got, truth) >= 0.9


def test_queries_while_another_thread_adds(tmp_path):
    """The UI queries while the indexer adds (with resizes): no crash, no torn results."""
    rng = np.random.default_rng(12)
    vectors, _ = clustered(6000, 32, rng)
    vi = VectorIndex.empty(tmp_path / "idx", MODEL, 32)
    vi.add(np.arange(1, 101), vectors[:100])
    errors: list[BaseException] = []

    def adder() -> None:
        try:
            for i in range(100, len(vectors), 200):
                part = vectors[i : i + 200]
                vi.add(np.arange(i + 1, i + 1 + len(part)), part)
                vi.remove([i - 50])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=adder)
    t.start()
    queries = 0
    while t.is_alive() or queries < 50:
        got, _scores = vi.query(vectors[queries % 100], 5)
        assert len(got) == 5 and (got >= 1).all() and (got <= len(vectors)).all()
        queries += 1
    t.join()
    assert not errors
    removed = len(range(100, len(vectors), 200))
    assert len(vi) == len(vectors) - removed
    assert vi.query(vectors[5000], 1)[0][0] == 5001


# -- the reduced graph and the full-vector rows ------------------------------------------------


@pytest.fixture
def small_reduction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reduce 64-d graphs to 24-d from 1500 photos on, so tests see reduction at small sizes."""
    monkeypatch.setattr(vindex, "GRAPH_DIM_MAX", 24)
    monkeypatch.setattr(vindex, "REDUCE_AT", 1500)


def test_projection_lifts_photos_onto_a_sphere_and_keeps_the_inner_product_order():
    rng = np.random.default_rng(20)
    vectors, topic = clustered(3000, 64, rng, topics=30)
    proj = vindex.Projection.fit(vectors, 24, len(vectors))
    assert proj.dim == 24 and proj.basis.shape == (64, 23)
    lifted = proj.photos(vectors)
    # Every photo is the same length, whatever its projection's length was.
    plain = (vectors - proj.mean) @ proj.basis
    assert np.ptp(np.linalg.norm(plain, axis=1)) > 0.1
    np.testing.assert_allclose(np.linalg.norm(lifted, axis=1), proj.RADIUS, rtol=1e-5)
    # A query's inner products are those of the plain projection (the lift adds nothing), for
    # one query or many.
    queries = text_like(vectors, topic, rng, 8)
    np.testing.assert_allclose(proj.query(queries) @ lifted.T, (queries @ proj.basis) @ plain.T,
                               atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(proj.query(queries[0]), proj.query(queries)[0], atol=1e-6)
    assert proj.photos(vectors[0]).shape == (24,)


def test_graph_is_reduced_past_the_threshold_and_keeps_recall(catalog, tmp_path, small_reduction):
    rng = np.random.default_rng(21)
    vectors, topic = clustered(6000, 64, rng, topics=60)
    ids = fill_catalog(catalog, tmp_path / "photos", vectors)
    vi = VectorIndex.empty(tmp_path / "idx", MODEL, 64)
    vi.add(ids[:1000], vectors[:1000])
    assert vi.graph_dim == 64  # small: full width
    vi.add(ids[1000:], vectors[1000:])
    assert vi.graph_dim == 24
    queries = np.concatenate([text_like(vectors, topic, rng, 30), vectors[:10]])
    for k in (10, 100):
        recalls = []
        for q in queries:
            truth = ids[np.argsort(-(vectors @ q))[:k]]
            got, scores = vi.query(q, k)
            assert len(got) == k and np.all(np.diff(scores) <= 0)
            # Scores are exact (from the full rows), not the reduced graph's.
            np.testing.assert_allclose(scores, vectors[np.searchsorted(ids, got)] @ q, atol=2e-3)
            recalls.append(_recall(got, truth))
        assert np.mean(recalls) >= 0.95, (k, np.mean(recalls))
    # Without the exact rerank, the reduced graph alone ranks much worse: the rerank matters.
    proj = vi._proj
    assert proj is not None
    reduced = proj.photos(vectors)
    alone = [
        _recall(
            ids[np.argsort(-(reduced @ proj.query(q)))[:10]], ids[np.argsort(-(vectors @ q))[:10]]
        )
        for q in queries
    ]
    assert np.mean(alone) < np.mean(recalls)


def test_reduced_index_round_trips_and_filters_exactly(catalog, tmp_path, small_reduction, caplog):
    rng = np.random.default_rng(22)
    vectors, topic = clustered(4000, 64, rng, topics=30)
    ids = fill_catalog(catalog, tmp_path / "photos", vectors)
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 64, catalog)  # built reduced from the catalog
    assert vi.graph_dim == 24
    q = text_like(vectors, topic, rng, 1)[0]
    before = vi.query(q, 20)
    vi.close()
    caplog.set_level(logging.INFO, logger="app.core.index.vindex")
    again = VectorIndex.open(tmp_path / "idx", MODEL, 64, catalog)
    assert reasons(caplog) == "" and again.graph_dim == 24
    after = again.query(q, 20)
    np.testing.assert_array_equal(before[0], after[0])
    passing = np.sort(rng.choice(ids, 400, replace=False))
    mask = np.isin(ids, passing)
    truth = ids[mask][np.argsort(-(vectors[mask] @ q))[:10]]
    got, _ = again.query(q, 10, filter_ids=passing)
    assert _recall(got, truth) >= 0.9 and np.isin(got, passing).all()


def test_projection_is_refitted_as_the_library_grows(catalog, tmp_path, small_reduction):
    rng = np.random.default_rng(23)
    vectors, _ = clustered(8000, 64, rng)
    ids = fill_catalog(catalog, tmp_path / "photos", vectors)
    vi = VectorIndex.empty(tmp_path / "idx", MODEL, 64)
    vi.add(ids[:1500], vectors[:1500])
    assert vi._proj is not None and vi._proj.fitted_on == 1500
    vi.add(ids[1500:7600], vectors[1500:7600])
    assert vi._proj.fitted_on == 7600  # grown past 3x: refitted to today's photos
    vi.add(ids[7600:], vectors[7600:])
    assert vi._proj.fitted_on == 7600 and len(vi) == 8000


def test_vectors_of_reads_full_rows_in_the_order_asked(library, tmp_path):
    catalog, ids, vectors = library
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    ask = np.array([ids[5], 10**9, ids[2], ids[5] + 10**8], dtype=np.int64)
    got_ids, got = vi.vectors_of(ask)
    np.testing.assert_array_equal(got_ids, [ids[5], ids[2]])
    np.testing.assert_allclose(got, vectors[[5, 2]], atol=5e-4)


def test_rows_that_disagree_with_the_catalog_are_caught_on_open(library, tmp_path, caplog):
    """Rows rewritten with a valid checksum (a bug, another program) still do not pass."""
    catalog, _, _ = library
    VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog).close()
    (segment,) = (tmp_path / "idx").glob("vectors-*.f16")
    rows = np.fromfile(segment, dtype=np.float16).reshape(-1, 32)
    rows[::-1].tofile(segment)  # every row now belongs to another photo
    import json

    meta_path = tmp_path / "idx" / INDEX_JSON
    meta = json.loads(meta_path.read_text())
    meta["segments"][0][2] = durable.crc32_file(segment)
    meta_path.write_text(json.dumps(meta))
    caplog.set_level(logging.INFO, logger="app.core.index.vindex")
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert "differ from the catalog" in reasons(caplog)
    assert_matches_catalog(vi, catalog)


def test_replaced_vectors_leave_dead_rows_that_compaction_removes(library, tmp_path):
    catalog, ids, _vectors = library
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    first = set(p.name for p in (tmp_path / "idx").glob("vectors-*.f16"))
    rng = np.random.default_rng(24)
    n = len(ids)
    for _ in range(3):  # re-encode every photo three times: dead rows pile up
        vi.add(ids, _unit(rng.standard_normal((n, 32))))
        # Dead rows never pile past the threshold (round two left 1200 and was compacted).
        assert vi._store.dead_rows <= max(vindex.COMPACT_RATIO * (n + vi._store.dead_rows), 1024)
    assert vi._store.dead_rows == n  # round three's 600 wait for the next compaction
    final = _unit(rng.standard_normal((n, 32)))
    vi.add(ids, final)
    np.testing.assert_allclose(vi.vectors(ids), final, atol=5e-4)
    vi.save(catalog.generation(MODEL))
    now = set(p.name for p in (tmp_path / "idx").glob("vectors-*.f16"))
    assert now == vi._store.file_names() and not (now & first)  # the old files were removed


def test_many_small_saves_merge_segments(library, tmp_path):
    catalog, _ids, _vectors = library
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    rng = np.random.default_rng(25)
    extra = _unit(rng.standard_normal((40, 32)))
    new_ids = fill_catalog(catalog, tmp_path / "photos", extra)
    for i in range(len(new_ids)):  # the watcher's pattern: one photo, one save
        vi.add(new_ids[i : i + 1], extra[i : i + 1])
        vi.save(catalog.generation(MODEL))
    files = list((tmp_path / "idx").glob("vectors-*.f16"))
    assert len(files) <= vstore.MAX_SEGMENTS
    again = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert_matches_catalog(again, catalog)


@pytest.mark.parametrize("reader", ["pread", "mmap"])
def test_rows_read_back_through_either_reader(tmp_path, monkeypatch, reader):
    """pread where the OS has it; memory-mapped files elsewhere (Windows): same rows."""
    if reader == "mmap":
        monkeypatch.delattr(vstore.os, "preadv")
    rng = np.random.default_rng(26)
    vectors = _unit(rng.standard_normal((3000, 32)))
    store = vstore.RowStore(tmp_path, 32)
    store.put(np.arange(1, 2001), vectors[:2000])
    store.flush()
    store.put(np.arange(2001, 3001), vectors[2000:])  # half on disk, half in the tail
    store.put(np.array([5, 2500]), vectors[[0, 1]])  # replaced rows: dead rows in between
    want = np.array([2999, 5, 1, 1500, 2500, 2000, 2001, 7], dtype=np.int64)
    expect = vectors[want - 1]
    expect[1], expect[4] = vectors[0], vectors[1]
    np.testing.assert_allclose(store.get(want), expect, atol=5e-4)
    store.flush()
    again = vstore.RowStore.load(tmp_path, 32, store.manifest(), store.ids, store.rows)
    np.testing.assert_allclose(again.get(want), expect, atol=5e-4)
    assert (again._segments[0].fd is None) == (reader == "mmap")
    again.close()
    store.close()


def test_removing_every_photo_compacts_to_an_empty_store(library, tmp_path):
    catalog, ids, _ = library
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    vi.remove(ids)
    assert len(vi) == 0 and vi.query(np.ones(32, np.float32), 5)[0].size == 0
    catalog.delete_photos(ids)
    vi.save(catalog.generation(MODEL))
    again = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert len(again) == 0


# -- videos: moment labels (MOMENT_BASE + moment id) beside photo ids ---------------------------


def test_labels_above_2_to_the_41_round_trip_through_graph_and_rows(tmp_path):
    from app.core.index.labels import MOMENT_BASE

    vectors, _ = clustered(40, 32, np.random.default_rng(9))
    labels = np.array([*range(1, 21), *(2 * MOMENT_BASE + k for k in range(20))], np.int64)
    vi = VectorIndex.empty(tmp_path / "idx", MODEL, 32, capacity=40)
    vi.add(labels, vectors)
    for i in (3, 25, 39):
        got, scores = vi.query(vectors[i], 1)
        assert got[0] == labels[i] and scores[0] == pytest.approx(1.0, abs=1e-3)
    assert vi.remove(labels[30:]) == 10
    vi.save(1)
    vi.close()
    again = VectorIndex._load(tmp_path / "idx", MODEL, 32)
    np.testing.assert_array_equal(np.sort(again.ids()), labels[:30])
    np.testing.assert_allclose(again.vectors(labels[25:30]), vectors[25:30], atol=5e-4)
    got, _ = again.query(vectors[28], 1, filter_ids=labels[20:30])
    assert got[0] == labels[28]
    again.close()


def test_the_index_holds_moments_and_follows_their_removal(library, tmp_path, caplog):
    catalog, ids, _ = library
    rng = np.random.default_rng(4)
    scenes, _ = clustered(6, 32, rng)
    vids, labels = fill_videos(
        catalog,
        tmp_path / "videos",
        [
            [(0, scenes[0]), (2000, scenes[1]), (4000, scenes[2])],
            [(0, scenes[3]), (500, scenes[4])],
        ],
    )
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert len(vi) == len(ids) + 2 + 5
    assert_matches_catalog(vi, catalog)
    got, _ = vi.query(scenes[1], 1)
    assert got[0] == labels[0][1]
    vi.close()
    caplog.set_level(logging.INFO, logger="app.core.index.vindex")
    catalog.put_moments(int(vids[1]), MODEL, [(0, scenes[5])])  # re-sampled: one moment left
    catalog.delete_photos([vids[0]])
    vi = VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog)
    assert "stale" in reasons(caplog)
    assert_matches_catalog(vi, catalog)
    assert not vi.contains(labels[0]).any() and not vi.contains([vids[0]]).any()
    assert len(vi) == len(ids) + 1 + 1
    vi.close()
    caplog.clear()
    VectorIndex.open(tmp_path / "idx", MODEL, 32, catalog).close()
    assert reasons(caplog) == ""  # its count (photos, videos, moments) agrees: loaded as saved
