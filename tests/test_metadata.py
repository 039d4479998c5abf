"""Photo metadata from real generated files: EXIF dates and offsets, orientation, camera, formats."""

from __future__ import annotations

import os
import struct
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from app.core.photos.dates import parse_exif_date, parse_offset
from app.core.photos.formats import IMAGE_EXTENSIONS, ensure_plugins
from app.core.photos.metadata import (
    FINGERPRINT_CHUNK,
    MetadataError,
    fingerprint,
    open_photo,
    read_metadata,
)

ensure_plugins()  # HEIF for the writers below

EXIF_IFD = 0x8769


def make_exif(
    *,
    original: str | None = None,
    original_offset: str | None = None,
    digitized: str | None = None,
    digitized_offset: str | None = None,
    datetime_: str | None = None,
    datetime_offset: str | None = None,
    subsec: str | None = None,
    orientation: int | None = None,
    make: str | None = None,
    model: str | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    sub = exif.get_ifd(EXIF_IFD)
    for ifd, tag, value in (
        (sub, 36867, original), (sub, 36881, original_offset), (sub, 36868, digitized),
        (sub, 36882, digitized_offset), (exif, 306, datetime_), (sub, 36880, datetime_offset),
        (sub, 37521, subsec), (exif, 0x0112, orientation), (exif, 0x010F, make),
        (exif, 0x0110, model),
    ):  # fmt: skip
        if value is not None:
            ifd[tag] = value
    return exif


def write_image(path: Path, fmt: str = "JPEG", size=(64, 48), exif: Image.Exif | None = None):
    img = Image.new("RGB", size, (200, 80, 40))
    kwargs = {"exif": exif.tobytes()} if exif is not None else {}
    if fmt == "MPO":
        kwargs.update(save_all=True, append_images=[Image.new("RGB", size, (10, 20, 30))])
    if fmt == "GIF":
        img = img.convert("P")
    img.save(path, format=fmt, **kwargs)
    return path


def meta_of(path: Path):
    return read_metadata(path, os.stat(path))


def test_date_time_original_with_offset_and_subseconds(tmp_path):
    exif = make_exif(
        original="2021:05:06 07:08:09", original_offset="+02:00", subsec="25",
        digitized="2020:01:01 00:00:00", datetime_="2019:01:01 00:00:00",
    )  # fmt: skip
    meta = meta_of(write_image(tmp_path / "a.jpg", exif=exif))
    assert meta.capture_time == datetime(2021, 5, 6, 7, 8, 9, 250000)
    assert meta.capture_offset == "+02:00"
    assert meta.capture_source == "exif_original"
    assert (meta.year, meta.month) == (2021, 5)


def test_digitized_date_when_original_missing(tmp_path):
    exif = make_exif(digitized="2018:11:30 23:59:58", digitized_offset="-05:30")
    meta = meta_of(write_image(tmp_path / "a.jpg", exif=exif))
    assert meta.capture_time == datetime(2018, 11, 30, 23, 59, 58)
    assert meta.capture_offset == "-05:30"
    assert meta.capture_source == "exif_digitized"


def test_only_datetime(tmp_path):
    exif = make_exif(datetime_="2015:02:03 04:05:06", datetime_offset="+09:00")
    meta = meta_of(write_image(tmp_path / "a.jpg", exif=exif))
    assert meta.capture_time == datetime(2015, 2, 3, 4, 5, 6)
    assert meta.capture_offset == "+09:00"
    assert meta.capture_source == "exif_datetime"


def test_no_exif_falls_back_to_file_mtime(tmp_path):
    path = write_image(tmp_path / "a.jpg")
    stamp = datetime(2012, 7, 14, 16, 30, 5).timestamp()
    os.utime(path, (stamp, stamp))
    meta = meta_of(path)
    local = datetime.fromtimestamp(stamp).astimezone()
    offset_min = int(local.utcoffset().total_seconds()) // 60
    sign = "+" if offset_min >= 0 else "-"
    assert meta.capture_source == "file_mtime"
    assert meta.capture_time == datetime(2012, 7, 14, 16, 30, 5)
    assert meta.capture_offset == f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"


GARBAGE = ["0000:00:00 00:00:00", "    ", "", "\x00\x00\x00", "2021:13:45 99:99:99", "unknown"]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_dates_fall_through_to_the_next_source(tmp_path, garbage):
    exif = make_exif(original=garbage, digitized=garbage, datetime_="2010:10:10 10:10:10")
    meta = meta_of(write_image(tmp_path / "a.jpg", exif=exif))
    assert meta.capture_source == "exif_datetime"
    assert meta.capture_time == datetime(2010, 10, 10, 10, 10, 10)


@pytest.mark.parametrize("garbage", GARBAGE)
def test_all_dates_garbage_uses_the_file_time(tmp_path, garbage):
    exif = make_exif(original=garbage, digitized=garbage, datetime_=garbage)
    path = write_image(tmp_path / "a.jpg", exif=exif)
    os.utime(path, (1_300_000_000, 1_300_000_000))
    meta = meta_of(path)
    assert meta.capture_source == "file_mtime"
    assert meta.capture_time == datetime.fromtimestamp(1_300_000_000)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_damaged_exif_keeps_the_photo_with_the_file_time(tmp_path):
    path = tmp_path / "a.jpg"
    blob = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00" + bytes(range(256)) * 2
    Image.new("RGB", (30, 20)).save(path, "JPEG", exif=blob)
    meta = meta_of(path)
    assert (meta.width, meta.height, meta.capture_source) == (30, 20, "file_mtime")


def test_garbage_offset_is_dropped_but_the_date_kept(tmp_path):
    exif = make_exif(original="2021:05:06 07:08:09", original_offset="   :  ")
    meta = meta_of(write_image(tmp_path / "a.jpg", exif=exif))
    assert meta.capture_time == datetime(2021, 5, 6, 7, 8, 9)
    assert meta.capture_offset is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021:05:06 07:08:09", datetime(2021, 5, 6, 7, 8, 9)),
        ("2021-05-06T07:08:09", datetime(2021, 5, 6, 7, 8, 9)),
        ("2021:05:06 07:08", datetime(2021, 5, 6, 7, 8)),
        (b"2021:05:06 07:08:09\x00", datetime(2021, 5, 6, 7, 8, 9)),
        ("2021:02:30 10:00:00", None),
        ("0000:00:00 00:00:00", None),
        (None, None),
    ],
)
def test_parse_exif_date(text, expected):
    assert parse_exif_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("+02:00", "+02:00"), ("-0330", "-03:30"), ("+2:00", None), ("Z", None), (None, None),
     ("+25:00", None)],
)  # fmt: skip
def test_parse_offset(text, expected):
    assert parse_offset(text) == expected


