"""Video sampling speed next to photo decoding, in one run.

Seconds of video sampled per second of wall time and frames sampled per minute of footage, for
synthetic 1080p and 4K clips (a photo-like scene panning slowly, a cut every 5 s), the cost of
a one-hour video (keyframe every 2 s), and `open_image` of a 12 MP JPEG. The videos are
generated once into bench/out/cache/videos-v1/. `--quick`: shorter clips, fewer repeats.

`--index`: end to end through `Library.index` with the bench model (ViT-B/32, random weights):
12 MP photos alone, videos alone, and both in one folder, each from a fresh data folder, in one
run: photos per second, seconds of video per second, frames embedded per minute of footage.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CACHE_DIR, jpeg_bytes, machine, photo_like_image, print_table, write_json

MIN_SIDE = 224  # what the encoder needs


def _frames(size: tuple[int, int], seconds: float, fps: int, cut_s: float) -> Iterator[np.ndarray]:
    """A photo-like picture panning 2 px a frame; a new picture every `cut_s` seconds."""
    rng = np.random.default_rng(0)
    w, h = size
    per_cut = max(1, round(cut_s * fps))
    picture = np.zeros((h, w, 3), np.uint8)
    for i in range(round(seconds * fps)):
        if i % per_cut == 0:
            picture = np.asarray(photo_like_image(rng, (w + 2 * per_cut, h)))
        offset = 2 * (i % per_cut)
        yield picture[:, offset : offset + w]


def ensure_video(
    path: Path, size: tuple[int, int], seconds: float, fps: int, cut_s: float, gop: int
) -> Path:
    """Encode the clip once (x264 ultrafast, yuv420p); later runs reuse it."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    started = time.perf_counter()
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "g": str(gop)})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i, rgb in enumerate(_frames(size, seconds, fps, cut_s)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    tmp.replace(path)
    print(f"  generated {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def measure_video(path: Path, repeats: int) -> dict[str, Any]:
    from app.core.photos.video import sample

    walls, got = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        got = sample(path, min_side=MIN_SIDE)
        walls.append(time.perf_counter() - started)
    assert got is not None
    wall = statistics.median(walls)
    seconds = (got.meta.duration_ms or 0) / 1000
    return {
        "file": path.name,
        "resolution": f"{got.meta.width}x{got.meta.height}",
        "duration_s": seconds,
        "frames": len(got.frames),
        "wall_s": wall,
        "video_s_per_s": seconds / wall,
        "frames_per_min": len(got.frames) / (seconds / 60),
        "ms_per_frame": 1000 * wall / max(1, len(got.frames)),
        "reason": got.reason,
    }


def measure_photo(repeats: int) -> dict[str, Any]:
    from app.core.photos.decode import open_image

    cached = sorted((CACHE_DIR / "photos-4000x3000-v3").rglob("*.jpg"))
    if cached:
        path = cached[0]
    else:
        path = CACHE_DIR / "videos-v1" / "photo-12mp.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(jpeg_bytes(photo_like_image(np.random.default_rng(1), (4000, 3000))))
    walls = []
    for _ in range(repeats):
        started = time.perf_counter()
        open_image(path, min_side=MIN_SIDE)
        walls.append(time.perf_counter() - started)
    return {"file": path.name, "wall_s": statistics.median(walls)}


def index_folder(home: Path, folder: Path, model_dir: Path) -> dict[str, Any]:
    """One `Library.index` of `folder` from a fresh data folder; what it did and how fast."""
    import shutil

    from app.core.library import Library
    from app.core.paths import Paths

    shutil.rmtree(home, ignore_errors=True)
    lib = Library.open(Paths.at(home).ensure(), device="cpu", model_dir=model_dir)
    try:
        assert lib.encoder is not None
        size = lib.encoder.image_size
        lib.encoder.encode_pixels(np.zeros((1, 3, size, size), np.float32))  # session warm
        lib.add_folder(folder)
        started = time.perf_counter()
        report = lib.index()
        wall = time.perf_counter() - started
        videos = [p for p in lib.catalog.photos(lib.catalog.filter_ids()) if p.is_video]
    finally:
        lib.close()
    shutil.rmtree(home, ignore_errors=True)
    footage_s = sum((v.duration_ms or 0) for v in videos) / 1000
    photos = report.added - len(videos)
    return {
        "photos": photos,
        "videos": len(videos),
        "footage_s": footage_s,
        "frames": report.frames,
        "encoded": report.encoded,
        "skipped": report.skipped,
        "partial": report.partial,
        "wall_s": wall,
        "images_per_s": report.encoded / wall,
        "photos_per_s": photos / wall if photos else None,
        "video_s_per_s": footage_s / wall if videos else None,
        "frames_per_min": report.frames / (footage_s / 60) if footage_s else None,
    }


def measure_index(folder: Path, clip_s: int, photos: int, repeats: int) -> list[dict[str, Any]]:
    """Photos alone, each video alone, then all of them in one folder, through Library.index
    (the median run by wall time of `repeats`)."""
    import os

    from bench.common import bench_model

    model_dir = bench_model()
    work = CACHE_DIR / "run-video-index"
    jpegs = sorted((CACHE_DIR / "photos-4000x3000-v3").rglob("*.jpg"))[:photos]
    if len(jpegs) < photos:
        rng = np.random.default_rng(2)
        for i in range(photos - len(jpegs)):
            extra = folder / f"photo-12mp-{i}.jpg"
            if not extra.exists():
                extra.write_bytes(jpeg_bytes(photo_like_image(rng, (4000, 3000))))
            jpegs.append(extra)
    hd = ensure_video(folder / f"1080p-{clip_s}s.mp4", (1920, 1080), clip_s, 30, 5, 60)
    hour = ensure_video(folder / "360p-1h.mp4", (640, 360), 3600, 2, 300, 4)
    named = {f"p{i}.jpg": j for i, j in enumerate(jpegs)}
    sets = {
        f"{len(jpegs)} photos 12 MP": named,
        f"1080p {clip_s} s video": {hd.name: hd},
        "360p 1 h video": {hour.name: hour},
        "all in one folder": {**named, hd.name: hd, hour.name: hour},
    }
    rows = []
    for k, (name, files) in enumerate(sets.items()):
        d = work / f"set{k}"
        d.mkdir(parents=True, exist_ok=True)
        for link, source in files.items():
            if not (d / link).exists():
                os.link(source, d / link)
        runs = sorted(
            (index_folder(work / "home", d, model_dir) for _ in range(repeats)),
            key=lambda r: r["wall_s"],
        )
        r = runs[len(runs) // 2]
        r["set"] = name
        rows.append(r)
        print(f"  {name}: {r}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short clips, one repeat")
    parser.add_argument("--index", action="store_true", help="end to end through Library.index")
    parser.add_argument("--photos", type=int, default=16, help="photos in the --index folders")
    args = parser.parse_args()
    if args.index:
        clip_s = 10 if args.quick else 30
        repeats = 1 if args.quick else 3
        runs = measure_index(CACHE_DIR / "videos-v1", clip_s, args.photos, repeats)
        print_table(
            ["set", "photos", "videos", "footage s", "frames", "wall s", "images/s",
             "photos/s", "video s/s", "frames/min"],
            [[r["set"], r["photos"], r["videos"], r["footage_s"], r["frames"], r["wall_s"],
              r["images_per_s"], r["photos_per_s"] or "", r["video_s_per_s"] or "",
              r["frames_per_min"] or ""] for r in runs],
        )  # fmt: skip
        write_json("video_index", {"machine": machine(), "runs": runs})
        return
    folder = CACHE_DIR / "videos-v1"
    clip_s = 10 if args.quick else 30
    repeats = 1 if args.quick else 3
    videos = [
        ensure_video(folder / f"1080p-{clip_s}s.mp4", (1920, 1080), clip_s, 30, 5, 60),
        ensure_video(folder / f"4k-{clip_s}s.mp4", (3840, 2160), clip_s, 30, 5, 60),
        ensure_video(folder / "360p-1h.mp4", (640, 360), 3600, 2, 300, 4),
    ]
    results = [measure_video(v, repeats) for v in videos]
    photo = measure_photo(5)
    rows = [
        [
            r["file"],
            r["resolution"],
            r["duration_s"],
            r["frames"],
            r["wall_s"],
            r["video_s_per_s"],
            r["frames_per_min"],
            r["ms_per_frame"],
        ]
        for r in results
    ]
    print_table(
        ["video", "size", "seconds", "frames", "wall s", "video s/s", "frames/min", "ms/frame"],
        rows,
    )
    print(f"open_image of a 12 MP JPEG at min_side {MIN_SIDE}: {1000 * photo['wall_s']:.0f} ms")
    write_json("video", {"machine": machine(), "videos": results, "photo": photo})


if __name__ == "__main__":
    main()
