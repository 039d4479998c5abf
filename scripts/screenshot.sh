#!/usr/bin/env bash
# Take docs/screenshot.png: build a sample library (generated photos with EXIF dates across
# several years, GPS positions for most outings, and two short videos), index it with the micro
# CLIP the tests use, open the real window on a virtual X server (Xvfb) with a query typed in,
# and capture the screen with xwd.
#
# Needs: xvfb, x11-apps (xwd), libxcb-icccm4 libxcb-keysyms1 (Debian/Ubuntu package names); the
# capture is turned into PNG with numpy and Pillow. Everything it builds lives in build/screenshot
# (git-ignored); the model is reused from the test cache when it is there.
#
#   scripts/screenshot.sh [OUT.png]      PHOTOSEEK_SHOT_QUERY="a red circle" (the default, as
#                                        docs/screenshot.png shows: photos and a video found at
#                                        its moment) to change the query ("" browses the timeline),
#                                        PHOTOSEEK_SHOT_THEME=dark for a dark system palette,
#                                        PHOTOSEEK_SHOT_FLOOR=0.9 to give the model a relevance
#                                        floor, PHOTOSEEK_SHOT_END=1 to show the end of the grid,
#                                        PHOTOSEEK_SHOT_ORDER=date to sort a query newest first
#                                        (the timeline's month headers over search results)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORK=${PHOTOSEEK_SHOT_DIR:-build/screenshot}
OUT=${1:-docs/screenshot.png}
QUERY=${PHOTOSEEK_SHOT_QUERY-a red circle}  # "" (set but empty): browse the timeline
SIZE=${PHOTOSEEK_SHOT_SIZE:-1280x800}
DISPLAY_NUM=${PHOTOSEEK_SHOT_DISPLAY:-:97}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$PWD:$PWD/tests"

for tool in Xvfb xwd; do
  command -v "$tool" >/dev/null || {
    echo "screenshot.sh: $tool is missing; install xvfb and x11-apps" >&2; exit 1; }
done
mkdir -p "$WORK" "$(dirname "$OUT")"

echo "1/3 sample library in $WORK"
QT_QPA_PLATFORM=offscreen "$PY" - "$WORK" <<'PYTHON'
import shutil
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

import microclip
from app.core.library import Library
from app.core.model.info import verify_model_dir
from app.core.paths import Paths

work = Path(sys.argv[1]).resolve()
model = work / "model"
if not (model / "photoseek.json").is_file():
    cached = sorted(Path(".pytest_cache/d/photoseek-models").glob("micro-clip-*/photoseek.json"),
                    key=lambda p: p.stat().st_mtime)
    if cached:  # the tests' trained micro CLIP, exported already
        shutil.copytree(cached[-1].parent, model)
    else:
        from app.core.model.export.exporter import export_from_model

        trained = microclip.train_micro_clip(steps=microclip.TRAIN_STEPS, seed=0)
        export_from_model(trained, arch="micro-clip", pretrained="shapes", out_dir=model,
                          preprocess_cfg=microclip.preprocess_cfg(), int8=True)
    for f in model.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)
verify_model_dir(model)

pictures = work / "Pictures"
# Where each outing was (newest first; None: no GPS, as a camera without it): the Places pieces.
LISBON, PORTO, PARIS = (38.7223, -9.1393), (41.1579, -8.6291), (48.8566, 2.3522)
KYOTO, NEW_YORK, BARCELONA = (35.0116, 135.7681), (40.7128, -74.006), (41.3874, 2.1686)
OUTINGS = (None, NEW_YORK, LISBON, None, BARCELONA, PORTO, KYOTO, None, LISBON, PARIS,
           None, NEW_YORK, LISBON, KYOTO, None, PORTO, None, PARIS, LISBON, LISBON)
if pictures.is_dir() and not (work / "places").exists():  # made before photos had positions
    shutil.rmtree(pictures)
