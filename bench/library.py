"""Library benchmark: indexing, rescanning and searching at realistic sizes (ViT-B-32 random-init).

Sections, each compared within this one run (the machines are noisy; read the ratios):
  index    photos/s of Library.index on 4000x3000 JPEGs vs (a) the bare encoder on pre-decoded
           tensors and (b) a seed-style pipeline (full PIL decode, one photo at a time, torch)
  rescan   Library.index over N unchanged files already in the catalog (target <= 5 s at 100k)
  search   text and filtered query latency p50/p95 at each --vectors size, peak RSS per size
           (each size runs in its own process so its memory is its own)

Generated data is cached under bench/out/cache and reused (photos, tiny files, catalogs and
vector indexes), so only the first run pays for building them.

    python bench/library.py [--photos N] [--vectors 100000,1000000] [--rescan-files N] [--quick]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    CACHE_DIR,
    QUERIES,
    bench_model,
    default_threads,
    jpeg_bytes,
    machine,
    peak_rss_mb,
    photo_like_image,
    print_table,
    rss_mb,
    stats_ms,
    torch_model,
    write_json,
)
from PIL import Image

DATA_VERSION = 3  # bump when generated data changes: cached data of another version is rebuilt
PHOTO_SIZE = (4000, 3000)
PHOTO_QUALITY = 90
YEARS = tuple(range(2010, 2025))  # common years, more photos in recent ones
RARE_YEAR = 2003  # ~0.01 % of the library: the "exact top-k among very few" case
BUSY_YEAR, BUSY_MONTH = 2019, 7
TARGETS = {
    "index_over_bare": 0.80,
    "query_p95_ms_100k": 30.0,
    "rescan_100k_s": 5.0,
    "rss_1m_mb": 2000.0,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--photos", type=int, default=None, help="4000x3000 JPEGs to index (default 300; quick 40)"
    )
    p.add_argument(
        "--vectors",
        default=None,
        help="comma-separated index sizes for the query section "
        "(default 100000,1000000; quick 30000)",
    )
    p.add_argument(
        "--rescan-files",
        type=int,
        default=None,
        help="unchanged files for the rescan (default 100000; quick 5000)",
    )
    p.add_argument(
        "--queries", type=int, default=None, help="queries per kind and size (default 40; quick 12)"
    )
    p.add_argument(
        "--seed-photos",
        type=int,
        default=None,
        help="photos through the seed-style pipeline (default 40; quick 4)",
    )
    p.add_argument(
        "--sections",
        default="index,rescan,search",
        help="which sections to run (default all: index,rescan,search)",
    )
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3; quick 1)")
    p.add_argument(
        "--threads",
        type=int,
        default=default_threads(),
        help="threads for torch (seed pipeline) and photo generation; the encoders keep "
        "their default, as the app does (default: all cores)",
    )
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run (< 2 min)")
    p.add_argument(
        "--prepare",
        action="store_true",
        help="only build the cached data the sections need (photos, files, catalogs, "
        "vector indexes), measuring nothing: run it once on a quiet machine",
    )
    p.add_argument("--cache", type=Path, default=CACHE_DIR)
    p.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="an exported model folder to use instead of the cached random-init ViT-B-32",
    )
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal: build|serve
    p.add_argument("--child-args", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    q = a.quick
    a.photos = a.photos or (40 if q else 300)
    a.vectors = [int(v) for v in (a.vectors or ("30000" if q else "100000,1000000")).split(",")]
    a.rescan_files = a.rescan_files or (5000 if q else 100_000)
    a.queries = a.queries or (12 if q else 40)
    a.seed_photos = a.seed_photos or (4 if q else 40)
    a.repeats = a.repeats or (1 if q else 3)
    a.sections = {s.strip() for s in a.sections.split(",") if s.strip()}
    return a


# ---------------------------------------------------------------- synthetic library


_YEAR_WEIGHTS = np.linspace(1.0, 3.0, len(YEARS))
_YEAR_CUMULATIVE = list(np.cumsum(_YEAR_WEIGHTS / _YEAR_WEIGHTS.sum()))


# Where the synthetic photos were taken (#15): ~70 % have a place, the busiest city ~12 % of the
# library (as a home town is), a country spread over several cities, and one rare place.
PLACES = (
    (("PT", "Lisbon", "Lisbon"), 0.12),
    (("FR", "Île-de-France", "Paris"), 0.10),
    (("PT", "Porto", "Porto"), 0.06),
    (("US", "New York", "New York City"), 0.06),
    (("PT", "Faro", "Lagos"), 0.04),
    (("JP", "Tokyo", "Tokyo"), 0.04),
    (("ES", "Catalonia", "Barcelona"), 0.08),
    (("DE", "Berlin", "Berlin"), 0.20),
)
RARE_PLACE = ("IS", "Capital Region", "Reykjavik")  # every 10,000th photo: ~0.01 %


def place_of_photo(i: int) -> tuple[str, str, str] | None:
    """Photo i's place (country, region, city), or None for a photo without GPS."""
    if i % 10_000 == 9_999:
        return RARE_PLACE
    u = _unit(i, 7)
    for place, share in PLACES:
        if u < share:
            return place
        u -= share
    return None


