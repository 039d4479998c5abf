"""Motion photos (an MP4 inside the JPEG, found through its XMP) through the indexing pipeline,
on real components: generated JPEGs with a clip written by PyAV, real decoding, the trained
micro CLIP, a real catalog and vector index. The photo stays a photo with its still's vector;
its clip's frames are its moments, so a query matching only the clip finds the photo."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from microclip import caption, make_shape_image
from test_indexer import CountingEncoder

from app.core.catalog.records import MOMENT_BASE
from app.core.library import Library
from app.core.paths import Paths
from app.core.photos import motion
from app.core.search.query import Query
from tests.videos import scene_frames, write_video

# The still shows a blue square; the clip a blue square, then a red circle from 1.5 s to 3 s.
CLIP = [(1.5, "blue", "square"), (1.5, "red", "circle")]
RED_MS = (1500, 3000)
OTHERS = [("green", "triangle"), ("yellow", "star"), ("blue", "circle"), ("green", "square")]

MOTION_XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about=""
  xmlns:Camera="http://ns.google.com/photos/1.0/camera/"
  xmlns:Container="http://ns.google.com/photos/1.0/container/"
  xmlns:Item="http://ns.google.com/photos/1.0/container/item/"
  Camera:MotionPhoto="1" Camera:MotionPhotoVersion="1"
  Camera:MotionPhotoPresentationTimestampUs="0">
<Container:Directory><rdf:Seq>
<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary"
  Item:Length="0" Item:Padding="0"/></rdf:li>
<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4"
  Item:Semantic="MotionPhoto" Item:Length="{length}" Item:Padding="0"/></rdf:li>
</rdf:Seq></Container:Directory>
</rdf:Description></rdf:RDF></x:xmpmeta>"""

MICRO_XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"
  GCamera:MicroVideo="1" GCamera:MicroVideoVersion="1" GCamera:MicroVideoOffset="{length}"
  GCamera:MicroVideoPresentationTimestampUs="0"/>
</rdf:RDF></x:xmpmeta>"""


@pytest.fixture
def lib(paths: Paths, encoder: CountingEncoder) -> Iterator[Library]:
    library = Library(paths, encoder)
    library.indexer.batch_size = 8
    yield library
    library.close()


def clip_bytes(tmp_path: Path, scenes: list[tuple[float, str, str]] = CLIP) -> bytes:
    """An MP4 of `scenes` (160x96, 10 fps), as bytes."""
    path = write_video(tmp_path / "clip-src.mp4", scene_frames(scenes, seed=5))
    data = path.read_bytes()
    path.unlink()
    return data


def still_jpeg(xmp: str | None = None, seed: int = 1) -> bytes:
    """The still (a blue square) as JPEG bytes, with `xmp` in its APP1 segment when given."""
    img = make_shape_image("blue", "square", (160, 96), np.random.default_rng(seed))
    out = io.BytesIO()
    extra = {"xmp": xmp.encode()} if xmp is not None else {}
    img.save(out, "JPEG", quality=92, **extra)
    return out.getvalue()


def motion_photo(
    path: Path, clip: bytes, *, template: str = MOTION_XMP, length: int | None = None
) -> Path:
    """A JPEG with `clip` appended and XMP saying it is there (`length`: what the XMP claims)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    claimed = len(clip) if length is None else length
    path.write_bytes(still_jpeg(template.format(length=claimed)) + clip)
    return path


