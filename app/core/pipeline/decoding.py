"""The decode stage of an index run, one file at a time on a pool thread: headers, one decode,
the thumbnail and the model's pixels of a photo; a video's sampled frames (`video.sample`, with
its per-file deadline), their pixels and its poster frame's thumbnail; a motion photo's still
and its clip's sampled frames (`motion.read_clip`, sampled from memory).

One unreadable file comes back with the reason it is skipped, never an exception: the run goes on.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.model import preprocess
from app.core.photos import dates, decode, likeness, metadata, motion, video
from app.core.photos.formats import is_video_name
from app.core.photos.thumbnails import render_thumbnail

if TYPE_CHECKING:
    from PIL import Image

    from app.core.model.info import ModelInfo

log = logging.getLogger(__name__)

DecodeFn = Callable[["Work"], "Decoded"]
ExecutorFactory = Callable[[int], Executor]  # number of decoder threads -> a pool


@dataclass
class Work:
    """One file to process. kind: "new", "update" (content changed or retry), "meta" (touched,
    vectors still valid: headers only) or "pending" (catalogued, lacks this model's vector)."""

    path: str
    folder_id: int
    kind: str
    stat: os.stat_result | None = None
    photo_id: int | None = None
    fingerprint: str | None = None

    @property
    def is_video(self) -> bool:
        return is_video_name(os.path.basename(self.path))


@dataclass
class Decoded:
    """What the decode stage made of one `Work`: metadata, pixels and thumbnail, or why not.

    A photo's `pixels` are one image [3, S, S]; a video's are its sampled frames [N, 3, S, S],
    taken at `times` (ms). `note` says why a video was indexed only in part. A motion photo
    (`still`) has its still's row first, then its clip's frames at `times`."""

    work: Work
    meta: metadata.PhotoMeta | None = None
    pixels: np.ndarray | None = None
    thumb: bytes | None = None
    error: str | None = None  # why the file is skipped
    gone: bool = False  # vanished since the scan: the next scan removes it
    times: list[int] | None = None  # a video's sampled times, one per row of `pixels`
    note: str | None = None  # a video indexed in part: why
    still: bool = False  # a motion photo: pixels[0] is the still, the clip's frames follow
    dhash: int | None = None  # a photo's difference hash (photos.likeness), for duplicates

    @property
    def rows(self) -> int:
        """How many images this item gives the encoder."""
        if self.pixels is None:
            return 0
        return len(self.times) + self.still if self.times is not None else 1


def decoder_pool(threads: int) -> Executor:
    """The default pool the decode stage runs on."""
    return ThreadPoolExecutor(threads, thread_name_prefix="photoseek-decode")


@dataclass
class VideoSampling:
    """How videos are sampled (see `video.sample`); the Indexer's, read at each video."""

    every_s: float = 2.0
    max_frames: int = 48
    deadline_s: float = 60.0


class Decoder:
    """The decode stage, one file at a time, on any thread: headers, one decode, the thumbnail
    and the model's pixels (`model` None: catalogue without pixels). Work of a folder in
    `forgotten` (removed while the run goes on) comes back `gone`."""

    def __init__(
        self,
        model: ModelInfo | None,
        min_side: int,
        forgotten: set[int],
        sampling: VideoSampling | None = None,
    ) -> None:
        self.model = model
        self.min_side = min_side
        self.forgotten = forgotten
        self.sampling = sampling or VideoSampling()

    def __call__(self, w: Work) -> Decoded:
        if w.folder_id in self.forgotten:
            return Decoded(w, gone=True)
        try:
            st = w.stat if w.stat is not None else os.stat(w.path)
            if w.is_video:
                return self.video(w, st)
            if w.kind == "pending":  # catalogued already: pixels only
                img = decode.open_image(w.path, min_side=self.min_side)
                return self.motion(self.pixels(w, None, img), motion.xmp_of(w.path), st)
            # One open and one header parse for metadata, fingerprint and pixels.
            with metadata.open_photo(w.path, st, fp=w.fingerprint) as (meta, opened):
                meta = dataclasses.replace(meta, folder_id=w.folder_id)
                if w.kind == "meta":
                    return Decoded(w, meta)
                img = decode.decode(opened, w.path, min_side=self.min_side)
                packet = dates.xmp_packet(opened)
            return self.motion(self.pixels(w, meta, img), packet, st)
        except metadata.MetadataError as e:
            return Decoded(w, error=e.reason)
        except video.VideoError as e:
            return Decoded(w, error=e.reason)
        except decode.ImageError as e:
            return Decoded(w, error=strip_name(str(e), w.path))
        except FileNotFoundError:
            return Decoded(w, gone=True)
        except MemoryError:
            return Decoded(w, error="not enough memory to decode this file")
        except Exception as e:  # one bad file must never stop the run
            log.exception("unexpected error reading %s", w.path)
            return Decoded(w, error=f"unexpected error while reading ({type(e).__name__}: {e})")

    def pixels(self, w: Work, meta: metadata.PhotoMeta | None, img: Image.Image) -> Decoded:
        """The thumbnail and the model's input from one decoded image."""
        thumb = render_thumbnail(img)
        pixels = None
        if self.model is not None:
            pixels = preprocess.to_pixels(img, self.model)
        return Decoded(w, meta, pixels, thumb, dhash=likeness.dhash(img))

    def motion(self, d: Decoded, packet: bytes | str | None, st: os.stat_result) -> Decoded:
        """A photo with its motion clip's frames after the still's pixels, when its XMP declares
        a clip that can be sampled; else the still alone (why at debug: the photo is fine)."""
        if self.model is None or d.pixels is None or packet is None:
            return d
        data = motion.read_clip(d.work.path, packet, st.st_size)
        if data is None:
            return d
        s = self.sampling
        try:
            got = video.sample(
                d.work.path,
                min_side=self.min_side,
                every_s=min(s.every_s, 1.0),  # a clip of a few seconds: a frame a second at least
                max_frames=s.max_frames,
                deadline_s=s.deadline_s,
                source=io.BytesIO(data),
            )
        except video.VideoError as e:
            log.debug("%s: motion photo clip not sampled (%s)", d.work.path, e.reason)
            return d
        model = self.model
        frames = [preprocess.to_pixels(f.image, model) for f in got.frames]
        pixels = np.stack([d.pixels, *frames])
        return dataclasses.replace(d, pixels=pixels, times=[f.t_ms for f in got.frames], still=True)

    def video(self, w: Work, st: os.stat_result) -> Decoded:
        """The sampled frames, their pixels and the poster frame's thumbnail. A sample cut
        short (deadline, damage midway) is kept, with why. A touched video (same content) is
        sampled again too: an earlier sample may have been cut short, and one costs at most
        `max_frames` decodes."""
        s = self.sampling
        got = video.sample(
            w.path,
            min_side=self.min_side,
            every_s=s.every_s,
            max_frames=s.max_frames,
            deadline_s=s.deadline_s,
        )
        meta = dataclasses.replace(got.meta, folder_id=w.folder_id)
        thumb = render_thumbnail(video.poster(got).image)
        pixels = None
        if self.model is not None:
            model = self.model
            pixels = np.stack([preprocess.to_pixels(f.image, model) for f in got.frames])
        note = partly(got, self.sampling)
        if note:
            log.info("partly indexed %s: %s", w.path, note)
        return Decoded(
            w,
            None if w.kind == "pending" else meta,  # pending: catalogued already
            pixels,
            thumb,
            times=[f.t_ms for f in got.frames],
            note=note,
        )


ENDS_EARLY = "the video ends early (truncated, or still being written)"
KEYFRAME_SLACK_MS = 10_000  # a long video is sampled at keyframes, which may lie this far apart


def partly(sampled: video.VideoSample, sampling: VideoSampling) -> str | None:
    """Why and how far a video was indexed in part, e.g. "indexed up to 3:12 of 1:00:00:
    stopped after 60 s (the per-video time limit)"; None when its samples reach its end. A
    video whose frames stop well before the duration its header gives was cut off (a copy
    that broke off, a recording still going)."""
    last = sampled.frames[-1].t_ms if sampled.frames else 0
    total = sampled.meta.duration_ms
    reason = sampled.reason
    if reason is None and total:
        spacing_ms = 1000 * max(sampling.every_s, total / 1000 / max(1, sampling.max_frames))
        seeks = total / 1000 / sampling.every_s > sampling.max_frames
        if total - last > 2 * spacing_ms + (KEYFRAME_SLACK_MS if seeks else 0):
            reason = ENDS_EARLY
    if reason is None:
        return None
    span = f"up to {clock(last)}" + (f" of {clock(total)}" if total else "")
    return f"indexed {span}: {reason}"


def clock(ms: int) -> str:
    """A time in a video as people write it: 0:07, 3:12, 1:02:03."""
    s = max(0, int(ms)) // 1000
    h, m, sec = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def strip_name(message: str, path: str) -> str:
    """preprocess errors start with the file name; the catalog stores the reason alone."""
    for prefix in (f"{path}: ", f"{Path(path)}: "):
        if message.startswith(prefix):
            return message[len(prefix) :].rstrip(".")
    return message
