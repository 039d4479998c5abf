"""The catalog on real SQLite files: schema and migrations, filters, vectors, generations, threads."""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.catalog.catalog import Catalog, CatalogError, FolderError, Photo
from app.core.catalog.schema import APPLICATION_ID, MIGRATIONS, ROOTS_FILE, v4_folder_roots
from app.core.durable import write_json_atomic
from app.core.photos.metadata import PhotoMeta, read_metadata

MODEL = "model-a"
OTHER = "model-b"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "catalog.sqlite3"


@pytest.fixture
def cat(db_path: Path):
    catalog = Catalog(db_path)
    yield catalog
    catalog.close()


def photo_dir(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def meta(path: Path | str, when: datetime | None = datetime(2020, 1, 1), **kw) -> PhotoMeta:
    fields = dict(
        path=str(path), size=1000, mtime_ns=1, fingerprint=f"fp:{path}", width=640, height=480,
        capture_time=when, capture_offset=None, capture_source="exif_original",
        camera_make=None, camera_model=None,
    )  # fmt: skip
    fields.update(kw)
    return PhotoMeta(**fields)  # type: ignore[arg-type]


def vectors(ids, dim=8) -> np.ndarray:
    """Distinct, recognisable vectors: row i starts with the photo id."""
    ids = np.asarray(ids, dtype=np.float32)
    out = np.random.default_rng(int(ids.sum()) if len(ids) else 0).random((len(ids), dim))
    out = out.astype(np.float32)
    out[:, 0] = ids
    return out


# -- schema and migrations -------------------------------------------------------------------


def test_new_file_gets_schema_and_pragmas(cat, db_path):
    assert cat.schema_version == len(MIGRATIONS)
    conn = cat.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"folders", "photos", "embeddings", "meta", "schema_version"} <= tables


def test_reopen_is_idempotent_and_keeps_data(db_path, tmp_path):
    with Catalog(db_path) as cat:
        folder = cat.add_folder(photo_dir(tmp_path, "p"))
        [pid] = cat.upsert_photos([meta(Path(folder.path) / "a.jpg")])
        cat.put_embeddings(MODEL, [pid], vectors([pid]))
    for _ in range(2):
        with Catalog(db_path) as cat:
            assert cat.schema_version == len(MIGRATIONS)
            assert cat.count_indexed(MODEL) == 1
            assert cat.generation(MODEL) == 1
            assert [f.path for f in cat.folders()] == [folder.path]


