"""The folder walk and the rescan diff, on real folders of generated photos."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.catalog.catalog import Catalog
from app.core.photos.formats import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from app.core.photos.metadata import fingerprint, read_metadata
from app.core.pipeline.scanner import (
    FolderUnavailableError,
    Move,
    ScanProblem,
    diff,
    is_relevant,
    walk,
)

MODEL = "m"


def photo(path: Path, seed: int, size=(48, 32)) -> Path:
    """A small real JPEG whose content depends on `seed`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path, "JPEG")
    return path


def found_paths(root: Path, **kw) -> list[str]:
    return sorted(os.path.relpath(f.path, root) for f in walk(root, **kw))


# -- walk ------------------------------------------------------------------------------------


def test_walk_finds_photos_and_videos_and_skips_hidden_system_and_other_files(tmp_path):
    root = tmp_path / "pics"
    wanted = ["a.jpg", "B.JPG", "c.Png", "sub/d.heic", "sub/deep/e.webp", "sub/deep/f.tiff"]
    wanted += ["clip.mp4", "sub/IMG_1.MOV", "sub/deep/g.webm"]
    for i, rel in enumerate(wanted):  # the walk goes by name: content is not read
        photo(root / rel, i)
    unwanted = [
        "notes.txt", "sub/README", ".clip.mp4", ".hidden.jpg", "._a.jpg", ".git/x.jpg",
        ".hidden_dir/e.jpg", "$RECYCLE.BIN/f.jpg", "System Volume Information/g.jpg",
        "@eaDir/a.jpg/SYNOPHOTO_THUMB_XL.jpg", ".Trash-1000/files/i.jpg", "lost+found/j.jpg",
        "node_modules/k.jpg", ".thumbnails/large/l.jpg", "Catalog Previews.lrdata/0/m.jpg",
        "sub/#recycle/n.jpg",
    ]  # fmt: skip
    for rel in unwanted:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    problems: list[ScanProblem] = []
    files = list(walk(root, problems))
    assert sorted(os.path.relpath(f.path, root) for f in files) == sorted(wanted)
    assert problems == []  # videos are found like photos, never left out
    for f in files:
        st = os.stat(f.path)
        assert (f.size, f.mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_walk_and_is_relevant_apply_one_rule(tmp_path):
    """What the watcher passes on (is_relevant) is exactly what a full scan finds (walk)."""
    root = tmp_path / "pics"
    media = sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)
    names = [f"x{ext}" for ext in media] + [f"x{ext.upper()}" for ext in media]
    names += ["notes.txt", ".clip.mp4", ".hidden.jpg", "noext", "jpg"]
    folders = ["", "sub", ".git", "@eaDir", "Lib.lrdata", "$RECYCLE.BIN", "a/.cache", "a/b"]
    every = [Path(root, d, n) for d in folders for n in names]
    for i, path in enumerate(every):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (i + 1))
    found = {Path(f.path) for f in walk(root)}
    assert found == {p for p in every if is_relevant(root, p, False)}
    assert len(found) == 2 * len(media) * 3  # "", "sub" and "a/b"
    for d in folders:
        assert is_relevant(root, root / d, True) == (Path(d).name in ("", "sub", "b"))


def test_walk_terminates_on_symlink_loops_and_visits_each_real_folder_once(tmp_path):
    root = tmp_path / "pics"
    photo(root / "top.jpg", 1)
    photo(root / "sub" / "inner.jpg", 2)
    outside = tmp_path / "elsewhere"
    photo(outside / "far.jpg", 3)
    os.symlink(root, root / "sub" / "loop_to_root")
    os.symlink(".", root / "sub" / "loop_to_self")
    os.symlink(root / "sub", root / "alias_of_sub")
    os.symlink(outside, root / "link1")
    os.symlink(outside, root / "sub" / "link2")
    os.symlink(tmp_path / "missing.jpg", root / "broken.jpg")

    problems: list[ScanProblem] = []
    files = list(walk(root, problems))
    real = [os.path.realpath(f.path) for f in files]
    assert len(real) == len(set(real)) == 3
    assert set(real) == {
        os.path.realpath(p)
        for p in (root / "top.jpg", root / "sub" / "inner.jpg", outside / "far.jpg")
    }
    assert [p.path for p in problems] == [str(root / "broken.jpg")]