def plain_photos(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i, (colour, shape) in enumerate(OTHERS):
        img = make_shape_image(colour, shape, (160, 96), np.random.default_rng(10 + i))
        img.save(root / f"{colour}-{shape}.jpg", quality=92)


def moments_of(lib: Library, photo_id: int) -> dict[int, int]:
    labels = lib.catalog.moment_labels([photo_id])
    return {lb: t for lb, (_, t) in lib.catalog.moment_times(labels).items()}


@pytest.mark.parametrize("template", [MOTION_XMP, MICRO_XMP], ids=["motion-photo", "micro-video"])
def test_a_query_matching_only_the_clip_finds_the_motion_photo_at_its_moment(
    lib: Library, encoder: CountingEncoder, tmp_path: Path, template: str
) -> None:
    root = tmp_path / "media"
    plain_photos(root)
    moving = motion_photo(root / "MVIMG_0001.jpg", clip_bytes(tmp_path), template=template)
    (root / "still.jpg").write_bytes(still_jpeg())  # the same still, without a clip
    lib.add_folder(root)
    report = lib.index()
    assert (report.added, report.skipped, report.partial) == (len(OTHERS) + 2, 0, 0)
    photo = lib.photo_by_path(moving)
    plain = lib.photo_by_path(root / "still.jpg")
    assert photo is not None and plain is not None
    assert photo.kind == "photo" and photo.state == "indexed" and photo.duration_ms is None
    times = moments_of(lib, photo.id)
    assert len(times) >= 3 and min(times) >= MOMENT_BASE
    assert any(RED_MS[0] <= t < RED_MS[1] for t in times.values())
    assert lib.vindex is not None and lib.vindex.contains([photo.id, *times]).all()
    # The photo keeps its still's vector (not the clip's mean): the plain copy's.
    mine = lib.catalog.embedding(photo.id, encoder.model_id)
    still = lib.catalog.embedding(plain.id, encoder.model_id)
    assert mine is not None and still is not None
    np.testing.assert_allclose(mine, still, atol=1e-5)
    # Only the clip shows a red circle: the photo is found, once, at that moment.
    for kind in ("all", "photo"):
        hits = lib.search(Query(text=caption("red", "circle"), kind=kind)).hits  # type: ignore[arg-type]
        assert hits[0].photo_id == photo.id and hits[0].kind == "photo"
        assert hits[0].moment_ms is not None and RED_MS[0] <= hits[0].moment_ms < RED_MS[1]
        assert [h.photo_id for h in hits].count(photo.id) == 1
    assert photo.id not in {h.photo_id for h in lib.search(Query(text="x", kind="video")).hits}
    # The viewer's frame at that moment comes from the embedded clip: red dominates its centre.
    t_ms = hits[0].moment_ms
    frame = np.asarray(lib.frame(photo.id, t_ms, max_side=128), dtype=np.int16)
    centre = frame[20:57, 40:88].reshape(-1, 3)
    assert ((centre[:, 0] > 150) & (centre[:, 1] < 100) & (centre[:, 2] < 100)).mean() > 0.2
    # A rescan reads nothing again.
    images = encoder.images
    again = lib.index()
    assert (again.added, again.updated) == (0, 0) and encoder.images == images


@pytest.mark.parametrize(
    "case", ["past-the-file", "zero", "not-mp4", "damaged", "huge", "malformed-xmp"]
)
def test_a_hostile_clip_leaves_the_photo_indexed_as_a_still(
    lib: Library, tmp_path: Path, case: str
) -> None:
    root = tmp_path / "media"
    clip = clip_bytes(tmp_path)
    path = root / "MVIMG_0002.jpg"
    if case == "past-the-file":
        motion_photo(path, clip, length=10 * len(clip) + 10**6)
    elif case == "zero":
        motion_photo(path, clip, length=0)
    elif case == "not-mp4":
        motion_photo(path, b"\x00" * 4000)
    elif case == "damaged":  # an MP4 header, then garbage
        motion_photo(path, clip[:32] + bytes(range(256)) * 20)
    elif case == "huge":
        motion_photo(path, clip, length=motion.MAX_CLIP_BYTES + 1)
    else:
        motion_photo(path, clip, template="<x:xmpmeta MotionPhoto='1' <<{length}")
    lib.add_folder(root)
    report = lib.index()
    assert (report.added, report.skipped) == (1, 0)
    photo = lib.photo_by_path(path)
    assert photo is not None and photo.state == "indexed" and photo.kind == "photo"
    assert moments_of(lib, photo.id) == {}


def test_clip_span_reads_both_forms_and_refuses_what_does_not_fit() -> None:
    assert motion.clip_span(MOTION_XMP.format(length=100), 1000) == (900, 100)
    assert motion.clip_span(MICRO_XMP.format(length=100), 1000) == (900, 100)
    assert motion.clip_span(MOTION_XMP.format(length=2000), 1000) is None
    assert motion.clip_span(MICRO_XMP.format(length="x"), 1000) is None
    assert motion.clip_span(None, 1000) is None
    assert motion.clip_span(b"<x/>", 1000) is None
    evil = '<!DOCTYPE x [<!ENTITY a "MotionPhoto">]><x>&a;</x>'
    assert motion.clip_span(evil, 1000) is None


def test_a_moved_motion_photo_keeps_its_moments_and_a_deleted_one_leaves_the_index(
    lib: Library, encoder: CountingEncoder, tmp_path: Path
) -> None:
    root = tmp_path / "media"
    plain_photos(root)
    first = motion_photo(root / "MVIMG_0003.jpg", clip_bytes(tmp_path))
    lib.add_folder(root)
    lib.index()
    photo = lib.photo_by_path(first)
    assert photo is not None and lib.vindex is not None
    before = moments_of(lib, photo.id)
    images = encoder.images
    moved = root / "elsewhere" / "renamed.jpg"
    moved.parent.mkdir()
    os.rename(first, moved)
    report = lib.index()
    assert (report.moved, report.added, report.deleted) == (1, 0, 0)
    assert encoder.images == images
    after = lib.photo_by_path(moved)
    assert after is not None and after.id == photo.id and moments_of(lib, photo.id) == before

    st = moved.stat()  # touched (same content): its moments stay, in the catalog and the index
    os.utime(moved, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    report = lib.index()
    assert report.updated == 1 and moments_of(lib, photo.id)
    assert lib.vindex.contains(list(moments_of(lib, photo.id))).all()
    before = moments_of(lib, photo.id)

    moved.write_bytes(still_jpeg(seed=7))  # the same name, now a plain still: its clip goes
    report = lib.index()
    assert report.updated == 1
    assert moments_of(lib, photo.id) == {}
    assert not lib.vindex.contains(list(before)).any()
    assert not set(lib.catalog.filter_ids().tolist()) & set(before)

    motion_photo(moved, clip_bytes(tmp_path))  # a motion photo again, then deleted
    lib.index()
    now = moments_of(lib, photo.id)
    assert now and lib.vindex.contains(list(now)).all()
    moved.unlink()
    report = lib.index()
    assert report.deleted == 1
    assert lib.catalog.moment_labels([photo.id]).size == 0
    assert not lib.vindex.contains(list(now)).any()
