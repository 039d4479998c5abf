"""Model input without torch: open_clip's eval transform reproduced with Pillow and numpy
(`to_pixels`), bit for bit (tests/test_preprocess.py, tests/test_families.py)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image

from app.core.model.info import ModelInfo
from app.core.photos.decode import to_rgb

_CHANNELS = np.arange(3)[:, None, None]
_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def to_pixels(img: Image.Image, info: ModelInfo) -> np.ndarray:
    """open_clip's eval transform as float32 [3, S, S]: resize (mode per info.resize_mode),
    centre crop or pad, scale to [0, 1], normalise with the model's mean and std."""
    if img.mode != "RGB":
        img = to_rgb(img)
    size = info.image_size
    resample = _RESAMPLE.get(info.interpolation, Image.Resampling.BICUBIC)
    w, h = img.size
    if info.resize_mode == "squash":
        img = _resize(img, (size, size), resample)
    elif info.resize_mode == "longest":
        ratio = max(h / size, w / size)  # open_clip ResizeKeepRatio(longest=1)
        img = _resize(img, (round(w / ratio), round(h / ratio)), resample)
        img = _center_crop_or_pad(img, size)
    elif info.resize_mode == "shortest":
        # torchvision Resize(int): short side to `size`, long side truncated, not rounded.
        new = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
        img = _resize(img, new, resample)
        img = _center_crop_or_pad(img, size)
    else:
        raise ValueError(f"unknown resize_mode {info.resize_mode!r}")
    arr = np.asarray(img, dtype=np.uint8)
    lut = _normalise_lut(tuple(info.mean), tuple(info.std))
    planes = np.ascontiguousarray(arr.transpose(2, 0, 1))  # uint8 [3, S, S]: a cheap copy
    out: np.ndarray = lut[_CHANNELS, planes]  # one lookup per value, laid out like `planes`
    return out


@functools.lru_cache(maxsize=8)
def _normalise_lut(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """float32 [3, 256]: (v / 255 - mean) / std for every byte value v, computed in float32
    exactly as the element-wise formula would be, so the lookup changes no bit."""
    v = np.arange(256, dtype=np.float32)[None, :] / np.float32(255.0)
    lut: np.ndarray = (v - np.asarray(mean, np.float32)[:, None]) / np.asarray(std, np.float32)[
        :, None
    ]
    lut.setflags(write=False)
    return lut


def to_batch(images: Sequence[Image.Image], info: ModelInfo) -> np.ndarray:
    """float32 [N, 3, S, S] for `Encoder.encode_pixels`."""
    size = info.image_size
    if not images:
        return np.zeros((0, 3, size, size), dtype=np.float32)
    return np.stack([to_pixels(im, info) for im in images])


def _resize(img: Image.Image, size: tuple[int, int], resample: Image.Resampling) -> Image.Image:
    # Same call torchvision makes on PIL input (PIL always antialiases when downscaling).
    if img.size == size:
        return img
    return img.resize(size, resample)


def _center_crop_or_pad(img: Image.Image, size: int) -> Image.Image:
    """torchvision center_crop / open_clip CenterCropOrPad: pad with black, then crop the middle."""
    w, h = img.size
    if size > w or size > h:
        pw, ph = max(size, w), max(size, h)
        padded = Image.new("RGB", (pw, ph), (0, 0, 0))
        padded.paste(img, ((size - w) // 2 if size > w else 0, (size - h) // 2 if size > h else 0))
        img, w, h = padded, pw, ph
        if (w, h) == (size, size):
            return img
    top = round((h - size) / 2.0)
    left = round((w - size) / 2.0)
    return img.crop((left, top, left + size, top + size))
