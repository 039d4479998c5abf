"""Capture dates from XMP, IPTC and GPS on real JPEG files, in the documented order, the v3
migration that lets the catalog record them, and file dates marked as guesses (issue #11)."""

from __future__ import annotations

import io
import json
import logging
import os
import sqlite3
import struct
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, TiffImagePlugin

from app.core.catalog.catalog import Catalog
from app.core.catalog.records import CAPTURE_SOURCES
from app.core.catalog.schema import MIGRATIONS, V5_SOURCES
from app.core.photos.dates import parse_xmp_date
from app.core.photos.metadata import PhotoMeta, read_metadata

MTIME = 1_300_000_000  # 2011-03-13 UTC: what a photo without any date falls back to


def xmp_packet(body: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f"{body}</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


NS = (
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
)


def app1_xmp(packet: bytes) -> bytes:
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + packet
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def app13_iptc(date: bytes, time: bytes | None) -> bytes:
    """An APP13 segment: "Photoshop 3.0", one 8BIM resource 0x0404 holding IIM record 2."""
    iim = b"".join(
        b"\x1c\x02" + bytes([tag]) + struct.pack(">H", len(value)) + value
        for tag, value in ((55, date), (60, time))
        if value is not None
    )
    pad = b"\x00" if len(iim) % 2 else b""
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim))
    payload = b"Photoshop 3.0\x00" + resource + iim + pad
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def jpeg(path: Path, *, exif: Image.Exif | None = None, segments: bytes = b"") -> Path:
    """A real JPEG at `path` with `segments` inserted after SOI, its mtime set to MTIME."""
    buf = io.BytesIO()
    img = Image.fromarray(np.full((24, 32, 3), 120, np.uint8))
    img.save(buf, "JPEG", exif=exif if exif is not None else Image.Exif())
    data = buf.getvalue()
    path.write_bytes(data[:2] + segments + data[2:])
    os.utime(path, (MTIME, MTIME))
    return path


def read(path: Path) -> PhotoMeta:
    return read_metadata(path, path.stat())


def gps_exif(date: str = "2019:08:07", stamp=(13.0, 14.0, 15.5)) -> Image.Exif:
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[29] = date
    gps[7] = tuple(TiffImagePlugin.IFDRational(v) for v in stamp)
    return exif


def file_date() -> datetime:
    return datetime.fromtimestamp(MTIME)


# -- each source alone -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "when", "offset"),
    [
        (  # attribute form, offset and sub-seconds
            f'<rdf:Description rdf:about="" {NS} xmp:CreateDate="2020-02-03T04:05:06.75+05:30"/>',
            datetime(2020, 2, 3, 4, 5, 6, 750000),
            "+05:30",
        ),
        (  # element form, no offset
            f'<rdf:Description rdf:about="" {NS}>'
            "<exif:DateTimeOriginal>2018-07-08T09:10:11</exif:DateTimeOriginal>"
            "</rdf:Description>",
            datetime(2018, 7, 8, 9, 10, 11),
            None,
        ),
        (  # photoshop:DateCreated as a date alone, UTC "Z" elsewhere ignored
            f'<rdf:Description rdf:about="" {NS} photoshop:DateCreated="2017-01-02"/>',
            datetime(2017, 1, 2),
            None,
        ),
        (  # exif:DateTimeOriginal beats xmp:CreateDate beats photoshop:DateCreated
            f'<rdf:Description rdf:about="" {NS} photoshop:DateCreated="2001-01-01" '
            'xmp:CreateDate="2002-02-02T02:02Z">'
            "<exif:DateTimeOriginal>2003-03-03T03:03:03-04:00</exif:DateTimeOriginal>"
            "</rdf:Description>",
            datetime(2003, 3, 3, 3, 3, 3),
            "-04:00",
        ),
        (  # the xmp: date when exif:DateTimeOriginal is garbage; "Z" is +00:00
            f'<rdf:Description rdf:about="" {NS} xmp:CreateDate="2002-02-02T02:02Z" '
            'exif:DateTimeOriginal="0000-00-00T00:00:00"/>',
            datetime(2002, 2, 2, 2, 2),
            "+00:00",
        ),
    ],
)
def test_a_jpeg_with_only_xmp(tmp_path, body, when, offset):
    meta = read(jpeg(tmp_path / "x.jpg", segments=app1_xmp(xmp_packet(body))))
    assert (meta.capture_time, meta.capture_offset, meta.capture_source) == (when, offset, "xmp")


