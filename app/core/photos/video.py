"""Videos read with PyAV (its wheels carry FFmpeg): header facts, sampled frames, one frame.

A video is catalogued like a photo (`PhotoMeta`, kind "video") and searched by the frames
`sample` picks: scene changes and at least one every `every_s`, at most `max_frames` spread over
the whole video. A short video is decoded once, in order; a long one costs one keyframe decode
per sample (seek, skip non-key frames), so an hour costs what a minute does. Frames are scaled
down as soon as they are decoded: only a few full-size frames are ever alive. FFmpeg's own
logging is silenced; every failure becomes a `VideoError` whose `reason` the catalog records.

Over 400 lines on purpose: probe, sample and frame_at share the opening checks, the packet
loop that survives damage, the error wording and the frame conversion, all private here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import av.container
import av.logging
import av.video.frame
import av.video.stream
import numpy as np
from PIL import Image

from app.core.errors import UserError
from app.core.photos.dates import format_offset
from app.core.photos.formats import shape_problem
from app.core.photos.location import position_from_tags
from app.core.photos.metadata import PhotoMeta, fingerprint

log = logging.getLogger(__name__)

av.logging.set_level(None)  # FFmpeg prints nothing; failures surface as exceptions

# Mean |difference| (0..1) between a frame's tiny grey copy and the last sampled one's that makes
# it a new scene: a cut between the micro model's scenes measures 0.09-0.2, a still shot < 0.01.
SCENE_DIFF = 0.06
MAX_BAD_PACKETS = 25  # damaged packets in a row that end a video
TINY = 32  # side of the grey thumbnails compared for scene changes
# 8-bit pixel formats whose first plane is the luma (grey) picture.
_LUMA_FIRST = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}
)
_AV_ERRORS = (av.error.FFmpegError, ValueError, OverflowError, MemoryError, IndexError)


class VideoError(UserError):
    """A video that cannot be catalogued or sampled; `reason` is the short text recorded."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class Frame:
    """One sampled frame: its time in the video and the picture (RGB, upright)."""

    t_ms: int
    image: Image.Image


@dataclass(frozen=True)
class VideoSample:
    """What `sample` took from a video; `reason` says why it stopped early (None: it did not)."""

    meta: PhotoMeta
    frames: list[Frame] = field(default_factory=list)
    reason: str | None = None


def probe(path: Path | str, stat: os.stat_result) -> PhotoMeta:
    """Header facts of the video at `path` (`stat` from the scan). Raises `VideoError`."""
    with _open(path, stat) as (container, stream):
        return _describe(path, stat, container, stream)


def sample(
    path: Path | str,
    *,
    min_side: int,
    every_s: float = 2.0,
    max_frames: int = 48,
    deadline_s: float = 60.0,
    source: BinaryIO | None = None,
) -> VideoSample:
    """Frames at scene changes and at least every `every_s`, at most `max_frames`, each with a
    short side of at least `min_side`. Past `deadline_s` the frames so far are kept and the
    reason recorded; a video that breaks off midway keeps its frames too. `source`: the clip's
    bytes when they lie inside the file at `path` (a motion photo's MP4)."""
    stop_at = time.monotonic() + deadline_s
    stat = os.stat(path)
    with _open(path, stat, source) as (container, stream):
        meta = _describe(path, stat, container, stream)
        duration_s = (meta.duration_ms or 0) / 1000
        frames: list[Frame] = []
        reason: str | None = None
        try:
            if duration_s > 0 and duration_s / every_s > max_frames:
                picks = _seek_samples(container, stream, duration_s, max_frames, min_side, stop_at)
            else:
                picks = _scan_samples(container, stream, every_s, min_side, stop_at)
            for frame in picks:
                frames.append(frame)
                if len(frames) >= 2 * max_frames:  # a strobe is all scene changes: stay bounded
                    frames = _spread(frames, max_frames)
        except _Deadline:
            reason = f"stopped after {deadline_s:g} s (the per-video time limit)"
        except _AV_ERRORS as e:
            reason = f"damaged video after {frames[-1].t_ms / 1000 if frames else 0:.1f} s ({e})"
        if not frames:
            raise VideoError(path, reason or "no frame could be decoded")
    return VideoSample(meta, _spread(frames, max_frames), reason)


