"""Small videos written with PyAV from numpy frames, for the video tests and the bench."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from tests.microclip import make_shape_image

Scene = tuple[float, str, str]  # (seconds it lasts, colour, shape)


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    *,
    fps: int = 10,
    codec: str = "libx264",
    metadata: dict[str, str] | None = None,
    rotation: int = 0,
    audio: bool = False,
    bit_rate: int | None = None,
    gop: int | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode RGB uint8 frames (all one size) into `path`; `metadata` goes on the container,
    `options` to the muxer (movflags=use_metadata_tags keeps Apple's com.apple.* keys)."""
    with av.open(str(path), "w", options=options or {}) as out:
        for key, value in (metadata or {}).items():
            out.metadata[key] = value
        stream = None
        for index, rgb in enumerate(frames):
            if stream is None:
                stream = out.add_stream(codec, rate=fps, options={"g": str(gop)} if gop else {})
                stream.height, stream.width = rgb.shape[:2]
                stream.pix_fmt = "yuv420p"
                if bit_rate:
                    stream.bit_rate = bit_rate
                if rotation:
                    stream.set_display_rotation(rotation)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(frame))
        if stream is not None:
            out.mux(stream.encode(None))
    return path


def scene_frames(
    scenes: Sequence[Scene], size: tuple[int, int] = (160, 96), fps: int = 10, seed: int = 0
) -> Iterable[np.ndarray]:
    """Each scene's picture (one micro-model shape on its background), repeated for its length."""
    rng = np.random.default_rng(seed)
    for seconds, colour, shape in scenes:
        picture = np.asarray(make_shape_image(colour, shape, size, rng))
        for _ in range(round(seconds * fps)):
            yield picture


def scene_video(path: Path, scenes: Sequence[Scene], **kwargs: object) -> Path:
    """A video of `scenes`, e.g. [(3, "blue", "square"), (2, "red", "circle")]: a red circle
    from second 3 to 5."""
    size = kwargs.pop("size", (160, 96))
    fps = kwargs.pop("fps", 10)
    return write_video(path, scene_frames(scenes, size, fps), fps=fps, **kwargs)  # type: ignore[arg-type]


def noise_frames(count: int, size: tuple[int, int], seed: int = 0) -> Iterable[np.ndarray]:
    """One smooth colour field with a small square that brightens frame by frame: compressible
    and never a still picture, yet no scene change anywhere."""
    w, h = size
    rng = np.random.default_rng(seed)
    base = np.asarray(Image.fromarray(rng.integers(0, 255, (9, 16, 3), np.uint8)).resize((w, h)))
    side = max(2, min(w, h) // 8)
    for i in range(count):
        frame = base.copy()
        frame[:side, :side] = (i * 7) % 256
        yield frame


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An .m4a-like MP4 with one AAC track and no picture."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        samples = int(48000 * seconds)
        t = np.arange(samples) / 48000
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        for start in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(
                tone[:, start : start + 1024], format="fltp", layout="mono"
            )
            frame.sample_rate = 48000
            frame.pts = start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