def test_a_later_migration_is_applied_exactly_once(db_path, tmp_path):
    with Catalog(db_path) as cat:
        folder = cat.add_folder(photo_dir(tmp_path, "p"))
        cat.upsert_photos([meta(Path(folder.path) / "a.jpg")])
    calls = []

    def v2(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("ALTER TABLE photos ADD COLUMN rating INTEGER")
        conn.execute("UPDATE photos SET rating = 3")

    steps = [*MIGRATIONS, v2]
    for _ in range(3):
        with Catalog(db_path, migrations=steps) as cat:
            assert cat.schema_version == len(MIGRATIONS) + 1
            assert cat.db.conn.execute("SELECT path, rating FROM photos").fetchall() == [
                (str(Path(folder.path) / "a.jpg"), 3)
            ]
    assert calls == [1]
    with pytest.raises(CatalogError, match="newer PhotoSeek"):
        Catalog(db_path)


def test_a_failing_migration_leaves_the_file_at_the_old_version(db_path):
    Catalog(db_path).close()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE photos ADD COLUMN rating INTEGER")
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    with pytest.raises(CatalogError, match="unchanged"):
        Catalog(db_path, migrations=[*MIGRATIONS, broken])
    with Catalog(db_path) as cat:
        assert cat.schema_version == len(MIGRATIONS)
        columns = [r[1] for r in cat.db.conn.execute("PRAGMA table_info(photos)")]
        assert "rating" not in columns


# -- schema 4: folder roots move from folder_roots.json into the folders table ----------------


def v3_catalog_with_roots(db_path: Path, tmp_path: Path) -> tuple[list[int], dict[str, list[int]]]:
    """A schema-3 catalog with two folders, and the folder_roots.json the indexer of schema 3
    wrote beside it (RootMemo: folder id -> [st_dev, st_ino] of its root at the last good scan)."""
    with Catalog(db_path, migrations=MIGRATIONS[:3]) as old:
        assert old.schema_version == 3
        ids = [old.add_folder(photo_dir(tmp_path, name)).id for name in ("a", "b")]
        roots = {}
        for folder in old.folders():
            st = os.stat(folder.path)
            roots[str(folder.id)] = [st.st_dev, st.st_ino]
    roots["999"] = [1, 2]  # a folder removed since: nothing to carry over
    write_json_atomic(db_path.parent / ROOTS_FILE, roots)
    return ids, roots


def test_v4_moves_the_folder_roots_into_the_catalog_and_removes_the_file(db_path, tmp_path):
    ids, roots = v3_catalog_with_roots(db_path, tmp_path)
    with Catalog(db_path) as cat:
        assert cat.schema_version == len(MIGRATIONS) == 6
        for fid in ids:
            assert cat.folder_root(fid) == tuple(roots[str(fid)])
        assert cat.folder_root(999) is None
        assert not (db_path.parent / ROOTS_FILE).exists()
        cat.remember_folder_root(ids[0], 7, 8)
        assert cat.folder_root(ids[0]) == (7, 8)
        new = cat.add_folder(photo_dir(tmp_path, "c"))
        assert cat.folder_root(new.id) is None  # unknown until its first good scan
    with Catalog(db_path) as cat:
        assert cat.folder_root(ids[0]) == (7, 8)


def test_v4_with_a_damaged_or_missing_roots_file_knows_no_roots(db_path, tmp_path):
    ids, _ = v3_catalog_with_roots(db_path, tmp_path)
    (db_path.parent / ROOTS_FILE).write_text("{not json", encoding="utf-8")
    with Catalog(db_path) as cat:  # as before: empty roots then count as unavailable
        assert [cat.folder_root(i) for i in ids] == [None, None]
    assert not (db_path.parent / ROOTS_FILE).exists()
    other = tmp_path / "other" / "data" / "catalog.sqlite3"
    v3_catalog_with_roots(other, tmp_path / "other")
    (other.parent / ROOTS_FILE).unlink()
    with Catalog(other) as cat:
        assert cat.schema_version == len(MIGRATIONS) and cat.folder_root(ids[0]) is None


def test_v4_killed_midway_keeps_the_file_and_runs_again(db_path, tmp_path):
    """A failure (or kill) inside the step rolls it back with the file still there; a kill after
    the commit leaves a file that is removed, never read again, at the next open."""
    ids, roots = v3_catalog_with_roots(db_path, tmp_path)

    def killed(conn: sqlite3.Connection) -> None:
        v4_folder_roots(conn)
        raise sqlite3.OperationalError("disk I/O error")  # as a kill before COMMIT leaves it

    with pytest.raises(CatalogError):
        Catalog(db_path, migrations=[*MIGRATIONS[:3], killed])
    assert (db_path.parent / ROOTS_FILE).exists()
    with Catalog(db_path) as cat:
        assert cat.folder_root(ids[0]) == tuple(roots[str(ids[0])])
    # Killed between the commit and the removal: the stale file is never read again.
    write_json_atomic(db_path.parent / ROOTS_FILE, {str(ids[0]): [1, 2]})
    with Catalog(db_path) as cat:
        assert cat.folder_root(ids[0]) == tuple(roots[str(ids[0])])
    assert not (db_path.parent / ROOTS_FILE).exists()


def test_corrupt_file_is_refused_and_kept(db_path):
    db_path.parent.mkdir(parents=True)
    junk = os.urandom(8192)
    db_path.write_bytes(junk)
    with pytest.raises(CatalogError) as err:
        Catalog(db_path)
    assert str(db_path) in str(err.value)
    assert db_path.read_bytes() == junk


def test_foreign_sqlite_database_is_refused_and_untouched(db_path):
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.execute("INSERT INTO recipes VALUES ('soup')")
    conn.commit()
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(CatalogError, match="another program"):
        Catalog(db_path)
    assert db_path.read_bytes() == before


# -- folders ---------------------------------------------------------------------------------


def test_add_folder_checks(cat, tmp_path):
    photos = photo_dir(tmp_path, "photos")
    folder = cat.add_folder(photos)
    assert folder.path == str(photos.resolve()) and folder.available and folder.photo_count == 0
    with pytest.raises(FolderError, match="already"):
        cat.add_folder(photos)
    with pytest.raises(FolderError, match="inside"):
        cat.add_folder(photo_dir(tmp_path, "photos/2020"))
    with pytest.raises(FolderError, match="not found"):
        cat.add_folder(tmp_path / "missing")
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(FolderError, match="not a folder"):
        cat.add_folder(tmp_path / "file.jpg")
    with pytest.raises(FolderError, match="own data folder"):
        cat.add_folder(cat.path.parent)
    assert [f.path for f in cat.folders()] == [folder.path]


def test_adding_a_parent_absorbs_watched_subfolders(cat, tmp_path):
    child = cat.add_folder(photo_dir(tmp_path, "pics/2019"))
    [pid] = cat.upsert_photos([meta(Path(child.path) / "a.jpg")])
    cat.put_embeddings(MODEL, [pid], vectors([pid]))
    parent = cat.add_folder(tmp_path / "pics")
    assert [f.path for f in cat.folders()] == [parent.path]
    assert cat.photo(pid).folder_id == parent.id
    assert cat.embedding(pid, MODEL) is not None
    assert cat.folders()[0].photo_count == 1


def test_folder_availability_persists(db_path, tmp_path):
    with Catalog(db_path) as cat:
        folder = cat.add_folder(photo_dir(tmp_path, "p"))
        cat.set_folder_available(folder.id, False)
        cat.mark_folder_scanned(folder.id, when=1_700_000_000.0)
    with Catalog(db_path) as cat:
        [f] = cat.folders()
        assert f.available is False
        assert f.last_scan is not None and f.last_scan.timestamp() == 1_700_000_000.0
        cat.set_folder_available(f.id, True)
        assert cat.folder(f.id).available is True
        assert cat.folder(np.int64(f.id)) == cat.folder(f.path) == cat.folder(Path(f.path))


def test_remove_folder_forgets_rows_and_never_touches_files(cat, tmp_path):
    keep_dir, drop_dir = photo_dir(tmp_path, "keep"), photo_dir(tmp_path, "drop")
    files = []
    for d in (keep_dir, drop_dir):
        for i in range(3):
            p = d / f"img{i}.jpg"
            Image.new("RGB", (32 + i, 24), (i * 40, 100, 200)).save(p, "JPEG")
            files.append(p)
    before = {p: p.read_bytes() for p in files}
    keep, drop = cat.add_folder(keep_dir), cat.add_folder(drop_dir)
    ids = cat.upsert_photos([read_metadata(p, p.stat()) for p in files])
    cat.put_embeddings(MODEL, ids, vectors(ids))
    generation = cat.generation(MODEL)

    assert cat.remove_folder(drop_dir) == 3
    assert [f.id for f in cat.folders()] == [keep.id]
    assert {p.folder_id for p in cat.photos(ids)} == {keep.id}
    assert cat.count_indexed(MODEL) == 3
    assert cat.generation(MODEL) == generation + 1
    assert (
        cat.db.conn.execute(
            "SELECT COUNT(*) FROM embeddings WHERE photo_id NOT IN (SELECT id FROM photos)"
        ).fetchone()[0]
        == 0
    )
    assert {p: p.read_bytes() for p in files} == before
    assert cat.folder(drop.id) is None
    with pytest.raises(FolderError):
        cat.remove_folder(drop_dir)


# -- photos ----------------------------------------------------------------------------------


def test_photo_from_real_files_round_trips(cat, tmp_path):
    d = photo_dir(tmp_path, "p")
    folder = cat.add_folder(d)
    path = d / "cam.jpg"
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R5"
    exif.get_ifd(0x8769)[36867] = "2021:05:06 07:08:09"
    exif.get_ifd(0x8769)[36881] = "+02:00"
    Image.new("RGB", (60, 40)).save(path, "JPEG", exif=exif.tobytes())
    m = read_metadata(path, path.stat())
    [pid] = cat.upsert_photos([m])
    photo = cat.photo_by_path(path)
    assert isinstance(photo, Photo)
    assert photo.id == pid and photo.folder_id == folder.id and photo.state == "pending"
    assert photo.capture_time == datetime(2021, 5, 6, 7, 8, 9)
    assert (photo.capture_offset, photo.capture_source) == ("+02:00", "exif_original")
    assert (photo.year, photo.month, photo.width, photo.height) == (2021, 5, 60, 40)
    assert photo.camera == "Canon EOS R5"
    assert photo.fingerprint == m.fingerprint and photo.size == path.stat().st_size
    assert cat.find_by_fingerprint(m.fingerprint) == [photo]
    assert cat.photo_by_path(d / "other.jpg") is None


def test_camera_label():
    base = dict(id=1, path="/a", folder_id=1, size=1, mtime_ns=1, width=1, height=1,
                capture_time=None, capture_offset=None, capture_source=None, year=None,
                month=None, state="indexed", skip_reason=None)  # fmt: skip
    assert Photo(**base, camera_make="NIKON CORPORATION", camera_model="NIKON D750").camera == (
        "NIKON D750"
    )
    assert Photo(**base, camera_make="Apple", camera_model="iPhone 12").camera == "Apple iPhone 12"
    assert Photo(**base, camera_make=None, camera_model=None).camera is None


def test_photos_preserve_order_and_drop_unknown_ids(cat, tmp_path):
    d = Path(cat.add_folder(photo_dir(tmp_path, "p")).path)
    ids = cat.upsert_photos([meta(d / f"{i}.jpg") for i in range(1200)])
    wanted = [ids[5], 999_999, ids[1100], ids[0], ids[700]]
    assert [p.id for p in cat.photos(np.array(wanted))] == [ids[5], ids[1100], ids[0], ids[700]]


def test_photo_outside_every_folder_is_refused(cat, tmp_path):
    cat.add_folder(photo_dir(tmp_path, "p"))
    with pytest.raises(FolderError, match="not inside"):
        cat.upsert_photos([meta(tmp_path / "elsewhere" / "a.jpg")])
    assert cat.counts()["photos"] == 0


def test_upsert_keeps_vectors_unless_the_content_changed(cat, tmp_path):
    d = Path(cat.add_folder(photo_dir(tmp_path, "p")).path)
    a, b = meta(d / "a.jpg"), meta(d / "b.jpg")
    ids = cat.upsert_photos([a, b])
    cat.put_embeddings(MODEL, ids, vectors(ids))
    g = cat.generation(MODEL)

    touched = replace(a, mtime_ns=2)  # same fingerprint: only touched
    assert cat.upsert_photos([touched]) == ids[:1]
    assert cat.photo(ids[0]).state == "indexed" and cat.photo(ids[0]).mtime_ns == 2
    assert cat.embedding(ids[0], MODEL) is not None
    assert cat.generation(MODEL) == g

    edited = replace(b, size=2000, fingerprint="fp:new")
    assert cat.upsert_photos([edited]) == ids[1:]
    assert cat.photo(ids[1]).state == "pending"
    assert cat.embedding(ids[1], MODEL) is None
    assert cat.generation(MODEL) == g + 1
    assert [p.id for p in cat.unembedded(MODEL)] == [ids[1]]


def test_skipped_files_are_recorded_with_reasons(cat, tmp_path):
    folder = cat.add_folder(photo_dir(tmp_path, "p"))
    d = Path(folder.path)
    [pid] = cat.upsert_photos([meta(d / "ok.jpg")])
    cat.put_embeddings(MODEL, [pid], vectors([pid]))
    cat.mark_skipped(d / "bad.jpg", folder.id, "not an image", 12, 5)
    assert cat.mark_skipped(d / "ok.jpg", folder.id, "truncated", 1000, 9) == pid
    assert cat.skipped() == [(str(d / "bad.jpg"), "not an image"), (str(d / "ok.jpg"), "truncated")]
    assert cat.embedding(pid, MODEL) is None and cat.generation(MODEL) == 2
    assert cat.counts() == {"folders": 1, "photos": 2, "indexed": 0, "skipped": 2, "pending": 0}
    assert [p.skip_reason for p in cat.skipped_photos()] == ["not an image", "truncated"]
    assert cat.unembedded(MODEL) == []
    state = cat.folder_files(folder.id)
    assert state[str(d / "bad.jpg")].state == "skipped"
    assert (state[str(d / "ok.jpg")].size, state[str(d / "ok.jpg")].mtime_ns) == (1000, 9)
    # A later successful index clears the skip.
    [again] = cat.upsert_photos([meta(d / "ok.jpg")])
    cat.put_embeddings(MODEL, [again], vectors([again]))
    assert cat.photo(pid).state == "indexed" and cat.photo(pid).skip_reason is None


def test_move_keeps_the_embedding_and_the_generation(cat, tmp_path):
    a = cat.add_folder(photo_dir(tmp_path, "a"))
    b = cat.add_folder(photo_dir(tmp_path, "b"))
    ids = cat.upsert_photos([meta(Path(a.path) / "x.jpg"), meta(Path(b.path) / "y.jpg")])
    cat.put_embeddings(MODEL, ids, vectors(ids))
    before, g = cat.embedding(ids[0], MODEL), cat.generation(MODEL)
    cat.move_photo(ids[0], Path(b.path) / "sub" / "x-renamed.jpg", b.id, 77)
    moved = cat.photo(ids[0])
    assert (moved.path, moved.folder_id, moved.mtime_ns) == (
        str(Path(b.path) / "sub" / "x-renamed.jpg"), b.id, 77)  # fmt: skip
    np.testing.assert_array_equal(cat.embedding(ids[0], MODEL), before)
    assert cat.generation(MODEL) == g
    # Moving onto a path that another record holds replaces that record.
    cat.move_photo(ids[0], Path(b.path) / "y.jpg", b.id, 78)
    assert cat.photo(ids[1]) is None and cat.photo(ids[0]).path == str(Path(b.path) / "y.jpg")
    assert cat.generation(MODEL) == g + 1
    with pytest.raises(ValueError):
        cat.move_photo(123456, Path(b.path) / "z.jpg", b.id, 1)


def test_photo_ids_are_never_reused(cat, tmp_path):
    d = Path(cat.add_folder(photo_dir(tmp_path, "p")).path)
    ids = cat.upsert_photos([meta(d / "a.jpg"), meta(d / "b.jpg")])
    assert cat.delete_photos([ids[1]]) == 1
    [new] = cat.upsert_photos([meta(d / "c.jpg")])
    assert new > ids[1]


# -- filters ---------------------------------------------------------------------------------


@pytest.fixture
def library(cat, tmp_path):
    """~600 photos over 5 years, 3 folders (one with sub-folders), some skipped or pending."""
    rng = np.random.default_rng(7)
    folders = [cat.add_folder(photo_dir(tmp_path, n)) for n in ("home", "trips", "phone")]
    truth = []
    metas = []
    for i in range(600):
        f = folders[i % 3]
        sub = ["", "2019/summer", "2019/winter", "misc"][int(rng.integers(4))]
        path = Path(f.path) / sub / f"img{i:04d}.jpg"
        when = None if i % 97 == 0 else datetime(int(rng.integers(2016, 2021)),
                                                 int(rng.integers(1, 13)), 15)  # fmt: skip
        metas.append(meta(path, when))
        truth.append({"path": str(path), "folder": f.id, "when": when})
    ids = cat.upsert_photos(metas)
    indexed = [pid for i, pid in enumerate(ids) if i % 10 not in (3, 4)]
    cat.put_embeddings(MODEL, indexed, vectors(indexed))
    for i, pid in enumerate(ids):
        truth[i]["id"] = pid
        truth[i]["indexed"] = pid in set(indexed)
        if i % 10 == 3:
            cat.mark_skipped(truth[i]["path"], truth[i]["folder"], "broken", 1, 1)
    return folders, truth


def expected(truth, year=None, month=None, prefix=None, folder=None):
    out = []
    for t in truth:
        if not t["indexed"]:
            continue
        w = t["when"]
        if year is not None and (w is None or w.year != year):
            continue
        if month is not None and (w is None or w.month != month):
            continue
        if folder is not None and t["folder"] != folder:
            continue
        if prefix is not None and not t["path"].startswith(prefix + os.sep):
            continue
        out.append(t["id"])
    return sorted(out)


def test_filter_ids_match_ground_truth(cat, library):
    folders, truth = library
    got = cat.filter_ids()
    assert got.dtype == np.int64 and got.tolist() == expected(truth)
    for year in range(2015, 2022):
        assert cat.filter_ids(year=year).tolist() == expected(truth, year=year)
        for month in (1, 6, 12):
            assert cat.filter_ids(year=year, month=month).tolist() == expected(truth, year, month)
    for month in range(1, 13):  # a month across all years
        assert cat.filter_ids(month=month).tolist() == expected(truth, month=month)
        assert len(expected(truth, month=month)) > 0
    for f in folders:
        assert cat.filter_ids(folder=f.id).tolist() == expected(truth, folder=f.id)
        assert cat.filter_ids(folder=np.int64(f.id)).tolist() == expected(truth, folder=f.id)
        assert cat.filter_ids(folder=f.path).tolist() == expected(truth, folder=f.id)
        assert cat.filter_ids(folder=Path(f.path)).tolist() == expected(truth, folder=f.id)
        sub = os.path.join(f.path, "2019")
        assert cat.filter_ids(folder=sub).tolist() == expected(truth, prefix=sub)
        assert cat.filter_ids(folder=sub, year=2018, month=3).tolist() == expected(
            truth, 2018, 3, prefix=sub
        )
        assert len(expected(truth, prefix=sub)) > 0
    # "2019/summer" must not match a sibling named "2019/summer-extra" or the file "2019x".
    assert cat.filter_ids(folder=os.path.join(folders[0].path, "2019/sum")).tolist() == []
    assert cat.filter_ids(folder=999).tolist() == []


def test_newest_first_orders_by_capture_time_with_undated_last(cat, library):
    _, truth = library
    indexed = [t for t in truth if t["indexed"]]
    dated = sorted((t for t in indexed if t["when"]), key=lambda t: (t["when"], t["id"]))
    undated = sorted((t["id"] for t in indexed if not t["when"]), reverse=True)
    want = [t["id"] for t in reversed(dated)] + undated
    assert undated and cat.newest_first().tolist() == want
    subset = np.array(want[::7][::-1], dtype=np.int64)  # any order in, newest first out
    assert cat.newest_first(subset).tolist() == want[::7]


def test_years_and_months_match_ground_truth(cat, library):
    _, truth = library
    indexed = [t["when"] for t in truth if t["indexed"] and t["when"] is not None]
    years = sorted({w.year for w in indexed}, reverse=True)
    assert cat.years() == [(y, sum(w.year == y for w in indexed)) for y in years]
    assert cat.months() == [
        (m, sum(w.month == m for w in indexed)) for m in sorted({w.month for w in indexed})
    ]
    in_2018 = [w for w in indexed if w.year == 2018]
    assert cat.months(2018) == [
        (m, sum(w.month == m for w in in_2018)) for m in sorted({w.month for w in in_2018})
    ]


def test_counts(cat, library):
    _folders, truth = library
    n = len(truth)
    skipped = sum(1 for i in range(n) if i % 10 == 3)
    indexed = sum(t["indexed"] for t in truth)
    assert cat.counts() == {"folders": 3, "photos": n, "indexed": indexed, "skipped": skipped,
                            "pending": n - indexed - skipped}  # fmt: skip
    assert sum(f.photo_count for f in cat.folders()) == indexed


# -- embeddings and generations --------------------------------------------------------------


def test_embeddings_round_trip(cat, tmp_path):
    d = Path(cat.add_folder(photo_dir(tmp_path, "p")).path)
    ids = cat.upsert_photos([meta(d / f"{i}.jpg") for i in range(9000)])
    vecs = vectors(ids, dim=16)
    for start in range(0, len(ids), 1000):
        cat.put_embeddings(MODEL, ids[start : start + 1000], vecs[start : start + 1000])
    cat.put_embeddings(OTHER, ids[:10], vectors(ids[:10], dim=4))
    assert cat.count_indexed(MODEL) == 9000 and cat.count_indexed(OTHER) == 10
    assert cat.models() == [MODEL, OTHER] and cat.dim(MODEL) == 16

    got_ids, got = cat.embeddings(MODEL)
    assert got_ids.dtype == np.int64 and got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got, vecs)

    pick = [ids[8999], ids[3], 10**9, ids[4500], ids[3]]
    sub_ids, sub = cat.embeddings(MODEL, np.array(pick))
    assert sub_ids.tolist() == [ids[8999], ids[3], ids[4500]]
    np.testing.assert_array_equal(sub, vecs[[8999, 3, 4500]])
    np.testing.assert_array_equal(cat.embedding(ids[42], MODEL), vecs[42])
    assert cat.embedding(ids[42], "nope") is None
    empty_ids, empty = cat.embeddings("nope")
    assert empty_ids.shape == (0,) and empty.shape[0] == 0

    cat.put_embeddings(MODEL, ids[:1], vecs[1:2])  # replace
    np.testing.assert_array_equal(cat.embedding(ids[0], MODEL), vecs[1])
    with pytest.raises(ValueError, match="16-d"):
        cat.put_embeddings(MODEL, ids[:1], np.zeros((1, 8), np.float32))
    with pytest.raises(ValueError):
        cat.put_embeddings(MODEL, ids[:2], np.zeros((1, 16), np.float32))


