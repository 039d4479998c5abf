"""Photos taken at known places, for the places tests: the micro CLIP's coloured shapes saved as
JPEGs with EXIF DateTimeOriginal (optionally its offset) and an EXIF GPS position."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from microclip import make_shape_image
from PIL import Image

GPS_IFD, EXIF_IFD = 0x8825, 0x8769

# name -> (lat, lon): city centres, and a point in mid-Atlantic far from any place.
SPOTS = {
    "lisbon": (38.7223, -9.1393),
    "porto": (41.1496, -8.6110),
    "paris": (48.8566, 2.3522),
    "paris_tx": (33.6609, -95.5555),
    "tokyo": (35.6762, 139.6503),
    "ocean": (30.0, -40.0),
}


def dms(value: float) -> tuple[float, float, float]:
    """Decimal degrees as EXIF's (degrees, minutes, seconds)."""
    v = abs(value)
    d = int(v)
    m = int((v - d) * 60)
    return float(d), float(m), round((v - d - m / 60) * 3600, 4)


def gps_jpeg(
    path: Path,
    color: str,
    shape: str,
    seed: int,
    *,
    at: tuple[float, float] | None = None,
    date: str = "2019:07:15 12:00:00",
    offset: str | None = None,
) -> Path:
    """A JPEG of one coloured shape, taken at `date` (wall clock; `offset` when the camera
    recorded one) and at position `at` (None: no GPS)."""
    img = make_shape_image(color, shape, 96, np.random.default_rng(seed))
    exif = Image.Exif()
    sub = exif.get_ifd(EXIF_IFD)
    sub[36867] = date
    if offset is not None:
        sub[36881] = offset  # OffsetTimeOriginal
    if at is not None:
        gps = exif.get_ifd(GPS_IFD)
        gps[1], gps[2] = ("N" if at[0] >= 0 else "S"), dms(at[0])
        gps[3], gps[4] = ("E" if at[1] >= 0 else "W"), dms(at[1])
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path
