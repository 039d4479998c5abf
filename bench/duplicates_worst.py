"""The duplicates image check's worst case: a model whose vectors decide nothing (random
weights), so every candidate pair of a large library goes to the image check.

N photos, each with K random candidate neighbours (what a random-weight model's k nearest look
like: no cosine separates them), all in the ambiguous band. Each photo's likeness is one of the
calibration edit set's pictures (photo id modulo their count, so about one pair in 200 is a
real copy); reading one from a thumbnail file is timed on real files and added for every read
the check makes (`ImageCheck.reads`: each picture once for the quick tests, again when a pair
needs the search and its whole likeness has left the `KEPT` most recent ones). The pairs go
through in the engine's batches (`engine.PAIR_BATCH`, a cancel checked between two): the slowest
batch is the longest a cancel waits here.

    python bench/duplicates_worst.py [--photos 100000] [--k 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, print_table, write_json


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=100_000)
    p.add_argument("--k", type=int, default=10)
    args = p.parse_args(argv)

    from app.core.duplicates import engine, grouping
    from app.core.duplicates.calibration import Thresholds, edit_set, load_originals
    from app.core.photos import likeness
    from app.core.photos.thumbnails import render_thumbnail

    pictures = edit_set(load_originals(max_side=256), 1).images
    pool = [likeness.likeness(im) for im in pictures]
    hashes = [likeness.dhash(im) for im in pictures]
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, im in enumerate(pictures[:60]):
            files.append(Path(tmp) / f"{i}.jpg")
            files[-1].write_bytes(render_thumbnail(im.convert("RGB")))
        t0 = time.perf_counter()
        for f in files:
            likeness.likeness_of_file(f)
        read_ms = (time.perf_counter() - t0) / len(files) * 1000

    n, k = args.photos, args.k
    rng = np.random.default_rng(5)
    ids = np.arange(1, n + 1, dtype=np.int64)
    nbrs = rng.integers(1, n + 1, (n, k))
    scores = np.full((n, k), 0.5, dtype=np.float32)
    candidates = grouping.candidates_from_knn(ids, nbrs, scores, 0.0)
    t = Thresholds("worst", 0.0, 1.01, 0.0, 1.0, 0)  # every pair is ambiguous
    check = grouping.ImageCheck(lambda i: hashes[i % len(pool)], lambda i: pool[i % len(pool)])
    found, batch_s = [], []
    t0 = time.perf_counter()
    for start in range(0, len(candidates), engine.PAIR_BATCH):
        b0, reads = time.perf_counter(), check.reads
        found += grouping.confirm(candidates[start : start + engine.PAIR_BATCH], t, check)
        batch_s.append(time.perf_counter() - b0 + (check.reads - reads) * read_ms / 1000)
    check_s = time.perf_counter() - t0
    total_s = check_s + check.reads * read_ms / 1000
    results: dict[str, Any] = {
        "machine": machine(),
        "args": vars(args),
        "pairs": len(candidates),
        "pairs_found": len(found),
        "searched": check.searched,
        "reads": check.reads,
        "kept": grouping.KEPT,
        "check_s": check_s,
        "read_ms": read_ms,
        "estimated_total_s": total_s,
        "pair_batch": engine.PAIR_BATCH,
        "batch_p99_s": float(np.percentile(batch_s, 99)),
        "batch_max_s": max(batch_s),
    }
    print_table(
        ["what", "value"],
        [
            ["photos / candidate pairs (all ambiguous)", f"{n} / {len(candidates)}"],
            ["pairs found the same picture", len(found)],
            ["pairs searched (past the quick tests and colours)", check.searched],
            ["checking, without reading", f"{check_s:.1f} s"],
            ["likenesses read / kept at once", f"{check.reads} / {grouping.KEPT}"],
            ["one read from a thumbnail file", f"{read_ms:.2f} ms"],
            ["estimated total (checks + reads)", f"{total_s:.0f} s"],
            [
                f"a batch of {engine.PAIR_BATCH} pairs (a cancel waits): p99 / slowest",
                f"{results['batch_p99_s'] * 1000:.0f} / {results['batch_max_s'] * 1000:.0f} ms",
            ],
        ],
    )
    print(f"wrote {write_json('duplicates-worst', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
