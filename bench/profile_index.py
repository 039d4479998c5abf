"""Where the indexing pipeline's time goes: per-stage CPU per photo, the encoder's share of the
main thread, how long it waits for decoders, and the pipeline/bare-encoder ratio per variant.

Variants run interleaved with the bare encoder in rounds (other work shares these 2 cores:
each run waits for a quiet machine, reports how many cores OTHER processes used meanwhile, from
/proc/stat, and is repeated when they got busy), and the summary gives medians plus each
variant's photos/s relative to the first one, round by round. Not a test; prints tables and
writes bench/out/profile-index.json. Short runs (--photos 128) with many rounds resolve
variants best: the machine's speed drifts by 10-20 % within minutes even when quiet.

    python bench/profile_index.py [--photos 300] [--rounds 3] [--variants base,nospin,...]
    python bench/profile_index.py --bound    # the best ratio CPU accounting allows here

Variants (see VARIANTS): spin/nospin (onnxruntime's intra-op spinning), dec1/dec3 (decoder
threads), batch16, ahead1 (prefetch), idle/nice19/nice10 (decoder threads at a lower Linux
scheduling priority), alternate (decoders start no photo while the encoder runs).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from common import CACHE_DIR, OUT_DIR, bench_model, print_table
from library import library_files, photo_library

from app.core.library import Library
from app.core.model import encoder as encoder_mod
from app.core.model import preprocess
from app.core.model.encoder import Encoder
from app.core.paths import Paths
from app.core.photos import decode, metadata
from app.core.pipeline import ingest

# ------------------------------------------------------------------ noise: other processes


def _busy_s() -> float:
    """Busy CPU seconds of the whole machine (all processes, all cores) so far."""
    with open("/proc/stat", encoding="ascii") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


class Window:
    """Wall time, this process's CPU, and CPU used by other processes (in cores) over a block."""

    def __enter__(self) -> Window:
        self._busy, self._cpu, self._t = _busy_s(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t
        self.cpu = time.process_time() - self._cpu
        self.others = max(0.0, _busy_s() - self._busy - self.cpu) / self.wall


def others_now(window_s: float = 2.0) -> float:
    """Cores used by other processes over the next `window_s` seconds."""
    with Window() as w:
        time.sleep(window_s)
    return w.others


def quietly(measure: Callable[[], dict[str, Any]], gate: float, tries: int) -> dict[str, Any]:
    """Run `measure` once the machine is quiet (other processes below `gate` cores), again if
    they got busy meanwhile; after `tries` the last result is kept, flagged noisy."""
    res: dict[str, Any] = {}
    for _ in range(tries):
        deadline = time.monotonic() + 120
        while others_now() > gate and time.monotonic() < deadline:
            pass
        res = measure()
        if res["others_cores"] <= gate:
            res["noisy"] = False
            return res
        print(f"    (others used {res['others_cores']:.2f} cores: again)", flush=True)
    res["noisy"] = True
    return res


# ------------------------------------------------------------------ stage probes


class Probe:
    """Wall and thread-CPU time per named stage, summed over all threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                dw, dc = time.perf_counter() - t0, time.thread_time() - c0
                with self.lock:
                    self.wall[stage] += dw
                    self.cpu[stage] += dc
                    self.calls[stage] += 1

        return timed


# (owner, attribute, stage name): what gets timed when the attribute exists. Decoder-thread
# stages nest inside "decode" (the whole per-photo job); main-thread ones inside "process".
DECODE_STAGES = [
    (metadata, "read_metadata", "metadata"),  # before the indexer read files once
    (metadata, "fingerprint", "fingerprint"),
    (metadata, "describe", "metadata"),
    (metadata, "fingerprint_file", "fingerprint"),
    (decode, "open_image", "decode_jpeg"),
    (decode, "decode", "decode_jpeg"),
    (ingest, "render_thumbnail", "thumbnail"),
    (preprocess, "to_pixels", "to_pixels"),
]
MAIN_STAGES = [
    (ingest.Decoder, "__call__", "decode"),
    (ingest.Ingest, "run", "process"),
    (ingest.Ingest, "write", "write"),
    (Encoder, "encode_pixels", "encode"),
]


@contextmanager
def probed(probe: Probe) -> Iterator[None]:
    saved = []
    for owner, name, stage in DECODE_STAGES + MAIN_STAGES:
        fn = owner.__dict__.get(name)
        if fn is None:
            continue
        saved.append((owner, name, fn))
        setattr(owner, name, probe.wrap(stage, fn))
    try:
        yield
    finally:
        for owner, name, fn in reversed(saved):
            setattr(owner, name, fn)


# ------------------------------------------------------------------ variants


def _indexer(**values: Any) -> Callable[[Library], Callable[[], None]]:
    def apply(lib: Library) -> Callable[[], None]:
        for k, v in values.items():
            setattr(lib.indexer, k, v)
        return lambda: None

    return apply


@contextmanager
def session_entries(entries: dict[str, str]) -> Iterator[None]:
    """Sessions the encoder creates meanwhile get these onnxruntime config entries, set last
    (over whatever the Encoder chose)."""
    real = encoder_mod.ort.InferenceSession

    def create(path: str, sess_options: Any = None, **kwargs: Any) -> Any:
        for k, v in entries.items():
            sess_options.add_session_config_entry(k, v)
        return real(path, sess_options=sess_options, **kwargs)

    encoder_mod.ort.InferenceSession = create  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        encoder_mod.ort.InferenceSession = real  # type: ignore[misc]


def _session_config(**entries: str) -> Callable[[Library], Callable[[], None]]:
    """Recreate the library encoder's image session with extra onnxruntime config entries."""

    def apply(lib: Library) -> Callable[[], None]:
        enc = lib.encoder
        assert enc is not None
        with session_entries(entries):
            enc.release("image")
            enc.load("image")
        return lambda: None

    return apply


def _decoder_priority(how: str) -> Callable[[Library], Callable[[], None]]:
    """Decoder threads at a lower scheduling priority (Linux: per-thread nice or SCHED_IDLE)."""

    def lower() -> None:
        tid = threading.get_native_id()
        if how == "idle":
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        else:
            os.setpriority(os.PRIO_PROCESS, tid, int(how))

    def pool(threads: int) -> Executor:
        return ThreadPoolExecutor(threads, thread_name_prefix="photoseek-decode", initializer=lower)

    def apply(lib: Library) -> Callable[[], None]:
        real = lib.indexer.executor
        lib.indexer.executor = pool

        def restore() -> None:
            lib.indexer.executor = real

        return restore

    return apply


def _both(
    *parts: Callable[[Library], Callable[[], None]],
) -> Callable[[Library], Callable[[], None]]:
    def apply(lib: Library) -> Callable[[], None]:
        undo = [part(lib) for part in parts]

        def restore() -> None:
            for u in reversed(undo):
                u()

        return restore

    return apply


def _alternate(lib: Library) -> Callable[[], None]:
    """Decoders start no photo while the encoder runs: decoding and encoding alternate."""
    gate = threading.Event()
    gate.set()
    enc, ix = lib.encoder, lib.indexer
    assert enc is not None

    def encode(pixels: np.ndarray) -> np.ndarray:
        gate.clear()
        try:
            return type(enc).encode_pixels(enc, pixels)  # the class's (probed) method
        finally:
            gate.set()

    real = ix.decoder  # the Decoder, whose (probed) class method runs

    def decode(w: ingest.Work) -> ingest.Decoded:
        gate.wait()
        return real(w)

    enc.encode_pixels = encode  # type: ignore[method-assign]
    ix.decoder = decode
    return lambda: None


NOSPIN = {"session.intra_op.allow_spinning": "0"}
VARIANTS: dict[str, Callable[[Library], Callable[[], None]]] = {
    "base": lambda lib: lambda: None,
    "nospin": _session_config(**NOSPIN),
    "spin": _session_config(**{"session.intra_op.allow_spinning": "1"}),
    "dec1": _indexer(decoders=1),
    "dec3": _indexer(decoders=3),
    "batch16": _indexer(batch_size=16, prefetch=48),
    "ahead1": _indexer(prefetch=32),
    "idle": _decoder_priority("idle"),
    "nice19": _decoder_priority("19"),
    "nice10": _decoder_priority("10"),
    "idle+nospin": _both(_decoder_priority("idle"), _session_config(**NOSPIN)),
    "nice19+nospin": _both(_decoder_priority("19"), _session_config(**NOSPIN)),
    "alternate": _alternate,
    "alternate+spin": _both(
        _alternate, _session_config(**{"session.intra_op.allow_spinning": "1"})
    ),
}


# ------------------------------------------------------------------ runs


def run_index(variant: str, lib_dir: Path, model_dir: Path, home: Path, n: int) -> dict[str, Any]:
    shutil.rmtree(home, ignore_errors=True)
    lib = Library.open(Paths.at(home).ensure(), device="cpu", model_dir=model_dir)
    probe = Probe()
    restore: Callable[[], None] = lambda: None  # noqa: E731
    try:
        restore = VARIANTS[variant](lib)
        assert lib.encoder is not None
        size = lib.encoder.image_size
        lib.encoder.encode_pixels(np.zeros((1, 3, size, size), np.float32))  # session warm
        lib.add_folder(lib_dir)
        with probed(probe), Window() as w:
            report = lib.index()
    finally:
        restore()
        lib.close()
        shutil.rmtree(home, ignore_errors=True)
    if report.encoded != n:
        print(f"  WARNING: {variant}: encoded {report.encoded} of {n}", flush=True)
    per = 1000.0 / max(1, report.encoded)
    out: dict[str, Any] = {
        "rate": report.encoded / w.wall,
        "wall_s": w.wall,
        "cpu_ms_per_photo": w.cpu * per,
        "others_cores": w.others,
        "cpu_ms": {k: v * per for k, v in probe.cpu.items()},
        "wall_ms": {k: v * per for k, v in probe.wall.items()},
    }
    main = probe.wall
    out["wait_ms"] = (main["process"] - main["encode"] - main["write"]) * per
    return out


def run_bare(model_dir: Path, pixels: np.ndarray, batch: int, **config: str) -> dict[str, Any]:
    enc = Encoder(model_dir, device="cpu")
    try:
        with session_entries(config):  # the same route as the library variants
            enc.load("image")
        enc.encode_pixels(pixels[:batch])
        with Window() as w:
            for s in range(0, len(pixels), batch):
                enc.encode_pixels(pixels[s : s + batch])
    finally:
        enc.close()
    return {
        "rate": len(pixels) / w.wall,
        "cpu_ms_per_photo": w.cpu * 1000 / len(pixels),
        "others_cores": w.others,
    }


def cpu_bound(
    model_dir: Path, files: list[Path], pixels: np.ndarray, batch: int, gate: float, tries: int
) -> dict[str, Any]:
    """The best index/bare ratio CPU accounting allows when decoding and encoding share the
    cores: E / (E + d), E = the bare encoder's CPU ms per image, d = CPU ms per photo of
    (a) the JPEG decode alone (DCT-scaled, from bytes in memory) and (b) everything the
    indexer does per photo (its Decoder: headers, fingerprint, decode, thumbnail, pixels).
    Host-level drift changes E and d together, so the ratio holds steadier than either."""
    import io

    from PIL import Image

    datas = [f.read_bytes() for f in files[:64]]
    home = CACHE_DIR / "profile-index-bound"
    shutil.rmtree(home, ignore_errors=True)
    lib = Library.open(Paths.at(home).ensure(), device="cpu", model_dir=model_dir)
    works = [ingest.Work(str(f), 1, "new", os.stat(f)) for f in files[:64]]

    def jpeg_only() -> dict[str, Any]:
        ts = []
        with Window() as w:
            for d in datas:
                im = Image.open(io.BytesIO(d))
                im.draft("RGB", (256, 256))
                t0 = time.thread_time()
                im.load()
                ts.append(time.thread_time() - t0)
        return {"ms": statistics.median(ts) * 1000, "others_cores": w.others}

    def per_photo() -> dict[str, Any]:
        ts = []
        with Window() as w:
            for work in works:
                t0 = time.thread_time()
                lib.indexer.decoder(work)
                ts.append(time.thread_time() - t0)
        return {"ms": statistics.median(ts) * 1000, "others_cores": w.others}

    rows = []
    try:
        for _ in range(3):
            bare = quietly(lambda: run_bare(model_dir, pixels, batch), gate, tries)
            jpeg = quietly(jpeg_only, gate, tries)
            full = quietly(per_photo, gate, tries)
            e = bare["cpu_ms_per_photo"]
            rows.append([bare["rate"], e, jpeg["ms"], full["ms"]])
    finally:
        lib.close()
        shutil.rmtree(home, ignore_errors=True)
    rate, e, dj, df = (statistics.median(r[i] for r in rows) for i in range(4))
    print("\nCPU-accounting bound (medians of 3; ms of CPU per photo)")
    print_table(
        ["bare img/s", "E encoder", "d JPEG only", "d indexer", "E/(E+d JPEG)", "E/(E+d indexer)"],
        [[rate, e, dj, df, e / (e + dj), e / (e + df)]],
    )
    return {"bare_rate": rate, "E_ms": e, "d_jpeg_ms": dj, "d_indexer_ms": df, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--variants", default="base,nospin")
    p.add_argument("--bare-images", type=int, default=160)
    p.add_argument("--bare-nospin", action="store_true", help="also time the bare encoder nospin")
    p.add_argument(
        "--gate",
        type=float,
        default=0.2,
        help="measure only while other processes use fewer cores than this (default 0.2)",
    )
    p.add_argument("--tries", type=int, default=4, help="attempts per measurement (default 4)")
    p.add_argument(
        "--bound",
        action="store_true",
        help="only the CPU-accounting bound on the ratio (encoder and decode CPU per photo)",
    )
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            p.error(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")

    model_dir = bench_model()
    lib_dir = photo_library(CACHE_DIR, args.photos, os.cpu_count() or 1)
    files = library_files(lib_dir)
    home = CACHE_DIR / "profile-index-run"
    info = Encoder(model_dir, device="cpu").info
    batch = 32
    sample = [preprocess.to_pixels(decode.open_image(f, min_side=224), info) for f in files[:batch]]
    pixels = np.stack(sample * (-(-args.bare_images // batch)))[: args.bare_images]
    if args.bound:
        out = cpu_bound(model_dir, files, pixels, batch, args.gate, args.tries)
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        (OUT_DIR / "profile-index-bound.json").write_text(json.dumps(out, indent=1))
        return 0

    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    bares: list[dict[str, Any]] = []
    bares_nospin: list[dict[str, Any]] = []
    for r in range(args.rounds):
        bares.append(quietly(lambda: run_bare(model_dir, pixels, batch), args.gate, args.tries))
        print(
            f"round {r + 1}: bare {bares[-1]['rate']:.2f} img/s "
            f"(others {bares[-1]['others_cores']:.2f} cores)",
            flush=True,
        )
        if args.bare_nospin:
            bares_nospin.append(
                quietly(lambda: run_bare(model_dir, pixels, batch, **NOSPIN), args.gate, args.tries)
            )
            print(f"  bare nospin {bares_nospin[-1]['rate']:.2f} img/s", flush=True)
        order = variants if r % 2 == 0 else variants[::-1]
        for v in order:
            res = quietly(
                lambda v=v: run_index(v, lib_dir, model_dir, home, len(files)),  # type: ignore[misc]
                args.gate,
                args.tries,
            )
            res["ratio"] = res["rate"] / bares[-1]["rate"]
            runs[v].append(res)
            print(
                f"  {v:10s} {res['rate']:.2f} photos/s  ratio {res['ratio']:.3f}  "
                f"cpu {res['cpu_ms_per_photo']:.0f} ms/photo  wait {res['wait_ms']:.1f} ms/photo  "
                f"(others {res['others_cores']:.2f} cores)",
                flush=True,
            )

    def med(xs: list[float]) -> float:
        return statistics.median(xs) if xs else float("nan")

    bare_rate = med([b["rate"] for b in bares])
    rows: list[list[Any]] = []
    for v in variants:
        rs = runs[v]
        rows.append(
            [
                v,
                med([x["rate"] for x in rs]),
                med([x["ratio"] for x in rs]),
                med([x["cpu_ms_per_photo"] for x in rs]),
                med([x["wait_ms"] for x in rs]),
                med([x["wall_ms"].get("encode", 0) for x in rs]),
                med([x["wall_ms"].get("write", 0) for x in rs]),
                med([x["others_cores"] for x in rs]),
            ]
        )
    if len(variants) > 1:  # paired: each variant against the first, run for run (same round)
        first = runs[variants[0]]
        print(f"\nphotos/s relative to {variants[0]} in the same round (rounds alternate order)")
        for v in variants[1:]:
            rel = [x["rate"] / y["rate"] for x, y in zip(runs[v], first, strict=True)]
            ahead = sum(r > 1 for r in rel)
            print(
                f"  {v:14s} median {med(rel):.3f}  ({ahead} of {len(rel)} rounds faster; "
                f"{', '.join(f'{r:.3f}' for r in rel)})"
            )
    print(f"\nbare encoder (batch {batch}): median {bare_rate:.2f} images/s")
    if bares_nospin:
        print(f"bare encoder nospin: median {med([b['rate'] for b in bares_nospin]):.2f} images/s")
    print("\nper photo, medians over rounds (ms); wait = main thread waiting for decoders")
    print_table(
        ["variant", "photos/s", "ratio", "cpu ms", "wait", "encode", "write", "others"], rows
    )
    stages = sorted({k for rs in runs.values() for x in rs for k in x["cpu_ms"]})
    print("\nCPU ms per photo by stage (decode includes the stages above it; thread CPU)")
    print_table(
        ["variant", *stages],
        [[v, *[med([x["cpu_ms"].get(s, 0.0) for x in runs[v]]) for s in stages]] for v in variants],
    )
    out = {
        "bare": bares,
        "bare_nospin": bares_nospin,
        "runs": runs,
        "photos": len(files),
        "rounds": args.rounds,
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "profile-index.json").write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