def test_generation_changes_with_that_models_vectors_only(cat, tmp_path):
    d = Path(cat.add_folder(photo_dir(tmp_path, "p")).path)
    ids = cat.upsert_photos([meta(d / f"{i}.jpg") for i in range(4)])
    assert cat.generation(MODEL) == 0
    cat.put_embeddings(MODEL, ids, vectors(ids))
    cat.put_embeddings(OTHER, ids[:1], vectors(ids[:1]))
    assert (cat.generation(MODEL), cat.generation(OTHER)) == (1, 1)
    cat.upsert_photos([meta(d / "new.jpg")])  # no vector yet: nothing to index
    assert (cat.generation(MODEL), cat.generation(OTHER)) == (1, 1)
    cat.delete_photos([ids[3]])  # only MODEL had a vector for it
    assert (cat.generation(MODEL), cat.generation(OTHER)) == (2, 1)
    cat.delete_photos([ids[0]])
    assert (cat.generation(MODEL), cat.generation(OTHER)) == (3, 2)
    assert cat.count_indexed(MODEL) == 2 and cat.count_indexed(OTHER) == 0


def test_a_batch_commits_or_rolls_back_as_one(cat, tmp_path):
    d = Path(cat.add_folder(photo_dir(tmp_path, "p")).path)
    with cat.transaction():
        ids = cat.upsert_photos([meta(d / "a.jpg"), meta(d / "b.jpg")])
        cat.put_embeddings(MODEL, ids, vectors(ids))
    assert cat.generation(MODEL) == 1
    with pytest.raises(RuntimeError), cat.transaction():
        more = cat.upsert_photos([meta(d / "c.jpg")])
        cat.put_embeddings(MODEL, more, vectors(more))
        raise RuntimeError("encoder crashed")
    assert cat.generation(MODEL) == 1 and cat.count_indexed(MODEL) == 2
    assert cat.photo_by_path(d / "c.jpg") is None
    # A failing inner block rolls back only itself.
    with cat.transaction():
        cat.upsert_photos([meta(d / "d.jpg")])
        with pytest.raises(ValueError), cat.transaction():
            cat.upsert_photos([meta(d / "e.jpg")])
            raise ValueError
    assert cat.photo_by_path(d / "d.jpg") is not None and cat.photo_by_path(d / "e.jpg") is None


