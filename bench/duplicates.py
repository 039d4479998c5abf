"""Duplicates benchmark: grouping a large library, the incremental update, and the quality of
the near-duplicate setting per model.

Sections (each compared within this one run; the machines are noisy):
  speed    a catalog and a real VectorIndex of N photos (CLIP-like clustered 512-d vectors,
           bench/library.py's generator) with C planted near-copies (cosine 0.96-0.995 to a
           random original, the difference hash 0-3 bits off); the first grouping (every
           photo asks the index for its nearest), the cached answer, and the update after A
           photos arrive (A/10 of them copies of library photos): only they query.
  quality  the calibration edit set (resources/calibration photos: resized, JPEG q55, cropped,
           rotated 90 degrees, tilted, colour-edited, burst neighbour vs other photos and the two
           halves of one scene), thresholds measured on seed 0, precision and recall of the
           grouping on edits drawn with seed 1, per edit; for each model given.

    python bench/duplicates.py [--photos 100000] [--copies 2000] [--arrive 1000]
                               [--models vit,DIR...] [--sections speed,quality]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import CACHE_DIR, bench_model, machine, peak_rss_mb, print_table, write_json

DATA_VERSION = 1
DIM = 512
MODEL_ID = "bench-duplicates-512"
# A real CLIP's scale (ViT-B-32 puts resized and re-saved copies above 0.95 and different
# photos of one scene around 0.8-0.9); the benchmark's vectors are synthetic, so its
# thresholds are set, not calibrated. Quality is measured in the quality section.
LOW, HIGH = 0.90, 0.95


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=100_000)
    p.add_argument("--copies", type=int, default=2_000)
    p.add_argument("--arrive", type=int, default=1_000)
    p.add_argument("--models", default="vit", help="vit (random-init ViT-B-32) and/or model dirs")
    p.add_argument("--sections", default="speed,quality")
    p.add_argument("--cache", type=Path, default=CACHE_DIR)
    return p.parse_args(argv)


# ---------------------------------------------------------------- speed


def planted(n: int, copies: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(copy rows, original rows): the last `copies` rows of the library copy random others."""
    rng = np.random.default_rng(seed)
    return np.arange(n - copies, n), rng.integers(0, n - copies, copies)