def poster(sampled: VideoSample) -> Frame:
    """The frame shown for the video when browsing: the first one past the opening second (an
    opening frame is often black), else the first."""
    if not sampled.frames:
        raise ValueError("a sample without frames has no poster")
    later = [f for f in sampled.frames if f.t_ms >= 1000]
    return later[0] if later and len(sampled.frames) > 2 else sampled.frames[0]


def frame_at(
    path: Path | str, t_ms: int, *, max_side: int, source: BinaryIO | None = None
) -> Image.Image:
    """The frame shown at `t_ms` (the last one at or before it), upright, long side at most
    `max_side` (`source`: as for `sample`). Raises `VideoError`."""
    stat = os.stat(path)
    with _open(path, stat, source) as (container, stream):
        best: av.video.frame.VideoFrame | None = None
        start = _start_s(stream)
        try:
            _seek(container, stream, t_ms)
            for frame in _decoded(container, stream):
                if (
                    best is not None
                    and frame.time is not None
                    and (frame.time - start) * 1000 > t_ms
                ):
                    break
                best = frame
        except _AV_ERRORS as e:
            if best is None:
                raise VideoError(path, _failure(e)) from e
        if best is None:
            raise VideoError(path, "no frame could be decoded")
        return _picture(best, *_scaled(best, max_side))


def frames_from(
    path: Path | str, t_ms: int, *, max_side: int, source: BinaryIO | None = None
) -> Iterator[tuple[int, Image.Image]]:
    """The frames from `t_ms` to the end, in order, decoded lazily for playback: (time in ms
    from the video's start, upright RGB with its long side at most `max_side`). Raises
    `VideoError` for a file that cannot be decoded, before or while it plays (`source`: as for
    `sample`)."""
    stat = os.stat(path)
    with _open(path, stat, source) as (container, stream):
        start = _start_s(stream)
        try:
            _seek(container, stream, t_ms)
            for frame in _decoded(container, stream):
                if frame.time is None or (frame.time - start) * 1000 < t_ms - 1:
                    continue  # from the keyframe before the moment up to it
                yield round((frame.time - start) * 1000), _picture(frame, *_scaled(frame, max_side))
        except _AV_ERRORS as e:
            raise VideoError(path, _failure(e)) from e


def _seek(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, t_ms: int
) -> None:
    """To the keyframe at or before `t_ms` (from the video's start); decoding goes on from there."""
    if stream.time_base and t_ms > 0:
        container.seek(
            int(t_ms / 1000 / stream.time_base) + (stream.start_time or 0), stream=stream
        )


def _scaled(frame: av.video.frame.VideoFrame, max_side: int) -> tuple[int, int]:
    """The decoded size that puts the upright frame's long side at most `max_side`."""
    w, h = _displayed(frame.width, frame.height, frame.rotation)
    scale = min(1.0, max_side / max(w, h))
    return max(1, round(frame.width * scale)), max(1, round(frame.height * scale))


class _Deadline(Exception):
    pass