def test_generation_is_durable_across_reopen(db_path, tmp_path):
    with Catalog(db_path) as cat:
        d = Path(cat.add_folder(photo_dir(tmp_path, "p")).path)
        ids = cat.upsert_photos([meta(d / "a.jpg")])
        cat.put_embeddings(MODEL, ids, vectors(ids))
        cat.put_embeddings(MODEL, ids, vectors(ids))
    with Catalog(db_path) as cat:
        assert cat.generation(MODEL) == 2


# -- threads ---------------------------------------------------------------------------------


def test_reads_from_another_thread_see_whole_batches_while_a_writer_commits(cat, tmp_path):
    d = Path(cat.add_folder(photo_dir(tmp_path, "p")).path)
    batch, batches, dim = 50, 40, 8
    done = threading.Event()
    errors: list[BaseException] = []
    seen: list[tuple[int, int]] = []

    def write() -> None:
        try:
            for b in range(batches):
                with cat.transaction():
                    ms = [meta(d / f"{b}-{i}.jpg", datetime(2020, 1 + b % 12, 1))
                          for i in range(batch)]  # fmt: skip
                    ids = cat.upsert_photos(ms)
                    cat.put_embeddings(MODEL, ids, vectors(ids, dim))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            done.set()

    def read() -> None:
        try:
            while True:
                finished = done.is_set()
                ids, vecs = cat.embeddings(MODEL)
                gen = cat.generation(MODEL)
                assert len(ids) % batch == 0, "a half-committed batch was visible"
                if len(ids):
                    np.testing.assert_array_equal(vecs[:, 0], ids.astype(np.float32))
                assert len(cat.filter_ids()) >= len(ids)
                seen.append((len(ids), gen))
                if finished:
                    return
        except BaseException as e:
            errors.append(e)

    writer = threading.Thread(target=write)
    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in (writer, *readers):
        t.start()
    for t in (writer, *readers):
        t.join(timeout=120)
    assert not any(t.is_alive() for t in (writer, *readers))
    assert errors == []
    assert (batch * batches, batches) in seen  # each reader's last look is after the writer
    assert cat.count_indexed(MODEL) == batch * batches


