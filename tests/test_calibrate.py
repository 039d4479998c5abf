"""The relevance floor, calibrated on captioned photos (app/core/model/calibrate.py), and what search
does with it: the trained micro CLIP calibrated on its own captions keeps a class that is a fifth
of the library, where the library-relative floor keeps only its best few; a nonsense query finds
(almost) nothing; the photos under the floor are counted, not lost."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import microclip
import numpy as np
import pytest
from PIL import Image
from test_vindex import fill_catalog

from app.core.catalog.catalog import Catalog
from app.core.index.vindex import VectorIndex
from app.core.model.calibrate import (
    FloorCalibration,
    balanced_threshold,
    calibrate_floor,
    floor_from_cosines,
    load_calibration_set,
)
from app.core.model.encoder import Encoder
from app.core.resources import resource_path
from app.core.search.engine import Query, SearchEngine

TARGET = ("red", "circle")
LIBRARY = 200  # photos; a fifth of them are TARGET
SIDE = 64
ALL = 10_000


# -- the rule ------------------------------------------------------------------------------------


def test_separated_sets_put_the_floor_in_the_middle_of_the_gap() -> None:
    assert balanced_threshold(np.array([0.3, 0.4, 0.5]), np.array([0.1, 0.2, 0.25])) == 0.275
    # Scale-free: shifting and shrinking every cosine (a SigLIP-like scale) moves the floor alike.
    low = balanced_threshold(np.array([0.3, 0.4, 0.5]) * 0.2 - 0.1, np.array([0.1, 0.2, 0.25]) * 0.2 - 0.1)  # fmt: skip
    assert low == pytest.approx(0.275 * 0.2 - 0.1)


def test_overlapping_sets_balance_both_errors() -> None:
    """One matched pair below most mismatched ones: the floor does not sink to keep it (that
    would let through most mismatched pairs), and the many mismatched pairs do not outvote the
    few matched ones."""
    rng = np.random.default_rng(0)
    matched = np.append(rng.normal(0.30, 0.02, 30), 0.12)
    mismatched = rng.normal(0.15, 0.02, 900)
    floor = balanced_threshold(matched, mismatched)
    assert 0.19 < floor < 0.26
    cal = floor_from_cosines(_square(matched[:20], mismatched))
    assert cal.n == 20 and cal.auc > 0.99 and cal.balanced_accuracy > 0.95


def _square(diagonal: np.ndarray, rest: np.ndarray) -> np.ndarray:
    n = len(diagonal)
    sim = np.resize(rest, (n, n)).astype(np.float64)
    np.fill_diagonal(sim, diagonal)
    return sim


# -- the micro CLIP on its own captions ----------------------------------------------------------


def calibration_samples(seed: int = 11) -> list[tuple[Image.Image, str]]:
    """One fresh picture of every (colour, shape) pair with its caption."""
    rng = np.random.default_rng(seed)
    return [
        (microclip.make_shape_image(c, s, SIDE, rng), microclip.caption(c, s))
        for c, s in microclip.all_pairs()
    ]


@pytest.fixture(scope="module")
def calibration(tiny_model_dir: Path) -> FloorCalibration:
    with Encoder(tiny_model_dir, device="cpu", threads=1) as enc:
        return calibrate_floor(enc, calibration_samples())


def test_floor_lies_between_matched_and_mismatched(calibration: FloorCalibration) -> None:
    cal = calibration
    assert cal.n == 16 and cal.matched.n == 16 and cal.mismatched.n == 16 * 15
    assert cal.mismatched.mean < cal.floor < cal.matched.mean
    assert cal.auc > 0.95 and cal.balanced_accuracy > 0.9
    assert json.loads(json.dumps(cal.to_dict()))["floor"] == cal.floor


def test_photo_files_are_decoded_as_the_indexer_decodes_them(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from app.core.photos.decode import open_image

    files = []
    for i, (img, text) in enumerate(calibration_samples(seed=12)[:6]):
        img.save(tmp_path / f"{i}.jpg", quality=90)
        files.append((tmp_path / f"{i}.jpg", text))
    with Encoder(tiny_model_dir, device="cpu", threads=1) as enc:
        decoded = [(open_image(p, min_side=enc.image_size), t) for p, t in files]
        assert calibrate_floor(enc, files) == calibrate_floor(enc, decoded)


class FifthLibrary:
    """LIBRARY photos of coloured shapes, a fifth of them TARGET, the rest spread over the
    other fifteen pairs; catalog and vector index on disk."""

    def __init__(self, root: Path, encoder: Any) -> None:
        rng = np.random.default_rng(5)
        others = [p for p in microclip.all_pairs() if p != TARGET]
        self.labels = [TARGET] * (LIBRARY // 5) + [
            others[i % len(others)] for i in range(LIBRARY - LIBRARY // 5)
        ]
        images = [microclip.make_shape_image(c, s, SIDE, rng) for c, s in self.labels]
        vectors = encoder.encode_images(images)
        (root / "data").mkdir()
        self.catalog = Catalog(root / "data" / "catalog.sqlite3")
        dates = [datetime(2021, 1, 1 + i % 28) for i in range(LIBRARY)]
        self.ids = fill_catalog(
            self.catalog, root / "photos", vectors, model_id=encoder.model_id, dates=dates
        )
        self.index = VectorIndex.open(root / "idx", encoder.model_id, vectors.shape[1],
                                      self.catalog)  # fmt: skip
        self.target = self.ids_of(TARGET)

    def ids_of(self, pair: tuple[str, str]) -> set[int]:
        return {int(i) for i, lab in zip(self.ids, self.labels, strict=True) if lab == pair}

    def close(self) -> None:
        self.index.close()
        self.catalog.close()


class Calibrated:
    """The real encoder, its model info carrying a calibrated floor (as the installer stores it)."""

    def __init__(self, encoder: Encoder, floor: float) -> None:
        self._encoder = encoder
        self.info = dataclasses.replace(encoder.info, relevance_floor=floor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)


@pytest.fixture(scope="module")
def fifth(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    enc = Encoder(tiny_model_dir, device="cpu", threads=1)
    lib = FifthLibrary(tmp_path_factory.mktemp("fifth"), enc)
    yield enc, lib
    lib.close()
    enc.close()


def precision_recall(result: Any, relevant: set[int]) -> tuple[float, float]:
    got = {h.photo_id for h in result.hits}
    return len(got & relevant) / max(len(got), 1), len(got & relevant) / len(relevant)


def test_calibrated_floor_keeps_a_fifth_of_the_library(
    fifth: Any, calibration: FloorCalibration
) -> None:
    enc, lib = fifth
    query = Query(text=microclip.caption(*TARGET), top_k=ALL)
    calibrated = SearchEngine(Calibrated(enc, calibration.floor), lib.catalog, lib.index)
    result = calibrated.search(query)
    precision, recall = precision_recall(result, lib.target)
    print(
        f"\nfloor {calibration.floor:.3f} (matched mean {calibration.matched.mean:.3f}, "
        f"mismatched mean {calibration.mismatched.mean:.3f}); a fifth: {len(result.hits)} "
        f"hits, precision {precision:.3f}, recall {recall:.3f}"
    )
    assert precision >= 0.9 and recall >= 0.9
    assert result.cosine_floor == calibration.floor and math.isfinite(result.floor or math.nan)
    # The same floor given with the query instead of by the model: the same photos.
    given = SearchEngine(enc, lib.catalog, lib.index).search(
        dataclasses.replace(query, min_cosine=calibration.floor)
    )
    assert [h.photo_id for h in given.hits] == [h.photo_id for h in result.hits]
    # Every other class too: the floor is the model's, not the library's.
    for pair in [("green", "square"), ("blue", "star"), ("yellow", "triangle")]:
        got = calibrated.search(Query(text=microclip.caption(*pair), top_k=ALL))
        assert precision_recall(got, lib.ids_of(pair)) >= (0.9, 0.9), pair


def test_the_relative_floor_fails_where_the_calibrated_one_holds(
    fifth: Any, calibration: FloorCalibration
) -> None:
    """What the library-relative floor (no model floor) does wrong on the same library: it lets
    through the library's best few for anything, nonsense included, and a class's neighbours.
    (It does keep the fifth here: the micro CLIP's class cosines bunch at 0.86-0.95, far above
    the library's median ~0.1, so 0.9 of the way to the top percentile still lies under them;
    CLIP spreads a class over much of that distance.)"""
    enc, lib = fifth
    relative = SearchEngine(enc, lib.catalog, lib.index)
    calibrated = SearchEngine(Calibrated(enc, calibration.floor), lib.catalog, lib.index)
    nonsense = Query(text="zzqx", top_k=ALL)
    assert relative.search(nonsense).cosine_floor is None
    assert len(relative.search(nonsense).hits) >= LIBRARY // 50
    assert len(calibrated.search(nonsense).hits) < len(relative.search(nonsense).hits)
    green = Query(text=microclip.caption("green", "square"), top_k=ALL)
    assert precision_recall(relative.search(green), lib.ids_of(("green", "square")))[0] < 0.9


def test_nonsense_finds_little_and_the_rest_is_counted(
    fifth: Any, calibration: FloorCalibration
) -> None:
    enc, lib = fifth
    engine = SearchEngine(Calibrated(enc, calibration.floor), lib.catalog, lib.index)
    nonsense = engine.search(Query(text="zzqx", top_k=ALL))
    print(f"nonsense: {len(nonsense.hits)} hits, {nonsense.weaker} weaker")
    assert len(nonsense.hits) <= LIBRARY // 20
    assert nonsense.weaker == LIBRARY - len(nonsense.hits)  # everything else, counted
    # `weaker` is what a search without a floor adds, up to top_k in all.
    query = Query(text=microclip.caption(*TARGET), top_k=ALL)
    floored = engine.search(query)
    everything = engine.search(dataclasses.replace(query, min_score=-math.inf))
    assert everything.weaker == 0 and len(everything.hits) == LIBRARY
    assert floored.weaker == LIBRARY - len(floored.hits)
    n = len(floored.hits)
    assert [h.photo_id for h in everything.hits[:n]] == [h.photo_id for h in floored.hits]
    top = engine.search(dataclasses.replace(query, top_k=n + 7))
    assert len(top.hits) == n and top.weaker == 7
    few = engine.search(dataclasses.replace(query, top_k=5))
    assert len(few.hits) == 5 and few.weaker == 0
    by_date = engine.search(dataclasses.replace(query, order="date", top_k=n + 3))
    assert len(by_date.hits) == n and by_date.weaker == 3
    # The index path counts the same way as the exact one.
    indexed = SearchEngine(Calibrated(enc, calibration.floor), lib.catalog, lib.index,
                           exact_rows=10)  # fmt: skip
    via_index = indexed.search(dataclasses.replace(query, top_k=n + 7))
    assert via_index.used == "index" and via_index.weaker == 7
    assert {h.photo_id for h in via_index.hits} == {h.photo_id for h in top.hits}


# -- the shipped set ------------------------------------------------------------------------------


def test_shipped_calibration_set_is_complete_and_licensed() -> None:
    samples = load_calibration_set()
    assert 24 <= len(samples) <= 40
    folder = resource_path("calibration")
    entries = json.loads((folder / "captions.json").read_text(encoding="utf-8"))["photos"]
    licences = (folder / "LICENSES.md").read_text(encoding="utf-8")
    assert len({e["file"] for e in entries}) == len(entries)
    for (path, caption), entry in zip(samples, entries, strict=True):
        assert path.is_file() and path.suffix == ".jpg" and caption.strip()
        assert entry["license"] in ("Public domain", "CC0-1.0", "CC-BY-2.0")
        assert entry["source"] and entry["original"] and entry["author"]
        assert entry["file"] in licences
        with Image.open(path) as img:
            assert img.format == "JPEG" and 200 <= min(img.size) <= 300
        assert path.stat().st_size < 100_000


def test_shipped_set_calibrates_any_model(tiny_model_dir: Path) -> None:
    """The micro CLIP knows none of these subjects; the rule still returns a finite floor among
    the cosines it measured, with figures that say the model cannot tell them apart."""
    with Encoder(tiny_model_dir, device="cpu", threads=1) as enc:
        cal = calibrate_floor(enc)
    assert cal.n == len(load_calibration_set()) and math.isfinite(cal.floor)
    assert cal.mismatched.min <= cal.floor <= max(cal.matched.max, cal.mismatched.max)
