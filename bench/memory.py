"""What a user feels of the model's weight: the window's memory once indexing is done, and the
wall time of a one-shot `photoseek search` from the command line.

    python bench/memory.py [--photos 80] [--repeats 7] [--idle-s 15]

1. **One-shot CLI search**: `photoseek search "..."` in a fresh process, wall time from start
   to exit, against a library of `--photos` photos indexed with the default model's
   stand-in (random-init ViT-B-32, the size of the real one). Also timed: the interpreter and
   the CLI's imports alone (`photoseek --version`), so the search's own share shows.
2. **Idle window RSS**: the window (offscreen, driven in its own process) opens a fresh
   library of the same photos, indexes them, then sits idle. RSS is sampled when indexing
   ends, after the image tower's idle release (`PHOTOSEEK_IMAGE_IDLE_S`, shortened to
   `--idle-s` here), and after a query typed into the idle window (the text tower loaded).

Figures go to bench/out/memory-<time>.json. Targets from the issue: idle window <= 500 MB,
one-shot search <= 400 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import CACHE_DIR, bench_model, jpeg_bytes, machine, photo_set, write_json

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "ViT-B-32__openai"
QUERY = "two dogs playing in the snow"


def env_for(home: Path, **extra: str) -> dict[str, str]:
    # A user's install has compiled bytecode; this machine sets PYTHONDONTWRITEBYTECODE, which
    # would add ~60 ms of compiling to every run.
    drop = ("PYTHONDONTWRITEBYTECODE",)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOSEEK_") and k not in drop}
    env.update({"PHOTOSEEK_NO_GUI": "", "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"})
    env.update(extra)
    return env


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(home), *args],
        cwd=ROOT,
        env=env or env_for(home),
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )


def make_photos(folder: Path, n: int) -> None:
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) == n:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i, img in enumerate(photo_set(n, seed=7)):
        (folder / f"IMG_{i:04d}.jpg").write_bytes(jpeg_bytes(img.resize((1600, 1200)), 88))


def prepare_home(home: Path, photos: Path, model_dir: Path, *, index: bool) -> None:
    shutil.rmtree(home, ignore_errors=True)
    cli(home, "model", "install", MODEL_NAME, "--from", str(model_dir))
    cli(home, "folders", "add", str(photos))
    if index:
        cli(home, "index")


def time_cli(home: Path, args: list[str], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cli(home, *args)
        out.append(time.perf_counter() - t0)
    return out


WINDOW = r"""
import json, sys, time
from pathlib import Path
from PySide6.QtCore import QTimer
from app.core.library import Library
from app.core.paths import Paths
from app.ui.app import create_application
from app.ui.main_window import MainWindow

home, n, idle_s, query = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 / 1e6 for l in f if l.startswith("VmRSS:"))
app = create_application()
paths = Paths.at(home)
window = MainWindow(paths, Library.open(paths), welcome=False)
window.resize(1280, 800)
window.show()
out, t0, state = {}, time.monotonic(), {"phase": "indexing", "at": 0.0, "peak": 0.0}
def poll():
    now = time.monotonic()
    state["peak"] = max(state["peak"], rss())
    lib = window.library
    done = lib is not None and lib.status().indexed >= n and not window.indexer.running
    if state["phase"] == "indexing" and done:
        out["index_s"] = round(now - t0, 1)
        state.update(phase="settle", at=now)
    elif state["phase"] == "settle" and now - state["at"] > 3:
        out["after_indexing_mb"] = round(rss(), 1)
        state.update(phase="idle", at=now)
    elif state["phase"] == "idle" and now - state["at"] > idle_s + 5:
        out["idle_mb"] = round(rss(), 1)
        window.search_bar.edit.setText(query)
        window.search_bar.search_now()
        state.update(phase="search", at=now)
    elif state["phase"] == "search" and not window.searcher.busy() and now - state["at"] > 2:
        out["idle_after_a_search_mb"] = round(rss(), 1)
        out["peak_while_indexing_mb"] = round(state["peak"], 1)
        print(json.dumps(out), flush=True)
        window.close()
        app.quit()
        return
    elif now - t0 > 900:
        print(json.dumps({"error": "indexing did not finish in 15 minutes"}), flush=True)
        app.quit()
        return
    QTimer.singleShot(250, poll)
QTimer.singleShot(500, poll)
app.exec()
"""


def window_rss(home: Path, n: int, idle_s: float) -> dict[str, float]:
    """The real window (offscreen) opens a fresh library, indexes it, sits idle past the image
    tower's release, then answers one typed query; RSS at each step."""
    env = env_for(home, PHOTOSEEK_IMAGE_IDLE_S=str(idle_s))
    proc = subprocess.run(
        [sys.executable, "-c", WINDOW, str(home), str(n), str(idle_s), QUERY],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=True,
    )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"error": proc.stderr[-2000:]}
    if "error" in result:
        raise SystemExit(f"the window run failed: {result['error']}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--photos", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--idle-s", type=float, default=15.0)
    args = ap.parse_args()

    model_dir = bench_model()
    work = CACHE_DIR / "memory"
    photos = work / "photos"
    make_photos(photos, args.photos)

    print(f"one-shot CLI search ({args.photos} photos, {args.repeats} runs)...", flush=True)
    home = work / "cli-home"
    prepare_home(home, photos, model_dir, index=True)
    cli(home, "search", QUERY)  # first run: stamps the verified model files
    version = time_cli(home, ["--version"], args.repeats)
    search = time_cli(home, ["search", QUERY, "--top", "20"], args.repeats)

    print("idle window RSS...", flush=True)
    whome = work / "window-home"
    prepare_home(whome, photos, model_dir, index=False)
    window = window_rss(whome, args.photos, args.idle_s)

    result = {
        "machine": machine(),
        "photos": args.photos,
        "cli_version_s": {"median": statistics.median(version), "runs": version},
        "cli_search_s": {"median": statistics.median(search), "runs": search},
        "window": window,
        "targets": {"idle_window_mb": 500, "cli_search_s": 0.4},
    }
    print(f"  `photoseek --version`: median {statistics.median(version) * 1000:.0f} ms")
    print(f"  `photoseek search`:    median {statistics.median(search) * 1000:.0f} ms "
          f"(runs: {', '.join(f'{s * 1000:.0f}' for s in search)})")  # fmt: skip
    for k, v in window.items():
        print(f"  window {k}: {v}")
    print(f"wrote {write_json('memory', result)}")


if __name__ == "__main__":
    main()