def test_each_thread_has_its_own_connection(cat):
    mine = cat.db.conn
    theirs = []
    t = threading.Thread(target=lambda: theirs.append(cat.db.conn))
    t.start()
    t.join()
    assert theirs and theirs[0] is not mine


def test_close_closes_every_connection(db_path):
    cat = Catalog(db_path)
    other = []
    t = threading.Thread(target=lambda: other.append(cat.db.conn))
    t.start()
    t.join()
    cat.close()
    with pytest.raises(RuntimeError, match="closed"):
        cat.counts()
    cat.close()  # twice is fine


# -- schema 5: videos, their moments and the moments' vectors -------------------------------


def video(path: Path | str, duration_ms: int = 10_000, **kw) -> PhotoMeta:
    return meta(path, kind="video", duration_ms=duration_ms, capture_source="video_apple", **kw)


def test_v5_migrates_a_v4_catalog_keeping_photos_ids_and_vectors(db_path, tmp_path):
    folder = photo_dir(tmp_path, "a")
    with Catalog(db_path, migrations=MIGRATIONS[:4]) as old:
        assert old.schema_version == 4
        fid = old.add_folder(folder).id
        conn = old.db.conn
        ids = [
            conn.execute(
                "INSERT INTO photos (folder_id, path, size, mtime_ns, state, year, month) "
                "VALUES (?, ?, 1, 1, 'pending', 2020, 1)",
                (fid, str(folder / f"{k}.jpg")),
            ).lastrowid
            for k in range(3)
        ]
        old.put_embeddings(MODEL, ids, vectors(ids))
        conn.execute("DELETE FROM photos WHERE id = ?", (ids[-1],))
        with pytest.raises(sqlite3.IntegrityError):  # the v4 CHECK refuses the video sources
            conn.execute("UPDATE photos SET capture_source = 'video_apple'")
        gen = old.generation(MODEL)
    with Catalog(db_path) as cat:
        assert cat.schema_version == len(MIGRATIONS) == 6
        got = cat.photos(ids)
        assert [p.id for p in got] == ids[:2] and {p.kind for p in got} == {"photo"}
        assert all(p.duration_ms is None for p in got)
        assert np.array_equal(cat.embeddings(MODEL)[1], vectors(ids)[:2])
        assert cat.generation(MODEL) == gen
        conn = cat.db.conn
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE photos SET kind = 'audio'")
        new = cat.upsert_photos([video(folder / "v.mp4")])[0]
        assert new > ids[-1]  # the AUTOINCREMENT counter survived the rebuild
        v = cat.photo(new)
        assert v is not None and (v.kind, v.duration_ms, v.capture_source) == (
            "video",
            10_000,
            "video_apple",
        )


