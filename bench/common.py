"""Shared pieces of the benchmarks: photo-like test images, the cached random-init ViT-B-32,
timing statistics, memory readings, tables and JSON output.

Benchmarks are scripts, not tests: they print a table and write JSON to bench/out/. These
machines are noisy, so every figure is a median over repeats and comparisons are ratios taken
within one run.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
CACHE_DIR = OUT_DIR / "cache"
BENCH_ARCH = "ViT-B-32"

if str(ROOT) not in sys.path:  # `python bench/x.py` from anywhere
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# ---------------------------------------------------------------- images


def _value_noise(w: int, h: int, rng: np.random.Generator, octaves: Sequence[int]) -> np.ndarray:
    """Smooth multi-octave noise in [0, 1], shape [h, w]: clouds, foliage, sand at some scale."""
    out = np.zeros((h, w), np.float32)
    total = 0.0
    for i, cells in enumerate(octaves):
        grid = rng.random((max(2, cells * h // w), cells), dtype=np.float32)
        layer = Image.fromarray(grid, "F").resize((w, h), Image.Resampling.BICUBIC)
        weight = 0.6**i
        out += weight * np.asarray(layer, np.float32)
        total += weight
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def photo_like_image(rng: np.random.Generator, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """An RGB picture with the statistics of a photo rather than of noise: a sky-to-ground
    gradient with a horizon, textured regions, a few soft-edged objects and sensor noise.

    Drawn at up to 1024 px wide and upscaled, so a 12-megapixel picture costs well under a second.
    """
    w, h = size
    dw = min(w, 1024)
    dh = max(8, round(h * dw / w))
    yy = np.linspace(0.0, 1.0, dh, dtype=np.float32)[:, None, None]
    sky0, sky1 = rng.uniform(80, 255, 3), rng.uniform(40, 230, 3)
    ground0, ground1 = rng.uniform(20, 200, 3), rng.uniform(10, 160, 3)
    horizon = rng.uniform(0.3, 0.7)
    sky = sky0 + (sky1 - sky0) * (yy / horizon)
    ground = ground0 + (ground1 - ground0) * ((yy - horizon) / (1 - horizon))
    arr = np.where(yy < horizon, sky, ground) * np.ones((1, dw, 1), np.float32)
    # Texture: clouds above, grass/sand/rock below, at random scales.
    tex = _value_noise(dw, dh, rng, octaves=(4, 9, 23, 61, 150))[..., None]
    amp_sky, amp_ground = rng.uniform(5, 40), rng.uniform(20, 90)
    arr += np.where(yy < horizon, amp_sky, amp_ground) * (tex - 0.5)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 9))):  # objects: buildings, people, balls, trees
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cx, cy = rng.uniform(0, dw), rng.uniform(dh * 0.2, dh)
        r = rng.uniform(0.03, 0.25) * dw
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r * rng.uniform(0.5, 1.5)], fill=colour)
        elif kind == 1:
            draw.rectangle([cx - r, cy - r * rng.uniform(0.5, 3), cx + r, cy + r], fill=colour)
        else:
            pts = [
                (cx + r * math.cos(a), cy + r * math.sin(a))
                for a in np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(3, 8))))
            ]
            draw.polygon(pts, fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.3, 1.5) * dw / 640))
    # Light and surface detail over everything, objects included: nothing in a photo is flat.
    shade = _value_noise(dw, dh, rng, octaves=(2, 5))[..., None]
    grain = _value_noise(dw, dh, rng, octaves=(97, 211, 401))[..., None]
    arr = np.asarray(img, np.float32) * (0.75 + 0.4 * shade) * (0.85 + 0.3 * grain)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if (w, h) != (dw, dh):
        img = img.resize((w, h), Image.Resampling.BICUBIC)
    return add_sensor_noise(img, rng, sigma=rng.uniform(2.0, 6.0))


def add_sensor_noise(img: Image.Image, rng: np.random.Generator, sigma: float) -> Image.Image:
    """Per-pixel noise plus fine texture a few pixels wide (what makes camera JPEGs 3-5 MB),
    tiled from a 256 px patch so 12 megapixels stay cheap."""
    w, h = img.size
    texture = Image.fromarray(rng.normal(128, 40, (256, 256)).clip(0, 255).astype(np.uint8), "L")
    texture = texture.filter(ImageFilter.GaussianBlur(1.2))
    fine = (np.asarray(texture, np.float32) - 128.0)[..., None] * (sigma / 2.0)
    tile = (rng.normal(0, sigma, (256, 256, 3)) + fine).astype(np.int16)
    reps = (math.ceil(h / 256), math.ceil(w / 256), 1)
    noise = np.tile(tile, reps)[:h, :w]
    arr = np.asarray(img, np.int16) + noise
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def noise_image(rng: np.random.Generator, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """Uniform random pixels: the worst case for quantisation, and nothing like a photo."""
    w, h = size
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def jpeg_bytes(img: Image.Image, quality: int = 90, exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    kwargs: dict[str, Any] = {"quality": quality}
    if exif is not None:
        kwargs["exif"] = exif
    img.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def jpeg_roundtrip(img: Image.Image, quality: int = 85) -> Image.Image:
    out = Image.open(io.BytesIO(jpeg_bytes(img, quality)))
    out.load()
    return out


def photo_set(n: int, seed: int = 0) -> list[Image.Image]:
    """n photo-like pictures in common camera shapes, each JPEG round-tripped."""
    rng = np.random.default_rng(seed)
    sizes = [(640, 480), (480, 640), (800, 533), (720, 720), (1024, 576)]
    return [
        jpeg_roundtrip(photo_like_image(rng, sizes[i % len(sizes)]), int(rng.integers(70, 96)))
        for i in range(n)
    ]


def noise_set(n: int, seed: int = 1) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [noise_image(rng, (320, 240)) for _ in range(n)]


QUERIES = (
    "a dog on the beach",
    "birthday cake with candles",
    "two children playing in the snow",
    "sunset over the mountains",
    "a red car parked in the street",
    "my grandmother's kitchen",
    "fireworks at night",
    "a cat sleeping on a sofa",
    "wedding dance",
    "boats in a harbour",
    "a plate of spaghetti",
    "hiking trail in the forest",
    "people at a concert",
    "a bicycle leaning on a wall",
    "christmas tree with presents",
    "the eiffel tower",
    "a screenshot of a receipt",
    "rainy window",
    "football match",
    "a baby laughing",
    "autumn leaves in a park",
    "desert road",
    "a whiteboard with notes",
    "old castle ruins",
    "coffee and croissant",
    "a horse in a field",
    "city skyline at dusk",
    "graduation day",
    "swimming pool party",
    "a lighthouse on a cliff",
    "snowy village",
    "street market stalls",
)


# ---------------------------------------------------------------- model


# What the cached export must look like; bump it when the exporter changes the files, and the
# next run exports again from the saved torch weights (same weights: figures stay comparable).
# 2: text graph with a dynamic token axis (queries run on their own tokens, not all 77).
# 3: the published model-folder layout (visual/, textual/, photoseek.json).
EXPORT_FORMAT = "3"


def bench_model(cache: Path = CACHE_DIR, arch: str = BENCH_ARCH) -> Path:
    """The random-init model folder used by every benchmark, exported once and reused.

    Its torch weights are saved next to it (`torch_state.pt`) so a benchmark can load the very
    same weights into open_clip for a like-for-like comparison. An export older than
    EXPORT_FORMAT (`<name>.format` next to it) is redone from those weights.
    """
    model_dir = cache / f"{arch}-random"
    state = cache / f"{arch}-random.torch_state.pt"
    marker = cache / f"{arch}-random.format"
    found = marker.read_text(encoding="utf-8").strip() if marker.is_file() else None
    if (model_dir / "photoseek.json").is_file() and state.is_file() and found == EXPORT_FORMAT:
        return model_dir
    import open_clip
    import torch

    from app.core.model.export.exporter import export_from_model

    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = open_clip.create_model(arch, pretrained=None).eval()
    if state.is_file():
        print(
            f"exporting {arch} again to {model_dir} from its saved weights (export format "
            f"{found or 'unmarked'} -> {EXPORT_FORMAT}; vector caches tied to the old model id "
            "are rebuilt)...",
            flush=True,
        )
        model.load_state_dict(torch.load(state, map_location="cpu", weights_only=True))
    else:
        print(f"exporting random-init {arch} to {model_dir} (once; later runs reuse it)...")
        state.parent.mkdir(parents=True, exist_ok=True)
        tmp_state = state.with_suffix(".tmp")
        torch.save(model.state_dict(), tmp_state)
        os.replace(tmp_state, state)
    # export_model(random_init=True) would build its own random weights; exporting the model
    # we hold keeps its state for the torch side of the comparison. It replaces an older export
    # in place only once the new one is complete.
    export_from_model(
        model,
        arch=arch,
        pretrained=None,
        out_dir=model_dir,
        preprocess_cfg=open_clip.get_model_preprocess_cfg(model),
        tokenizer=open_clip.get_tokenizer(arch),
        int8=True,
        random_init=True,
    )
    tmp_marker = marker.with_suffix(".tmp")
    tmp_marker.write_text(EXPORT_FORMAT + "\n", encoding="utf-8")
    os.replace(tmp_marker, marker)
    print(f"exported in {time.perf_counter() - t0:.0f} s", flush=True)
    return model_dir


def torch_model(model_dir: Path, arch: str = BENCH_ARCH) -> Any:
    """The open_clip model holding exactly the weights that `bench_model` exported."""
    import open_clip
    import torch

    model = open_clip.create_model(arch, pretrained=None)
    state = model_dir.parent / f"{model_dir.name}.torch_state.pt"
    model.load_state_dict(torch.load(state, map_location="cpu", weights_only=True))
    return model.eval()


# ---------------------------------------------------------------- timing and memory


def stats_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean in milliseconds of per-call durations given in seconds."""
    ms = np.asarray(samples_s, np.float64) * 1000.0
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "n": int(ms.size),
    }


def time_each(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[float]:
    """Seconds each call `fn(item)` took, in order."""
    out = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t0)
    return out


def median_rate(fn: Callable[[], int], repeats: int) -> tuple[float, list[float]]:
    """Run `fn` (returns how many items it handled) `repeats` times; median items/s and all."""
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), rates


def rss_mb() -> float:
    """Resident set size of this process now, in MB (Linux /proc; peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    Linux: VmHWM of this program's own memory. getrusage's ru_maxrss is not used there because
    it survives fork + exec: a child started by a big parent would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def default_threads() -> int:
    return os.cpu_count() or 1


def machine() -> dict[str, Any]:
    import onnxruntime

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


# ---------------------------------------------------------------- output


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:.4f}" if abs(v) < 1 else f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def write_json(name: str, data: dict[str, Any], out_dir: Path = OUT_DIR) -> Path:
    """Write `<name>-<timestamp>.json` and `<name>-latest.json` atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = json.dumps(data, indent=2, default=str)
    path = out_dir / f"{name}-{stamp}.json"
    for p in (path, out_dir / f"{name}-latest.json"):
        tmp = p.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, p)
    return path
