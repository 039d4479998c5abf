"""Torch CLIP towers to ONNX graphs, checked against torch, plus the int8 variant. Only
`app.core.export` imports this module: it imports torch."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

from app.core.errors import UserError

log = logging.getLogger(__name__)

EXAMPLE_BATCH = 2  # the graphs are traced at this batch size and checked at CHECK_BATCH
CHECK_BATCH = 3
PARITY_MIN_COSINE = 0.9999
PROBE_CAPTIONS = (
    "a photo of a dog on the beach",
    "two children playing in the snow",
    "a plate of pasta with tomatoes",
    "sunset over the mountains",
    "a red car parked in the street",
    "my grandmother's birthday cake",
)


class ExportError(UserError):
    """Exporting a model failed for a reason the user can act on; the message says what to do."""


class _ImageTower(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model: Any = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(pixels), dim=-1)


class _TextTower(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model: Any = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_text(input_ids), dim=-1)


def towers(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(image, text) modules that output L2-normalised embeddings, as the ONNX graphs do."""
    return _ImageTower(model).eval(), _TextTower(model).eval()


def probe_pixels(n: int, size: int, mean: Any, std: Any, seed: int = 0) -> np.ndarray:
    """Photo-like normalised pixels [n,3,size,size]: gradients, noise and flat-coloured shapes.

    Plain noise makes a poor probe for quantisation error; real photos have smooth regions
    and edges, which these imitate.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    out = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        a = rng.uniform(0, 2 * np.pi)
        t = np.clip(xx * np.cos(a) + yy * np.sin(a), 0, 1)[..., None]
        img = c0 * (1 - t) + c1 * t
        for _ in range(int(rng.integers(2, 6))):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
            if rng.random() < 0.5:
                mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
            else:
                mask = (abs(xx - cx) < r) & (abs(yy - cy) < r * rng.uniform(0.4, 1.0))
            img[mask] = rng.uniform(0, 1, 3)
        img += rng.normal(0, 0.03, img.shape)
        out[i] = np.clip(img, 0, 1)
    norm = (out - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(norm.transpose(0, 3, 1, 2), dtype=np.float32)


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = min(4, os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, name: str, x: np.ndarray) -> np.ndarray:
    sess = session(path)
    return np.asarray(sess.run(["embedding"], {name: x})[0], dtype=np.float32)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.min(np.sum(a * b, axis=1)))


def export_tower(
    module: torch.nn.Module, example: torch.Tensor, input_name: str, path: Path, opset: int
) -> None:
    """One tower to ONNX with the legacy (TorchScript) exporter and a dynamic batch axis.

    nn.MultiheadAttention's inference fast path has no ONNX form, so it is off while tracing.
    """
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        _export(module, example, input_name, path, opset)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _export(
    module: torch.nn.Module, example: torch.Tensor, input_name: str, path: Path, opset: int
) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        torch.onnx.export(
            module,
            (example,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=[input_name],
            output_names=["embedding"],
            dynamic_axes={input_name: {0: "batch"}, "embedding": {0: "batch"}},
            do_constant_folding=True,
        )


def check_parity(
    module: torch.nn.Module, path: Path, input_name: str, x: np.ndarray, what: str
) -> float:
    """Run the graph at a batch size other than the traced one and compare with torch."""
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy()
    try:
        got = run_onnx(path, input_name, x)
    except Exception as e:  # onnxruntime raises its own exception types
        raise ExportError(
            f"The exported {what} graph {path.name} does not run at batch size "
            f"{len(x)} ({e}). This is a bug in the exporter; please report it."
        ) from e
    cos = min_cosine(ref, got)
    log.info("%s tower: ONNX vs torch min cosine %.7f at batch %d", what, cos, len(x))
    if not cos >= PARITY_MIN_COSINE:
        raise ExportError(
            f"The exported {what} graph differs from the torch model (cosine "
            f"{cos:.6f} < {PARITY_MIN_COSINE}). Please report this with the "
            "architecture name and your torch and open_clip versions."
        )
    return cos


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 quantisation; the symbolic shape pass is skipped (the ViT Reshape trips it)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dst.with_name(dst.stem + ".pre.onnx")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8)
    finally:
        pre.unlink(missing_ok=True)
