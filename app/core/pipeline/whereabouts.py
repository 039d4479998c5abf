"""Where and when, from a photo's GPS position: its gazetteer place (geocoded a batch at a time)
and, where its capture time has no UTC offset, the offset of the position's time zone.

Also the two ways an existing library catches up without re-encoding anything: a rescan reads
again the headers of unchanged files catalogued before positions were read (`backfill`), and a
newer gazetteer re-geocodes the stored positions (`refresh_places`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from app.core.catalog.records import Whereabouts
from app.core.jobs import JobControl
from app.core.photos import metadata, video
from app.core.photos.formats import is_video_name
from app.core.pipeline.report import IndexProgress, IndexReport
from app.core.places import gazetteer, zones

if TYPE_CHECKING:
    from app.core.catalog.catalog import Catalog
    from app.core.photos.metadata import PhotoMeta

log = logging.getLogger(__name__)

CHUNK = 256  # headers read (in parallel) and written (in one transaction) at a time
GEOCODE_BATCH = 50_000  # stored positions re-geocoded per transaction


def locate(metas: Sequence[PhotoMeta]) -> tuple[list[PhotoMeta], list[Whereabouts]]:
    """Each photo with its capture time in its position's zone where the camera gave no offset
    (see `zones.localise`), and where it was taken. Photos without a position are unchanged
    and nowhere; the gazetteer is loaded only when some photo has a position."""
    out = list(metas)
    derived = [False] * len(out)
    placed = [i for i, m in enumerate(out) if m.lat is not None and m.lon is not None]
    if not placed:
        return out, [Whereabouts()] * len(out)
    for i in placed:
        m = out[i]
        assert m.lat is not None and m.lon is not None
        when, offset, derived[i] = zones.localise(
            m.capture_time, m.capture_offset, m.capture_source, m.lat, m.lon
        )
        if when != m.capture_time or offset != m.capture_offset:
            out[i] = dataclasses.replace(m, capture_time=when, capture_offset=offset)
    found = geocode([out[i].lat for i in placed], [out[i].lon for i in placed])
    where = [Whereabouts()] * len(out)
    for i, at in zip(placed, found, strict=True):
        where[i] = dataclasses.replace(at, offset_derived=derived[i])
    return out, where


def geocode(lats: Sequence[float | None], lons: Sequence[float | None]) -> list[Whereabouts]:
    """The gazetteer place of each position (vectorised); nowhere when far from any place."""
    gaz = gazetteer.Gazetteer.shared()
    la = np.array([np.nan if v is None else v for v in lats], dtype=np.float64)
    lo = np.array([np.nan if v is None else v for v in lons], dtype=np.float64)
    index, _ = gaz.nearest(la, lo)
    out: list[Whereabouts] = []
    for i in index.tolist():
        if i < 0:
            out.append(Whereabouts())
        else:
            out.append(Whereabouts(gaz.codes[i], gaz.regions[i], gaz.cities[i]))
    return out


def gazetteer_version() -> str:
    """The installed gazetteer's version, as `Gazetteer.version` gives it, without loading it."""
    return gazetteer.data_version()


def refresh_places(catalog: Catalog, lock: threading.RLock | None = None) -> int:
    """Re-geocode every stored position when the catalog's places came from another gazetteer
    (or none was recorded); returns how many. Cheap: no file is read, ~1 s per 100k."""
    current = gazetteer_version()
    if catalog.gazetteer_version() == current:
        return 0
    done, after = 0, 0
    while True:
        rows = catalog.positions(after, GEOCODE_BATCH)
        if not rows:
            break
        found = geocode([r[1] for r in rows], [r[2] for r in rows])
        with lock or threading.RLock():
            catalog.set_places([(r[0], w) for r, w in zip(rows, found, strict=True)])
        done += len(rows)
        after = rows[-1][0]
    catalog.set_gazetteer_version(current)
    if done:
        log.info("re-geocoded %d positions with %s", done, current)
    return done


def read_header(path: str, st: os.stat_result, fp: str | None = None) -> PhotoMeta | None:
    """Header facts of an unchanged file (`fp`: its stored fingerprint, not read again), or
    None when they cannot be read now (the row is kept as it is)."""
    try:
        if is_video_name(os.path.basename(path)):
            return video.probe(path, st)
        return metadata.read_metadata(path, st, fp=fp)
    except (metadata.MetadataError, video.VideoError, OSError) as e:
        log.info("cannot read the headers of %s again: %s", path, e)
        return None


def backfill(
    catalog: Catalog,
    stale: Sequence[tuple[int, str, os.stat_result, str | None]],
    report: IndexReport,
    control: JobControl,
    emit: Callable[[IndexProgress], None],
    *,
    threads: int,
    lock: threading.RLock,
    forgotten: set[int],
    folder_of: Callable[[str], int | None],
) -> None:
    """Read the headers of unchanged files catalogued before the current header facts (id,
    path, stat, fingerprint) and store their position, place and localised time; state and vectors stay."""
    if not stale:
        return
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="photoseek-headers") as pool:
        for start in range(0, len(stale), CHUNK):
            control.checkpoint()
            part = stale[start : start + CHUNK]
            emit(IndexProgress("scanning", start, len(stale)))
            metas = list(pool.map(lambda s: read_header(s[1], s[2], s[3]), part))
            got = [(s[0], m) for s, m in zip(part, metas, strict=True) if m is not None]
            if not got:
                continue
            localised, where = locate([m for _, m in got])
            with lock:
                rows = [
                    (pid, m, w)
                    for (pid, _), m, w in zip(got, localised, where, strict=True)
                    if folder_of(m.path) not in forgotten
                ]
                catalog.refresh_headers(rows)
            report.refreshed += len(rows)