def _decoded(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[av.video.frame.VideoFrame]:
    """The stream's frames from here on: a damaged packet loses its frame, and only a run of
    `MAX_BAD_PACKETS` of them ends the video."""
    bad = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            bad += 1
            if bad > MAX_BAD_PACKETS:
                raise
            continue
        bad = 0
        for frame in frames:
            if isinstance(frame, av.video.frame.VideoFrame):
                yield frame


@contextmanager
def _open(
    path: Path | str, stat: os.stat_result, source: BinaryIO | None = None
) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    if stat.st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    try:
        target = os.fspath(path) if source is None else source
        container = av.open(target, "r", metadata_errors="ignore")
    except FileNotFoundError:
        raise
    except PermissionError as e:
        raise VideoError(path, f"cannot read the file ({e.strerror or e})") from e
    except _AV_ERRORS as e:
        raise VideoError(path, _failure(e)) from e
    with container:
        if not container.streams.video:
            raise VideoError(path, "no video track (audio only or not a video)")
        stream = container.streams.video[0]
        try:
            codec = stream.codec_context
        except _AV_ERRORS as e:
            raise VideoError(path, _failure(e)) from e
        if codec is None or not codec.width or not codec.height:
            raise VideoError(path, "unsupported video codec or no picture size")
        problem = shape_problem(codec.width, codec.height)
        if problem:
            raise VideoError(path, problem.replace("image", "frame"))
        codec.thread_type = "AUTO"
        yield container, stream


def _failure(e: Exception) -> str:
    if isinstance(e, av.error.DecoderNotFoundError):
        return "unsupported video codec"
    if isinstance(e, (av.error.InvalidDataError, av.error.EOFError)):
        return "damaged or incomplete video (truncated, or still being written)"
    if isinstance(e, MemoryError):
        return "too large to decode"
    return f"unreadable video ({e})"


def _describe(
    path: Path | str,
    stat: os.stat_result,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
) -> PhotoMeta:
    rotation = _rotation(path, container, stream)
    codec = stream.codec_context
    width, height = _displayed(codec.width, codec.height, rotation)
    when, offset, source = _capture(container.metadata, stream.metadata, stat.st_mtime_ns)
    where = position_from_tags(container.metadata, os.fspath(path))
    try:
        digest = fingerprint(path, stat.st_size)
    except OSError as e:
        raise VideoError(path, f"cannot read the file ({e})") from e
    return PhotoMeta(
        path=os.fspath(path),
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        fingerprint=digest,
        width=width,
        height=height,
        capture_time=when,
        capture_offset=offset,
        capture_source=source,
        camera_make=_text(container.metadata, "com.apple.quicktime.make", "make"),
        camera_model=_text(container.metadata, "com.apple.quicktime.model", "model"),
        format=(container.format.name.split(",")[0] or "").upper(),
        kind="video",
        duration_ms=_duration_ms(container, stream),
        lat=where.lat if where else None,
        lon=where.lon if where else None,
    )


def _rotation(
    path: Path | str, container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> int:
    """The display rotation (degrees counter-clockwise) of the first keyframe; 0 when unknown."""
    tag = stream.metadata.get("rotate")
    codec = stream.codec_context
    codec.skip_frame = "NONKEY"
    try:
        for frame in _decoded(container, stream):
            return round(frame.rotation)
    except _AV_ERRORS as e:
        log.debug("%s: no first keyframe for its rotation (%s)", path, e)
    finally:
        codec.skip_frame = "DEFAULT"
        with suppress(*_AV_ERRORS):
            container.seek(0, stream=stream)
    try:
        return -int(tag) if tag else 0
    except ValueError:
        return 0


def _displayed(width: int, height: int, rotation: float) -> tuple[int, int]:
    return (height, width) if round(rotation) % 180 else (width, height)


def _duration_ms(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> int | None:
    if stream.duration and stream.time_base:
        return max(0, int(stream.duration * stream.time_base * 1000))
    if container.duration:
        return max(0, container.duration * 1000 // av.time_base)
    return None


def _capture(
    tags: dict[str, str], stream_tags: dict[str, str], mtime_ns: int
) -> tuple[datetime | None, str | None, str]:
    """(local wall-clock time, its offset, source): Apple's creationdate (local, with its offset),
    else the container's UTC creation time (Matroska DATE too), else the file's mtime."""
    apple = _parse(tags.get("com.apple.quicktime.creationdate"))
    if apple is not None and apple.tzinfo is not None:
        return apple.replace(tzinfo=None), format_offset(apple), "video_apple"
    for value in (tags.get("creation_time"), tags.get("DATE"), stream_tags.get("creation_time")):
        when = _parse(value)
        if when is not None and when.year > 1904:  # 1904-01-01: QuickTime's "not set"
            if when.tzinfo is not None:
                when = when.astimezone(timezone.utc)
            return when.replace(tzinfo=None), "+00:00", "video_container"
    try:
        local = datetime.fromtimestamp(mtime_ns / 1e9).astimezone()
    except (OverflowError, OSError, ValueError):  # a nonsense mtime, as for photos
        return None, None, "file_mtime"
    return local.replace(tzinfo=None), format_offset(local), "file_mtime"


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":  # +0200 -> +02:00
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if 1900 < when.year < 2200 else None


def _text(tags: dict[str, str], *keys: str) -> str | None:
    for key in keys:
        value = (tags.get(key) or "").strip()
        if value:
            return value[:200]
    return None


def _scan_samples(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    every_s: float,
    min_side: int,
    stop_at: float,
) -> Iterator[Frame]:
    """Decode in order: keep a frame at each scene change and once `every_s` has passed."""
    previous: np.ndarray | None = None
    last_t = -every_s
    rate = float(stream.guessed_rate or stream.average_rate or 30)
    start = _start_s(stream)
    for index, frame in enumerate(_decoded(container, stream)):
        if index and time.monotonic() > stop_at:  # the first frame is always worth its time
            raise _Deadline
        t = frame.time - start if frame.time is not None and frame.time >= start else index / rate
        tiny = _tiny_grey(frame)
        changed = previous is not None and _difference(previous, tiny) > SCENE_DIFF
        if changed or t - last_t >= every_s - 1e-6:
            last_t, previous = t, tiny
            yield _frame(frame, t, min_side)


def _seek_samples(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    duration_s: float,
    count: int,
    min_side: int,
    stop_at: float,
) -> Iterator[Frame]:
    """One keyframe near each of `count` times spread evenly over the video."""
    codec = stream.codec_context
    codec.skip_frame = "NONKEY"
    seen: set[int] = set()
    base = Fraction(stream.time_base or Fraction(1, 1000))
    start = _start_s(stream)
    for i in range(count):
        if i and time.monotonic() > stop_at:
            raise _Deadline
        target = (i + 0.5) * duration_s / count
        container.seek(int(target / base) + (stream.start_time or 0), stream=stream)
        codec.flush_buffers()
        for frame in _decoded(container, stream):
            t = max(0.0, frame.time - start) if frame.time is not None else target
            t_ms = int(t * 1000)
            if t_ms not in seen:
                seen.add(t_ms)
                yield _frame(frame, t, min_side)
            break


def _start_s(stream: av.video.stream.VideoStream) -> float:
    """When the stream's first frame is shown (an encoder's delay, unless an edit list hides it)."""
    if stream.start_time and stream.time_base:
        return max(0.0, float(stream.start_time * stream.time_base))
    return 0.0


def _tiny_grey(frame: av.video.frame.VideoFrame) -> np.ndarray:
    """The frame in TINY x TINY grey blocks: block means of its luma plane (every 4th pixel)
    where the format has one, since swscale to 32 px costs as much as decoding a 4K frame."""
    if frame.format.name in _LUMA_FIRST:
        plane = frame.planes[0]
        luma = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
        sparse = luma[: frame.height : 4, : frame.width : 4]  # a pan must not look like a cut
        by, bx = sparse.shape[0] // TINY, sparse.shape[1] // TINY
        if by and bx:
            blocks = sparse[: by * TINY, : bx * TINY].reshape(TINY, by, TINY, bx)
            means: np.ndarray = blocks.mean(axis=(1, 3), dtype=np.float32)
            return means.astype(np.uint8)
    grey: np.ndarray = frame.reformat(width=TINY, height=TINY, format="gray").to_ndarray()
    return grey


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16)))) / 255


def _frame(frame: av.video.frame.VideoFrame, t: float, min_side: int) -> Frame:
    """The frame scaled so that its short side is `min_side` (never enlarged), upright."""
    scale = min(1.0, min_side / min(frame.width, frame.height))
    width = max(1, round(frame.width * scale))
    height = max(1, round(frame.height * scale))
    return Frame(max(0, round(t * 1000)), _picture(frame, width, height))


def _picture(frame: av.video.frame.VideoFrame, width: int, height: int) -> Image.Image:
    image = Image.fromarray(frame.reformat(width=width, height=height, format="rgb24").to_ndarray())
    rotation = round(frame.rotation) % 360
    if rotation:
        image = image.rotate(rotation, expand=True)
    return image


def _spread(frames: list[Frame], limit: int) -> list[Frame]:
    """At most `limit` frames, evenly spread over the list, first and last kept."""
    if len(frames) <= limit:
        return frames
    if limit == 1:
        return frames[:1]
    step = (len(frames) - 1) / (limit - 1)
    return [frames[round(i * step)] for i in range(limit)]


__all__ = ["Frame", "VideoError", "VideoSample", "frame_at", "poster", "probe", "sample"]
