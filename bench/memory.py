"""What a user feels of the model's weight: the window's memory once indexing is done, and the
wall time of a one-shot `photoseek search` from the command line.

    python bench/memory.py [--photos 80] [--repeats 7] [--idle-s 15]

1. **One-shot CLI search**: `photoseek search "..."` in a fresh process, wall time from start
   to exit, against a library of `--photos` photos indexed with the default model's
   stand-in (random-init ViT-B-32, the size of the real one). Also timed: the interpreter and
   the CLI's imports alone (`photoseek --version`), so the search's own share shows.
2. **Idle window RSS**: the window (offscreen) opens a fresh library of the same photos,
   indexes them, then sits idle. RSS is sampled when indexing ends and again after the image
   tower's idle release (`PHOTOSEEK_IMAGE_IDLE_S`, shortened to `--idle-s` here), and after a
   search typed into the idle window (the text tower loaded).

Figures go to bench/out/memory-<time>.json. Targets from the issue: idle window <= 500 MB,
one-shot search <= 400 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import CACHE_DIR, bench_model, jpeg_bytes, machine, photo_set, write_json  # noqa: E402

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


def rss_of(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def indexed(home: Path) -> int:
    db = home / "data" / "catalog.sqlite3"
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM embeddings").fetchone()[0])
    except sqlite3.Error:
        return 0


def window_rss(home: Path, n: int, idle_s: float) -> dict[str, float]:
    """Start the window on an unindexed library, wait for it to index everything, then idle."""
    env = env_for(home, PHOTOSEEK_IMAGE_IDLE_S=str(idle_s))
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--data-dir", str(home)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        t0 = time.monotonic()
        peak = 0.0
        while indexed(home) < n:
            if proc.poll() is not None:
                raise SystemExit(f"the window exited ({proc.returncode}) before indexing ended")
            if time.monotonic() - t0 > 900:
                raise SystemExit("indexing did not finish within 15 minutes")
            peak = max(peak, rss_of(proc.pid))
            time.sleep(0.5)
        time.sleep(3)  # the index save and the grid's refresh
        after_index = rss_of(proc.pid)
        time.sleep(idle_s + 5)
        idle = rss_of(proc.pid)
        return {
            "index_s": round(time.monotonic() - t0, 1),
            "peak_while_indexing_mb": round(max(peak, after_index), 1),
            "after_indexing_mb": round(after_index, 1),
            "idle_mb": round(idle, 1),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


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
