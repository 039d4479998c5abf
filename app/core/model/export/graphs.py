"""Torch CLIP towers to ONNX graphs, checked against torch, plus the int8 variant. Only
`app.core.model.export.exporter` imports this module: it imports torch."""

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
from torch.jit._trace import TracerWarning

from app.core.errors import UserError

log = logging.getLogger(__name__)

# Graph input names as in Immich's published exports; the output is "embedding" in both.
IMAGE_INPUT = "image"
TEXT_INPUT = "text"
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

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(image), dim=-1)


class _TextTower(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model: Any = model

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_text(text), dim=-1)


class _TokenText(torch.nn.Module):
    """open_clip's CLIP.encode_text (and TextTransformer.forward) for any number of tokens up to
    the context: the positional embedding and the causal mask are cut to the input's length.

    The residual blocks are spelled out (as ResidualAttentionBlock.forward) only so that their
    attention is `_self_attention`: torch's nn.MultiheadAttention reads `k.shape[0]`, which the
    TorchScript exporter freezes at the traced length (pytorch/pytorch#122321).
    """

    def __init__(self, tower: torch.nn.Module, pool_type: str, eos_id: int | None) -> None:
        super().__init__()
        self.tower: Any = tower
        self.pool_type = pool_type
        self.eos_id = eos_id

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        from open_clip.transformer import text_global_pool

        t = self.tower
        n = input_ids.shape[1]
        cast_dtype = t.transformer.get_cast_dtype()
        x = t.token_embedding(input_ids).to(cast_dtype)
        x = x + t.positional_embedding[:n].to(cast_dtype)
        mask = t.attn_mask[:n, :n].to(x.dtype)
        for blk in t.transformer.resblocks:
            x = x + blk.ls_1(_self_attention(blk.attn, blk.ln_1(x), mask))
            x = x + blk.ls_2(blk.mlp(blk.ln_2(x)))
        x = t.ln_final(x)
        x = text_global_pool(x, input_ids, self.pool_type, eos_token_id=self.eos_id)
        if t.text_projection is not None:
            if isinstance(t.text_projection, torch.nn.Linear):
                x = t.text_projection(x)
            else:
                x = x @ t.text_projection
        return F.normalize(x, dim=-1)


