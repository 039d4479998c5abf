"""Videos decoded with PyAV: dates, rotation, sampling, scene changes, deadline, hostile files."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from app.core.photos.formats import is_photo_name, is_video_name
from app.core.photos.metadata import PhotoMeta
from app.core.photos.video import VideoError, frame_at, frames_from, poster, probe, sample
from tests.videos import noise_frames, scene_video, write_audio_only, write_video

ROOT = Path(__file__).resolve().parents[1]


def _probe(path: Path) -> PhotoMeta:
    return probe(path, os.stat(path))


def _reason(path: Path) -> str:
    with pytest.raises(VideoError) as info:
        _probe(path)
    assert str(path) in str(info.value)
    return info.value.reason


def _redness(image: Image.Image) -> float:
    r, g, b = np.asarray(image, dtype=np.float32).mean(axis=(0, 1))
    return float(r - (g + b) / 2)


def test_video_names() -> None:
    for name in ("clip.mp4", "IMG_0001.MOV", "a.m4v", "b.3gp", "c.mkv", "d.webm", "e.avi"):
        assert is_video_name(name) and not is_photo_name(name)
    assert not is_video_name(".hidden.mp4") and not is_video_name("photo.jpg")


def test_probe_reads_duration_size_and_container_date(tmp_path: Path) -> None:
    path = scene_video(
        tmp_path / "a.mp4",
        [(2, "blue", "square"), (1, "red", "circle")],
        metadata={"creation_time": "2023-05-01T12:00:00.000000Z"},
    )
    meta = _probe(path)
    assert (meta.kind, meta.duration_ms, meta.width, meta.height) == ("video", 3000, 160, 96)
    assert meta.capture_time == datetime(2023, 5, 1, 12, 0)
    assert (meta.capture_offset, meta.capture_source) == ("+00:00", "video_container")
    assert meta.size == path.stat().st_size and len(meta.fingerprint) == 32


def test_apple_creationdate_is_local_time_with_its_offset(tmp_path: Path) -> None:
    path = scene_video(
        tmp_path / "IMG_0001.MOV",
        [(1, "red", "circle")],
        metadata={
            "com.apple.quicktime.creationdate": "2023-05-01T14:00:00+0200",
            "creation_time": "2023-05-01T12:00:00Z",
        },
        options={"movflags": "use_metadata_tags"},
    )
    meta = _probe(path)
    assert meta.capture_time == datetime(2023, 5, 1, 14, 0)
    assert (meta.capture_offset, meta.capture_source) == ("+02:00", "video_apple")


@pytest.mark.parametrize("key", ["DATE", "creation_time"])
def test_matroska_date(tmp_path: Path, key: str) -> None:
    path = scene_video(
        tmp_path / "a.mkv", [(1, "red", "circle")], metadata={key: "2021-02-03T04:05:06Z"}
    )
    meta = _probe(path)
    assert (meta.capture_time, meta.capture_source) == (
        datetime(2021, 2, 3, 4, 5, 6),
        "video_container",
    )


def test_without_a_date_the_mtime_is_a_guess(tmp_path: Path) -> None:
    path = scene_video(tmp_path / "a.webm", [(1, "red", "circle")], codec="libvpx-vp9")
    os.utime(path, (1_600_000_000, 1_600_000_000))
    meta = _probe(path)
    assert meta.capture_source == "file_mtime"
    assert meta.capture_time == datetime.fromtimestamp(1_600_000_000)


def test_rotated_video_is_upright(tmp_path: Path) -> None:
    """A phone held upright stores landscape frames and a display rotation: the red left half of
    the stored frame is the top of the picture once turned 90 degrees clockwise."""
    stored = np.zeros((48, 96, 3), np.uint8)
    stored[:, :48] = (220, 20, 20)
    stored[:, 48:] = (20, 20, 220)
    path = write_video(tmp_path / "portrait.mp4", [stored] * 10, rotation=-90)
    meta = _probe(path)
    assert (meta.width, meta.height) == (48, 96)
    for image in (sample(path, min_side=32).frames[0].image, frame_at(path, 500, max_side=64)):
        assert image.width < image.height
        top, bottom = (
            image.crop((0, 0, image.width, image.height // 3)),
            image.crop((0, 2 * image.height // 3, image.width, image.height)),
        )
        assert _redness(top) > 100 and _redness(bottom) < -50


def test_samples_every_interval_at_reduced_size(tmp_path: Path) -> None:
    path = write_video(tmp_path / "still.mp4", noise_frames(200, (320, 180)), fps=10)
    got = sample(path, min_side=90, every_s=2.0)
    assert [f.t_ms for f in got.frames] == list(range(0, 20000, 2000))
    assert all(f.image.size == (160, 90) and f.image.mode == "RGB" for f in got.frames)
    assert got.reason is None and got.meta.duration_ms == 20000


def test_cap_spreads_frames_over_the_whole_video(tmp_path: Path) -> None:
    path = write_video(tmp_path / "long.mp4", noise_frames(600, (64, 36)), fps=10, gop=10)
    got = sample(path, min_side=32, every_s=1.0, max_frames=6)  # 60 s: seeks, not a scan
    times = [f.t_ms for f in got.frames]
    assert 4 <= len(times) <= 6 and times == sorted(times)
    assert times[0] < 10000 and times[-1] > 50000
    scan = sample(path, min_side=32, every_s=20.0, max_frames=3)  # 60 s / 20 s: a scan
    assert [f.t_ms for f in scan.frames] == [0, 20000, 40000]


def test_cap_thins_many_scene_changes(tmp_path: Path) -> None:
    scenes = [
        (1, c, s) for c, s in zip(["red", "green", "blue"] * 2, ["circle", "star"] * 3, strict=True)
    ]
    path = scene_video(tmp_path / "cuts.mp4", scenes)
    assert len(sample(path, min_side=32, every_s=10.0).frames) == 6
    got = sample(path, min_side=32, every_s=10.0, max_frames=3)
    assert [f.t_ms for f in got.frames] == [0, 2000, 5000]


def test_scene_change_is_picked_up_between_intervals(tmp_path: Path) -> None:
    path = scene_video(
        tmp_path / "scenes.mp4",
        [(3, "blue", "square"), (2, "red", "circle"), (3, "green", "star")],
    )
    got = sample(path, min_side=64, every_s=10.0)
    assert [f.t_ms for f in got.frames] == [0, 3000, 5000]
    red = got.frames[1].image
    centre = red.crop((red.width // 3, red.height // 3, 2 * red.width // 3, 2 * red.height // 3))
    assert _redness(centre) > 80
    assert poster(got).t_ms == 3000


def test_a_strobe_stays_within_the_cap(tmp_path: Path) -> None:
    """Every frame a scene change: the frames kept along the way stay bounded too."""
    black, white = np.zeros((36, 64, 3), np.uint8), np.full((36, 64, 3), 255, np.uint8)
    path = write_video(tmp_path / "strobe.mp4", [black, white] * 50, fps=10)
    got = sample(path, min_side=32, every_s=10.0, max_frames=4)
    times = [f.t_ms for f in got.frames]
    assert len(times) == 4 and times == sorted(times) and times[0] == 0 and times[-1] > 7000


def test_deadline_keeps_the_frames_so_far(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a.mp4", noise_frames(100, (64, 36)), fps=10)
    got = sample(path, min_side=32, every_s=1.0, deadline_s=0.0)
    assert [f.t_ms for f in got.frames] == [0]
    assert got.reason is not None and "time limit" in got.reason


def test_empty_audio_only_truncated_and_partial(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert _reason(empty) == "empty file (0 bytes)"
    assert "no video track" in _reason(write_audio_only(tmp_path / "voice.mp4"))
    whole = write_video(tmp_path / "whole.mp4", noise_frames(50, (64, 36)))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # its index comes last
    assert "incomplete" in _reason(cut)
    with pytest.raises(VideoError):
        sample(cut, min_side=32)


def test_a_file_still_being_written_gives_its_first_frames(tmp_path: Path) -> None:
    """A recording in progress (fragmented MP4, as cameras write) cut off midway."""
    whole = write_video(
        tmp_path / "rec.mp4",
        noise_frames(100, (64, 36)),
        gop=10,
        options={"movflags": "frag_keyframe+empty_moov"},
    )
    growing = tmp_path / "growing.mp4"
    growing.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    got = sample(growing, min_side=32, every_s=2.0)
    times = [f.t_ms for f in got.frames]
    assert times[0] == 0 and 2 <= len(times) < 5


def _raw_avi(tmp_path: Path) -> tuple[bytearray, int]:
    path = write_video(
        tmp_path / "raw.avi", [np.zeros((16, 16, 3), np.uint8)] * 3, codec="rawvideo"
    )
    data = bytearray(path.read_bytes())
    return data, data.find(b"strf") + 8  # BITMAPINFOHEADER


def test_huge_resolution_is_refused_before_decoding(tmp_path: Path) -> None:
    data, header = _raw_avi(tmp_path)
    struct.pack_into("<ii", data, header + 4, 20000, 10000)
    path = tmp_path / "huge.avi"
    path.write_bytes(data)
    assert "too large: 20000x10000" in _reason(path)


def test_unsupported_codec(tmp_path: Path) -> None:
    data, header = _raw_avi(tmp_path)
    strh = data.find(b"strh")
    data[strh + 12 : strh + 16] = b"XQZW"
    data[header + 16 : header + 20] = b"XQZW"
    path = tmp_path / "odd.avi"
    path.write_bytes(data)
    assert "unsupported video codec" in _reason(path)


def test_broken_timestamps_claiming_hours(tmp_path: Path) -> None:
    """Packets whose time jumps ten hours midway: sampling costs seeks, not ten hours."""
    source = write_video(tmp_path / "src.mkv", noise_frames(40, (64, 36)), gop=10)
    path = tmp_path / "jump.mkv"
    with av.open(str(source)) as src, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(video=0):
            if packet.dts is None:
                continue
            if packet.pts is not None and packet.pts * packet.time_base >= 2:
                jump = int(36000 / packet.time_base)
                packet.pts += jump
                packet.dts += jump
            packet.stream = stream
            out.mux(packet)
    started = time.monotonic()
    got = sample(path, min_side=32, every_s=2.0, max_frames=8)
    assert time.monotonic() - started < 20
    assert got.frames and len(got.frames) <= 8
    assert (_probe(path).duration_ms or 0) > 3_600_000


def test_corrupt_middle_is_decoded_around(tmp_path: Path) -> None:
    whole = write_video(tmp_path / "a.mp4", noise_frames(60, (64, 36)), gop=10)
    data = bytearray(whole.read_bytes())
    rng = np.random.default_rng(1)
    start = data.find(b"mdat") + 2000
    data[start : start + 3000] = rng.integers(0, 256, 3000, np.uint8).tobytes()
    path = tmp_path / "bad.mp4"
    path.write_bytes(data)
    got = sample(path, min_side=32, every_s=1.0)
    assert got.frames


def test_ffmpeg_prints_nothing(tmp_path: Path) -> None:
    """The hostile files in a fresh process: FFmpeg's complaints never reach stderr."""
    whole = write_video(tmp_path / "a.mp4", noise_frames(60, (64, 36)), gop=10)
    data = whole.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    bad = bytearray(data)
    bad[bad.find(b"mdat") + 500 : bad.find(b"mdat") + 4000] = b"\x07" * 3500
    (tmp_path / "bad.mp4").write_bytes(bad)
    (tmp_path / "junk.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 4000)
    script = (
        "import sys\n"
        "from app.core.photos.video import VideoError, sample\n"
        "for name in sys.argv[1:]:\n"
        "    try: sample(name, min_side=32, every_s=1.0)\n"
        "    except VideoError as e: print(e.reason)\n"
    )
    names = [str(tmp_path / n) for n in ("cut.mp4", "bad.mp4", "junk.mkv")]
    done = subprocess.run(
        [sys.executable, "-c", script, *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stderr == ""
    assert "incomplete" in done.stdout


def test_frame_at_picks_the_moment(tmp_path: Path) -> None:
    path = scene_video(tmp_path / "a.mp4", [(3, "blue", "square"), (2, "red", "circle")])
    assert _redness(frame_at(path, 3500, max_side=80)) > _redness(frame_at(path, 1000, max_side=80))
    assert frame_at(path, 3500, max_side=80).size == (80, 48)


def test_frames_from_plays_on_from_the_moment_in_order(tmp_path: Path) -> None:
    """What the viewer's silent playback is handed: every frame from the moment on, in order,
    upright and scaled; a file that breaks off says so as a VideoError, not FFmpeg's own."""
    path = scene_video(tmp_path / "a.mp4", [(3, "blue", "square"), (2, "red", "circle")])
    frames = list(frames_from(path, 3000, max_side=80))
    times = [t for t, _ in frames]
    assert times and times[0] >= 2999 and times == sorted(times) and times[-1] < 5000
    assert all(im.size == (80, 48) and im.mode == "RGB" for _, im in frames)
    assert _redness(frames[5][1]) > _redness(next(frames_from(path, 0, max_side=80))[1])
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(VideoError, match=r"broken\.mp4"):
        list(frames_from(broken, 0, max_side=80))