def _walk_without_privileges(root: Path) -> tuple[list[str], list[ScanProblem]]:
    """Walk as a process that file permissions apply to.

    Under root (containers, some CI) a forked child drops CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH first, which makes mode 000 deny it as it would any user.
    """

    def run() -> tuple[list[str], list[ScanProblem]]:
        problems: list[ScanProblem] = []
        return sorted(f.path for f in walk(root, problems)), problems

    if os.geteuid() != 0:
        return run()
    assert sys.platform.startswith("linux")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            os.close(read_fd)
            _drop_dac_capabilities()
            paths, problems = run()
            os.write(write_fd, json.dumps([paths, problems]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    paths, problems = json.loads(data)
    return paths, [ScanProblem(*p) for p in problems]


def _drop_dac_capabilities() -> None:
    libc = ctypes.CDLL(None, use_errno=True)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]

    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    assert libc.capget(ctypes.byref(header), data) == 0
    keep = ~((1 << 1) | (1 << 2)) & 0xFFFFFFFF  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    data[0].effective &= keep
    data[0].permitted &= keep
    assert libc.capset(ctypes.byref(header), data) == 0


def test_permission_denied_folder_is_recorded_not_raised(tmp_path):
    root = tmp_path / "pics"
    photo(root / "ok.jpg", 1)
    photo(root / "locked" / "secret.jpg", 2)
    photo(root / "open" / "fine.jpg", 3)
    (root / "locked").chmod(0)
    try:
        paths, problems = _walk_without_privileges(root)
    finally:
        (root / "locked").chmod(0o755)
    assert paths == sorted([str(root / "ok.jpg"), str(root / "open" / "fine.jpg")])
    assert len(problems) == 1 and problems[0].path == str(root / "locked")
    assert "ermission" in problems[0].reason


def test_unavailable_root_raises_so_nothing_looks_deleted(tmp_path):
    with pytest.raises(FolderUnavailableError, match="drive"):
        list(walk(tmp_path / "unplugged"))
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(FolderUnavailableError):
        list(walk(tmp_path / "file.jpg"))


def test_excluded_folders_are_not_entered(tmp_path):
    root = tmp_path / "home"
    photo(root / "a.jpg", 1)
    photo(root / "PhotoSeekData" / "cache" / "thumb.jpg", 2)
    os.symlink(root / "PhotoSeekData", root / "alias")
    assert found_paths(root, exclude=[root / "PhotoSeekData"]) == ["a.jpg"]


# -- diff ------------------------------------------------------------------------------------


class CountingFingerprint:
    """The real fingerprint, counting which files it read."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, path: str, size: int) -> str:
        self.paths.append(path)
        return fingerprint(path, size)


@pytest.fixture
def indexed(tmp_path):
    """A catalogued folder of 8 photos, all with vectors: (catalog, folder, root)."""
    root = tmp_path / "pics"
    for i, rel in enumerate(["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg", "sub/g.jpg",
                             "sub/h.jpg"]):  # fmt: skip
        photo(root / rel, i, size=(40 + i, 30))
    cat = Catalog(tmp_path / "data" / "catalog.sqlite3")
    folder = cat.add_folder(root)
    ids = cat.upsert_photos([read_metadata(f.path, f.stat) for f in walk(root)])
    cat.put_embeddings(MODEL, ids, np.eye(len(ids), 16, dtype=np.float32))
    yield cat, folder, root
    cat.close()


def rel_ids(cat, root, names):
    return sorted(cat.photo_by_path(root / n).id for n in names)


def test_unchanged_rescan_reads_no_file(indexed):
    cat, folder, root = indexed
    spy = CountingFingerprint()
    result = diff(cat.folder_files(folder.id), walk(root), fingerprint_of=spy)
    assert result.unchanged_count == 8 and not result.has_changes
    assert spy.paths == []


def test_new_changed_touched_deleted_and_moved(indexed, tmp_path):
    cat, folder, root = indexed
    ids = {n: cat.photo_by_path(root / n).id for n in ["a.jpg", "b.jpg", "c.jpg", "d.jpg",
                                                        "e.jpg", "f.jpg"]}  # fmt: skip
    photo(root / "new" / "n.jpg", 100)  # new
    photo(root / "b.jpg", 101, size=(41, 30))  # changed content
    st = os.stat(root / "c.jpg")
    os.utime(root / "c.jpg", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touched
    (root / "d.jpg").unlink()  # deleted
    os.rename(root / "a.jpg", root / "a-renamed.jpg")  # renamed
    (root / "elsewhere" / "deeper").mkdir(parents=True)
    os.rename(root / "e.jpg", root / "elsewhere" / "deeper" / "e.jpg")  # moved to a subfolder
    os.replace(root / "sub" / "g.jpg", root / "f.jpg")  # g moved over f: f's record goes
    shutil.copy2(root / "sub" / "h.jpg", root / "h-copy.jpg")  # a copy is a new photo
    g_id = cat.photo_by_path(root / "sub" / "g.jpg").id

    spy = CountingFingerprint()
    result = diff(cat.folder_files(folder.id), walk(root), fingerprint_of=spy)

    assert sorted(f.path for f in result.new) == sorted(
        [str(root / "new" / "n.jpg"), str(root / "h-copy.jpg")]
    )
    assert [f.path for f in result.changed] == [str(root / "b.jpg")]
    assert [(pid, f.path) for pid, f in result.touched] == [(ids["c.jpg"], str(root / "c.jpg"))]
    assert sorted(result.deleted) == sorted([ids["d.jpg"], ids["f.jpg"]])
    assert sorted(result.moved) == sorted([
        Move(ids["a.jpg"], str(root / "a-renamed.jpg")),
        Move(ids["e.jpg"], str(root / "elsewhere" / "deeper" / "e.jpg")),
        Move(g_id, str(root / "f.jpg")),
    ])  # fmt: skip
    assert result.unchanged_count == 1  # sub/h.jpg
    # Only files that might have changed or moved were read.
    assert str(root / "sub" / "h.jpg") not in spy.paths
    assert set(spy.paths) <= {f.path for f in [*result.new, *result.changed]} | {
        m.new_path for m in result.moved
    } | {str(root / "c.jpg")}
    for m in result.moved:
        assert result.files[m.new_path].size == os.stat(m.new_path).st_size
    assert result.fingerprints[str(root / "b.jpg")] == fingerprint(
        root / "b.jpg", os.stat(root / "b.jpg").st_size
    )

    # Applying the diff keeps the moved photos' vectors; a second scan then finds nothing.
    vectors_before = {m.photo_id: cat.embedding(m.photo_id, MODEL) for m in result.moved}
    with cat.transaction():
        cat.delete_photos(result.deleted)
        for m in result.moved:
            cat.move_photo(m.photo_id, m.new_path, folder.id, result.files[m.new_path].mtime_ns)
        for _, f in result.touched:
            cat.upsert_photos([read_metadata(f.path, f.stat)])
        cat.upsert_photos([read_metadata(f.path, f.stat) for f in result.new + result.changed])
    for pid, vec in vectors_before.items():
        np.testing.assert_array_equal(cat.embedding(pid, MODEL), vec)
    assert cat.photo(ids["c.jpg"]).state == "indexed"
    assert cat.photo(ids["b.jpg"]).state == "pending"
    again = diff(cat.folder_files(folder.id), walk(root))
    assert not again.has_changes and again.unchanged_count == 8


def test_rename_with_a_new_mtime_is_still_a_move(indexed):
    cat, folder, root = indexed
    a_id = cat.photo_by_path(root / "a.jpg").id
    os.rename(root / "a.jpg", root / "sub" / "renamed.jpg")
    os.utime(root / "sub" / "renamed.jpg", ns=(1, 1_000_000_000))
    result = diff(cat.folder_files(folder.id), walk(root))
    assert result.moved == [Move(a_id, str(root / "sub" / "renamed.jpg"))]
    assert result.deleted == [] and result.new == []


def test_files_under_an_unreadable_folder_are_not_deleted(indexed):
    cat, folder, root = indexed
    state = cat.folder_files(folder.id)
    found = [f for f in walk(root) if not f.path.startswith(str(root / "sub") + os.sep)]
    result = diff(state, found, unreadable=[str(root / "sub")])
    assert result.deleted == [] and result.unchanged_count == 8
    assert diff(state, found).deleted == rel_ids(cat, root, ["sub/g.jpg", "sub/h.jpg"])


def test_skipped_files_are_retried_only_when_they_change(indexed):
    cat, folder, root = indexed
    bad = root / "bad.jpg"
    bad.write_text("not a photo")
    cat.mark_skipped(bad, folder.id, "not an image", bad.stat().st_size, bad.stat().st_mtime_ns)
    result = diff(cat.folder_files(folder.id), walk(root))
    assert not result.has_changes and (result.unchanged_count, result.unchanged_skipped) == (8, 1)
    photo(bad, 5)
    result = diff(cat.folder_files(folder.id), walk(root))
    assert [f.path for f in result.changed] == [str(bad)]


def test_two_identical_files_deleted_and_one_reappearing(tmp_path):
    """Duplicates pair one to one: one move, one deletion, never two moves to one path."""
    root = tmp_path / "pics"
    photo(root / "x1.jpg", 9)
    shutil.copy2(root / "x1.jpg", root / "x2.jpg")
    with Catalog(tmp_path / "data" / "c.sqlite3") as cat:
        folder = cat.add_folder(root)
        ids = cat.upsert_photos([read_metadata(f.path, f.stat) for f in walk(root)])
        (root / "x1.jpg").rename(root / "y.jpg")
        (root / "x2.jpg").unlink()
        result = diff(cat.folder_files(folder.id), walk(root))
    assert len(result.moved) == 1 and result.moved[0].new_path == str(root / "y.jpg")
    assert sorted([result.moved[0].photo_id, *result.deleted]) == sorted(ids)
    assert result.new == []