def ensure_places(home: Path) -> None:
    """Give the cached catalog's photos their places (`place_of_photo`, by insertion order)
    once, through the catalog's own re-geocoding write: vectors and index stay valid."""
    from app.core.catalog.catalog import Catalog
    from app.core.catalog.records import Whereabouts
    from app.core.paths import Paths

    catalog = Catalog(Paths.at(home).catalog)
    try:
        if catalog.places(pending=True):
            return
        rows = catalog.db.conn.execute("SELECT id FROM photos ORDER BY id").fetchall()
        where = []
        for i, (pid,) in enumerate(rows):
            place = place_of_photo(i)
            if place is not None:
                where.append((int(pid), Whereabouts(*place)))
        catalog.set_places(where)
    finally:
        catalog.close()


def _unit(i: int, salt: int) -> float:
    """A deterministic pseudo-random number in [0, 1) for (i, salt): splitmix64, ~1 us (a
    numpy Generator per photo would cost a minute at a million photos)."""
    z = (i * 0x9E3779B97F4A7C15 + salt * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & (2**64 - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return ((z ^ (z >> 31)) >> 11) / float(1 << 53)


def capture_date(i: int, n: int) -> datetime:
    """A deterministic capture time for photo i of n: recent years busier, and every
    10,000th photo in one rare year."""
    stride = min(n, 10_000)
    if i % stride == 0:
        year = RARE_YEAR
    else:
        year = YEARS[min(bisect.bisect_right(_YEAR_CUMULATIVE, _unit(i, 1)), len(YEARS) - 1)]
    days, seconds = int(_unit(i, 2) * 365), int(_unit(i, 3) * 50_000)
    return datetime(year, 1, 1, 6) + timedelta(days=days, seconds=seconds)


def exif_for(when: datetime, camera: tuple[str, str] = ("PhotoSeek", "SynthCam 12")) -> Any:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = camera
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = when.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    sub[0x9011] = "+01:00"  # OffsetTimeOriginal
    return exif


def _make_photo(job: tuple[int, int, str]) -> int:
    i, n, path = job
    rng = np.random.default_rng(1_000_003 + i)
    img = photo_like_image(rng, PHOTO_SIZE)
    data = jpeg_bytes(img, PHOTO_QUALITY, exif_for(capture_date(i, n)))
    tmp = Path(path + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return len(data)


def photo_library(cache: Path, n: int, workers: int) -> Path:
    """n 4000x3000 q90 JPEGs with EXIF dates in year folders; made once, grown on demand."""
    root = cache / f"photos-{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}-v{DATA_VERSION}"
    paths = [root / f"{capture_date(i, 10_000).year}" / f"IMG_{i:05d}.jpg" for i in range(n)]
    missing = [(i, 10_000, str(p)) for i, p in enumerate(paths) if not p.is_file()]
    if missing:
        for p in paths:
            p.parent.mkdir(parents=True, exist_ok=True)
        print(
            f"generating {len(missing)} photos of {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} in {root} "
            "(cached for later runs)...",
            flush=True,
        )
        t0 = time.perf_counter()
        with ProcessPoolExecutor(workers) as pool:
            for done, _ in enumerate(pool.map(_make_photo, missing, chunksize=2), start=1):
                if done % 25 == 0:
                    print(f"  {done}/{len(missing)}", flush=True)
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    # Photos beyond n from an earlier, larger run live elsewhere so the index sees exactly n.
    selected = cache / f"library-{n}-v{DATA_VERSION}"
    marker = selected / ".complete"
    if not marker.is_file():
        shutil.rmtree(selected, ignore_errors=True)
        for p in paths:
            dst = selected / p.parent.name / p.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(p, dst)  # hard links: no copies, and the originals are never touched
        marker.write_text("ok")
    return selected


def library_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.jpg"))


# ---------------------------------------------------------------- section: index


def bench_index(args: argparse.Namespace, model_dir: Path, results: dict[str, Any]) -> None:
    from app.core.library import Library
    from app.core.model.encoder import Encoder
    from app.core.model.preprocess import to_pixels
    from app.core.paths import Paths
    from app.core.photos.decode import open_image

    lib_dir = photo_library(args.cache, args.photos, args.threads)
    files = library_files(lib_dir)
    mb = sum(f.stat().st_size for f in files) / 1e6
    print(f"\n[index] {len(files)} photos, {mb / len(files):.1f} MB each", flush=True)

    # (a) the bare encoder on tensors decoded beforehand, at the indexer's batch size. Its rate
    # drifts 10-20 % within minutes on a shared machine, so each index run is paired with a bare
    # run straight after it, and the ratio is the median of the pairs' ratios.
    enc = Encoder(model_dir, device="cpu")
    batch = 32  # the indexer's default; each run below reads the one it really uses
    sample = [to_pixels(open_image(f, min_side=224), enc.info) for f in files[:batch]]
    pixels = np.stack(sample * (-(-len(files) // len(sample))))[: len(files)]
    enc.encode_pixels(pixels[:batch])

    def bare_run() -> float:
        t0 = time.perf_counter()
        for s in range(0, len(pixels), batch):
            enc.encode_pixels(pixels[s : s + batch])
        return len(pixels) / (time.perf_counter() - t0)

    # Library.index from a fresh data folder (catalog, vector index and thumbnails included).
    rates, bare_rates, reports = [], [], []
    for r in range(args.repeats):
        home = args.cache / "run-index"
        shutil.rmtree(home, ignore_errors=True)
        lib = Library.open(Paths.at(home).ensure(), device="cpu", model_dir=model_dir)
        try:
            batch = lib.indexer.batch_size  # the bare runs use the indexer's batch size
            size = lib.encoder.image_size
            lib.encoder.encode_pixels(np.zeros((1, 3, size, size), np.float32))  # session warm
            lib.add_folder(lib_dir)
            t0 = time.perf_counter()
            report = lib.index()
            elapsed = time.perf_counter() - t0
        finally:
            lib.close()
        if report.encoded != len(files):
            print(f"  WARNING: run {r}: encoded {report.encoded} of {len(files)}: {report}")
        rates.append(report.encoded / elapsed)
        bare_rates.append(bare_run())
        reports.append({"elapsed_s": elapsed, "encoded": report.encoded, "skipped": report.skipped,
                        "bare_images_per_s": bare_rates[-1]})  # fmt: skip
        print(f"  Library.index: {rates[-1]:.2f} photos/s ({elapsed:.1f} s); bare encoder right "
              f"after: {bare_rates[-1]:.2f} images/s, ratio {rates[-1] / bare_rates[-1]:.3f}",
              flush=True)  # fmt: skip
    shutil.rmtree(args.cache / "run-index", ignore_errors=True)
    index_rate = statistics.median(rates)
    bare_rate = statistics.median(bare_rates)
    paired = statistics.median(i / b for i, b in zip(rates, bare_rates, strict=True))
    enc_threads = getattr(enc, "threads", None)
    enc.close()
    print(f"  bare encoder (batch {batch}, pre-decoded): {bare_rate:.2f} images/s; "
          f"median paired ratio {paired:.3f}", flush=True)  # fmt: skip

    # (b) seed-style: full PIL decode, open_clip preprocess, one photo at a time in torch.
    import open_clip
    import torch

    torch.set_num_threads(args.threads)
    model = torch_model(model_dir)
    preprocess = open_clip.image_transform(model.visual.image_size, is_train=False)
    seed_files = files[: args.seed_photos]
    with torch.inference_mode():
        model.encode_image(preprocess(Image.open(seed_files[0]).convert("RGB")).unsqueeze(0))
        t0 = time.perf_counter()
        for f in seed_files:
            x = preprocess(Image.open(f).convert("RGB")).unsqueeze(0)
            torch.nn.functional.normalize(model.encode_image(x), dim=-1)
        seed_rate = len(seed_files) / (time.perf_counter() - t0)
    del model
    print(f"  seed-style pipeline ({len(seed_files)} photos): {seed_rate:.2f} photos/s", flush=True)

    results["index"] = {
        "photos": len(files),
        "mb_per_photo": mb / len(files),
        "batch": batch,
        "encoder_threads": enc_threads,
        "runs": reports,
        "library_index_photos_per_s": index_rate,
        "all_rates": rates,
        "bare_encoder_images_per_s": bare_rate,
        "seed_pipeline_photos_per_s": seed_rate,
        "seed_photos": len(seed_files),
        "all_bare_rates": bare_rates,
        "ratio_index_over_bare": paired,  # median of the paired runs' ratios
        "ratio_index_over_seed": index_rate / seed_rate,
        "target_index_over_bare": TARGETS["index_over_bare"],
    }


# ---------------------------------------------------------------- synthetic catalogs


def clustered_vectors(n: int, dim: int, seed: int, start: int = 0) -> np.ndarray:
    """Rows start..start+n of a CLIP-like clustered set (hnswlib's recall collapses on uniform
    random vectors, so uniform data would measure the wrong thing). Deterministic per row."""
    k = 1000
    centres = np.random.default_rng(seed).standard_normal((k, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rng = np.random.default_rng((seed, start))
    which = rng.integers(0, k, n)
    spread = rng.uniform(0.5, 1.0, (n, 1)).astype(np.float32)
    v = centres[which] + spread * rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def tiny_jpegs(root: Path, n: int) -> list[Path]:
    """n small distinct JPEGs in nested folders (100 per folder), with EXIF dates; made once."""
    marker = root / f".complete-{n}-v{DATA_VERSION}"
    paths = [
        root / f"d{i // 10_000:02d}" / f"e{(i // 100) % 100:02d}" / f"IMG_{i:07d}.jpg"
        for i in range(n)
    ]
    if marker.is_file():
        return paths
    print(f"  writing {n} small files under {root} (once)...", flush=True)
    shutil.rmtree(root, ignore_errors=True)  # our own generated files, from another version
    t0 = time.perf_counter()
    bases: dict[tuple[int, int], bytes] = {}
    rng = np.random.default_rng(5)
    for i, p in enumerate(paths):
        when = capture_date(i, n)
        key = (when.year, when.month)
        if key not in bases:
            img = photo_like_image(rng, (64, 48))
            bases[key] = jpeg_bytes(img, 80, exif_for(when.replace(day=1)))
        if i % 100 == 0:
            p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(bases[key] + i.to_bytes(8, "little"))  # bytes after EOI: distinct
    marker.write_text("ok")
    print(f"  wrote them in {time.perf_counter() - t0:.0f} s", flush=True)
    return paths


def _meta(i: int, n: int, root: Path, files: list[Path] | None, folder_id: int) -> Any:
    """Photo i's catalog record: from its file on disk when there is one, else made up."""
    from app.core.photos.metadata import PhotoMeta, fingerprint

    when = capture_date(i, n)
    if files is not None:
        st = files[i].stat()
        path, size, mtime = str(files[i]), st.st_size, st.st_mtime_ns
        fp = fingerprint(files[i], size)
    else:
        path = str(root / str(when.year) / f"IMG_{i:07d}.jpg")
        size, mtime, fp = 3_000_000 + i, 1_600_000_000_000_000_000 + i, f"{i:032x}"
    return PhotoMeta(
        path=path, size=size, mtime_ns=mtime, fingerprint=fp, width=4000, height=3000,
        capture_time=when, capture_offset="+01:00", capture_source="exif_original",
        camera_make="PhotoSeek", camera_model="SynthCam 12", format="JPEG", folder_id=folder_id,
    )  # fmt: skip


def build_catalog(home: Path, model_dir: Path, n: int, files_root: Path | None) -> dict[str, Any]:
    """A data folder whose catalog holds n indexed photos with clustered vectors, inserted
    through the Catalog API, and whose vector index is built. Files on disk when `files_root`
    is given (for the rescan), otherwise paths that only the catalog knows."""
    from app.core.catalog.catalog import Catalog
    from app.core.index.vindex import VectorIndex
    from app.core.library import Library
    from app.core.model.info import read_model_info
    from app.core.paths import Paths

    info = read_model_info(model_dir)
    marker = home / "bench-built.json"
    if marker.is_file():
        built = json.loads(marker.read_text())
        if (built.get("model_id"), built.get("n"), built.get("version")) == (
            info.model_id,
            n,
            DATA_VERSION,
        ):
            return dict(built, cached=True)
    shutil.rmtree(home, ignore_errors=True)
    paths = Paths.at(home).ensure()
    out: dict[str, Any] = {"n": n, "model_id": info.model_id, "version": DATA_VERSION}
    root = files_root or (home / "photos")
    root.mkdir(parents=True, exist_ok=True)
    files = tiny_jpegs(root, n) if files_root is not None else None

    with Library.open(paths, device="cpu", model_dir=model_dir) as lib:  # where its index lives
        assert lib.vindex is not None
        index_dir = lib.vindex.directory
    catalog = Catalog(paths.catalog)
    folder = catalog.add_folder(root)
    t_catalog = 0.0
    chunk = 10_000
    started = time.perf_counter()
    for s in range(0, n, chunk):
        metas = [_meta(i, n, root, files, folder.id) for i in range(s, min(n, s + chunk))]
        vectors = clustered_vectors(len(metas), info.embed_dim, seed=11, start=s)
        with catalog.transaction():
            ids = catalog.upsert_photos(metas)
            catalog.put_embeddings(info.model_id, ids, vectors)
        done = s + len(metas)
        if (s // chunk) % 10 == 9 or done == n:
            t_catalog = time.perf_counter() - started
            print(
                f"    {done}/{n} photos catalogued in {t_catalog:.0f} s, about "
                f"{t_catalog * (n - done) / done:.0f} s left",
                flush=True,
            )
    # The index is built the way the app rebuilds one from the catalog: the projection of a
    # large library is fitted on a sample first, then every vector is added once.
    print(f"    building the vector index of {n} photos from the catalog...", flush=True)
    t0 = time.perf_counter()
    index = VectorIndex.build(index_dir, info.model_id, info.embed_dim, catalog)
    t_index = time.perf_counter() - t0
    out["graph_dim"] = index.graph_dim
    t0 = time.perf_counter()
    index.save(catalog.generation(info.model_id))
    index.close()
    catalog.close()
    out["catalog_insert_s"], out["index_build_s"] = t_catalog, t_index
    out["index_save_s"] = time.perf_counter() - t0
    out["build_peak_rss_mb"] = peak_rss_mb()
    print(
        f"  inserted {n} photos + vectors in {t_catalog:.0f} s; vector index built in "
        f"{t_index:.0f} s, saved in {out['index_save_s']:.0f} s",
        flush=True,
    )
    t0 = time.perf_counter()
    with Library.open(paths, device="cpu", model_dir=model_dir) as lib:
        assert lib.vindex is not None and len(lib.vindex) == n, "the library rebuilt the index"
    out["reopen_s"] = time.perf_counter() - t0
    out["catalog_mb"] = paths.catalog.stat().st_size / 1e6
    out["index_dir_mb"] = (
        sum(f.stat().st_size for f in paths.index_dir.rglob("*") if f.is_file()) / 1e6
    )
    marker.write_text(json.dumps(out))
    return dict(out, cached=False)


def run_child(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run this script as `--child kind` in a fresh process and return its RESULT line."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        "--child-args",
        json.dumps(payload),
    ]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
        else:
            print(line, flush=True)
    if proc.returncode != 0 or result is None:
        raise SystemExit(f"child {kind} failed with exit code {proc.returncode}")
    return result


def child_main(kind: str, payload: dict[str, Any]) -> int:
    model_dir = Path(payload["model_dir"])
    home = Path(payload["home"])
    if kind == "build":
        files_root = Path(payload["files_root"]) if payload.get("files_root") else None
        out = build_catalog(home, model_dir, payload["n"], files_root)
    elif kind == "rescan":
        out = rescan(home, model_dir, payload["repeats"])
    elif kind == "serve":
        out = serve(home, model_dir, payload["queries"], payload["threads"])
    else:
        raise SystemExit(f"unknown child {kind}")
    print("RESULT " + json.dumps(out, default=str), flush=True)
    return 0


# ---------------------------------------------------------------- section: rescan


def rescan(home: Path, model_dir: Path, repeats: int) -> dict[str, Any]:
    from app.core.library import Library
    from app.core.paths import Paths

    t0 = time.perf_counter()
    lib = Library.open(Paths.at(home), device="cpu", model_dir=model_dir)
    open_s = time.perf_counter() - t0  # what a startup reconcile pays before its scan
    try:
        times, reports = [], []
        for _ in range(repeats + 1):  # the first run warms the page cache and the catalog
            t0 = time.perf_counter()
            r = lib.index()
            times.append(time.perf_counter() - t0)
            reports.append(
                {
                    "unchanged": r.unchanged,
                    "encoded": r.encoded,
                    "added": r.added,
                    "updated": r.updated,
                    "deleted": r.deleted,
                    "moved": r.moved,
                }
            )
        # A library from before schema 6 (#15): every row's headers read again, once.
        lib.catalog.db.conn.execute("UPDATE photos SET header_version = 0")
        t0 = time.perf_counter()
        r = lib.index()
        upgrade = {"s": time.perf_counter() - t0, "refreshed": r.refreshed, "encoded": r.encoded}
    finally:
        lib.close()
    return {
        "upgrade": upgrade,
        "open_s": open_s,
        "first_s": times[0],
        "times_s": times[1:],
        "median_s": statistics.median(times[1:]),
        "reports": reports,
        "peak_rss_mb": peak_rss_mb(),
    }


def bench_rescan(args: argparse.Namespace, model_dir: Path, results: dict[str, Any]) -> None:
    n = args.rescan_files
    base = args.cache / f"rescan-{n}"
    print(f"\n[rescan] {n} unchanged files", flush=True)
    built = build(args, model_dir, n)
    out = run_child(
        "rescan", {"model_dir": str(model_dir), "home": str(base / "home"), "repeats": args.repeats}
    )
    last = out["reports"][-1]
    if last["unchanged"] != n or last["encoded"]:
        print(f"  WARNING: the rescan did not find {n} unchanged files: {last}")
    print(
        f"  rescan: median {out['median_s']:.2f} s (first {out['first_s']:.2f} s; opening "
        f"the library before it {out['open_s']:.2f} s)",
        flush=True,
    )
    up = out["upgrade"]
    print(
        f"  rescan after schema 5 (every header read again): {up['s']:.2f} s, "
        f"{up['refreshed']} refreshed, {up['encoded']} encoded",
        flush=True,
    )
    results["rescan"] = {
        "files": n,
        "build": built,
        **out,
        "target_s_at_100k": TARGETS["rescan_100k_s"],
    }


# ---------------------------------------------------------------- section: search


def query_kinds(n: int) -> list[tuple[str, dict[str, Any]]]:
    from app.core.search.query import PlaceFilter

    return [
        ("text", {}),
        (f"year {BUSY_YEAR}", {"year": BUSY_YEAR}),
        (f"month {BUSY_MONTH} (all years)", {"month": BUSY_MONTH}),
        (f"year+month {BUSY_YEAR}-{BUSY_MONTH:02d}", {"year": BUSY_YEAR, "month": BUSY_MONTH}),
        (f"rare year {RARE_YEAR}", {"year": RARE_YEAR}),
        ("place Lisbon (city)", {"place": PlaceFilter(*PLACES[0][0])}),
        ("place Portugal + 2019", {"place": PlaceFilter("PT"), "year": BUSY_YEAR}),
        (f"rare place {RARE_PLACE[2]}", {"place": PlaceFilter(*RARE_PLACE)}),
    ]


class _PrecomputedText:
    """The library's encoder with the benchmark's text embeddings computed beforehand, so a
    SearchEngine built on it measures the search alone (the embeddings are the model's own)."""

    def __init__(self, encoder: Any, texts: list[str]) -> None:
        self._encoder = encoder
        self._vectors = dict(zip(texts, encoder.encode_text(texts), strict=True))

    def encode_text(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vectors[t] for t in texts])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)


def serve(home: Path, model_dir: Path, n_queries: int, threads: int) -> dict[str, Any]:
    """Open the library in this fresh process and time queries; report memory as it goes.

    Per kind of query: the first (cold: filter sets and vector subsets not cached yet), then
    `n_queries` end to end through Library.search (text encoding included), then the same
    queries through a SearchEngine whose text embeddings were computed beforehand (search only).
    """
    from app.core.library import Library
    from app.core.paths import Paths
    from app.core.search.engine import Query, SearchEngine

    ensure_places(home)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    lib = Library.open(Paths.at(home), device="cpu", model_dir=model_dir)
    open_s = time.perf_counter() - t0
    rss_open = rss_mb()
    queries = [QUERIES[i % len(QUERIES)] for i in range(n_queries + 1)]
    out: dict[str, Any] = {"open_s": open_s, "rss_start_mb": rss0, "rss_after_open_mb": rss_open}
    try:
        total = lib.catalog.count_indexed(lib.encoder.model_id)
        lib.search(Query(text="warm up", top_k=20))  # loads the text session
        out["rss_after_model_mb"] = rss_mb()
        enc_times = []
        for q in queries[1:]:
            t = time.perf_counter()
            lib.encoder.encode_text([q])
            enc_times.append(time.perf_counter() - t)
        out["text_encode"] = stats_ms(enc_times)
        engine = SearchEngine(
            _PrecomputedText(lib.encoder, list(dict.fromkeys(queries))), lib.catalog, lib.vindex
        )
        kinds = {}
        for name, filters in query_kinds(total):
            passing = len(lib.catalog.filter_ids(**filters)) if filters else total
            t = time.perf_counter()
            lib.search(Query(text=queries[0], top_k=20, **filters))
            cold_ms = (time.perf_counter() - t) * 1000
            times, hits, used = [], [], set()
            for q in queries[1:]:
                t = time.perf_counter()
                res = lib.search(Query(text=q, top_k=20, **filters))
                times.append(time.perf_counter() - t)
                hits.append(len(res.hits))
                used.add(res.used)
            engine.search(Query(text=queries[0], top_k=20, **filters))  # its own cache warm
            only = []
            for q in queries[1:]:
                t = time.perf_counter()
                engine.search(Query(text=q, top_k=20, **filters))
                only.append(time.perf_counter() - t)
            kinds[name] = {
                **stats_ms(times),
                "search_only": stats_ms(only),
                "cold_ms": cold_ms,
                "passing": passing,
                "selectivity": passing / max(1, total),
                "mean_hits": float(np.mean(hits)),
                "used": sorted(used),
            }
        out["kinds"] = kinds
        out["vectors"] = total
        out["rss_after_queries_mb"] = rss_mb()
        out["peak_rss_mb"] = peak_rss_mb()  # before the recall check below reads every row
        out["graph_dim"] = lib.vindex.graph_dim
        out["recall"] = index_recall(lib, list(dict.fromkeys(queries))[:12], k=20)
    finally:
        lib.close()
    idx = Paths.at(home).index_dir
    out["index_dir_mb"] = sum(f.stat().st_size for f in idx.rglob("*") if f.is_file()) / 1e6
    return out


def index_recall(lib: Any, texts: list[str], k: int) -> dict[str, Any]:
    """recall@k of the vector index (graph + exact rerank) against brute force over every
    stored row, for two kinds of query:
    - aimed: off the photos' manifold like a CLIP text query (cosine ~0.35 with one photo,
      ~0 with the bulk), so the best matches stand out as they do for a query that matches;
    - text: the random-init model's text embeddings, which match none of the synthetic photos
      (every photo is a near tie): the worst case for a reduced graph."""
    vindex = lib.vindex
    all_ids = vindex.ids()
    rng = np.random.default_rng(5)
    anchors = vindex.vectors(rng.choice(all_ids, len(texts), replace=False))
    noise = rng.standard_normal(anchors.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    aimed = 0.35 * anchors + 0.94 * noise
    sets = {
        "aimed": aimed / np.linalg.norm(aimed, axis=1, keepdims=True),
        "text": lib.encoder.encode_text(texts),
    }
    qv = np.concatenate(list(sets.values()))
    best_ids = np.empty((len(qv), 0), dtype=np.int64)
    best = np.empty((len(qv), 0), dtype=np.float32)
    for i in range(0, len(all_ids), 100_000):
        part = all_ids[i : i + 100_000]
        scores = np.concatenate([best, (vindex.vectors(part) @ qv.T).T], axis=1)
        cand = np.concatenate([best_ids, np.broadcast_to(part, (len(qv), len(part)))], axis=1)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best, best_ids = np.take_along_axis(scores, top, 1), np.take_along_axis(cand, top, 1)
    recalls = []
    for q, truth in zip(qv, best_ids, strict=True):
        got, _ = vindex.query(q, k)
        recalls.append(len(set(got.tolist()) & set(truth.tolist())) / k)
    out: dict[str, Any] = {"k": k}
    for j, name in enumerate(sets):
        part = recalls[j * len(texts) : (j + 1) * len(texts)]
        out[name] = {"mean": float(np.mean(part)), "min": float(np.min(part))}
    return out


def bench_search(args: argparse.Namespace, model_dir: Path, results: dict[str, Any]) -> None:
    results["search"] = {}
    for n in args.vectors:
        print(f"\n[search] {n} vectors", flush=True)
        home, _files = home_for(args, n)
        built = build(args, model_dir, n)
        out = run_child(
            "serve",
            {
                "model_dir": str(model_dir),
                "home": str(home),
                "queries": args.queries,
                "threads": args.threads,
            },
        )
        out["build"] = built
        out["memory_breakdown_mb"] = {
            "python_and_libraries": out["rss_start_mb"],
            "catalog_and_vector_index": out["rss_after_open_mb"] - out["rss_start_mb"],
            "model_sessions": out["rss_after_model_mb"] - out["rss_after_open_mb"],
            "search_caches": out["rss_after_queries_mb"] - out["rss_after_model_mb"],
        }
        results["search"][str(n)] = out
        for name, k in out["kinds"].items():
            so = k["search_only"]
            print(
                f"  {name:<28} p50 {k['p50_ms']:6.1f} / p95 {k['p95_ms']:6.1f} ms; search "
                f"only {so['p50_ms']:5.1f} / {so['p95_ms']:5.1f} ms; cold {k['cold_ms']:6.1f} "
                f"ms ({k['passing']} pass, {k['mean_hits']:.0f} hits, {'+'.join(k['used'])})",
                flush=True,
            )
        print(
            f"  peak RSS {out['peak_rss_mb']:.0f} MB (after open {out['rss_after_open_mb']:.0f},"
            f" after model {out['rss_after_model_mb']:.0f}); index on disk "
            f"{out['index_dir_mb']:.0f} MB; opened in {out['open_s']:.1f} s",
            flush=True,
        )
        per = (out["rss_after_open_mb"] - out["rss_start_mb"]) * 1e6 / max(n, 1)
        rc = out["recall"]
        print(
            f"  graph {out['graph_dim']}-d, {per:.0f} bytes per photo in memory after open; "
            f"index recall@{rc['k']} vs brute force: aimed queries {rc['aimed']['mean']:.3f} "
            f"(min {rc['aimed']['min']:.2f}), random-init text {rc['text']['mean']:.3f} "
            f"(min {rc['text']['min']:.2f})",
            flush=True,
        )
        parts = sorted(out["memory_breakdown_mb"].items(), key=lambda kv: -kv[1])
        print(
            "  memory: " + ", ".join(f"{k.replace('_', ' ')} {v:.0f} MB" for k, v in parts),
            flush=True,
        )


# ---------------------------------------------------------------- report


def summary(results: dict[str, Any]) -> None:
    print("\n=== summary (medians; ratios taken within this run) ===")
    rows: list[list[Any]] = []
    if "index" in results:
        ix = results["index"]
        rows += [
            ["Library.index photos/s", ix["library_index_photos_per_s"], None, None],
            ["bare encoder images/s", ix["bare_encoder_images_per_s"], None, None],
            ["seed pipeline photos/s", ix["seed_pipeline_photos_per_s"], None, None],
            [
                "index / bare encoder",
                ix["ratio_index_over_bare"],
                "≥ 0.80",
                _ok(ix["ratio_index_over_bare"] >= TARGETS["index_over_bare"]),
            ],
            ["index / seed pipeline", ix["ratio_index_over_seed"], None, None],
        ]
    if "rescan" in results:
        rs = results["rescan"]
        target = TARGETS["rescan_100k_s"] * rs["files"] / 100_000
        rows.append(
            [
                f"rescan {rs['files']} unchanged (s)",
                rs["median_s"],
                f"≤ {target:.2f}",
                _ok(rs["median_s"] <= target),
            ]
        )
    for n, s in results.get("search", {}).items():
        small = int(n) <= 100_000
        for name, k in s["kinds"].items():
            ok = _ok(k["p95_ms"] <= TARGETS["query_p95_ms_100k"]) if small else None
            rows.append([f"{int(n):,} {name} p95 ms", k["p95_ms"], "≤ 30" if small else None, ok])
            so = k["search_only"]["p95_ms"]
            ok = _ok(so <= TARGETS["query_p95_ms_100k"]) if small else None
            rows.append(
                [f"{int(n):,} {name} p95 ms, search only", so, "≤ 30" if small else None, ok]
            )
        rows.append([f"{int(n):,} text encode only p50 ms", s["text_encode"]["p50_ms"], None, None])
        rc = s["recall"]
        for kind in ("aimed", "text"):
            rows.append([f"{int(n):,} index recall@{rc['k']}, {kind} (graph {s['graph_dim']}-d)",
                         rc[kind]["mean"], None, None])  # fmt: skip
        ok = (
            _ok(s["peak_rss_mb"] <= TARGETS["rss_1m_mb"] * int(n) / 1e6)
            if int(n) >= 1_000_000
            else None
        )
        rows.append(
            [
                f"{int(n):,} peak RSS MB",
                s["peak_rss_mb"],
                "≤ 2000" if int(n) >= 1_000_000 else None,
                ok,
            ]
        )
    print_table(["measure", "value", "target", "met"], rows)


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


def home_for(args: argparse.Namespace, n: int) -> tuple[Path, Path | None]:
    """The cached data folder for n vectors, and its photo files' root if it has files. The
    rescan's library (real files) doubles as the search library of the same size."""
    if n == args.rescan_files and "rescan" in args.sections:
        base = args.cache / f"rescan-{n}"
        return base / "home", base / "photos"
    return args.cache / f"vectors-{n}" / "home", None


def build(args: argparse.Namespace, model_dir: Path, n: int) -> dict[str, Any]:
    home, files_root = home_for(args, n)
    return run_child(
        "build",
        {
            "model_dir": str(model_dir),
            "home": str(home),
            "n": n,
            "files_root": str(files_root) if files_root else None,
        },
    )


def prepare(args: argparse.Namespace, model_dir: Path) -> int:
    t0 = time.perf_counter()
    if "index" in args.sections:
        photo_library(args.cache, args.photos, args.threads)
    sizes = ([args.rescan_files] if "rescan" in args.sections else []) + (
        args.vectors if "search" in args.sections else []
    )
    for n in dict.fromkeys(sizes):
        print(f"\n[prepare] {n} photos in a catalog and a vector index", flush=True)
        build(args, model_dir, n)
    print(f"\nprepared in {time.perf_counter() - t0:.0f} s; cached under {args.cache}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child, json.loads(args.child_args))
    t_start = time.perf_counter()
    model_dir = args.model_dir or bench_model(args.cache)
    results: dict[str, Any] = {
        "quick": args.quick,
        "machine": machine(),
        "model_dir": str(model_dir),
        "args": {
            k: (sorted(v) if isinstance(v, set) else v)
            for k, v in vars(args).items()
            if k not in ("cache",)
        },
    }
    if args.prepare:
        return prepare(args, model_dir)
    for n in args.vectors if "search" in args.sections else []:
        if n >= 500_000 and not (home_for(args, n)[0] / "bench-built.json").is_file():
            print(
                f"note: the {n:,}-vector catalog and index are not cached yet; building them "
                f"first takes about {n // 100_000}-{n // 50_000} min on 2 cores (once). "
                "`--prepare` builds every cache ahead of the timed run.",
                flush=True,
            )
    if "index" in args.sections:
        bench_index(args, model_dir, results)
    if "rescan" in args.sections:
        bench_rescan(args, model_dir, results)
    if "search" in args.sections:
        bench_search(args, model_dir, results)
    results["elapsed_s"] = time.perf_counter() - t_start
    summary(results)
    path = write_json("library", results)
    print(f"\nwrote {path}  ({results['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