if not pictures.is_dir():
    rng = np.random.default_rng(2024)
    pairs = microclip.all_pairs()
    for i in range(240):
        color, shape = pairs[int(rng.integers(len(pairs)))] if i % 10 else ("red", "circle")
        # 20 outings of 12 photos over six years, as a camera roll has them (the timeline's months)
        outing = datetime(2024, 11, 20, 9) - timedelta(days=(i // 12) * 107)
        when = outing - timedelta(days=(i % 12) // 5, minutes=(i % 12) * 37 + (i * 13) % 60)
        w, h = (800, 450) if i % 7 == 3 else (640, 480) if i % 3 else (480, 640)
        img = microclip.make_shape_image(color, shape, (w, h), rng)
        exif = Image.Exif()
        stamp = when.strftime("%Y:%m:%d %H:%M:%S")
        exif[0x010F], exif[0x0110] = "PhotoSeek", "Sample Camera"
        exif.get_ifd(0x8769)[0x9003] = stamp
        where = OUTINGS[i // 12]
        if where is not None:  # a few hundred metres apart, as photos of one outing are
            gps, lat, lon = exif.get_ifd(0x8825), where[0] + (i * 37 % 11 - 5) * 0.002, where[1]
            for ref_tag, tag, value, refs in ((1, 2, lat, "NS"), (3, 4, lon, "EW")):
                d, m = int(abs(value)), int(abs(value) * 60 % 60)
                gps[ref_tag] = refs[value < 0]
                gps[tag] = (float(d), float(m), round((abs(value) - d - m / 60) * 3600, 3))
        target = pictures / f"{when:%Y}" / f"IMG_{i + 1:04d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        img.save(target, "JPEG", quality=88, exif=exif)

# Two phone videos of the last outing (tests/videos.py draws them from the micro model's shapes):
# a red circle comes into view a few seconds in, so the query finds each at that moment.
clips = pictures / "2024" / "Videos"
if not clips.is_dir():
    from tests.videos import scene_frames, write_video

    clips.mkdir(parents=True)
    for name, scenes, when, seed in (
        ("VID_0001.mp4", [(3, "blue", "square"), (3, "red", "circle"), (3, "green", "star")],
         "2024-11-20T10:05:00Z", 5),
        ("VID_0002.mov", [(5, "yellow", "triangle"), (4, "red", "circle"), (3, "blue", "star")],
         "2024-11-19T16:40:00Z", 6),
    ):
        write_video(clips / name, scene_frames(scenes, size=(480, 270), seed=seed),
                    metadata={"creation_time": when})

(work / "places").touch()
home = work / "home"
shutil.rmtree(home, ignore_errors=True)
paths = Paths.at(home).ensure()
lib = Library.open(paths, model_dir=model, device="cpu")
lib.add_folder(pictures)
report = lib.index()
print(f"   {report.added} photos and videos indexed ({report.frames} video frames)")
lib.close()
PYTHON

echo "2/3 the window on Xvfb $DISPLAY_NUM ($SIZE), query: $QUERY"
Xvfb "$DISPLAY_NUM" -screen 0 "${SIZE}x24" -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
trap 'kill "$XVFB" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X${DISPLAY_NUM#:}" ] && break; sleep 0.1; done

READY="$WORK/ready" QUIT="$WORK/quit"
rm -f "$READY" "$QUIT"
DISPLAY=$DISPLAY_NUM QT_QPA_PLATFORM=xcb "$PY" - "$WORK" "$QUERY" "$SIZE" "${PHOTOSEEK_SHOT_THEME:-light}" "${PHOTOSEEK_SHOT_FLOOR:-}" "${PHOTOSEEK_SHOT_END:-}" "${PHOTOSEEK_SHOT_ORDER:-relevance}" <<'PYTHON' &
import sys
from pathlib import Path

from PySide6.QtCore import QTimer

from app.core.library import Library
from app.core.paths import Paths
from app.ui.app import create_application
from app.ui.main_window import MainWindow
from app.ui.search_bar import SearchBar

work, query, size, theme = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
floor, to_end, order = sys.argv[5], sys.argv[6], sys.argv[7]
manifest = work / "model" / "photoseek.json"
if floor:  # a calibrated model's floor, to show the weaker matches hidden under it
    import json

    data = json.loads(manifest.read_text())
    data["relevance_floor"] = float(floor)
    manifest.write_text(json.dumps(data))
width, height = (int(v) for v in size.split("x"))
paths = Paths.at(work / "home")
app = create_application()
if theme == "dark":  # what a dark desktop theme hands Qt; the app itself sets no colours
    from PySide6.QtGui import QColor, QPalette

    app.setStyle("Fusion")
    dark = QPalette()
    for role, rgb in ((QPalette.ColorRole.Window, "#2b2d30"), (QPalette.ColorRole.WindowText, "#e6e6e6"),
                      (QPalette.ColorRole.Base, "#1e1f22"), (QPalette.ColorRole.AlternateBase, "#323438"),
                      (QPalette.ColorRole.Text, "#e6e6e6"), (QPalette.ColorRole.Button, "#35373b"),
                      (QPalette.ColorRole.ButtonText, "#e6e6e6"), (QPalette.ColorRole.Highlight, "#3d7eff"),
                      (QPalette.ColorRole.HighlightedText, "#ffffff"), (QPalette.ColorRole.Midlight, "#46484d"),
                      (QPalette.ColorRole.PlaceholderText, "#9a9ca1"), (QPalette.ColorRole.ToolTipBase, "#35373b"),
                      (QPalette.ColorRole.ToolTipText, "#e6e6e6")):
        dark.setColor(role, QColor(rgb))
    app.setPalette(dark)
library = Library.open(paths, model_dir=work / "model", device="cpu")
window = MainWindow(paths, library, welcome=False)
window.setGeometry(0, 0, width, height)
window.show()
window.activateWindow()
typed = False


def poll() -> None:
    global typed
    if (work / "quit").exists():
        window.close()
        app.quit()
        return
    settled = not window.indexer.running and not window.searcher.busy()
    if settled and not typed and window.model.total():
        window.filters.set_order(order)
        window.search_bar.edit.setText(query)
        window.search_bar.search_now()
        typed = True
    elif typed and settled and window.loader.pending() == 0 and window.model.rowCount():
        window.search_bar.edit.setFocus()
        window.search_bar.edit.end(False)
        if to_end:
            window.grid.scrollToBottom()
        (work / "ready").touch()
    QTimer.singleShot(200, poll)


QTimer.singleShot(500, poll)
sys.exit(app.exec())
PYTHON
APP=$!
for _ in $(seq 300); do [ -e "$READY" ] && break; sleep 0.1; done
[ -e "$READY" ] || { echo "screenshot.sh: the window never got ready" >&2; kill "$APP"; exit 1; }
sleep 1  # let the last thumbnails paint

echo "3/3 capture to $OUT"
xwd -root -silent -display "$DISPLAY_NUM" > "$WORK/screen.xwd"
touch "$QUIT"
wait "$APP" || true
"$PY" - "$WORK/screen.xwd" "$OUT" <<'PYTHON'
"""XWD (what xwd writes) to PNG: a 25-field big-endian header, a colormap, then the pixels."""
import struct
import sys

import numpy as np
from PIL import Image

data = open(sys.argv[1], "rb").read()
h = struct.unpack(">25I", data[:100])
header_size, width, height, byte_order = h[0], h[4], h[5], h[7]
bits_per_pixel, bytes_per_line, masks, ncolors = h[11], h[12], h[14:17], h[19]
if bits_per_pixel not in (24, 32):
    sys.exit(f"screenshot.sh: expected a 24/32-bit screen, got {bits_per_pixel} bits per pixel")
step = bits_per_pixel // 8
start = header_size + 12 * ncolors
rows = np.frombuffer(data, np.uint8, bytes_per_line * height, start).reshape(height, -1)
raw = rows[:, : width * step].reshape(height, width, step).astype(np.uint32)
order = range(step) if byte_order == 0 else range(step - 1, -1, -1)  # LSB or MSB first
pixels = sum(raw[:, :, i] << (8 * k) for k, i in enumerate(order))
channels = []
for mask in masks:
    shift = (mask & -mask).bit_length() - 1
    channels.append(((pixels & mask) >> shift).astype(np.uint8))
Image.fromarray(np.dstack(channels), "RGB").save(sys.argv[2], optimize=True)
PYTHON
echo "wrote $OUT"