def test_pillow_writes_xmp_that_is_read_back(tmp_path):
    path = tmp_path / "p.jpg"
    packet = xmp_packet(f'<rdf:Description {NS} xmp:CreateDate="2016-06-16T16:16:16+01:00"/>')
    Image.new("RGB", (8, 8)).save(path, "JPEG", xmp=packet)
    meta = read(path)
    assert (meta.capture_time, meta.capture_offset, meta.capture_source) == (
        datetime(2016, 6, 16, 16, 16, 16), "+01:00", "xmp",
    )  # fmt: skip


def test_a_jpeg_with_only_iptc(tmp_path):
    meta = read(jpeg(tmp_path / "i.jpg", segments=app13_iptc(b"20150304", b"101112+0100")))
    assert (meta.capture_time, meta.capture_offset, meta.capture_source) == (
        datetime(2015, 3, 4, 10, 11, 12), "+01:00", "iptc",
    )  # fmt: skip


def test_iptc_date_without_a_time_is_midnight_without_offset(tmp_path):
    meta = read(jpeg(tmp_path / "i.jpg", segments=app13_iptc(b"20150304", None)))
    assert (meta.capture_time, meta.capture_offset, meta.capture_source) == (
        datetime(2015, 3, 4), None, "iptc",
    )  # fmt: skip


def test_a_jpeg_with_only_a_gps_time_is_utc(tmp_path):
    meta = read(jpeg(tmp_path / "g.jpg", exif=gps_exif()))
    assert (meta.capture_time, meta.capture_offset, meta.capture_source) == (
        datetime(2019, 8, 7, 13, 14, 15, 500000), "+00:00", "gps_utc",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("date", "stamp"),
    [("2019:13:40", (1.0, 2.0, 3.0)), ("", (1.0, 2.0, 3.0)), ("2019:08:07", (25.0, 0.0, 0.0))],
)
def test_an_impossible_gps_time_is_no_date(tmp_path, date, stamp):
    meta = read(jpeg(tmp_path / "g.jpg", exif=gps_exif(date, stamp)))
    assert (meta.capture_time, meta.capture_source) == (file_date(), "file_mtime")


# -- the order -------------------------------------------------------------------------------


def test_exif_wins_over_xmp_iptc_and_gps(tmp_path):
    exif = gps_exif()
    exif.get_ifd(0x8769)[36867] = "2021:05:06 07:08:09"
    xmp = app1_xmp(xmp_packet(f'<rdf:Description {NS} xmp:CreateDate="2000-01-01T00:00:00"/>'))
    meta = read(jpeg(tmp_path / "e.jpg", exif=exif, segments=xmp + app13_iptc(b"19990101", None)))
    assert (meta.capture_time, meta.capture_source) == (
        datetime(2021, 5, 6, 7, 8, 9),
        "exif_original",
    )


