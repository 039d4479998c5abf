"""A micro CLIP and a synthetic captioned-image world ("a red circle") for tests.

Stable API, reused by other tests to build photo libraries with known content:

- ``COLORS``, ``SHAPES``: the vocabulary; every (colour, shape) pair is a class.
- ``caption(color, shape) -> str``: the canonical caption, e.g. "a red circle".
- ``make_shape_image(color, shape, size, rng) -> PIL.Image.Image`` (RGB): one coloured shape near
  the centre (random offset, scale and tilt) on a varied, photo-like background (gradient,
  noise, grey clutter); it stays (almost) inside the centre square, which a centre crop keeps.
  ``size`` is the side of a square image or a ``(width, height)`` tuple; ``rng`` is a
  ``numpy.random.Generator``, so the same seed gives the same picture.
- ``build_micro_clip(seed) -> open_clip.CLIP``: the untrained architecture.
- ``train_micro_clip(seconds=None, seed=0, steps=TRAIN_STEPS) -> open_clip.CLIP``: trained
  contrastively; ~300 steps (about 25 s of one core) reach ~1.0 top-1 on fresh pictures.

The image tower is a tiny ModifiedResNet (open_clip's RN family) rather than a ViT: a tiny ViT
needed thousands of steps to tell shapes apart, a tiny CNN learns them in a few hundred.

Torch and open_clip are imported only by the functions that need them, so ``make_shape_image``
works in the runtime-only environment.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

COLORS: tuple[str, ...] = ("red", "green", "blue", "yellow")
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")

RGB: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 20),
}

IMAGE_SIZE = 32
TRAIN_STEPS = 300  # a fixed number of steps keeps the fixture's model reproducible
TRAIN_IMAGES = 1024  # rendered once; each step samples a batch from them
BATCH_SIZE = 64
LEARNING_RATE = 1e-3  # 3e-3 left some seeds stuck with two shapes merged
EMBED_DIM = 64
VISION_LAYERS: tuple[int, ...] = (1, 1, 1, 1)  # a tiny ModifiedResNet (open_clip's RN50 family)
VISION_WIDTH = 16
CONTEXT_LENGTH = 77
VOCAB_SIZE = 49408  # the real CLIP BPE vocabulary, so the runtime tokenizer is exercised fully
MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's, as open_clip's default
STD = (0.26862954, 0.26130258, 0.27577711)
TEMPLATES = ("a {c} {s}", "a photo of a {c} {s}", "a {c} {s} on a background")


def caption(color: str, shape: str) -> str:
    """The canonical caption of a (colour, shape) pair."""
    return f"a {color} {shape}"


def all_pairs() -> list[tuple[str, str]]:
    return [(c, s) for c in COLORS for s in SHAPES]


def _background(w: int, h: int, rng: np.random.Generator) -> Image.Image:
    """A muted gradient with noise and a few faint grey blobs: photo-like, never a shape colour."""
    base = rng.uniform(60, 200)
    tint = rng.uniform(-25, 25, size=3)
    c0 = np.clip(base + tint, 0, 255)
    c1 = np.clip(base + rng.uniform(-60, 60) + rng.uniform(-25, 25, size=3), 0, 255)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx / max(w - 1, 1)) * math.cos(angle) + (yy / max(h - 1, 1)) * math.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    arr = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    arr += rng.normal(0, rng.uniform(2, 10), size=arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, 4))):
        g = int(rng.uniform(40, 220))
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.05, 0.2) * min(w, h)
        draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=(g, g, g))
    return img.filter(ImageFilter.GaussianBlur(radius=min(w, h) / 64))


def _shape_points(
    shape: str, cx: float, cy: float, r: float, rot: float
) -> list[tuple[float, float]]:
    if shape == "triangle":
        n, radii = 3, [r]
    elif shape == "star":
        n, radii = 10, [r, r * 0.42]
    elif shape == "square":
        n, radii = 4, [r * 1.1]
    else:
        raise ValueError(f"not a polygon: {shape}")
    pts = []
    for i in range(n):
        a = rot + 2 * math.pi * i / n
        rr = radii[i % len(radii)]
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def make_shape_image(
    color: str, shape: str, size: int | tuple[int, int], rng: np.random.Generator
) -> Image.Image:
    """An RGB picture of one ``color`` ``shape`` (from COLORS/SHAPES) on a varied background."""
    if color not in RGB:
        raise ValueError(f"unknown colour {color!r}; use one of {COLORS}")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; use one of {SHAPES}")
    w, h = (size, size) if isinstance(size, int) else size
    img = _background(w, h, rng)
    side = min(w, h)
    r = rng.uniform(0.26, 0.38) * side
    cx = w / 2 + rng.uniform(-0.12, 0.12) * side
    cy = h / 2 + rng.uniform(-0.12, 0.12) * side
    jitter = rng.integers(-20, 21, size=3)
    fill = tuple(int(v) for v in np.clip(np.array(RGB[color]) + jitter, 0, 255))
    draw = ImageDraw.Draw(img)
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        upright = {"triangle": -math.pi / 2, "star": -math.pi / 2, "square": math.pi / 4}[shape]
        rot = upright + rng.uniform(-0.25, 0.25)
        draw.polygon(_shape_points(shape, cx, cy, r, rot), fill=fill)
    return img


def to_tensor_batch(images: list[Image.Image], size: int = IMAGE_SIZE) -> Any:
    """Square images → normalised float tensor [N,3,size,size] (bicubic resize, CLIP mean/std)."""
    import torch

    arrs = []
    for img in images:
        if img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BICUBIC)
        arrs.append(np.asarray(img, dtype=np.float32) / 255.0)
    x = (np.stack(arrs) - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def build_micro_clip(seed: int = 0) -> Any:
    """The untrained micro CLIP: ResNet (1,1,1,1) width 16 at 32 px; text width 64, 2 layers."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    model = open_clip.CLIP(
        embed_dim=EMBED_DIM,
        vision_cfg=open_clip.CLIPVisionCfg(
            layers=VISION_LAYERS, width=VISION_WIDTH, image_size=IMAGE_SIZE
        ),
        text_cfg=open_clip.CLIPTextCfg(
            context_length=CONTEXT_LENGTH, vocab_size=VOCAB_SIZE, width=64, heads=2, layers=2
        ),
    )
    return model.eval()


