"""GPS positions from real files: JPEGs with an EXIF GPS IFD or XMP written by Pillow, videos
with QuickTime and MP4 location tags written by PyAV; rejected positions leave no place and log
their reason."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, TiffImagePlugin

from app.core.photos import video
from app.core.photos.location import (
    Position,
    position_from_exif,
    position_from_iso6709,
    position_from_xmp,
    valid_position,
)
from app.core.photos.metadata import read_metadata
from tests.videos import write_video

GPS_IFD = 0x8825


def dms(degrees: float, minutes: float, seconds: float) -> float:
    return degrees + minutes / 60 + seconds / 3600


def gps_exif(lat_ref: object, lat: object, lon_ref: object, lon: object, **extra: object):
    exif = Image.Exif()
    gps = exif.get_ifd(GPS_IFD)
    for tag, value in ((1, lat_ref), (2, lat), (3, lon_ref), (4, lon)):
        if value is not None:
            gps[tag] = value
    for tag, value in extra.items():
        gps[int(tag.lstrip("t"))] = value
    return exif


def write_jpeg(path: Path, exif: Image.Exif | None = None, xmp: bytes | None = None) -> Path:
    kwargs: dict[str, object] = {}
    if exif is not None:
        kwargs["exif"] = exif.tobytes()
    if xmp is not None:
        kwargs["xmp"] = xmp
    Image.new("RGB", (32, 24), (90, 140, 200)).save(path, "JPEG", **kwargs)
    return path


def meta(path: Path):
    return read_metadata(path, os.stat(path))


def xmp(attributes: str) -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        f'xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" {attributes}/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()


# (name, lat ref, lat DMS, lon ref, lon DMS): one place in each hemisphere pair.
PLACES = [
    ("lisbon", "N", (38, 43, 20.28), "W", (9, 8, 19.8)),
    ("sydney", "S", (33, 52, 4.0), "E", (151, 12, 26.0)),
    ("buenos_aires", "S", (34, 36, 13.0), "W", (58, 22, 54.0)),
    ("tokyo", "N", (35, 41, 22.0), "E", (139, 41, 30.0)),
]


@pytest.mark.parametrize(("name", "lat_ref", "lat", "lon_ref", "lon"), PLACES)
def test_exif_gps_of_a_jpeg_at_a_known_place(tmp_path, name, lat_ref, lat, lon_ref, lon):
    path = write_jpeg(tmp_path / f"{name}.jpg", gps_exif(lat_ref, lat, lon_ref, lon))
    got = meta(path)
    want_lat = dms(*lat) * (-1 if lat_ref == "S" else 1)
    want_lon = dms(*lon) * (-1 if lon_ref == "W" else 1)
    assert got.lat == pytest.approx(want_lat, abs=1e-6)
    assert got.lon == pytest.approx(want_lon, abs=1e-6)


def test_a_photo_without_gps_has_no_position(tmp_path):
    got = meta(write_jpeg(tmp_path / "plain.jpg"))
    assert (got.lat, got.lon) == (None, None)


def test_bytes_references_and_decimal_degrees_in_one_rational(tmp_path):
    exif = gps_exif(b"S\x00", (33.8678,), b"E\x00", (151.2073,))
    got = meta(write_jpeg(tmp_path / "decimal.jpg", exif))
    assert (got.lat, got.lon) == (pytest.approx(-33.8678), pytest.approx(151.2073))


@pytest.mark.parametrize(
    ("exif", "reason"),
    [
        (gps_exif("N", (0, 0, 0), "E", (0, 0, 0)), "0,0"),
        (gps_exif("N", (95, 0, 0), "E", (10, 0, 0)), "out of range"),
        (gps_exif("N", (10, 0, 0), "W", (181, 0, 0)), "out of range"),
        (gps_exif("N", (TiffImagePlugin.IFDRational(1, 0), 0, 0), "E", (10, 0, 0)), "malformed"),
        (gps_exif("N", (38, 75, 0), "E", (10, 0, 0)), "malformed"),
        (gps_exif("X", (38, 0, 0), "E", (10, 0, 0)), "malformed"),
        (gps_exif(None, (38, 0, 0), "E", (10, 0, 0)), "malformed"),
        (gps_exif("N", (38, 0, 0), "E", None), "malformed"),
        (gps_exif("N", (38, 0, 0), "E", (10, 0, 0), t9="V"), "void"),
    ],
    ids=["zero", "lat>90", "lon>180", "nan", "minutes", "ref", "no-ref", "one-coord", "void"],
)
def test_rejected_exif_positions_log_their_reason(tmp_path, caplog, exif, reason):
    path = write_jpeg(tmp_path / "bad.jpg", exif)
    with caplog.at_level(logging.INFO, logger="app.core.photos.location"):
        got = meta(path)
    assert (got.lat, got.lon) == (None, None)
    assert got.width == 32  # the photo itself is fine
    assert any(reason in r.getMessage() and "bad.jpg" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("attributes", "want"),
    [
        (
            'exif:GPSLatitude="38,43.338N" exif:GPSLongitude="9,8.33W"',
            (dms(38, 43.338, 0), -dms(9, 8.33, 0)),
        ),
        (
            'exif:GPSLatitude="33,52,4S" exif:GPSLongitude="151,12,26E"',
            (-dms(33, 52, 4), dms(151, 12, 26)),
        ),
        ('exif:GPSLatitude="48.8566" exif:GPSLongitude="2.3522"', (48.8566, 2.3522)),
        ('drone-dji:GpsLatitude="+46.5197" drone-dji:GpsLongtitude="+6.6323"', (46.5197, 6.6323)),
    ],
    ids=["dm", "dms", "decimal", "dji"],
)
def test_xmp_position(tmp_path, attributes, want):
    got = meta(write_jpeg(tmp_path / "xmp.jpg", xmp=xmp(attributes)))
    assert (got.lat, got.lon) == (pytest.approx(want[0]), pytest.approx(want[1]))


def test_exif_wins_over_xmp_and_xmp_replaces_a_rejected_exif(tmp_path):
    packet = xmp('exif:GPSLatitude="48.8566" exif:GPSLongitude="2.3522"')
    lisbon = gps_exif("N", (38, 43, 20.28), "W", (9, 8, 19.8))
    both = meta(write_jpeg(tmp_path / "both.jpg", lisbon, packet))
    assert both.lat == pytest.approx(dms(38, 43, 20.28))
    zero = gps_exif("N", (0, 0, 0), "E", (0, 0, 0))
    fallback = meta(write_jpeg(tmp_path / "fallback.jpg", zero, packet))
    assert (fallback.lat, fallback.lon) == (pytest.approx(48.8566), pytest.approx(2.3522))


@pytest.mark.parametrize(
    "packet",
    [
        xmp('exif:GPSLatitude="north" exif:GPSLongitude="2.3"'),
        xmp('exif:GPSLatitude="38,43.3N"'),
        xmp('exif:GPSLatitude="38,43.3E" exif:GPSLongitude="9,8W"'),
        xmp('exif:GPSLatitude="0" exif:GPSLongitude="0"'),
        b"<x:xmpmeta>not closed",
    ],
    ids=["word", "one", "wrong-ref", "zero", "broken"],
)
def test_bad_xmp_positions_are_ignored(packet):
    assert position_from_xmp(packet, "x.jpg") is None


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("+38.7223-009.1393+010.000/", (38.7223, -9.1393)),
        ("-33.8678+151.2073/", (-33.8678, 151.2073)),
        ("+3843.338-00908.358/", (dms(38, 43.338, 0), -dms(9, 8.358, 0))),
        ("+384320.28-0090819.8/", (dms(38, 43, 20.28), -dms(9, 8, 19.8))),
        ("+48.8566+002.3522CRSWGS_84/", (48.8566, 2.3522)),
    ],
)
def test_iso6709(text, want):
    assert position_from_iso6709(text) == Position(pytest.approx(want[0]), pytest.approx(want[1]))


@pytest.mark.parametrize(
    "text",
    ["", "garbage", "+38.7-9.1", "+91.0000+010.0000/", "+00.0000+000.0000/", "+3875.0-00908.0/"],
)
def test_bad_iso6709_is_no_position(text):
    assert position_from_iso6709(text) is None


def test_valid_position_reasons():
    assert valid_position(38.7, -9.1) is None
    assert valid_position(-90, 180) is None
    assert "number" in (valid_position(math.nan, 1.0) or "")
    assert "number" in (valid_position(1.0, math.inf) or "")
    assert "range" in (valid_position(-90.5, 0.0) or "")
    assert "0,0" in (valid_position(0.0, 0.0) or "")


def test_exif_with_a_damaged_gps_pointer():
    exif = Image.Exif()
    exif[GPS_IFD] = 12345678  # points past the end of the data
    assert position_from_exif(exif, "x.jpg") is None


FRAMES = [np.full((32, 48, 3), 120, np.uint8)] * 3


@pytest.mark.parametrize(
    ("name", "tags", "options", "want"),
    [
        ("apple.mov", {"com.apple.quicktime.location.ISO6709": "+48.8566+002.3522+035.000/"},
         {"movflags": "use_metadata_tags"}, (48.8566, 2.3522)),
        ("phone.mp4", {"location": "-33.8678+151.2073/"}, {}, (-33.8678, 151.2073)),
        ("camera.mov", {"location": "+38.7223-009.1393+010.000/"}, {}, (38.7223, -9.1393)),
        ("nowhere.mp4", {"location": "+00.0000+000.0000/"}, {}, None),
        ("plain.mp4", {}, {}, None),
    ],
)  # fmt: skip
def test_video_location_tags(tmp_path, name, tags, options, want):
    path = write_video(tmp_path / name, FRAMES, metadata=tags, options=options)
    got = video.probe(path, os.stat(path))
    if want is None:
        assert (got.lat, got.lon) == (None, None)
    else:
        assert (got.lat, got.lon) == (pytest.approx(want[0]), pytest.approx(want[1]))