def test_xmp_beats_iptc_beats_gps_beats_exif_datetime(tmp_path):
    exif = gps_exif()
    exif[0x0132] = "2022:02:02 02:02:02"  # IFD0 DateTime: as often the last edit as the capture
    xmp = app1_xmp(xmp_packet(f'<rdf:Description {NS} xmp:CreateDate="2000-01-01T00:00:00"/>'))
    iptc = app13_iptc(b"19990101", b"120000")
    assert read(jpeg(tmp_path / "a.jpg", exif=exif, segments=xmp + iptc)).capture_source == "xmp"
    assert read(jpeg(tmp_path / "b.jpg", exif=exif, segments=iptc)).capture_source == "iptc"
    assert read(jpeg(tmp_path / "c.jpg", exif=exif)).capture_source == "gps_utc"
    only = Image.Exif()
    only[0x0132] = "2022:02:02 02:02:02"
    assert read(jpeg(tmp_path / "d.jpg", exif=only)).capture_source == "exif_datetime"


# -- damaged or missing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "packet",
    [
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>unclosed",
        b"\xff\xfe not xml at all \x00\x01",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        xmp_packet(f'<rdf:Description {NS} xmp:CreateDate="yesterday"/>'),
        xmp_packet(f'<rdf:Description {NS} xmp:CreateDate="2021-02-30T10:00:00"/>'),
    ],
)
def test_malformed_xmp_falls_back_to_the_file_date(tmp_path, caplog, packet):
    with caplog.at_level(logging.INFO, logger="app.core.photos.dates"):
        meta = read(jpeg(tmp_path / "m.jpg", segments=app1_xmp(packet)))
    assert (meta.capture_time, meta.capture_source) == (file_date(), "file_mtime")
    if b"rdf:Description" not in packet:
        assert any("XMP" in r.getMessage() and "m.jpg" in r.getMessage() for r in caplog.records)


def test_damaged_iptc_falls_back_to_the_file_date(tmp_path):
    junk = b"\xff\xed\x00\x20Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\xff\xff\x1c\x02"
    meta = read(jpeg(tmp_path / "d.jpg", segments=junk))
    assert meta.capture_source == "file_mtime"


def test_no_date_anywhere_is_the_file_date(tmp_path):
    meta = read(jpeg(tmp_path / "n.jpg"))
    assert (meta.capture_time, meta.capture_source) == (file_date(), "file_mtime")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2021-06-01T14:30:05.123456789+02:00",
            (datetime(2021, 6, 1, 14, 30, 5, 123456), "+02:00"),
        ),
        ("2021-06-01T14:30", (datetime(2021, 6, 1, 14, 30), None)),
        ("2021-06-01 14:30:05Z", (datetime(2021, 6, 1, 14, 30, 5), "+00:00")),
        ("2021-06", None),
        ("2021", None),
        ("1200-01-01", None),
        ("", None),
    ],
)
def test_parse_xmp_date(text, expected):
    assert parse_xmp_date(text) == expected


# -- the catalog -----------------------------------------------------------------------------


def test_newest_capture_sources_are_the_schemas():
    assert V5_SOURCES == CAPTURE_SOURCES