def _self_attention(
    mha: torch.nn.MultiheadAttention, x: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """nn.MultiheadAttention(x, x, x, attn_mask=mask) at inference, batch first, in the form of
    open_clip's own Attention.forward (sizes unpacked from one shape, so they stay symbolic)."""
    n, length, width = x.shape
    q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
    q = q.reshape(n, length, mha.num_heads, -1).transpose(1, 2)
    k = k.reshape(n, length, mha.num_heads, -1).transpose(1, 2)
    v = v.reshape(n, length, mha.num_heads, -1).transpose(1, 2)
    x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out: torch.Tensor = mha.out_proj(x.transpose(1, 2).reshape(n, length, width))
    return out


def towers(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(image, text) modules that output L2-normalised embeddings, as the ONNX graphs do; the
    text one is open_clip's own encode_text, the reference for the exported text graph."""
    return _ImageTower(model).eval(), _TextTower(model).eval()


def text_graph_module(
    model: Any, pad_id: int, dynamic: bool = True
) -> tuple[torch.nn.Module, str | None]:
    """The module to export as the text graph, and None when it takes any number of tokens up to
    the context (trailing padding cut off gives the same embedding), else why it needs them all.

    Exact when the output never looks at padding: a causal tower that pools at the end token
    (argmax or eos id) or the first one, or an HF tower that masks padding and pools over the
    mask or at the first token.
    """
    why = _fixed_reason(model, pad_id) if dynamic else "a fixed-length graph was asked for"
    if why is not None:
        return _TextTower(model).eval(), why
    text: Any = getattr(model, "text", None)
    if text is None:  # open_clip.CLIP: the text tower's parts live on the model itself
        return _TokenText(model, model.text_pool_type, model.text_eos_id).eval(), None
    if hasattr(text, "pooler"):  # HFTextEncoder masks padding itself
        return _TextTower(model).eval(), None
    return _TokenText(text, text.pool_type, text.eos_id).eval(), None


def _fixed_reason(model: Any, pad_id: int) -> str | None:
    from open_clip.hf_model import ClsLastHiddenStatePooler, ClsPooler, HFTextEncoder, MeanPooler
    from open_clip.transformer import TextTransformer

    text = getattr(model, "text", None)
    if isinstance(text, HFTextEncoder):
        if not isinstance(text.pooler, (MeanPooler, ClsPooler, ClsLastHiddenStatePooler)):
            return f"its {type(text.pooler).__name__} reads padded positions"
        if getattr(text.config, "pad_token_id", None) != pad_id:
            return "its tokenizer and text model disagree on the padding id"
        return None
    if text is not None and not isinstance(text, TextTransformer):
        return f"unknown text tower {type(text).__name__}"
    tower = model if text is None else text
    pool = model.text_pool_type if text is None else text.pool_type
    if getattr(tower, "cls_emb", None) is not None:
        return "it appends a class token after the padding"
    if getattr(tower, "attn_mask", None) is None:
        return "its text transformer is bidirectional (tokens attend to the padding)"
    if pool not in ("argmax", "eos", "first"):
        return f"it pools at {pool!r}, which depends on the padding"
    if pool == "argmax" and pad_id != 0:
        return f"argmax pooling needs zero padding (padding id {pad_id})"
    if not tower.transformer.batch_first or not all(
        _plain_block(b) for b in tower.transformer.resblocks
    ):
        return "its transformer blocks are not open_clip's plain ResidualAttentionBlock"
    return None


def _plain_block(block: Any) -> bool:
    """A ResidualAttentionBlock whose attention `_self_attention` reproduces."""
    from open_clip.transformer import ResidualAttentionBlock

    attn = getattr(block, "attn", None)
    return (
        type(block) is ResidualAttentionBlock
        and not hasattr(block, "ln_1_kv")
        and isinstance(attn, torch.nn.MultiheadAttention)
        and attn._qkv_same_embed_dim
        and attn.bias_k is None
        and not attn.add_zero_attn
    )


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
    module: torch.nn.Module,
    example: torch.Tensor,
    input_name: str,
    path: Path,
    opset: int,
    dynamic_tokens: bool = False,
) -> None:
    """One tower to ONNX with the legacy (TorchScript) exporter and a dynamic batch axis, plus a
    dynamic token axis (axis 1) when `dynamic_tokens`.

    nn.MultiheadAttention's inference fast path has no ONNX form, so it is off while tracing.
    """
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    axes = {0: "batch", 1: "tokens"} if dynamic_tokens else {0: "batch"}
    try:
        _export(module, example, input_name, path, opset, axes)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def token_axis_is_dynamic(path: Path) -> bool:
    """Whether the graph's first input takes any length on axis 1 (a named or unknown dim)."""
    shape = session(path).get_inputs()[0].shape
    return len(shape) == 2 and not isinstance(shape[1], int)


def _export(
    module: torch.nn.Module,
    example: torch.Tensor,
    input_name: str,
    path: Path,
    opset: int,
    axes: dict[int, str],
) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=TracerWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        torch.onnx.export(
            module,
            (example,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=[input_name],
            output_names=["embedding"],
            dynamic_axes={input_name: axes, "embedding": {0: "batch"}},
            do_constant_folding=True,
        )


def check_parity(
    module: torch.nn.Module,
    path: Path,
    input_name: str,
    x: np.ndarray,
    what: str,
    feed: np.ndarray | None = None,
) -> float:
    """Run the graph at a batch size other than the traced one and compare with torch on `x`.

    `feed` is what the graph gets instead of `x` (the text ids cut to fewer tokens); torch
    always sees `x`, so the check covers the cut as well.
    """
    feed = x if feed is None else feed
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy()
    try:
        got = run_onnx(path, input_name, feed)
    except Exception as e:  # onnxruntime raises its own exception types
        raise ExportError(
            f"The exported {what} graph {path.name} does not run on input shape "
            f"{list(feed.shape)} ({e}). This is a bug in the exporter; please report it."
        ) from e
    cos = min_cosine(ref, got)
    log.info("%s tower: ONNX vs torch min cosine %.7f at %s", what, cos, list(feed.shape))
    if not cos >= PARITY_MIN_COSINE:
        raise ExportError(
            f"The exported {what} graph differs from the torch model at input shape "
            f"{list(feed.shape)} (cosine {cos:.6f} < {PARITY_MIN_COSINE}). Please report this "
            "with the architecture name and your torch and open_clip versions."
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
