"""What the encoder keeps in a model folder about its graphs, so that loading stays fast:
`.verified.json`, the graphs whose SHA-256 matched (by size, mtime and inode), and `.optimized/`,
the text graph as onnxruntime optimized it once, its weights mapped from a file. Both are
caches: deleting them costs one slower load."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import onnxruntime as ort

from app.core.durable import sha256_file, write_atomic
from app.core.model.devices import CPU
from app.core.model.info import REINSTALL, ModelError

log = logging.getLogger(__name__)

VERIFIED_STAMPS = ".verified.json"
OPTIMIZED_DIR = ".optimized"  # graphs onnxruntime optimized here, weights mapped from a file


def _read_stamps(model_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((model_dir / VERIFIED_STAMPS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_stamps(model_dir: Path, stamps: dict[str, Any]) -> None:
    """Best effort: a read-only models folder only means hashing again next time."""
    try:
        write_atomic(model_dir / VERIFIED_STAMPS, json.dumps(stamps).encode(), durable=False)
    except OSError as e:
        log.debug("could not record verified model files in %s: %s", model_dir, e)


# Files whose hash matched, keyed by (path, size, mtime, expected hash): checked once a process.
_VERIFIED: set[tuple[str, int, int, str]] = set()
_VERIFIED_LOCK = threading.Lock()


def verify_graph(model_dir: Path, path: Path, expected: str | None) -> None:
    """SHA-256 against the manifest before loading (a damaged graph can still load and give
    wrong vectors); ~0.5 s for ViT-B-32's image graph, so remembered per file version: in
    this process, and across processes in the folder's `.verified.json` (size, mtime, inode),
    so a one-shot `photoseek search` does not hash 250 MB each time. `expected` None: only
    check the file is there."""
    try:
        stat = path.stat()
    except OSError as e:
        raise ModelError(f"Model file {path} is missing. {REINSTALL}") from e
    if expected is None:
        return
    rel = relative(path, model_dir)
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, expected)
    with _VERIFIED_LOCK:
        if key in _VERIFIED:
            return
    stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino, expected]
    stamps = _read_stamps(model_dir)
    if stamps.get(rel) != stamp:
        if sha256_file(path) != expected:
            raise ModelError(f"Model file {path} is corrupt (SHA-256 mismatch). {REINSTALL}")
        _write_stamps(model_dir, {**stamps, rel: stamp})
    with _VERIFIED_LOCK:
        _VERIFIED.add(key)


def optimized_cpu_session(
    model_dir: Path, path: Path, tower: str, precision: str, expected: str, threads: int
) -> ort.InferenceSession | None:
    """The tower on the CPU from a graph onnxruntime optimized once and saved with its weights
    in a separate file, which it then maps instead of parsing, without prepacking: ViT-B-32's
    text tower loads in ~25 ms instead of ~320 ms (a query then takes ~11 ms instead of ~7), so
    a one-shot `photoseek search` stays interactive. Kept in the model folder's `.optimized/`,
    keyed by the graph's SHA-256 (`expected`) and the onnxruntime version; None (load the graph
    itself) where keeping one fails."""
    key = f"{tower}-{precision}-{expected[:16]}-ort{ort.__version__}"
    cached = model_dir / OPTIMIZED_DIR / key
    fast = ort.SessionOptions()
    fast.intra_op_num_threads = threads
    fast.inter_op_num_threads = 1
    fast.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    fast.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    fast.log_severity_level = 3
    # Prepacking copies every weight into a GEMM-friendly layout: ~100 ms at each start for
    # ~4 ms less per query (ViT-B-32, measured), and the copies would leave the mapped file.
    fast.add_session_config_entry("session.disable_prepacking", "1")
    if (cached / "model.onnx").is_file():
        try:
            return ort.InferenceSession(
                str(cached / "model.onnx"), sess_options=fast, providers=[CPU]
            )
        except Exception as e:  # a damaged cache: make it again
            log.warning(
                "the optimized %s graph in %s is unusable (%s); redoing it", tower, cached, e
            )
            shutil.rmtree(cached, ignore_errors=True)
    stage = cached.with_name(f".{key}.{os.getpid()}.{threading.get_ident()}")
    try:
        stage.mkdir(parents=True, exist_ok=True)
        save = ort.SessionOptions()
        save.intra_op_num_threads = threads
        save.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        save.log_severity_level = 3
        save.optimized_model_filepath = str(stage / "model.onnx")
        save.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", "weights.data"
        )
        save.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
        )
        ort.InferenceSession(str(path), sess_options=save, providers=[CPU])
        for old in cached.parent.glob(f"{tower}-{precision}-*"):
            shutil.rmtree(old, ignore_errors=True)  # an earlier graph or onnxruntime
        os.replace(stage, cached)
    except OSError as e:  # read-only or full disk: just load the graph itself
        log.info("could not keep an optimized %s graph in %s: %s", tower, cached, e)
        shutil.rmtree(stage, ignore_errors=True)
        return None
    return ort.InferenceSession(str(cached / "model.onnx"), sess_options=fast, providers=[CPU])


def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name