def test_v3_migrates_a_v2_catalog_keeping_photos_ids_and_vectors(tmp_path):
    db = tmp_path / "data" / "catalog.sqlite3"
    folder = tmp_path / "photos"
    folder.mkdir()
    with Catalog(db, migrations=MIGRATIONS[:2]) as old:
        assert old.schema_version == 2
        old.add_folder(folder)
        metas = [read(jpeg(folder / f"{k}.jpg")) for k in range(3)]
        ids = [  # as the v2 code wrote them (today's upsert_photos writes v5 columns)
            old.db.conn.execute(
                "INSERT INTO photos (folder_id, path, size, mtime_ns, fingerprint, width, height, "
                "capture_time, capture_source, year, month) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (m.path, m.size, m.mtime_ns, m.fingerprint, m.width, m.height,
                 m.capture_time.isoformat() if m.capture_time else None, m.capture_source,
                 m.year, m.month),
            ).lastrowid
            for m in metas
        ]  # fmt: skip
        old.put_embeddings("model-a", ids, np.eye(3, 8, dtype=np.float32))
        old.db.conn.execute("DELETE FROM photos WHERE id = ?", (ids[-1],))  # counter stays above
        with pytest.raises(sqlite3.IntegrityError):  # the v2 CHECK refuses the new sources
            old.db.conn.execute("UPDATE photos SET capture_source = 'xmp'")
        before = old.db.conn.execute("SELECT * FROM photos ORDER BY id").fetchall()
        vectors = old.db.conn.execute("SELECT * FROM embeddings ORDER BY photo_id").fetchall()
        seq = old.db.conn.execute("SELECT seq FROM sqlite_sequence WHERE name='photos'").fetchone()
    with Catalog(db, migrations=MIGRATIONS[:3]) as cat:  # v4 (folder roots) has its own test
        conn = cat.db.conn
        assert cat.schema_version == 3
        assert conn.execute("SELECT * FROM photos ORDER BY id").fetchall() == before
        assert conn.execute("SELECT * FROM embeddings ORDER BY photo_id").fetchall() == vectors
        assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name='photos'").fetchone() == seq
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"photos_state_capture", "photos_fingerprint", "embeddings_model"} <= names
        assert not {"photos_v3", "embeddings_v3"} & names
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.execute("UPDATE photos SET capture_source = 'gps_utc' WHERE id = ?", (ids[0],))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE photos SET capture_source = 'guess'")
        # foreign keys still cascade from the rebuilt photos table
        conn.execute("DELETE FROM photos WHERE id = ?", (ids[0],))
        assert conn.execute(
            "SELECT count(*) FROM embeddings WHERE photo_id = ?", (ids[0],)
        ).fetchone() == (0,)


def test_every_capture_source_is_stored_and_read_back(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    with Catalog(tmp_path / "data" / "c.sqlite3") as cat:
        cat.add_folder(folder)
        base = read(jpeg(folder / "a.jpg"))
        metas = [
            PhotoMeta(**{**base.__dict__, "path": str(folder / f"{s}.jpg"), "capture_source": s})
            for s in CAPTURE_SOURCES
        ]
        ids = cat.upsert_photos(metas)
        assert [p.capture_source for p in cat.photos(ids)] == list(CAPTURE_SOURCES)


# -- shown as a guess ------------------------------------------------------------------------


def test_the_cli_marks_a_file_date_in_the_table_and_the_json(tmp_path, tiny_model_dir):
    from test_cli import cli, ok

    home, photos = tmp_path / "home", tmp_path / "photos"
    photos.mkdir()
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2021:05:06 07:08:09"
    jpeg(photos / "dated.jpg", exif=exif)
    jpeg(photos / "xmp.jpg", segments=app1_xmp(xmp_packet(
        f'<rdf:Description {NS} xmp:CreateDate="2020-02-03T04:05:06+01:00"/>'
    )))  # fmt: skip
    jpeg(photos / "undated.jpg")
    ok(cli(home, "folders", "add", photos))
    ok(cli(home, "model", "install", "--from", tiny_model_dir))
    ok(cli(home, "index"))
    found = json.loads(ok(cli(home, "search", "a photo", "--json", "--all")).stdout)["hits"]
    by_name = {Path(h["path"]).name: h for h in found}
    assert by_name["dated.jpg"]["capture_source"] == "exif_original"
    assert by_name["xmp.jpg"]["capture_source"] == "xmp"
    assert by_name["undated.jpg"]["capture_source"] == "file_mtime"
    assert by_name["undated.jpg"]["capture_time"].startswith(file_date().isoformat()[:10])
    table = ok(cli(home, "search", "a photo", "--all")).stdout.splitlines()
    line = {Path(row.split()[-1]).name: row for row in table}
    assert f"{file_date():%Y-%m-%d} (file date)" in line["undated.jpg"]
    assert "file date" not in line["dated.jpg"] and "2021-05-06" in line["dated.jpg"]
    assert "file date" not in line["xmp.jpg"] and "2020-02-03" in line["xmp.jpg"]