def near_copy(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vectors at cosine ~0.96-0.995 to `v` (rows): a re-saved, resized or edited copy."""
    target = rng.uniform(0.96, 0.995, (len(v), 1))
    noise = rng.standard_normal(v.shape)
    noise -= (noise * v).sum(axis=1, keepdims=True) * v  # orthogonal to v
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    out = target * v + np.sqrt(1 - target**2) * noise
    unit: np.ndarray = (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)
    return unit


def flip_bits(h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each hash with 0-3 of its 64 bits flipped."""
    out = h.copy().view(np.uint64)
    for i in range(len(out)):
        for b in rng.choice(64, int(rng.integers(0, 4)), replace=False):
            out[i] ^= np.uint64(1) << np.uint64(b)
    signed: np.ndarray = out.view(np.int64)
    return signed


def library_vectors(n: int, copies: int) -> tuple[np.ndarray, np.ndarray]:
    """(vectors [n, DIM], dhashes [n]) with the planted copies."""
    from library import clustered_vectors

    v = clustered_vectors(n, DIM, seed=21)
    rng = np.random.default_rng(4)
    h = rng.integers(-(1 << 63), (1 << 63) - 1, n, dtype=np.int64)
    rows, of = planted(n, copies)
    v[rows] = near_copy(v[of], rng)
    h[rows] = flip_bits(h[of], rng)
    return v, h


def build(home: Path, n: int, copies: int) -> dict[str, Any]:
    """A data folder with n catalogued photos and their vector index (cached)."""
    import json

    from library import _meta

    from app.core.catalog.catalog import Catalog
    from app.core.index.vindex import VectorIndex
    from app.core.paths import Paths

    marker = home / "bench-built.json"
    if marker.is_file() and json.loads(marker.read_text()) == [n, copies, DATA_VERSION]:
        return {"cached": True}
    shutil.rmtree(home, ignore_errors=True)
    paths = Paths.at(home).ensure()
    catalog = Catalog(paths.catalog)
    root = home / "photos"
    root.mkdir()
    folder = catalog.add_folder(root)
    vectors, hashes = library_vectors(n, copies)
    t0 = time.perf_counter()
    for s in range(0, n, 10_000):
        metas = [_meta(i, n, root, None, folder.id) for i in range(s, min(n, s + 10_000))]
        with catalog.transaction():
            ids = catalog.upsert_photos(metas)
            catalog.put_embeddings(MODEL_ID, ids, vectors[s : s + len(ids)])
            catalog.set_dhashes(list(zip(ids, hashes[s : s + len(ids)].tolist(), strict=True)))
    t_cat = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = VectorIndex.build(paths.index_dir / MODEL_ID, MODEL_ID, DIM, catalog)
    index.save(catalog.generation(MODEL_ID))
    t_index = time.perf_counter() - t0
    index.close()
    catalog.close()
    marker.write_text(json.dumps([n, copies, DATA_VERSION]))
    print(f"  built {n} photos: catalog {t_cat:.0f} s, index {t_index:.0f} s", flush=True)
    return {"cached": False, "catalog_s": t_cat, "index_s": t_index}


def bench_speed(args: argparse.Namespace, results: dict[str, Any]) -> None:
    from library import _meta

    from app.core.catalog.catalog import Catalog
    from app.core.duplicates.calibration import Thresholds
    from app.core.duplicates.engine import DuplicateFinder, knn
    from app.core.index.vindex import VectorIndex
    from app.core.paths import Paths
    from app.core.photos.thumbnails import ThumbnailStore

    n, copies = args.photos, args.copies
    cached = args.cache / f"duplicates-{n}-{copies}"
    print(f"speed: {n} photos, {copies} planted copies", flush=True)
    results["build"] = build(cached, n, copies)
    work = Path(tempfile.mkdtemp(prefix="photoseek-dups-"))
    try:
        shutil.copytree(cached, work / "home")  # the arrivals change it; the cache stays
        paths = Paths.at(work / "home")
        catalog = Catalog(paths.catalog)
        t0 = time.perf_counter()
        index = VectorIndex.open(paths.index_dir / MODEL_ID, MODEL_ID, DIM, catalog)
        open_s = time.perf_counter() - t0
        t = Thresholds(MODEL_ID, LOW, HIGH, LOW, HIGH, 0)
        finder = DuplicateFinder(catalog, ThumbnailStore(work / "thumbs"), work / "dups")
        batched = hasattr(index, "neighbours")

        t0 = time.perf_counter()
        first = finder.find(index, t)
        first_s = time.perf_counter() - t0
        queried = finder.last_queried
        t0 = time.perf_counter()
        again = finder.find(index, t)
        cached_s = time.perf_counter() - t0
        t0 = time.perf_counter()  # a new session: the pairs kept on disk, nothing asked again
        session = DuplicateFinder(catalog, ThumbnailStore(work / "thumbs"), work / "dups")
        reopened = session.find(index, t)
        session_s = time.perf_counter() - t0

        # Recall of the planted pairs (row i is photo id i + 1).
        rows, of = planted(n, copies)
        where = {p.id: g for g, grp in enumerate(first) for p in grp.members}
        found = sum(
            1 for r, o in zip(rows, of, strict=True) if where.get(r + 1, -1) == where.get(o + 1, -2)
        )
        members = sum(len(g.members) for g in first)

        # Arrivals: A new photos, a tenth of them copies of library photos.
        a = args.arrive
        rng = np.random.default_rng(9)
        from library import clustered_vectors

        new_v = clustered_vectors(a, DIM, seed=21, start=n + 7)
        k = a // 10
        src = rng.integers(0, n - copies, k)
        new_v[:k] = near_copy(index.vectors(src + 1), rng)
        metas = [_meta(i, n + a, cached / "photos", None, 1) for i in range(n, n + a)]
        t0 = time.perf_counter()
        with catalog.transaction():
            ids = catalog.upsert_photos(metas)
            catalog.put_embeddings(MODEL_ID, ids, new_v)
        index.add(np.asarray(ids), new_v)
        arrive_index_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        after = finder.find(index, t)
        update_s = time.perf_counter() - t0
        update_queried = finder.last_queried
        new_found = sum(
            1
            for i, s in zip(ids[:k], src, strict=True)
            if any(
                {i, int(s) + 1} <= {p.id for p in g.members} for g in after if len(g.members) < 50
            )
        )

        # The fallback path (one query per photo) on a sample, for comparison.
        sample = np.arange(1, 2001, dtype=np.int64)
        t0 = time.perf_counter()
        knn(_Unbatched(index), sample, 10)
        per_photo_ms = (time.perf_counter() - t0) / len(sample) * 1000
        catalog.close()
        index.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["speed"] = {
        "photos": n,
        "planted_copies": copies,
        "batched_knn": batched,
        "index_open_s": open_s,
        "first_grouping_s": first_s,
        "photos_queried": queried,
        "groups": len(first),
        "photos_in_groups": members,
        "planted_found": found,
        "cached_call_s": cached_s,
        "cached_same": len(again) == len(first),
        "new_session_s": session_s,
        "new_session_same": len(reopened) == len(first) and session.last_queried == 0,
        "arrived": a,
        "arrived_copies": k,
        "arrive_catalog_and_index_s": arrive_index_s,
        "update_grouping_s": update_s,
        "update_photos_queried": update_queried,
        "arrived_copies_found": new_found,
        "groups_after": len(after),
        "unbatched_knn_ms_per_photo": per_photo_ms,
        "peak_rss_mb": peak_rss_mb(),
    }
    s = results["speed"]
    print_table(
        ["what", "value"],
        [
            ["photos / planted copies", f"{n} / {copies}"],
            ["batched k-nearest call", batched],
            ["first grouping", f"{first_s:.2f} s ({queried} photos queried)"],
            ["groups / photos in them", f"{len(first)} / {members}"],
            ["planted copies found", f"{found} / {copies}"],
            ["cached call (nothing changed)", f"{cached_s * 1000:.1f} ms"],
            ["new session (pairs kept on disk)", f"{session_s:.2f} s"],
            [f"{a} photos arrive: update", f"{update_s:.2f} s ({update_queried} queried)"],
            ["their copies found", f"{new_found} / {k}"],
            ["one query a photo (fallback)", f"{per_photo_ms:.2f} ms a photo"],
            ["peak RSS", f"{s['peak_rss_mb']:.0f} MB"],
        ],
    )


class _Unbatched:
    """The index without its batched call: what `knn` falls back to."""

    def __init__(self, index: Any) -> None:
        self._index = index

    def ids(self) -> np.ndarray:
        return self._index.ids()  # type: ignore[no-any-return]

    def vectors_of(self, ids: Any) -> tuple[np.ndarray, np.ndarray]:
        return self._index.vectors_of(ids)  # type: ignore[no-any-return]

    def query(self, vec: np.ndarray, k: int, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
        return self._index.query(vec, k, **kw)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- quality


def quality(model_dir: Path) -> dict[str, Any]:
    """Precision and recall of the grouping on the edit set (seed 1), thresholds from seed 0."""
    from app.core.duplicates import grouping
    from app.core.duplicates.calibration import EDITS, edit_set, load_originals, thresholds_from
    from app.core.model.encoder import Encoder
    from app.core.photos import likeness

    originals = load_originals()
    with Encoder(model_dir, device="cpu") as enc:

        def encode(images: list[Any]) -> np.ndarray:
            v = np.concatenate(
                [enc.encode_images(images[i : i + 16]) for i in range(0, len(images), 16)]
            )
            unit: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
            return unit

        cal = edit_set(originals, 0)
        t0 = time.perf_counter()
        t = thresholds_from(enc.model_id, encode(cal.images), cal.labels)
        calibrate_s = time.perf_counter() - t0
        s = edit_set(originals, 1)
        v = encode(s.images)
    dh = [likeness.dhash(im) for im in s.images]
    t0 = time.perf_counter()
    lk = [likeness.likeness(im) for im in s.images]
    likeness_ms = (time.perf_counter() - t0) / len(lk) * 1000
    cos = v @ v.T
    nbrs = np.argsort(-cos, axis=1)[:, :11]
    cands = grouping.candidates_from_knn(
        np.arange(len(v)), nbrs, np.take_along_axis(cos, nbrs, 1), t.low
    )
    lab = np.asarray(s.labels)
    out: dict[str, Any] = {
        "model_id": t.model_id,
        "thresholds": t.to_dict(),
        "calibrate_s": calibrate_s,
        "pictures": len(v),
        "candidate_pairs": len(cands),
        "likeness_ms_per_picture": likeness_ms,
    }
    for name, search in (("before", False), ("after", True)):
        check = grouping.ImageCheck(lambda i: dh[i], lambda i: lk[i], search=search)
        t0 = time.perf_counter()
        groups = grouping.groups(grouping.confirm(cands, t, check))
        check_s = time.perf_counter() - t0
        pred = np.full(len(v), -1)
        for g, (members, _) in enumerate(groups):
            pred[members] = g
        tp = fp = fn = 0
        for i in range(len(v)):
            for j in range(i + 1, len(v)):
                same, found = lab[i] == lab[j], pred[i] >= 0 and pred[i] == pred[j]
                tp += same and found
                fp += found and not same
                fn += same and not found
        per_edit = {}
        for e in EDITS:
            idx = [i for i, nm in enumerate(s.names) if nm.endswith(e)]
            orig = [s.names.index(s.names[i].split(":")[0] + ":original") for i in idx]
            per_edit[e] = sum(
                pred[i] >= 0 and pred[i] == pred[o] for i, o in zip(idx, orig, strict=True)
            ) / len(idx)
        out[name] = {
            "pair_precision": tp / max(tp + fp, 1),
            "pair_recall": tp / max(tp + fn, 1),
            "false_pairs": fp,
            "image_checks": check.checked,
            "searched": check.searched,
            "checks_searched": f"{check.checked} / {check.searched}",
            "check_ms_per_pair": check_s / max(check.checked, 1) * 1000,
            "edit_found_with_original": per_edit,
        }
    # Reading a likeness as the library does: from the photo's 256 px thumbnail file.
    from app.core.photos.thumbnails import render_thumbnail

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, im in enumerate(s.images[:60]):
            files.append(Path(tmp) / f"{i}.jpg")
            files[-1].write_bytes(render_thumbnail(im.convert("RGB")))
        t0 = time.perf_counter()
        for f in files:
            likeness.likeness_of_file(f)
        out["likeness_ms_per_thumbnail_file"] = (time.perf_counter() - t0) / len(files) * 1000
    # The search alone, per pair, as the check runs it (stopping after one direction where it
    # cannot reach the threshold): copies (run through), distinct pictures (most stop at the
    # colour test or after one direction); then, untimed, the worst copy and the best distinct
    # pair (the margin under the threshold).
    pairs = [(i, j) for i in range(len(v)) for j in range(i + 1, len(v))]
    for kind, keep in (("copies", True), ("distinct", False)):
        chosen = [(i, j) for i, j in pairs if (lab[i] == lab[j]) == keep]
        t0 = time.perf_counter()
        for i, j in chosen:
            lk[i].match(lk[j], needed=likeness.MATCH)
        out[f"search_ms_{kind}"] = (time.perf_counter() - t0) / len(chosen) * 1000
        scores = [lk[i].match(lk[j]) for i, j in chosen]
        out[f"search_{kind}_best" if not keep else "search_copies_min"] = (
            max(scores) if not keep else min(scores)
        )
    return out


def bench_quality(args: argparse.Namespace, results: dict[str, Any]) -> None:
    out = results.setdefault("quality", {})
    for name in [m for m in args.models.split(",") if m]:
        model_dir = bench_model(args.cache) if name == "vit" else Path(name)
        q = quality(model_dir)
        out[name] = q
        t, before, after = q["thresholds"], q["before"], q["after"]
        print(f"quality: {q['model_id']} ({q['candidate_pairs']} candidate pairs)")
        print_table(
            ["what", "before (hash, thumbnail)", "after (+ search of middles)"],
            [
                ["low / high cosine", f"{t['low']:.3f} / {t['high']:.3f}", ""],
                *[
                    [
                        what,
                        f"{before[key]:.3f}" if isinstance(before[key], float) else before[key],
                        f"{after[key]:.3f}" if isinstance(after[key], float) else after[key],
                    ]
                    for what, key in (
                        ("pair precision", "pair_precision"),
                        ("pair recall", "pair_recall"),
                        ("false pairs", "false_pairs"),
                        ("image checks / searches", "checks_searched"),
                        ("check, ms a pair (all paths)", "check_ms_per_pair"),
                    )
                ],
                *[
                    [f"  {e}", f"{r:.2f}", f"{after['edit_found_with_original'][e]:.2f}"]
                    for e, r in before["edit_found_with_original"].items()
                ],
                ["likeness, ms a picture", "", f"{q['likeness_ms_per_picture']:.2f}"],
                [
                    "likeness from a thumbnail file, ms",
                    "",
                    f"{q['likeness_ms_per_thumbnail_file']:.2f}",
                ],
                [
                    "search, ms a pair: copies / distinct",
                    "",
                    f"{q['search_ms_copies']:.3f} / {q['search_ms_distinct']:.3f}",
                ],
                [
                    "search: worst copy / best distinct",
                    "",
                    f"{q['search_copies_min']:.3f} / {q['search_distinct_best']:.3f}",
                ],
            ],
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    sections = args.sections.split(",")
    if "speed" in sections:
        bench_speed(args, results)
    if "quality" in sections:
        bench_quality(args, results)
    print(f"wrote {write_json('duplicates', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
