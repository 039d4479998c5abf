"""How the timeline feels at 100,000 photos: time to first paint, and frame times while scrolling.

    python bench/timeline.py [--photos 100000] [--frames 400] [--size 1280x800] [--shots DIR]

Offscreen (QT_QPA_PLATFORM=offscreen), the real ResultsView over the real ResultsModel, with
synthetic hits: random aspect ratios (a camera-roll mix of 3:2, 4:3, 16:9, portraits, squares
and a few panoramas) and dates spread newest first over 2000-2024. Thumbnails are solid-colour
pixmaps handed out by the model as if already loaded, so decoding is not measured, only layout
and painting.

1. **First paint**: from `set_hits` to the first frame painted (model reset, every photo's
   shape and date, the O(n) layout, one full frame), for the browse timeline (month headers),
   the day headers of a zoomed-in view, and a ranked list (no headers, captions).
2. **Relayout**: the layout alone, as a window resize or a zoom step redoes it.
3. **Scrolling**: frame times of (a) wheel scrolling, 120 px a frame through the top of the
   library, and (b) a fling from the top to the bottom of all 100,000 photos in `--frames`
   frames, every frame a new screenful (the worst case: nothing to reuse). A frame is the
   scroll plus the paint it causes, measured around `processEvents` with a paint counter so a
   frame that painted nothing is not counted as fast. Target: under 16 ms.
4. **Scrubber**: frame time of a jump to a random fraction, as a click or drag on it does.

Figures go to bench/out/timeline-<time>.json.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import print_table, stats_ms, write_json
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QApplication

from app.core.api import Hit
from app.ui.grid_view import ResultsView
from app.ui.results_model import ResultsModel
from app.ui.timeline_layout import Metrics, lay_out

SHAPES = [(3, 2)] * 6 + [(4, 3)] * 3 + [(16, 9)] * 2 + [(2, 3)] * 4 + [(3, 4)] * 2 + [(1, 1)] * 2
SHAPES += [(7, 2)]  # a panorama now and then


def synthetic_hits(n: int, seed: int = 7) -> list[Hit]:
    """`n` photos newest first over 2000-2024, with camera-roll shapes and bursts of days."""
    rng = random.Random(seed)
    start, span = datetime(2000, 1, 1), (datetime(2024, 12, 31) - datetime(2000, 1, 1))
    stamps = sorted(
        (start + timedelta(seconds=rng.random() * span.total_seconds()) for _ in range(n)),
        reverse=True,
    )
    hits = []
    for i, when in enumerate(stamps):
        w, h = rng.choice(SHAPES)
        hits.append(
            Hit(i + 1, f"/photos/{when:%Y}/IMG_{i:06d}.jpg", 0.0, when, "exif", w * 1000, h * 1000)
        )
    return hits


class SolidModel(ResultsModel):
    """The results model with every thumbnail "already loaded": a solid-colour pixmap of the
    photo's shape (shared between photos), so the frames measure painting, not decoding."""

    def __init__(self) -> None:
        super().__init__(None)
        self._pixmaps: dict[tuple[int, int], QPixmap] = {}

    def _thumbnail(self, photo_id: int) -> QPixmap | None:
        hit = self.hit(self._row_of[photo_id])
        key = (round((hit.width or 1) / (hit.height or 1) * 100), photo_id % 24)
        pixmap = self._pixmaps.get(key)
        if pixmap is None:
            aspect = key[0] / 100
            w, h = (
                (256, max(1, round(256 / aspect)))
                if aspect >= 1
                else (max(1, round(256 * aspect)), 256)
            )
            pixmap = QPixmap(w, h)
            pixmap.fill(QColor.fromHsv(key[1] * 15, 110, 200))
            self._pixmaps[key] = pixmap
        return pixmap


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def frame(app: QApplication, counter: PaintCounter, action: Any) -> float:
    """Seconds from `action()` until the paint it caused is done."""
    before = counter.paints
    t0 = time.perf_counter()
    action()
    app.processEvents()
    while counter.paints == before and time.perf_counter() - t0 < 1.0:
        app.processEvents()
    return time.perf_counter() - t0