@pytest.mark.parametrize("orientation", range(1, 9))
def test_dimensions_follow_exif_orientation(tmp_path, orientation):
    exif = make_exif(orientation=orientation)
    meta = meta_of(write_image(tmp_path / "a.jpg", size=(64, 48), exif=exif))
    expected = (48, 64) if orientation >= 5 else (64, 48)
    assert (meta.width, meta.height) == expected


@pytest.mark.parametrize("fmt", ["TIFF", "HEIF", "WEBP", "PNG"])
def test_rotated_dimensions_in_other_formats(tmp_path, fmt):
    """Pillow's TIFF reader and pillow-heif pre-rotate; the result must still be the shown size."""
    path = write_image(
        tmp_path / f"a.{fmt.lower()}", fmt, size=(64, 48), exif=make_exif(orientation=6)
    )
    meta = meta_of(path)
    assert (meta.width, meta.height) == (48, 64)


def test_camera_make_and_model_are_cleaned(tmp_path):
    exif = make_exif(make="Canon\x00\x00  ", model="  Canon EOS R5\x00")
    meta = meta_of(write_image(tmp_path / "a.jpg", exif=exif))
    assert (meta.camera_make, meta.camera_model) == ("Canon", "Canon EOS R5")


def test_blank_camera_fields_become_none(tmp_path):
    meta = meta_of(write_image(tmp_path / "a.jpg", exif=make_exif(make="\x00 \x00", model="   ")))
    assert (meta.camera_make, meta.camera_model) == (None, None)