def moment_vecs(n: int, seed: int, dim: int = 8) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = rng.random((n, dim)).astype(np.float32)
    return list(out / np.linalg.norm(out, axis=1, keepdims=True))


def test_put_moments_stores_times_vectors_and_the_mean_in_one_bump(cat, tmp_path):
    from app.core.catalog.records import MOMENT_BASE, is_moment, moment_label

    folder = photo_dir(tmp_path, "a")
    cat.add_folder(folder)
    pid, vid = cat.upsert_photos([meta(folder / "p.jpg"), video(folder / "v.mp4")])
    cat.put_embeddings(MODEL, [pid], vectors([pid]))
    gen = cat.generation(MODEL)
    vecs = moment_vecs(3, 1)
    cat.put_moments(vid, MODEL, [(0, vecs[0]), (2000, vecs[1]), (4000, vecs[2])])
    assert cat.generation(MODEL) == gen + 1  # one bump for moments and mean together
    assert cat.photo(vid).state == "indexed"
    mean = np.mean(vecs, axis=0)
    assert np.allclose(cat.embedding(vid, MODEL), mean / np.linalg.norm(mean))
    labels, got = cat.moment_vectors(MODEL)
    assert len(labels) == 3 and all(is_moment(int(lb)) for lb in labels)
    assert not is_moment(vid) and moment_label(1) == MOMENT_BASE + 1
    assert np.array_equal(got, np.stack(vecs))
    assert np.array_equal(cat.moment_labels([vid, pid]), labels)
    times = cat.moment_times(labels)
    assert [times[int(lb)] for lb in labels] == [(vid, 0), (vid, 2000), (vid, 4000)]
    one, v1 = cat.moment_vectors(MODEL, [labels[2], pid, labels[0]])
    assert one.tolist() == [labels[2], labels[0]] and np.array_equal(v1[1], vecs[0])
    assert cat.count_moments(MODEL) == 3 and cat.count_indexed(MODEL) == 2
    # The filters give item labels: photos, videos and the videos' moments.
    assert cat.filter_ids().tolist() == [pid, vid, *labels.tolist()]
    assert cat.filter_ids(kind="photo").tolist() == [pid]
    assert cat.filter_ids(kind="video").tolist() == [vid, *labels.tolist()]
    assert cat.filter_ids(year=1999).tolist() == []
    assert cat.years() == [(2020, 2)] and cat.counts()["photos"] == 2
    # Re-sampled: times no model keeps go, kept times keep their label.
    cat.put_moments(vid, MODEL, [(2000, vecs[0]), (6000, vecs[2])])
    again, _ = cat.moment_vectors(MODEL)
    assert len(again) == 2 and again[0] == labels[1] and again[1] > labels[2]
    assert cat.generation(MODEL) == gen + 2