def preprocess_cfg() -> dict[str, Any]:
    """open_clip's preprocess configuration for the micro CLIP."""
    return {
        "size": IMAGE_SIZE,
        "mode": "RGB",
        "mean": MEAN,
        "std": STD,
        "interpolation": "bicubic",
        "resize_mode": "shortest",
        "fill_color": 0,
    }


def train_micro_clip(
    seconds: float | None = None, seed: int = 0, steps: int = TRAIN_STEPS, threads: int = 1
) -> Any:
    """Train the micro CLIP contrastively on rendered shape images; returns it in eval mode.

    Runs `steps` optimiser steps (one-cycle schedule), or fewer if `seconds` runs out first.
    Deterministic for a given seed when it is not cut short. The number of steps taken is left
    in `model.train_steps`. One thread by default: these matrices are small, and on a busy
    2-core machine two spinning torch threads ran 10-20x slower than one.
    """
    import open_clip
    import torch
    import torch.nn.functional as F

    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = build_micro_clip(seed).train()
        model.token_embedding.weight.requires_grad_(False)  # random ids are distinct enough
        rng = np.random.default_rng(seed)
        pairs = all_pairs()
        labels_pool = np.arange(TRAIN_IMAGES) % len(pairs)
        pool = to_tensor_batch(
            [
                make_shape_image(*pairs[k], int(rng.integers(IMAGE_SIZE, 3 * IMAGE_SIZE)), rng)
                for k in labels_pool
            ]
        )
        prompts = [t.format(c=c, s=s) for c, s in pairs for t in TEMPLATES]
        tokens = open_clip.tokenize(prompts)  # [K*T, 77], class k's prompts at k*T ...
        n_t = len(TEMPLATES)
        # As open_clip trains: no weight decay on gains, biases and the logit scale.
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        decay = [p for n, p in named if p.ndim >= 2 and "logit_scale" not in n]
        rest = [p for n, p in named if not (p.ndim >= 2 and "logit_scale" not in n)]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
            lr=LEARNING_RATE,
        )
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.1
        )
        start = time.monotonic()
        step = 0
        while step < steps and (seconds is None or time.monotonic() - start < seconds):
            idx = rng.choice(len(pool), BATCH_SIZE, replace=False)
            y = torch.from_numpy(labels_pool[idx])
            pick = np.arange(len(pairs)) * n_t + rng.integers(0, n_t, len(pairs))
            img_f = F.normalize(model.encode_image(pool[idx]), dim=-1)
            txt_f = F.normalize(model.encode_text(tokens[torch.from_numpy(pick)]), dim=-1)
            logits = model.logit_scale.exp() * img_f @ txt_f.T  # [batch, classes]
            loss_i = F.cross_entropy(logits, y)
            # Text -> image: a caption's positives are all the images of its class in the batch.
            target = F.one_hot(y, len(pairs)).T.float()
            present = target.sum(dim=1) > 0
            target = target[present] / target[present].sum(dim=1, keepdim=True)
            loss_t = -(target * F.log_softmax(logits.T[present], dim=1)).sum(dim=1).mean()
            loss = (loss_i + loss_t) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            step += 1
        model.train_steps = step
        return model.eval()
    finally:
        torch.set_num_threads(prev_threads)