def test_avif_support_matches_pillow_build():
    """This Pillow reads AVIF itself; the format list must offer it exactly when Pillow does."""
    assert features.check("avif"), "the pinned Pillow wheel is expected to include libavif"
    assert "AVIF" in ensure_plugins()


EXIF_FORMATS = ["JPEG", "PNG", "WEBP", "TIFF", "HEIF", "AVIF", "MPO"]
ALL_FORMATS = [*EXIF_FORMATS, "BMP", "GIF"]
SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "HEIF": ".heic",
          "AVIF": ".avif", "MPO": ".mpo", "BMP": ".bmp", "GIF": ".gif"}  # fmt: skip


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_every_supported_format(tmp_path, fmt):
    exif = make_exif(original="2022:08:09 10:11:12", original_offset="+01:00", make="Nikon")
    path = write_image(tmp_path / f"photo{SUFFIX[fmt]}", fmt, size=(80, 50), exif=exif)
    assert path.suffix in IMAGE_EXTENSIONS
    meta = meta_of(path)
    assert meta.format == fmt
    assert (meta.width, meta.height) == (80, 50)
    assert meta.size == path.stat().st_size
    if fmt in EXIF_FORMATS:
        assert meta.capture_time == datetime(2022, 8, 9, 10, 11, 12)
        assert meta.capture_source == "exif_original"
        assert meta.camera_make == "Nikon"
    else:
        assert meta.capture_source == "file_mtime"


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "really_png.jpg"), ("JPEG", "really.png"),
                                           ("HEIF", "phone.jpg"), ("WEBP", "x.tif")])  # fmt: skip
def test_mislabelled_images_are_read_by_content(tmp_path, fmt, name):
    exif = make_exif(original="2020:01:02 03:04:05")
    meta = meta_of(write_image(tmp_path / name, fmt, exif=exif))
    assert meta.format == fmt
    assert meta.capture_time == datetime(2020, 1, 2, 3, 4, 5)


def test_non_image_named_jpg_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list: eggs, milk\n")
    with pytest.raises(MetadataError) as err:
        meta_of(path)
    assert "not an image" in err.value.reason
    assert str(path) in str(err.value)