def summary(samples: list[float]) -> dict[str, float]:
    s = stats_ms(samples)
    s["max_ms"] = max(samples) * 1000 if samples else 0.0
    s["under_16ms"] = sum(1 for x in samples if x < 0.016) / max(1, len(samples))
    return s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=100_000)
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--size", default="1280x800")
    ap.add_argument("--shots", type=Path, default=None, help="save a PNG of each view here")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([])
    hits = synthetic_hits(args.photos)
    model = SolidModel()
    view = ResultsView()
    view.setModel(model)
    view.resize(width, height)
    view.show()
    app.processEvents()
    counter = PaintCounter()
    view.viewport().installEventFilter(counter)
    results: dict[str, Any] = {"photos": args.photos, "size": args.size, "frames": args.frames}

    # 1. first paint, three ways
    rows = []
    for name, size, by_date, scored in (
        ("browse, month headers", 176, True, False),
        ("browse, day headers", 256, True, False),
        ("ranked, captions", 176, False, True),
    ):
        view.set_thumb_size(size)
        model.clear(0)
        app.processEvents()
        t = frame(app, counter, lambda b=by_date, s=scored: model.set_hits(hits, 1, s, by_date=b))
        layout = view.layout_now()
        rows.append([name, f"{t * 1000:.0f}", len(layout.line_y), len(layout.headers)])
        results[f"first_paint_ms[{name}]"] = t * 1000
        if args.shots:
            args.shots.mkdir(parents=True, exist_ok=True)
            view.grab().save(str(args.shots / f"timeline-{name.split(',')[0]}-{size}.png"))
    print_table(["first paint", "ms", "rows", "headers"], rows)

    # 2. relayout alone
    aspects, keys = model.aspects(), model.date_keys()
    relayout = []
    for w in (width, width - 300, width + 300):
        t0 = time.perf_counter()
        lay_out(aspects, keys, Metrics(w, 176))
        relayout.append(time.perf_counter() - t0)
    results["relayout_ms"] = [r * 1000 for r in relayout]
    print(
        f"\nrelayout of {args.photos:,} photos: "
        + ", ".join(f"{r * 1000:.0f} ms" for r in relayout)
    )

    # 3. scrolling the browse timeline
    view.set_thumb_size(176)
    model.set_hits(hits, 2, False, by_date=True)
    app.processEvents()
    bar = view.verticalScrollBar()
    wheel = [
        frame(app, counter, lambda: bar.setValue(bar.value() + 120)) for _ in range(args.frames)
    ]
    bar.setValue(0)
    app.processEvents()
    step = bar.maximum() / args.frames
    fling = [
        frame(app, counter, lambda i=i: bar.setValue(round((i + 1) * step)))
        for i in range(args.frames)
    ]
    rng = random.Random(3)
    jumps = [
        frame(app, counter, lambda: view.scrubber.jump(rng.random()))
        for _ in range(args.frames // 4)
    ]
    table = []
    for name, samples in (
        ("wheel, 120 px", wheel),
        ("fling top to bottom", fling),
        ("scrubber jump", jumps),
    ):
        s = summary(samples)
        results[f"scroll[{name}]"] = s
        table.append(
            [
                name,
                s["n"],
                f"{s['p50_ms']:.1f}",
                f"{s['p95_ms']:.1f}",
                f"{s['max_ms']:.1f}",
                f"{s['under_16ms']:.1%}",
            ]
        )
    print()
    print_table(["scrolling", "frames", "p50 ms", "p95 ms", "max ms", "< 16 ms"], table)
    print(f"\nrows fetched from the model by the end: {model.rowCount():,} of {model.total():,}")
    path = write_json("timeline", results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