def test_deleting_or_changing_a_video_removes_its_moments_and_bumps(cat, tmp_path):
    folder = photo_dir(tmp_path, "a")
    cat.add_folder(folder)
    vid, other = cat.upsert_photos([video(folder / "v.mp4"), video(folder / "w.mp4")])
    cat.put_moments(vid, MODEL, list(zip([0, 1000], moment_vecs(2, 2), strict=True)))
    cat.put_moments(vid, OTHER, list(zip([0, 1000], moment_vecs(2, 3), strict=True)))
    cat.put_moments(other, MODEL, list(zip([0], moment_vecs(1, 4), strict=True)))
    labels = cat.moment_labels([vid])
    assert len(labels) == 2  # shared by both models
    gens = cat.generation(MODEL), cat.generation(OTHER)
    assert cat.delete_photos([vid]) == 1
    assert (cat.generation(MODEL), cat.generation(OTHER)) == (gens[0] + 1, gens[1] + 1)
    assert cat.moment_times(labels) == {} and len(cat.moment_labels([vid])) == 0
    assert cat.count_moments(OTHER) == 0 and cat.count_moments(MODEL) == 1
    # A changed file (new fingerprint) loses its moments with its vectors.
    gen = cat.generation(MODEL)
    cat.upsert_photos([video(folder / "w.mp4", fingerprint="changed")])
    assert cat.count_moments(MODEL) == 0 and cat.generation(MODEL) == gen + 1
    assert cat.photo(other).state == "pending"
    with pytest.raises(ValueError):
        cat.put_moments(other, MODEL, [])