def test_other_image_formats_are_refused(tmp_path):
    """A PCX or ICO renamed .jpg is an image Pillow knows, but not one we index."""
    for fmt in ("PCX", "ICO"):
        path = tmp_path / f"{fmt}.jpg"
        Image.new("RGB", (32, 32)).save(path, format=fmt)
        with pytest.raises(MetadataError, match="unsupported image format"):
            meta_of(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(MetadataError, match="empty file"):
        meta_of(path)


def test_truncated_header(tmp_path):
    path = write_image(tmp_path / "a.jpg", exif=make_exif(original="2020:01:02 03:04:05"))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(MetadataError):
        meta_of(path)


def test_metadata_needs_no_pixel_data(tmp_path):
    """Only the header is read: a photo cut off inside its pixel data still gives its facts."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, size=(300, 400, 3), dtype="uint8")
    path = tmp_path / "big.jpg"
    exif = make_exif(original="2019:09:09 09:09:09")
    Image.fromarray(pixels).save(path, "JPEG", quality=95, exif=exif.tobytes())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    meta = meta_of(path)
    assert (meta.width, meta.height) == (400, 300)
    assert meta.capture_time == datetime(2019, 9, 9, 9, 9, 9)


def _png_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR claiming a huge size (a decompression bomb header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"")
    idat_chunk = b"IDAT" + idat
    tail = struct.pack(">I", len(idat)) + idat_chunk + struct.pack(">I", zlib.crc32(idat_chunk))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + body + tail + end


def test_decompression_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(60_000, 60_000))
    with pytest.raises(MetadataError, match="too large"):
        meta_of(path)


def test_fingerprint_identifies_content_not_name(tmp_path):
    data = os.urandom(3 * FINGERPRINT_CHUNK + 12345)
    a, b = tmp_path / "a.jpg", tmp_path / "sub_b.jpg"
    a.write_bytes(data)
    b.write_bytes(data)
    assert fingerprint(a, len(data)) == fingerprint(b, len(data))
    assert len(fingerprint(a, len(data))) == 32


@pytest.mark.parametrize("where", ["head", "middle", "tail"])
def test_fingerprint_sees_edits_in_each_window(tmp_path, where):
    size = 40 * FINGERPRINT_CHUNK
    data = bytearray(os.urandom(size))
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    before = fingerprint(path, size)
    at = {"head": 100, "middle": size // 2, "tail": size - 100}[where]
    data[at] ^= 0xFF
    path.write_bytes(data)
    assert fingerprint(path, size) != before


def test_fingerprint_reads_only_three_windows(tmp_path):
    """An edit between the windows is not seen: the price of never reading whole files."""
    size = 40 * FINGERPRINT_CHUNK
    data = bytearray(os.urandom(size))
    path = tmp_path / "a.tif"
    path.write_bytes(data)
    before = fingerprint(path, size)
    data[5 * FINGERPRINT_CHUNK] ^= 0xFF
    path.write_bytes(data)
    assert fingerprint(path, size) == before


def test_fingerprint_of_small_files_covers_every_byte(tmp_path):
    data = bytearray(os.urandom(2 * FINGERPRINT_CHUNK))
    path = tmp_path / "small.png"
    path.write_bytes(data)
    before = fingerprint(path, len(data))
    data[FINGERPRINT_CHUNK + 7] ^= 1
    path.write_bytes(data)
    assert fingerprint(path, len(data)) != before


def test_fingerprint_includes_the_size(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(b"x" * 1000)
    assert fingerprint(path, 1000) != fingerprint(path, 1001)


def test_size_and_mtime_come_from_the_given_stat(tmp_path):
    """read_metadata takes the stat the scanner already has rather than statting again."""
    path = write_image(tmp_path / "a.jpg")
    st = os.stat(path)
    meta = read_metadata(path, st)
    assert (meta.size, meta.mtime_ns, meta.path) == (st.st_size, st.st_mtime_ns, str(path))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF"])
def test_open_photo_yields_the_metadata_and_the_same_file_still_to_decode(tmp_path, fmt):
    """One open serves metadata, fingerprint and pixels: the fingerprint's reads leave the
    undecoded image intact, and it decodes to what a fresh open_image gives."""
    from app.core.photos import decode

    noise = np.random.default_rng(5).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    path = tmp_path / f"photo.{fmt.lower()}"
    exif = make_exif(original="2020:01:02 03:04:05", orientation=6, make="Cam")
    Image.fromarray(noise).save(path, format=fmt, exif=exif.tobytes())
    st = os.stat(path)
    assert st.st_size > 3 * FINGERPRINT_CHUNK  # three windows, not the whole file
    with open_photo(path, st) as (meta, opened):
        assert meta == read_metadata(path, st)
        assert meta.fingerprint == fingerprint(path, st.st_size)
        assert (meta.width, meta.height) == (600, 800)
        decoded = decode.decode(opened, str(path), min_side=64)
    np.testing.assert_array_equal(
        np.asarray(decoded), np.asarray(decode.open_image(path, min_side=64))
    )


def test_a_file_gone_since_the_scan_is_not_a_metadata_error(tmp_path):
    """FileNotFoundError, not a skip reason: the indexer drops it and the next scan forgets it."""
    path = write_image(tmp_path / "a.jpg")
    st = os.stat(path)
    path.unlink()
    with pytest.raises(FileNotFoundError):
        read_metadata(path, st)
